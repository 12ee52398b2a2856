#!/usr/bin/env bash
# The imitkit tour on bundled samples, offline, as `make demo` runs it.
# Every line is a command a user would type; read it alongside docs/.
set -euo pipefail
cd "$(dirname "$0")/.."
IMITKIT="${IMITKIT:-.venv/bin/imitkit}"
export IMITKIT_REGISTRY="${IMITKIT_REGISTRY:-.imitkit-demo}"
S=docs/samples
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

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

printf '\nThe demo registry is in %s: explore it with `IMITKIT_REGISTRY=%s %s sql "SELECT …"`.\n' \
  "$IMITKIT_REGISTRY" "$IMITKIT_REGISTRY" "$IMITKIT"
