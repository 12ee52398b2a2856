#!/usr/bin/env bash
# The imitkit tour on bundled samples, offline, as `make demo` runs it.
# Every line is a command a user would type; read it alongside docs/.
set -euo pipefail
cd "$(dirname "$0")/.."
IMITKIT="${IMITKIT:-.venv/bin/imitkit}"
export IMITKIT_REGISTRY="${IMITKIT_REGISTRY:-.imitkit-demo}"
# The demo is offline by design: never let a library try the Hub.
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
S=docs/samples
# Print the command as it could be pasted back (arguments with spaces in quotes), then run it.
step() {
  printf '\n\033[1m== %s\033[0m\n$' "$1"
  for arg in "${@:2}"; do case "$arg" in *[[:space:]]*) printf ' "%s"' "$arg" ;; *) printf ' %s' "$arg" ;; esac; done
  printf '\n'
  "${@:2}"
}

rm -rf "$IMITKIT_REGISTRY"
step "Create a registry" "$IMITKIT" init
step "Import ShareGPT-format conversations" "$IMITKIT" import sharegpt $S/fastchat_dummy_conversation.sample.json --source fastchat --license Apache-2.0
step "Import HC3 (human vs ChatGPT answers)" "$IMITKIT" import hc3 $S/hc3_wiki_csai.sample.jsonl --source hc3_wiki_csai --license CC-BY-SA-4.0
step "Import GPT-4 code instructions (format sniffed)" "$IMITKIT" import auto $S/gpteacher_codegen.sample.json --source gpteacher_codegen --license MIT --teacher-model gpt-4
step "Import OpenAssistant trees (human-written)" "$IMITKIT" import oasst $S/oasst_en_tree.sample.jsonl --source oasst --license Apache-2.0
step "Register NQ-open questions as an eval set" "$IMITKIT" evalset add nq $S/nq_open.dev.sample.jsonl --field question --answer-field answer
step "What is in the registry" "$IMITKIT" stats --by source
step "Sources and licenses" "$IMITKIT" sources
step "Ask it anything in SQL" "$IMITKIT" sql "SELECT origin, teacher_model, count(*) AS n, round(avg(n_chars)) AS avg_chars FROM conversations GROUP BY ALL ORDER BY n DESC"

printf '\n\033[1m== Collect from a teacher (skipped)\033[0m\n'
if [ -n "${OPENAI_API_KEY:-}" ]; then
  echo "OPENAI_API_KEY is set, but the demo stays offline and free. To collect answers yourself:"
else
  echo "No OPENAI_API_KEY: skipped. To collect answers from a teacher (OpenAI, or a local vLLM/llama.cpp server):"
fi
echo "  $IMITKIT teacher synthesize --task nq --seeds $S/nq_open.dev.sample.jsonl --n 200 --model gpt-4o-mini"
echo "  $IMITKIT teacher answer --prompts synth:nq --model gpt-4o-mini [--base-url http://localhost:8000/v1] --dry-run"

step "Curate: every decision stored as a verdict" "$IMITKIT" curate
step "What curation did" "$IMITKIT" curate report
step "What exact dedup dropped, beside what it kept" "$IMITKIT" rejects --step exact_dedup --limit 2
step "A 24k-token mixture: 70% teacher chat, 30% code" "$IMITKIT" mix demo-24k --budget 24k \
  --component chat=0.7:"origin = 'teacher' AND source <> 'gpteacher_codegen'" \
  --component code=0.3:"source = 'gpteacher_codegen'" --eval-fraction 0.1 --seed 0
step "Snapshots are immutable and verifiable" "$IMITKIT" snapshot verify demo-24k
step "The folder publish would upload (with its dataset card)" "$IMITKIT" publish demo-24k --repo demo/imitation-24k --dry-run "$IMITKIT_REGISTRY/publish-demo-24k"
head -n 25 "$IMITKIT_REGISTRY/publish-demo-24k/README.md"

step "A tiny random base model (no downloads)" .venv/bin/python -m imitkit.finetune.tiny "$IMITKIT_REGISTRY/tiny-base" --registry "$IMITKIT_REGISTRY"
step "Fine-tune it on the snapshot (a few steps on CPU)" "$IMITKIT" finetune --snapshot demo-24k --model "$IMITKIT_REGISTRY/tiny-base" \
  --output-dir "$IMITKIT_REGISTRY/models/tiny-demo" --max_steps 12 --per_device_train_batch_size 4 --learning_rate 2e-3 --max_length 512 --logging_steps 3
EVAL_ARGS=(--tasks nq,humaneval,heldout --limit 8 --max-new-tokens 32 --data "nq=$S/nq_open.dev.sample.jsonl" --data "humaneval=$S/HumanEval.sample.jsonl.gz")
step "Evaluate the base model" "$IMITKIT" eval run --model "$IMITKIT_REGISTRY/tiny-base" --name tiny-base "${EVAL_ARGS[@]}" --heldout "$IMITKIT_REGISTRY/snapshots/demo-24k/eval.parquet"
step "Evaluate the imitation model" "$IMITKIT" eval run --model "$IMITKIT_REGISTRY/models/tiny-demo" --name tiny-imitation --snapshot demo-24k "${EVAL_ARGS[@]}"
step "The report: imitation vs base" "$IMITKIT" eval report --base tiny-base

printf '\nThe demo registry is in %s: explore it with `IMITKIT_REGISTRY=%s %s sql "SELECT …"`.\n' \
  "$IMITKIT_REGISTRY" "$IMITKIT_REGISTRY" "$IMITKIT"
