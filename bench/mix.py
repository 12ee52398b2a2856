"""Mixture build time: `imitkit mix` (3 components, token budget) on a registry of N conversations.

    python bench/mix.py                    # quick: 100k conversations, 15M-token budget
    python bench/mix.py --n 1000000        # the target: 150M tokens in < 20 s, peak RSS < 2 GB

Baselines measured in the same run: the same seeded, token-budgeted selection done in a
Python loop (what the DuckDB window query replaces), and the floor for writing the
snapshot: one DuckDB COPY of exactly the selected rows to Parquet. Every step runs in its
own process, which reports its own peak RSS. Prints a table; writes bench/results/mix.json.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = (("alpha", 0.5), ("beta", 0.3), ("gamma", 0.2))  # share of rows and of the budget

CHILD_HEAD = """
import json, resource, sys, time
def done(seconds, **extra):
    print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}))
"""
CHILD_MIX = CHILD_HEAD + """
from imitkit.cli import main
start = time.perf_counter()
code = main(["--registry", sys.argv[1], "mix", sys.argv[2], "--budget", sys.argv[3], "--json",
             "--component", "a=0.5:source = 'alpha'", "--component", "b=0.3:source = 'beta'",
             "--component", "c=0.2:source = 'gamma' AND n_turns >= 1"])
assert code == 0
done(time.perf_counter() - start)
"""
CHILD_SELECT = CHILD_HEAD + """
from imitkit.registry.mixspec import build_spec, parse_component
from imitkit.registry.mixtures import Selector
from imitkit.registry.runs import Run
from imitkit.registry.store import Registry
reg = Registry.open(sys.argv[1], read_only=True)
spec = build_spec(name="x", budget=sys.argv[3], components=[parse_component(c) for c in (
    "a=0.5:source = 'alpha'", "b=0.3:source = 'beta'", "c=0.2:source = 'gamma' AND n_turns >= 1")])
start = time.perf_counter()
Selector(reg, spec, None, Run("r:bench", "bench")).select()
done(time.perf_counter() - start, members=reg.scalar("SELECT count(*) FROM _mix_members"))
"""
CHILD_PYTHON_LOOP = CHILD_HEAD + """
import hashlib
from imitkit.registry.mixspec import parse_budget
from imitkit.registry.store import Registry
from imitkit.registry.tokens import approx_query, approx_tokens_sql
reg = Registry.open(sys.argv[1], read_only=True)
budget = parse_budget(sys.argv[3])
start = time.perf_counter()
_, trainable = approx_tokens_sql()
taken = 0
for source, weight in (("alpha", 0.5), ("beta", 0.3), ("gamma", 0.2)):
    rows = reg.con.execute(f"SELECT id, {trainable} FROM ({approx_query(f'source = {chr(39)}{source}{chr(39)} AND kept', 'c.id')})").fetchall()
    rows.sort(key=lambda r: (int.from_bytes(hashlib.md5(f"{r[0]}:0".encode()).digest()[:8], "big"), r[0]))
    share, cum = budget * weight, 0
    for cid, tokens in rows:
        if cum + tokens / 2 > share:
            break
        cum += tokens
        taken += 1
done(time.perf_counter() - start, members=taken)
"""
CHILD_COPY_FLOOR = CHILD_HEAD + """
from imitkit.registry.store import Registry
reg = Registry.open(sys.argv[1], read_only=True)
start = time.perf_counter()
reg.con.execute(f\"\"\"COPY (SELECT c.id, c.messages, c.source, c.origin, c.teacher_model, m.component, m.n_tokens,
    m.n_trainable_tokens FROM snapshot_members m JOIN conversations c ON c.id = m.conversation_id
    WHERE m.snapshot = '{sys.argv[2]}' ORDER BY m.position) TO '{sys.argv[4]}' (FORMAT parquet, COMPRESSION zstd)\"\"\")
done(time.perf_counter() - start)
"""


def build_registry(root: Path, n: int) -> float:
    """N conversations (1-2 turns, ~1,000-character answers) written straight into the registry's tables."""
    from imitkit.registry.catalog import upsert_source
    from imitkit.registry.runs import utcnow
    from imitkit.registry.store import Registry

    rng = random.Random(0)
    words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))) for _ in range(5000)]
    blob = " ".join(rng.choice(words) for _ in range(400_000))  # ~2.5 MB of text to cut answers from
    start = time.perf_counter()
    with Registry.open(root) as reg:
        for name, _ in SOURCES:
            upsert_source(reg, name, format="bench", license="apache-2.0", origin="teacher", teacher_model="bench")
        reg.con.execute("INSERT INTO t_run VALUES ('r:bench', 'bench', NULL, NULL, ?, ?, 'ok', NULL, NULL)",
                        [utcnow(), utcnow()])
        reg.con.execute("CREATE TEMP TABLE blob AS SELECT ? AS text", [blob])
        src = " ".join(f"WHEN i % 10 < {int(10 * c)} THEN '{s}'" for s, c in zip(
            ("alpha", "beta", "gamma"), (0.5, 0.8, 1.0)))
        cut = "substr(b.text, 1 + CAST((hash(i, {k}) % {m}) AS BIGINT), {length})"
        answer = cut.format(k="{k}", m=len(blob) - 3000, length="500 + CAST(hash(i, {k} + 1) % 1000 AS BIGINT)")
        question = cut.format(k="{k}", m=len(blob) - 3000, length="50 + CAST(hash(i, {k} + 2) % 300 AS BIGINT)")
        turn = "{{'role': 'user', 'content': " + question + ", 'tool_calls': NULL}}, " \
               "{{'role': 'assistant', 'content': " + answer + ", 'tool_calls': NULL}}"
        one, two = turn.format(k=1), turn.format(k=1) + ", " + turn.format(k=11)
        reg.con.execute(f"""INSERT INTO t_conversation
            SELECT 'c:' || md5(i::VARCHAR), CASE {src} END, 'teacher', 'bench', msgs, len(msgs), 0, NULL, 'r:bench', now()
            FROM (SELECT i, CASE WHEN i % 3 = 0 THEN [{two}] ELSE [{one}] END AS msgs
                  FROM range({n}) t(i), blob b)""")
        reg.con.execute("UPDATE t_conversation SET n_chars = list_sum(list_transform(messages, lambda m: length(m.content)))")
        reg.con.execute("""INSERT INTO t_occurrence SELECT id, source, 'bench.jsonl', row_number() OVER (ORDER BY id),
            0, NULL, NULL, 'r:bench', now() FROM t_conversation""")
        reg.con.execute("CHECKPOINT")
    return time.perf_counter() - start


def run_child(code: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="conversations in the registry")
    parser.add_argument("--budget", default=None, help="token budget (default: 150 trainable tokens per conversation)")
    parser.add_argument("--workdir", type=Path, default=None, help="where to build the registry (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "mix.json")
    args = parser.parse_args()
    budget = args.budget or f"{args.n * 150 / 1e6:g}M"

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp) / "registry"
        build = build_registry(root, args.n)
        mix = run_child(CHILD_MIX, str(root), "bench", budget)
        select = run_child(CHILD_SELECT, str(root), "bench", budget)
        loop = run_child(CHILD_PYTHON_LOOP, str(root), "bench", budget)
        floor = run_child(CHILD_COPY_FLOOR, str(root), "bench", budget, str(Path(tmp) / "floor.parquet"))
        manifest = json.loads((root / "snapshots" / "bench" / "manifest.json").read_text())
        parquet_mb = sum((root / "snapshots" / "bench" / f).stat().st_size for f in ("train.parquet",)) / 2**20

    tokens = manifest["splits"]["train"]["trainable_tokens"]
    result = {
        "n": args.n, "budget": budget, "build_registry_s": round(build, 2), "members": select["members"],
        "trainable_tokens": tokens, "parquet_mb": round(parquet_mb, 1),
        "mix_cli_s": round(mix["seconds"], 2), "mix_peak_rss_mb": round(mix["peak_rss_mb"]),
        "selection_duckdb_s": round(select["seconds"], 3), "selection_python_loop_s": round(loop["seconds"], 3),
        "write_floor_copy_s": round(floor["seconds"], 2),
        "mix_vs_write_floor": round(mix["seconds"] / floor["seconds"], 2),
        "python_loop_vs_duckdb_selection": round(loop["seconds"] / select["seconds"], 1),
        "target": "mix < 20 s and < 2 GB at n=1,000,000 (150M tokens)",
    }
    rows = [("build registry (setup)", f"{build:.1f} s", ""),
            ("imitkit mix (end to end)", f"{mix['seconds']:.2f} s", f"{mix['peak_rss_mb']:.0f} MB peak"),
            ("  selection in DuckDB", f"{select['seconds']:.3f} s", f"{select['members']:,} members"),
            ("  same selection, Python loop", f"{loop['seconds']:.3f} s", f"x{result['python_loop_vs_duckdb_selection']}"),
            ("  write floor: one COPY to Parquet", f"{floor['seconds']:.2f} s", f"mix = x{result['mix_vs_write_floor']}")]
    print(f"bench/mix.py  n={args.n:,}  budget={budget} trainable tokens  got {tokens:,} in {parquet_mb:.0f} MB")
    for label, value, note in rows:
        print(f"  {label:<36} {value:>10}  {note}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
