"""Teacher collection throughput against the loopback OpenAI-compatible server (fixed latency).

For each concurrency, compares imitkit's collector (plan + cache look-up, rate limiter,
journal, call log, registry writes, progress) with two references measured in the
same run: the ideal (concurrency / latency) and a bare loop of
``AsyncOpenAI.chat.completions.create`` calls with the same concurrency.

    .venv/bin/python bench/teacher.py            # --n 3000 requests per measurement
    .venv/bin/python bench/teacher.py --n 500    # quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "teacher" / "fake_openai.py"
MODEL = "gpt-4o-mini"


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    # A separate process, so the server never competes with the client for the GIL.
    proc = subprocess.Popen([sys.executable, str(SERVER), "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


async def bare_loop(url: str, concurrency: int, n: int, tag: str) -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=60)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"{tag} {i}"}])

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - start
    await client.close()
    return n / elapsed


def imitkit_run(url: str, concurrency: int, n: int, tag: str, workdir: Path) -> tuple[float, int]:
    from imitkit.collectors.teacher.config import AnswerOptions
    from imitkit.collectors.teacher.run import answer
    from imitkit.registry.store import Registry

    prompts = workdir / f"{tag}.txt"
    prompts.write_text("".join(f"{tag} {i}\n" for i in range(n)))
    options = AnswerOptions(prompts=str(prompts), model=MODEL, base_url=url, concurrency=concurrency)
    with Registry.open(workdir / f"reg-{tag}") as reg:
        start = time.perf_counter()
        tally = answer(reg, options, use_batch=False, wait=False, progress=None)
        elapsed = time.perf_counter() - start
        stored = reg.scalar("SELECT count(*) FROM teacher_calls WHERE answered")
    assert tally.answered == n == stored, (tally.line(), stored)
    return n / elapsed, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="requests per measurement")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    args = parser.parse_args()
    proc, url = start_server(args.latency)
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(bare_loop(url, 8, 200, "warmup"))
            for c in args.concurrency:
                bare = asyncio.run(bare_loop(url, c, args.n, f"bare-c{c}"))
                ours, _ = imitkit_run(url, c, args.n, f"imitkit-c{c}", Path(tmp))
                ideal = c / args.latency
                results.append({"concurrency": c, "requests": args.n, "ideal_rps": ideal, "bare_client_rps": bare,
                                "imitkit_rps": ours, "imitkit_vs_bare": ours / bare, "imitkit_vs_ideal": ours / ideal})
    finally:
        proc.kill()
    print(f"{'concurrency':>11} {'ideal r/s':>10} {'bare r/s':>10} {'imitkit r/s':>12} {'vs bare':>8} {'vs ideal':>9}")
    for r in results:
        print(f"{r['concurrency']:>11} {r['ideal_rps']:>10.0f} {r['bare_client_rps']:>10.0f} {r['imitkit_rps']:>12.0f} "
              f"{r['imitkit_vs_bare']:>7.2f}x {r['imitkit_vs_ideal']:>8.2f}x")
    out = ROOT / "bench" / "results" / "teacher.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"latency_s": args.latency, "cpus": os.cpu_count(), "results": results}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
