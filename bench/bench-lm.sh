#!/usr/bin/env bash
# bench/bench-lm.sh — language-model throughput (not a test): prefill of ~128 and ~512 tokens and decode
# tok/s at 1 and 2 threads, for SmolLM2-135M (Q4_1) and the synthetic Llama-3.2-1B-shaped models (Q8_0,
# Q4_K; made once by make-synthetic-model into $MYNA_BENCH_DIR), next to the bandwidth limit of decode:
# measured read bandwidth (bench-matmul's measurement) / weight bytes streamed per token.
# Usage: bench/bench-lm.sh [BUILD_DIR]   (default build). Prints a Markdown table for docs/PERFORMANCE.md.
# Env: MYNA_BENCH_DIR (default /tmp/myna-bench), MYNA_BENCH_THREADS (default "1 2"), MYNA_BENCH_DECODE (64),
#      MYNA_BENCH_MODELS (default: smollm2 synth-q8_0 synth-q4_k).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
RUN=$B/clients/myna-run
MK=$B/bench/make-synthetic-model
BM=$B/bench/bench-matmul
DIR=${MYNA_BENCH_DIR:-/tmp/myna-bench}
THREADS=${MYNA_BENCH_THREADS:-"1 2"}
NDEC=${MYNA_BENCH_DECODE:-64}
MODELS=${MYNA_BENCH_MODELS:-"smollm2 synth-q8_0 synth-q4_k"}
SMOL="${MYNA_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/myna/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
mkdir -p "$DIR"
[ -x "$RUN" ] || { echo "bench-lm: build $RUN first (ninja -C $B clients/myna-run bench/make-synthetic-model)"; exit 1; }

model_path() {
  case $1 in
    smollm2) echo "$SMOL" ;;
    synth-*) local q=${1#synth-}; local f="$DIR/synthetic-llama-1b.$q.gguf"
             [ -f "$f" ] || "$MK" "$f" "$q" >&2; echo "$f" ;;
  esac
}

# text of about n tokens: words for a real tokenizer, letters for the byte-level synthetic one
prompt_text() {
  local model=$1 n=$2
  if [ "$model" = smollm2 ]; then
    python3 -c "import sys; w='the quick brown fox jumps over a lazy dog and then runs far away'.split(); print(' '.join(w[i % len(w)] for i in range(int(sys.argv[1]) - 1)))" "$n"
  else
    python3 -c "import sys; print(('abcdefghij' * 100)[:int(sys.argv[1]) - 1])" "$n"
  fi
}

field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])" "$1"; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; $(date -u +%Y-%m-%d)"
echo
echo "| model | weights | threads | read GB/s | decode limit tok/s | decode tok/s | % of limit | prefill 128 tok/s | prefill 512 tok/s |"
echo "|---|---|---|---|---|---|---|---|---|"
for t in $THREADS; do
  BW=$("$BM" -q -t "$t" Q8_0 2>/dev/null | sed -n 's/^memory read bandwidth: \([0-9.]*\).*/\1/p')
  for mname in $MODELS; do
    M=$(model_path "$mname")
    [ -f "$M" ] || { echo "| $mname | (missing: $M) |"; continue; }
    J=$("$RUN" -m "$M" -p "$(prompt_text "$mname" 16)" -n "$NDEC" -t "$t" --ctx 1024 --json 2>/dev/null | tail -1)
    WB=$(echo "$J" | field weight_bytes)
    DEC=$(echo "$J" | field decode_tok_s)
    P1=$("$RUN" -m "$M" -p "$(prompt_text "$mname" 128)" -n 0 -t "$t" --ctx 1024 --json 2>/dev/null | tail -1 | field prefill_tok_s)
    P5=$("$RUN" -m "$M" -p "$(prompt_text "$mname" 512)" -n 0 -t "$t" --ctx 1024 --json 2>/dev/null | tail -1 | field prefill_tok_s)
    python3 - "$mname" "$WB" "$t" "$BW" "$DEC" "$P1" "$P5" <<'PY'
import sys
name, wb, t, bw, dec, p1, p5 = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
lim = bw * 1e9 / wb
print(f"| {name} | {wb / 1e6:.0f} MB | {t} | {bw:.1f} | {lim:.1f} | {dec:.1f} | {100 * dec / lim:.0f}% | {p1:.1f} | {p5:.1f} |")
PY
  done
done
