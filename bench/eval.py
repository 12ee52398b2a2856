"""Eval harness throughput: HumanEval sandbox scoring and batched generation of a tiny model.

    python bench/eval.py                 # quick: 164 problems, 16 prompts
    python bench/eval.py --n 64 --gpu    # more prompts; on a GPU also a larger random model

Baselines are measured in the same run: HumanEval against running each program in a bare
subprocess one at a time (no limits, no namespaces), generation against one prompt at a
time. Prints a table and writes bench/results/eval.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("IMITKIT_EVAL_DATA", HERE.parent.parent / "shared" / "data"))


def humaneval_programs(limit: int) -> list[str]:
    with gzip.open(DATA / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f][:limit]
    return [f"{r['prompt']}{r['canonical_solution']}\n\n{r['test']}\n\ncheck({r['entry_point']})\n" for r in rows]


def bench_humaneval(limit: int) -> list[dict]:
    from imitkit.eval.sandbox import run_many

    programs = humaneval_programs(limit)
    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, source in enumerate(programs):
            path = Path(tmp, f"p{i}.py")
            path.write_text(source)
            subprocess.run([sys.executable, "-I", str(path)], cwd=tmp, capture_output=True, timeout=30, check=True)
    bare = time.perf_counter() - start
    rows.append({"case": "humaneval bare subprocess, 1 at a time (baseline)", "n": len(programs),
                 "seconds": bare, "per_s": len(programs) / bare})
    for workers in (1, os.cpu_count() or 1):
        start = time.perf_counter()
        outcomes = run_many(programs, workers=workers)
        seconds = time.perf_counter() - start
        assert all(o.passed for o in outcomes), [o.reason for o in outcomes if not o.passed][:3]
        rows.append({"case": f"humaneval sandboxed, {workers} worker(s)", "n": len(programs), "seconds": seconds,
                     "per_s": len(programs) / seconds})
    return rows


def build_model(folder: Path, hidden: int, layers: int) -> Path:
    from imitkit.finetune.tiny import build_tiny_llama

    heads = max(4, hidden // 64)
    build_tiny_llama(folder, [p[:400] for p in humaneval_programs(164)], vocab_size=2000, hidden_size=hidden,
                     layers=layers, heads=heads, kv_heads=heads, intermediate_size=hidden * 4, max_positions=2048)
    return folder


def bench_generation(folder: Path, n: int, new_tokens: int, batch: int, device: str, label: str) -> list[dict]:
    from imitkit.eval.local_model import LocalModel
    from imitkit.eval.models import ModelSpec

    model = LocalModel(ModelSpec("local", str(folder)), batch_size=batch, device=device)
    model.model.generation_config.eos_token_id = None  # random weights: always generate the full budget
    prompts = [p[:200] for p in humaneval_programs(n)]
    model.generate(prompts[:2], max_new_tokens=4)  # warm-up
    rows = []
    for size, name in ((1, "one prompt at a time (baseline)"), (batch, f"batched x{batch}")):
        model.batch_size = size
        start = time.perf_counter()
        model.generate(prompts, max_new_tokens=new_tokens)
        seconds = time.perf_counter() - start
        rows.append({"case": f"{label} generation, {name}", "n": len(prompts), "seconds": seconds,
                     "per_s": len(prompts) * new_tokens / seconds, "unit": "tokens/s"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="prompts for the generation benchmark")
    parser.add_argument("--problems", type=int, default=164, help="HumanEval problems to score")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--gpu", action="store_true", help="also a larger random model on CUDA, when available")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    import torch

    rows = bench_humaneval(args.problems)
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_model(Path(tmp, "tiny"), hidden=64, layers=2)
        rows += bench_generation(tiny, args.n, args.new_tokens, args.batch, "cpu", "tiny model (cpu)")
        if args.gpu and torch.cuda.is_available():
            big = build_model(Path(tmp, "big"), hidden=2048, layers=16)
            rows += bench_generation(big, max(args.n, 64), 128, 32, "cuda", "random 1B-class model (cuda)")
        elif args.gpu:
            rows.append({"case": "GPU generation: skipped (no CUDA device)", "n": 0, "seconds": 0, "per_s": 0})
    base = {"humaneval": rows[0]["per_s"]}
    for r in rows:
        group = r["case"].split(" ")[0]
        if "baseline" in r["case"]:
            base[r["case"].split(",")[0]] = r["per_s"]
        ref = base.get(r["case"].split(",")[0], base.get(group))
        r["ratio_vs_baseline"] = round(r["per_s"] / ref, 2) if ref and r["per_s"] else None
    print(f"{'case':58} {'n':>5} {'seconds':>8} {'rate':>12} {'x baseline':>10}")
    for r in rows:
        ratio = r["ratio_vs_baseline"]
        print(f"{r['case']:58} {r['n']:>5} {r['seconds']:>8.2f} {r['per_s']:>8.1f} {r.get('unit', 'problems/s')} "
              f"{'' if ratio is None else ratio:>6}")
    out = HERE / "results" / "eval.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"cpus": os.cpu_count(), "torch": torch.__version__, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
