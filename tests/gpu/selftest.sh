#!/usr/bin/env bash
# tests/gpu/selftest.sh [OUTDIR] — run tests/gpu/check.sh's GPU-only branches on a machine without a GPU.
# The GPU machine is lent for 15 minutes; a typo in a branch that only runs there would cost the call.
# tests/gpu/fake/ puts an nvidia-smi that reports one H200 (and a pass-through compute-sanitizer) first on
# PATH, so check.sh takes every "a GPU is visible" branch, twice:
#   1. failing: the bundle's real programs, which fail (no CUDA device): every FAIL line, and (45 s budget)
#      lm-bench's and vision-11b's "out of time budget" branches. Passes when check.sh exits 1, printed no
#      shell error, wrote at most 8 files with names the device tool returns, reported every phase and
#      quoted the programs' errors.
#   2. passing: a bundle of wrappers over the same programs that swap "cuda" for the CPU backend (the
#      parity test in its CPU-vs-CPU self-test mode; cuda-bandwidth, bench-tts/-voice/-omni and a model test
#      as stand-ins printing their documented output; make-synthetic-model copying the tiny fixture GGUF):
#      every PASS branch, the JSON parsing and both tables (vision-11b skipped: MYNA_GPU_SKIP). Passes when
#      check.sh exits 0 with no shell error, every other run phase PASS and the tables filled in.
# Exit 0 pass, 1 fail, 77 no bundle (skip).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/build-gpu-bundle/selftest}
BUNDLE=${MYNA_GPU_BUNDLE:-$ROOT/build-gpu-bundle/dist}
[ -f "$BUNDLE/MANIFEST" ] || { echo "selftest: no bundle at $BUNDLE (tests/gpu/bundle.sh): skipped"; exit 77; }
rm -rf "$OUT" && mkdir -p "$OUT" || exit 1
LOG=$OUT.log
PATH="$ROOT/tests/gpu/fake:$PATH" MYNA_GPU_BUDGET_S=45 MYNA_GPU_BUNDLE="$BUNDLE" \
  bash "$ROOT/tests/gpu/check.sh" "$OUT" > "$LOG" 2>&1
rc=$?
bad=0
fail() { echo "selftest: $*"; bad=1; }
[ $rc = 1 ] || fail "check.sh exited $rc, not 1 (with no CUDA device behind the fake GPU its run phases must fail)"
if grep -nE 'command not found|syntax error|unbound variable|integer expression expected|bad substitution|No such file or directory$|unary operator expected' "$LOG"; then
  fail "check.sh printed shell errors (above; whole output in $LOG)"
fi
n=$(find "$OUT" -type f | wc -l)
[ "$n" -le 8 ] || fail "$n files in $OUT: the device tool returns at most 8"
if find "$OUT" -mindepth 1 | sed "s|^$OUT/||" | grep -v '^[A-Za-z0-9._-]*$'; then
  fail "names the device tool does not return (above)"
fi
for ph in env build nodev dequant parity models memcheck bandwidth vision speech whisper-int8 tts voice omni lm-bench \
          vision-11b; do
  grep -q "^$ph " "$OUT/summary.txt" 2>/dev/null || fail "no '$ph' line in summary.txt"
done
grep -q '^env  *INFO  GPU: NVIDIA H200' "$OUT/summary.txt" 2>/dev/null || fail "env did not report the (fake) GPU"
grep -q '^bandwidth  *FAIL  cuda-bandwidth failed: .*no usable CUDA device' "$OUT/summary.txt" 2>/dev/null ||
  fail "bandwidth's FAIL line does not quote the program's error"
[ $bad = 0 ] || { echo "selftest: FAILED (failing run; check.sh output: $LOG)"; exit 1; }
echo "selftest: failing run OK — every GPU branch's FAIL path without a shell error: $n files, $(grep -c . "$OUT/summary.txt") summary lines"

# ---- 2. passing run: wrappers that run the real programs on the CPU backend --------------------------------
FB=$OUT-bundle REAL=$OUT-bundle/real OUT2=$OUT-pass LOG2=$OUT-pass.log
rm -rf "$FB" "$OUT2" "$OUT2-models" && mkdir -p "$FB/bin" "$REAL" "$OUT2" || exit 1
if [ -f "$BUNDLE/programs.tar.xz" ]; then xz -dc "$BUNDLE/programs.tar.xz" | tar -C "$REAL" -xf - || exit 1
else cp -r "$BUNDLE/bin" "$REAL/" || exit 1; fi
cp "$BUNDLE/MANIFEST" "$FB/" && cp -r "$BUNDLE/fixtures" "$FB/" || exit 1
TINY=$FB/fixtures/tiny-llama/tiny-llama-b.Q8_0.gguf
wrap() { # NAME BODY — a bin/NAME script (REAL, TINY substituted)
  printf '#!/usr/bin/env bash\n# tests/gpu/selftest.sh stand-in for %s\nREAL=%q TINY=%q\n%s\n' "$1" "$REAL/bin" "$TINY" "$2" \
    > "$FB/bin/$1" && chmod +x "$FB/bin/$1"
}
CPU='a=(); for x in "$@"; do [ "$x" = cuda ] && x=cpu; a+=("$x"); done'
wrap test-cuda-nodev 'exec "$REAL/test-cuda-nodev" "$@"'
wrap test-cuda-dequant 'exec "$REAL/test-cuda-dequant" "$@"'
wrap test-backend-parity 'MYNA_PARITY_SELFTEST=1 exec "$REAL/test-backend-parity" "$@"'
wrap myna-run "$CPU"'; exec "$REAL/myna-run" "${a[@]}"'
wrap bench-vision "$CPU"'; exec "$REAL/bench-vision" "${a[@]}"'
wrap bench-whisper '[ "${1:-}" = --help ] && { echo "MYNA_WHISPER_INT8=1: the int8 path (selftest)"; exit 0; }
MYNA_BACKEND=cpu exec "$REAL/bench-whisper" "$@"'
wrap cuda-bandwidth 'echo "device-to-device copy: 1024 MiB x 20, 0.500 ms each, 4294.9 GB/s (read + write)"
echo "read-only kernel:      0.300 ms each, 3579.1 GB/s"; echo "d2d_GBps=4294.9 read_GBps=3579.1"'
wrap make-synthetic-model 'if [ "${1:-}" = --help ]; then "$REAL/make-synthetic-model" --help; echo "  (selftest) --shape llama-omni-8b"; exit 0; fi
o=; while [ $# -gt 0 ]; do [ "$1" = -o ] && o=$2; shift; done
cp "$TINY" "$o" && echo "make-synthetic-model: (selftest) $o is a copy of $TINY"'
wrap bench-tts 'echo "{\"rtf\": 0.012, \"first_audio_ms\": 4.5, \"voice\": \"$1\"}"'
wrap bench-voice '[ "${1:-}" = --help ] && { echo "--synthetic  synthetic input (selftest)"; exit 0; }
echo "{\"end_to_first_audio_ms\": 180, \"asr_ms\": 40, \"lm_first_token_ms\": 60, \"tts_first_audio_ms\": 30}"'
wrap bench-omni 'echo "{\"first_audio_ms\": 210, \"unit_rtf\": 0.05}"'
wrap test-vits 'echo "test-vits on $MYNA_BACKEND (selftest stand-in that reads MYNA_BACKEND): 3 cases, 0 failed"'
# vision-11b would run tools/ref/mllama_shaped.py where torch is installed: MYNA_GPU_SKIP keeps the run short.
PATH="$ROOT/tests/gpu/fake:$PATH" MYNA_GPU_BUDGET_S=300 MYNA_GPU_SKIP=vision-11b MYNA_GPU_BUNDLE="$FB" MYNA_GPU_MODELS_DIR="$OUT2-models" \
  bash "$ROOT/tests/gpu/check.sh" "$OUT2" > "$LOG2" 2>&1
rc=$?
rm -rf "$OUT2-models" "$REAL"
[ $rc = 0 ] || fail "passing run: check.sh exited $rc, not 0"
if grep -nE 'command not found|syntax error|unbound variable|integer expression expected|bad substitution|No such file or directory$|unary operator expected|Traceback' "$LOG2"; then
  fail "passing run: check.sh printed shell errors (above; whole output in $LOG2)"
fi
n=$(find "$OUT2" -type f | wc -l)
[ "$n" -le 8 ] || fail "passing run: $n files in $OUT2: the device tool returns at most 8"
for ph in nodev dequant parity models memcheck bandwidth vision speech whisper-int8 tts voice omni lm-bench; do
  grep -q "^$ph  *PASS " "$OUT2/summary.txt" 2>/dev/null || fail "passing run: no '$ph PASS' line in summary.txt"
done
grep -E '^[a-z0-9-]+ +(FAIL|SKIP) ' "$OUT2/summary.txt" | grep -v '^vision-11b ' && fail "passing run: FAIL/SKIP lines (above)"
[ "$(grep -c '^lm-bench  *PASS ' "$OUT2/summary.txt")" = 6 ] || fail "passing run: not 6 lm-bench rows"
grep -q '^device-to-device copy bandwidth: 4294.9 GB/s' "$OUT2/summary.txt" || fail "passing run: no bandwidth table header"
[ "$(grep -cE '^llama-3\.[12]-[18]b[^ ]* +(Q4_K|BF16|Q8_0) +[0-9.]+ GB +[0-9.]+ +[0-9.]+ +[0-9]+%$' "$OUT2/summary.txt")" = 6 ] ||
  fail "passing run: the LM table has not 6 complete rows (size, prefill, decode, % of bandwidth)"
grep -qE '^vision tiny-mllama +encoder [0-9.]+ ms, K/V [0-9.]+ ms +decode with image [0-9.]+ tok/s' "$OUT2/summary.txt" ||
  fail "passing run: no vision row with numbers"
grep -q '^tts .*"rtf": 0.012' "$OUT2/summary.txt" || fail "passing run: no tts row with its JSON"
[ $bad = 0 ] || { echo "selftest: FAILED (passing run; check.sh output: $LOG2)"; exit 1; }
echo "selftest: passing run OK — every PASS branch, the LM and media tables: $n files"
exit 0
