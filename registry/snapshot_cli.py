"""Commands ``imitkit snapshot list|show|verify|diff|export`` and ``imitkit publish``."""

from __future__ import annotations

from pathlib import Path

import click

from imitkit.clikit import open_registry, print_json, print_rows, print_table, registry_option


@click.group()
def snapshot() -> None:
    """Immutable snapshots written by `imitkit mix`: list, show, verify, diff, export."""


@snapshot.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@registry_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List snapshots with their fingerprint, size and token counts."""
    from imitkit.registry.snapshots import listing

    with open_registry(ctx, read_only=True) as reg:
        rows = listing(reg)
    print_rows(rows, as_json, "no snapshots yet (try `imitkit mix`)")


@snapshot.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
@registry_option
@click.pass_context
def show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a snapshot's manifest: splits, components, sources, curation."""
    from imitkit.registry.snapshots import load

    with open_registry(ctx, read_only=True) as reg:
        record = load(reg, name)
    doc = record["manifest"]
    if as_json:
        print_json(doc)
        return
    exact = "exact (" + str(doc["tokenizer"]) + ")" if doc["token_counts_exact"] else "APPROXIMATE"
    click.echo(f"snapshot {name}  fingerprint {doc['fingerprint']}\n  path {record['path']}\n"
               f"  created {doc['created_at']} by imitkit {doc['code_version']}; seed {doc['seed']}; "
               f"budget {doc['budget'] if doc['budget'] is not None else 'all'} {doc['unit']} tokens; counts {exact}")
    print_table(["split", "file", "conversations", "tokens", "trainable_tokens"],
                [(k, v["file"], v["conversations"], v["tokens"], v["trainable_tokens"]) for k, v in doc["splits"].items()])
    print_table(["component", "weight", "where", "share", "tokens", "conversations", "shortfall", "repeats"],
                [(c["label"], c["weight"], c["where"], c["share"], c["tokens"], c["conversations"], c["shortfall"],
                  c["repeats"]) for c in doc["components"]])
    print_table(["source", "license", "teacher_model", "conversations", "tokens"],
                [(s["name"], s["license"], s["teacher_model"], s["conversations"], s["tokens"]) for s in doc["sources"]])
    click.echo(f"curation: {doc['curation']['status']}; contamination: {doc['contamination']['status']}")


@snapshot.command()
@click.argument("name")
@registry_option
@click.pass_context
def verify(ctx: click.Context, name: str) -> None:
    """Rehash files and re-read member ids; report any change (exit 1 if any)."""
    from imitkit.registry.snapshot_check import verify as check
    from imitkit.registry.snapshots import SnapshotError

    with open_registry(ctx, read_only=True) as reg:
        problems = check(reg, name)
    for problem in problems:
        click.echo(f"  {problem}")
    if problems:
        raise SnapshotError(f"snapshot {name!r} has changed: {len(problems)} problem(s) listed above")
    click.echo(f"snapshot {name} is intact")


@snapshot.command()
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@registry_option
@click.pass_context
def diff(ctx: click.Context, a: str, b: str, as_json: bool) -> None:
    """Conversations added and removed from A to B, and token deltas by source."""
    from imitkit.registry.snapshot_check import diff as compare

    with open_registry(ctx, read_only=True) as reg:
        result = compare(reg, a, b)
    if as_json:
        print_json(result)
        return
    click.echo(f"{a} → {b}: +{result['added']:,} added, -{result['removed']:,} removed, {result['common']:,} in both "
               f"({result['moved_split']:,} moved between splits); tokens {result['tokens_a']:,} → "
               f"{result['tokens_b']:,} ({result['tokens_delta']:+,}), trainable {result['trainable_delta']:+,}")
    print_rows(result["by_source"])


@snapshot.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl", "hf"]), default="parquet", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder to write (new or empty).")
@registry_option
@click.pass_context
def export(ctx: click.Context, name: str, fmt: str, out: str) -> None:
    """Export a verified snapshot as Parquet, JSON Lines, or a `datasets` save_to_disk folder."""
    from imitkit.registry.export import export as run_export

    with open_registry(ctx, read_only=True) as reg:
        files = run_export(reg, name, fmt, Path(out))
    click.echo(f"exported {name} as {fmt} to {out}: {len(files)} file(s)")


@click.command()
@click.argument("name")
@click.option("--repo", "repo_id", required=True, metavar="ORG/NAME", help="Hub dataset repo to publish to.")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--dry-run", "dry_run_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Write the exact folder that would be uploaded to DIR instead of uploading.")
@registry_option
@click.pass_context
def publish(ctx: click.Context, name: str, repo_id: str, private: bool, dry_run_dir: str | None) -> None:
    """Upload snapshot NAME (Parquet, manifest, card) to a Hub dataset repo, tagged with its fingerprint.

    The token comes from HF_TOKEN and the Hub from HF_ENDPOINT.
    """
    from imitkit.registry import publish as hub
    from imitkit.registry.runs import recorded_run
    from imitkit.registry.snapshots import load

    with open_registry(ctx, read_only=dry_run_dir is not None) as reg:
        files = hub.plan(reg, name, repo_id)
        fingerprint = load(reg, name)["fingerprint"]
        if dry_run_dir:
            written = hub.dry_run(files, Path(dry_run_dir))
            click.echo(f"dry run: wrote the {len(written)} file(s) that would go to {repo_id} (tag {fingerprint[:12]}…) "
                       f"to {dry_run_dir}")
            return
        with recorded_run(reg, "publish", {"name": name, "repo": repo_id, "private": private}) as run:
            result = hub.upload(files, repo_id, fingerprint=fingerprint, name=name, private=private)
            run.add(files=len(files))
    click.echo(f"published {name} to {result['url']} (commit {result['commit'][:12]}, tag {fingerprint})")
