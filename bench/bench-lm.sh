#!/usr/bin/env bash
# bench/bench-lm.sh — language-model throughput (not a test): prefill of ~64 and ~512 tokens and decode of
# 128 tokens at 1 and 2 threads (the shapes of `llama-bench -p 64,512 -n 128`), for SmolLM2-135M (Q4_1) and
# the synthetic Llama-3.2-1B-shaped models (Q8_0, Q4_K; made once by make-synthetic-model into
# $MYNA_BENCH_DIR), next to the bandwidth limit of decode: measured read bandwidth (bench-matmul -b, taken
# right before every decode run, because this shared host's bandwidth drifts by ±25 % between minutes) /
# weight bytes streamed per token. Each number is the median of MYNA_BENCH_REPS runs; "% of limit" is the
# median of the per-run ratios.
# With LLAMA_BENCH=/path/to/llama-bench (a llama.cpp build of your own, outside this repository) every
# Myna run is followed by the same measurement from llama-bench on the same file (alternating, so both
# see the same machine load) and the table gains llama.cpp columns.
# Usage: bench/bench-lm.sh [BUILD_DIR]   (default build). Prints a Markdown table for docs/PERFORMANCE.md.
# Env: MYNA_BENCH_DIR (default /tmp/myna-bench), MYNA_BENCH_THREADS (default "1 2"), MYNA_BENCH_DECODE (128),
#      MYNA_BENCH_REPS (3), MYNA_BENCH_MODELS (default: smollm2 synth-q8_0 synth-q4_k), LLAMA_BENCH.
#      Also known to MYNA_BENCH_MODELS: synth-q4_k_m (llama.cpp's Q4_K_M mix: Q6_K attn_v / ffn_down on some
#      layers and Q6_K tied embeddings), synth-bf16; any synth-DTYPE is made with `make-synthetic-model F DTYPE`.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
RUN=$B/clients/myna-run
MK=$B/bench/make-synthetic-model
BM=$B/bench/bench-matmul
DIR=${MYNA_BENCH_DIR:-/tmp/myna-bench}
THREADS=${MYNA_BENCH_THREADS:-"1 2"}
NDEC=${MYNA_BENCH_DECODE:-128}
REPS=${MYNA_BENCH_REPS:-3}
MODELS=${MYNA_BENCH_MODELS:-"smollm2 synth-q8_0 synth-q4_k"}
LB=${LLAMA_BENCH:-}
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
median() { python3 -c "import sys,statistics; v=[float(x) for x in sys.argv[1:] if x]; print(statistics.median(v) if v else 0)" "$@"; }
# llama-bench tokens/s for one test (-p N -n 0 or -p 0 -n N), one repetition
llama() { "$LB" -m "$1" -t "$2" $3 -r 1 -o json 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['avg_ts'])"; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M') UTC; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
if [ -n "$LB" ]; then
  echo "| model | weights | threads | read GB/s | decode limit tok/s | decode tok/s (llama.cpp) | % of limit | prefill 64 tok/s (llama.cpp) | prefill 512 tok/s (llama.cpp) |"
else
  echo "| model | weights | threads | read GB/s | decode limit tok/s | decode tok/s | % of limit | prefill 64 tok/s | prefill 512 tok/s |"
fi
echo "|---|---|---|---|---|---|---|---|---|"
for t in $THREADS; do
  for mname in $MODELS; do
    M=$(model_path "$mname")
    [ -f "$M" ] || { echo "| $mname | (missing: $M) |"; continue; }
    DEC=() P1=() P5=() LDEC=() LP1=() LP5=() BWS=() PCT=() WB=0
    for ((i = 0; i < REPS; i++)); do
      BW=$("$BM" -b -t "$t" 2>/dev/null | sed -n 's/^memory read bandwidth: \([0-9.]*\).*/\1/p')
      BWS+=("$BW")
      J=$("$RUN" -m "$M" -p "$(prompt_text "$mname" 16)" -n "$NDEC" -t "$t" --ctx 1024 --json 2>/dev/null | tail -1)
      WB=$(echo "$J" | field weight_bytes)
      DEC+=("$(echo "$J" | field decode_tok_s)")
      PCT+=("$(python3 -c "import sys; print(100 * float(sys.argv[1]) * int(sys.argv[2]) / (float(sys.argv[3]) * 1e9))" "${DEC[-1]}" "$WB" "$BW")")
      [ -n "$LB" ] && LDEC+=("$(llama "$M" "$t" "-p 0 -n $NDEC")")
      P1+=("$("$RUN" -m "$M" -p "$(prompt_text "$mname" 64)" -n 0 -t "$t" --ctx 1024 --json 2>/dev/null | tail -1 | field prefill_tok_s)")
      [ -n "$LB" ] && LP1+=("$(llama "$M" "$t" "-p 64 -n 0")")
      P5+=("$("$RUN" -m "$M" -p "$(prompt_text "$mname" 512)" -n 0 -t "$t" --ctx 1024 --json 2>/dev/null | tail -1 | field prefill_tok_s)")
      [ -n "$LB" ] && LP5+=("$(llama "$M" "$t" "-p 512 -n 0")")
    done
    python3 - "$mname" "$WB" "$t" "$(median "${BWS[@]}")" "$(median "${DEC[@]}")" "$(median "${P1[@]}")" \
      "$(median "${P5[@]}")" "$(median "${LDEC[@]:-}")" "$(median "${LP1[@]:-}")" "$(median "${LP5[@]:-}")" \
      "$(median "${PCT[@]}")" <<'PY'
import sys
name, wb, t, bw = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
dec, p1, p5, ldec, lp1, lp5, pct = (float(x) for x in sys.argv[5:12])
lim = bw * 1e9 / wb
ll = lambda v: f" ({v:.1f})" if v else ""
print(f"| {name} | {wb / 1e6:.0f} MB | {t} | {bw:.1f} | {lim:.1f} | {dec:.1f}{ll(ldec)} | {pct:.0f}% | "
      f"{p1:.1f}{ll(lp1)} | {p5:.1f}{ll(lp5)} |")
PY
  done
done
