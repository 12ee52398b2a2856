"""Just enough of the Hugging Face Hub's HTTP API, on loopback, for huggingface_hub's upload path.

create_repo, validate-yaml, preupload, the LFS batch API with basic transfer (parquet
files go by LFS, the rest inline), commit (NDJSON) and create_tag. It records what
arrived so tests can assert on it; it serves only 127.0.0.1 and stops with the test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

HUB_LICENSES = {"apache-2.0", "mit", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "other", "unknown"}


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, Any]] = {}
        self.lfs: dict[str, bytes] = {}
        self.commits: list[dict[str, Any]] = []
        self.tags: dict[str, dict[str, str]] = {}
        self.auth: set[str] = set()
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def files(self, repo: str) -> dict[str, bytes]:
        return self.repos[repo]["files"]

    # -- routes ---------------------------------------------------------------------
    def route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        self.requests.append(f"{method} {path}")
        if method == "POST" and path == "/api/repos/create":
            data = json.loads(body)
            repo = f"{data['organization']}/{data['name']}"
            self.repos.setdefault(repo, {"type": data.get("type"), "visibility": data.get("visibility"), "files": {}})
            return 200, {"url": f"{self.url}/datasets/{repo}"}
        if method == "POST" and path == "/api/validate-yaml":
            return self._validate(json.loads(body)["content"])
        if m := re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/preupload/main", path):
            files = [{"path": f["path"], "uploadMode": "lfs" if f["path"].endswith(".parquet") else "regular",
                      "shouldIgnore": False, "oid": None} for f in json.loads(body)["files"]]
            return 200, {"files": files}
        if m := re.fullmatch(r"/datasets/([^/]+/[^/]+)\.git/info/lfs/objects/batch", path):
            objects = [{"oid": o["oid"], "size": o["size"], "authenticated": True,
                        "actions": {"upload": {"href": f"{self.url}/lfs-upload/{o['oid']}", "header": {}}}}
                       for o in json.loads(body)["objects"]]
            return 200, {"transfer": "basic", "objects": objects}
        if method == "PUT" and (m := re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", path)):
            if hashlib.sha256(body).hexdigest() != m.group(1):
                return 400, {"error": "sha256 mismatch"}
            self.lfs[m.group(1)] = body
            return 200, {}
        if m := re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/commit/main", path):
            return self._commit(m.group(1), body)
        if m := re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/tag/([0-9a-f]{40})", path):
            data = json.loads(body)
            self.tags[data["tag"]] = {"repo": m.group(1), "commit": m.group(2), "message": data.get("message")}
            return 200, {}
        return 404, {"error": f"not implemented: {method} {path}"}

    def _validate(self, content: str) -> tuple[int, Any]:
        try:
            meta = yaml.safe_load(content.split("---")[1])
        except (IndexError, yaml.YAMLError) as e:
            return 400, {"errors": [{"message": f"bad YAML: {e}"}]}
        errors = [{"message": f"missing {k}"} for k in ("license", "task_categories", "configs") if k not in meta]
        if meta.get("license") not in HUB_LICENSES:
            errors.append({"message": f"unknown license {meta.get('license')}"})
        return (400 if errors else 200), {"errors": errors, "warnings": []}

    def _commit(self, repo: str, body: bytes) -> tuple[int, Any]:
        if repo not in self.repos:
            return 404, {"error": "Repository not found"}
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = lines[0]["value"]
        files = {}
        for item in lines[1:]:
            value = item["value"]
            if item["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "lfsFile":
                if value["oid"] not in self.lfs:
                    return 422, {"error": f"LFS object {value['oid']} was never uploaded"}
                files[value["path"]] = self.lfs[value["oid"]]
        self.repos[repo]["files"].update(files)
        oid = hashlib.sha1(body).hexdigest()
        self.commits.append({"repo": repo, "oid": oid, "summary": header["summary"], "files": sorted(files)})
        return 200, {"commitUrl": f"{self.url}/datasets/{repo}/commit/{oid}", "commitOid": oid}

    def _handler(self) -> type:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.auth.add(self.headers.get("Authorization") or "")
                status, payload = hub.route(self.command, self.path.split("?")[0], body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

        return Handler
