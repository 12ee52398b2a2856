"""``imitkit publish``: a snapshot's Parquet, manifest and card to a Hub dataset repo, tagged.

One plan (path in repo → bytes or file) serves both the upload and ``--dry-run``, so
the dry-run folder is exactly what would be uploaded. The token comes from
``HF_TOKEN`` (or a stored ``hf auth login``) and is never printed; the endpoint from
``HF_ENDPOINT``, read when publishing rather than when huggingface_hub was imported.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from imitkit.registry.export import require_intact
from imitkit.registry.snapshots import CARD, MANIFEST, SPLITS, SnapshotError

_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


class PublishError(SnapshotError):
    """A snapshot could not be published."""


def plan(registry: Any, name: str, repo_id: str) -> list[tuple[str, Path | bytes]]:
    """What goes to the repo: the split files, the manifest, and the card with how to load it from there."""
    if not _REPO.match(repo_id):
        raise PublishError(f"--repo must look like ORG/NAME, not {repo_id!r}")
    from imitkit.cards.dataset import render_card

    record = require_intact(registry, name)
    folder, manifest = record["path"], record["manifest"]
    files: list[tuple[str, Path | bytes]] = [(f"{s}.parquet", folder / f"{s}.parquet")
                                             for s in SPLITS if s in manifest["splits"]]
    files.append((MANIFEST, folder / MANIFEST))
    files.append((CARD, render_card(manifest, load_path=repo_id).encode("utf-8")))
    return files


def dry_run(files: list[tuple[str, Path | bytes]], out: Path) -> list[Path]:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PublishError(f"{out} exists and is not an empty folder; choose a new --dry-run folder")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path_in_repo, source in files:
        target = out / path_in_repo
        if isinstance(source, bytes):
            target.write_bytes(source)
        else:
            shutil.copyfile(source, target)
        written.append(target)
    return written


def upload(files: list[tuple[str, Path | bytes]], repo_id: str, *, fingerprint: str, name: str,
           private: bool = False) -> dict[str, Any]:
    """Create the repo if needed, commit the files in one commit, tag it with the fingerprint."""
    from huggingface_hub import CommitOperationAdd, HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    token = os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise PublishError("no Hub token: set HF_TOKEN to a token with write access (or run `hf auth login`)")
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=s if isinstance(s, bytes) else str(s))
                  for p, s in files]
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.create_commit(repo_id, operations, repo_type="dataset",
                                   commit_message=f"imitkit snapshot {name} ({fingerprint[:12]})",
                                   commit_description=f"imitkit snapshot `{name}`, fingerprint `{fingerprint}`.")
        api.create_tag(repo_id, tag=fingerprint, revision=commit.oid, repo_type="dataset",
                       tag_message=f"imitkit snapshot {name}", exist_ok=True)
    except OfflineModeIsEnabled as e:
        raise PublishError("HF_HUB_OFFLINE is set: unset it to publish") from e
    except (HfHubHTTPError, OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PublishError(f"publishing to {repo_id} failed: {first}") from e
    return {"repo": repo_id, "commit": commit.oid, "tag": fingerprint, "url": commit.commit_url,
            "files": [p for p, _ in files], "private": private}
