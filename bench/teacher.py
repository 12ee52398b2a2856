"""Teacher collection throughput against the loopback OpenAI-compatible server (fixed latency).

For each concurrency, compares imitkit's collector (plan + cache look-up, rate limiter,
journal, call log, registry writes, progress) with ``--workers 1`` and ``--workers 2``
against references measured in the same run: the ideal (concurrency / latency), a
bare loop of ``AsyncOpenAI.chat.completions.create`` calls with the same concurrency,
and that bare loop split over 2 processes. Every measurement is repeated (``--repeat``)
with the variants interleaved, so a busy machine hits them alike; the table shows
medians and the JSON keeps every repeat.

    .venv/bin/python bench/teacher.py            # --n 3000 requests per measurement
    .venv/bin/python bench/teacher.py --n 500 --repeat 1   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "fakes" / "fake_openai.py"
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


def _bare_process(url: str, concurrency: int, n: int, tag: str, go: object, out: object) -> None:
    async def run() -> None:
        import openai

        client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=60)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"{tag} {i}"}])

        out.put("ready")
        await asyncio.to_thread(go.wait)  # start together, after both imported openai
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        out.put((start, time.perf_counter()))
        await client.close()

    asyncio.run(run())


def bare_processes(url: str, concurrency: int, n: int, tag: str, processes: int = 2) -> float:
    """The bare loop split over ``processes`` processes (start-up not counted): what more cores buy at best."""
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_bare_process, args=(url, concurrency // processes, n // processes, f"{tag}-{i}",
                                                     go, out)) for i in range(processes)]
    for p in procs:
        p.start()
    for _ in procs:
        assert out.get(timeout=60) == "ready"
    go.set()
    spans = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    return (n // processes) * processes / elapsed


def imitkit_run(url: str, concurrency: int, n: int, tag: str, workdir: Path, workers: int) -> tuple[float, int]:
    from imitkit.collectors.teacher.config import AnswerOptions
    from imitkit.collectors.teacher.run import answer
    from imitkit.registry.store import Registry

    prompts = workdir / f"{tag}.txt"
    prompts.write_text("".join(f"{tag} {i}\n" for i in range(n)))
    options = AnswerOptions(prompts=str(prompts), model=MODEL, base_url=url, concurrency=concurrency,
                             workers=workers)
    with Registry.open(workdir / f"reg-{tag}") as reg:
        start = time.perf_counter()
        tally = answer(reg, options, use_batch=False, wait=False, progress=None)
        elapsed = time.perf_counter() - start
        stored = reg.scalar("SELECT count(*) FROM teacher_calls WHERE answered")
    assert tally.answered == n == stored, (tally.line(), stored)
    return n / elapsed, stored


VARIANTS = ("bare_client", "bare_2proc", "imitkit_w1", "imitkit_w2")


def measure(url: str, c: int, n: int, tag: str, tmp: Path) -> dict[str, float]:
    return {"bare_client": asyncio.run(bare_loop(url, c, n, f"bare-{tag}")),
            "bare_2proc": bare_processes(url, c, n, f"bare2-{tag}"),
            "imitkit_w1": imitkit_run(url, c, n, f"w1-{tag}", tmp, workers=1)[0],
            "imitkit_w2": imitkit_run(url, c, n, f"w2-{tag}", tmp, workers=2)[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="requests per measurement")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeat", type=int, default=3, help="measurements per variant (medians are shown)")
    args = parser.parse_args()
    proc, url = start_server(args.latency)
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(bare_loop(url, 8, 200, "warmup"))
            for c in args.concurrency:
                runs = [measure(url, c, args.n, f"c{c}-r{r}", Path(tmp)) for r in range(args.repeat)]
                median = {v: statistics.median(run[v] for run in runs) for v in VARIANTS}
                ratios = {f"{v}_vs_bare": statistics.median(run[v] / run["bare_client"] for run in runs)
                          for v in VARIANTS[1:]}
                ratios["imitkit_w2_vs_w1"] = statistics.median(run["imitkit_w2"] / run["imitkit_w1"] for run in runs)
                results.append({"concurrency": c, "requests": args.n, "ideal_rps": c / args.latency,
                                **{f"{v}_rps": median[v] for v in VARIANTS}, **ratios, "repeats": runs})
    finally:
        proc.kill()
    print(f"{'conc':>5} {'ideal':>6} {'bare':>6} {'bare×2p':>8} {'imitkit w1':>11} {'imitkit w2':>11}  "
          f"{'w1/bare':>7} {'w2/bare':>7} {'w2/w1':>6} {'2p/bare':>7}   (requests/s, medians of {args.repeat})")
    for r in results:
        print(f"{r['concurrency']:>5} {r['ideal_rps']:>6.0f} {r['bare_client_rps']:>6.0f} {r['bare_2proc_rps']:>8.0f} "
              f"{r['imitkit_w1_rps']:>11.0f} {r['imitkit_w2_rps']:>11.0f}  {r['imitkit_w1_vs_bare']:>6.2f}x "
              f"{r['imitkit_w2_vs_bare']:>6.2f}x {r['imitkit_w2_vs_w1']:>5.2f}x {r['bare_2proc_vs_bare']:>6.2f}x")
    out = ROOT / "bench" / "results" / "teacher.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"latency_s": args.latency, "cpus": os.cpu_count(), "results": results}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
