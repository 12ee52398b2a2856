"""Publishing through the real huggingface_hub client to a Hub the test runs on loopback."""

from __future__ import annotations

import hashlib
import json

import pytest

from snapshots.conftest import three
from snapshots.hub_server import FakeHub

TOKEN = "hf_test_secret_token_0123456789"


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub.constants as constants

    # tests/conftest.py sets HF_HUB_OFFLINE=1; huggingface_hub read it at import time.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # the LFS basic transfer the fake Hub speaks
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield server


def test_publish_uploads_parquet_manifest_card_and_tags_the_fingerprint(mixreg, cli, registry_dir, hub):
    mixreg.close()
    assert cli("mix", "m", *three("10k"), "--eval-fraction", "0.2").code == 0
    snap = registry_dir / "snapshots" / "m"
    fingerprint = json.loads((snap / "manifest.json").read_text())["fingerprint"]
    r = cli("publish", "m", "--repo", "org/imitation-m", "--private")
    assert r.code == 0, r
    # Every API call carried the token (LFS PUTs go to a presigned URL without one); it was never printed.
    assert TOKEN not in r.out + r.err and hub.auth - {""} == {f"Bearer {TOKEN}"}
    repo = hub.repos["org/imitation-m"]
    assert repo["type"] == "dataset" and repo["visibility"] == "private"
    files = hub.files("org/imitation-m")
    assert sorted(files) == ["README.md", "eval.parquet", "manifest.json", "train.parquet"]
    for name in ("train.parquet", "eval.parquet", "manifest.json"):
        assert hashlib.sha256(files[name]).digest() == hashlib.sha256((snap / name).read_bytes()).digest()
    assert len(hub.lfs) == 2  # the parquet files went through LFS
    assert b'load_dataset("org/imitation-m")' in files["README.md"]
    assert hub.tags[fingerprint] == {"repo": "org/imitation-m", "commit": hub.commits[-1]["oid"],
                                     "message": "imitkit snapshot m"}
    assert f"tag {fingerprint}" in r.out
    rows = json.loads(cli("sql", "SELECT command, status FROM runs WHERE command = 'publish'", "--json").out)
    assert rows == [{"command": "publish", "status": "ok"}]


def test_publish_errors_are_one_line(mixreg, cli, hub, monkeypatch):
    mixreg.close()
    assert cli("mix", "m", *three("10k")).code == 0
    r = cli("publish", "m", "--repo", "not a repo")
    assert r.code == 1 and "ORG/NAME" in r.err
    r = cli("publish", "nope", "--repo", "org/x")
    assert r.code == 1 and "no snapshot named 'nope'" in r.err
    monkeypatch.setattr(hub, "route", lambda *a: (500, {"error": "boom"}))
    r = cli("publish", "m", "--repo", "org/x")
    assert r.code == 1 and r.err.startswith("Error: publishing to org/x failed") and TOKEN not in r.err
    assert "Traceback" not in r.err
