#!/usr/bin/env bash
# tests/gpu/selftest.sh [OUTDIR] — run tests/gpu/check.sh's GPU-only branches on a machine without a GPU.
# tests/gpu/fake/ puts an nvidia-smi that reports one H200 (and a pass-through compute-sanitizer) first on
# PATH, so check.sh takes every "a GPU is visible" branch — memcheck, bandwidth, vision, speech, the JSON and
# table parsing, the FAIL lines — with the bundle's real programs, which then fail (no CUDA device). A budget
# of 45 s makes lm-bench and vision-11b take their "out of time budget" branches instead of making GGUFs.
# The GPU machine is lent for 15 minutes; a typo in a branch that only runs there would cost the call.
# Passes when check.sh: exits 1 (its run phases fail), printed no shell error, wrote at most 8 files with
# names the device tool returns, and reported every phase. Exit 0 pass, 1 fail, 77 no bundle (skip).
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
[ $bad = 0 ] || { echo "selftest: FAILED (check.sh output: $LOG)"; exit 1; }
echo "selftest: OK — check.sh took its GPU branches (fake nvidia-smi) without a shell error: $n files, $(grep -c . "$OUT/summary.txt") summary lines"
exit 0
