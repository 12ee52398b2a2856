"""Import throughput: `imitkit import` vs a plain `json` parse of the same file.

    python bench/ingest.py --n 100000          # quick
    python bench/ingest.py --n 1000000         # the target: ~4 GB, < 5 min, peak RSS < 2 GB

Each measurement runs in its own process so peak RSS is that step's alone.
Prints a table and writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synthetic import write_sharegpt_jsonl  # noqa: E402

CHILD_BASELINE = """
import json, sys
n = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        if line.strip():
            json.loads(line); n += 1
print(n)
"""
CHILD_IMPORT = """
import sys
from imitkit.cli import main
sys.exit(main(["--registry", sys.argv[2], "import", "sharegpt", sys.argv[1], "--source", "bench"]))
"""


def measure(code: str, *args: str) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{proc.stderr}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # max over children so far
    return {"seconds": seconds, "peak_rss_mb": peak_kb / 1024, "stdout": proc.stdout.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="conversations to generate")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the data (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ingest.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        data = Path(tmp) / "sharegpt.jsonl"
        t0 = time.perf_counter()
        size = write_sharegpt_jsonl(data, args.n)
        gen_s = time.perf_counter() - t0
        mb = size / 1e6
        # Baseline first: RUSAGE_CHILDREN reports the max over children, so the smaller runs first.
        base = measure(CHILD_BASELINE, str(data))
        imp = measure(CHILD_IMPORT, str(data), str(Path(tmp) / "registry"))
        db_mb = (Path(tmp) / "registry" / "registry.duckdb").stat().st_size / 1e6

    rows = [
        ("json.loads per line (baseline)", base),
        ("imitkit import", imp),
    ]
    print(f"\n{args.n:,} conversations, {mb:,.0f} MB of JSON Lines (generated in {gen_s:.0f}s); registry {db_mb:,.0f} MB")
    print(f"{'step':34} {'seconds':>9} {'conv/s':>10} {'MB/s':>8} {'peak RSS MB':>12}")
    for name, r in rows:
        print(f"{name:34} {r['seconds']:9.1f} {args.n / r['seconds']:10,.0f} {mb / r['seconds']:8.1f} {r['peak_rss_mb']:12.0f}")
    ratio = imp["seconds"] / base["seconds"]
    projected = imp["seconds"] * 1_000_000 / args.n
    print(f"import takes {ratio:.1f}x the plain parse; projected for 1,000,000 conversations: {projected:.0f}s (target < 300s)")
    print(f"import summary: {imp['stdout']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "n": args.n, "mb": mb, "registry_mb": db_mb,
        "baseline": {k: base[k] for k in ("seconds", "peak_rss_mb")},
        "import": {k: imp[k] for k in ("seconds", "peak_rss_mb")},
        "ratio_vs_baseline": ratio, "projected_1m_seconds": projected,
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
