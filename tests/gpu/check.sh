#!/usr/bin/env bash
# tests/gpu/check.sh OUTDIR — everything the project checks on a (rarely lent) GPU machine, in < 8 minutes,
# from the repository alone (no network). Phases, each under `timeout` and skipped with a line saying why:
#   1. build       Meson + ninja with -Dcuda=enabled -Dcuda-arch=native (only the programs used below);
#                  without Meson/ninja: a direct gcc + nvcc compile of the same programs (build-gpucheck-direct)
#   2. parity      tests/backend/test-backend-parity (every CUDA op vs the CPU backend) + test-cuda-nodev
#   3. memcheck    myna-run --backend cuda on the tiny fixture models under compute-sanitizer --tool memcheck
#   4. bandwidth   bench/cuda-bandwidth (device-to-device copy and read-only GB/s)
#   5. vision      bench/bench-vision --backend cuda on tests/fixtures/tiny-mllama: encoder + cross K/V ms per
#                  image, decode tok/s with an image (the 11B-shaped part runs after lm-bench, see 7.)
#   6. speech      bench/bench-whisper (MYNA_BACKEND=cuda) on tests/fixtures/tiny-whisper/model: encoder s per
#                  30 s window and real-time factor on 10 s of synthetic audio
#   7. lm-bench    synthetic Llama-3.2-1B / Llama-3.1-8B-shaped GGUFs (bench/make-synthetic-model) in Q4_K,
#                  BF16, Q8_0: prefill and decode tok/s, decode as % of the measured copy bandwidth. The 8B
#                  BF16 model has MYNA_GPU_8B_BF16_LAYERS layers (default 16, labelled "/16L"; 32 = full)
#   8. vision-11b  only when torch + transformers import and >= 200 s of budget are left: an 11B-width
#                  random-weight mllama folder (tools/ref/mllama_shaped.py, kept in build-gpucheck-models/),
#                  bench-vision --scale-11b; otherwise skipped with the reason
# Logs go to OUTDIR (one file per phase); a summary table is printed last. Exit status: 0 when no phase
# failed (skips are not failures), 1 otherwise. Knobs: MYNA_GPU_BUDGET_S (default 470 s),
# MYNA_CHECK_NO_MESON=1 (force the direct compile), MYNA_CUDA_ARCH (default native, sm_90 without a GPU),
# MYNA_GPU_8B_BF16_LAYERS (default 16).
set -uo pipefail

OUT=${1:-}
if [ -z "$OUT" ]; then
  echo "usage: tests/gpu/check.sh OUTDIR" >&2
  exit 2
fi
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
START=$(date +%s)
BUDGET=${MYNA_GPU_BUDGET_S:-470}
JOBS=$(nproc 2>/dev/null || echo 4)
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export PATH="$PATH:$CUDA_HOME/bin:$CUDA_HOME/compute-sanitizer"
FAILED=0
SUMMARY=()

elapsed() { echo $(( $(date +%s) - START )); }
# Seconds a phase may take: what it asks for, capped by what is left of the budget (minus a reserve).
limit() {
  local want=$1 left=$(( BUDGET - $(elapsed) - 15 ))
  [ "$left" -lt "$want" ] && want=$left
  [ "$want" -lt 0 ] && want=0
  echo "$want"
}
note() { # phase, status (PASS/FAIL/SKIP/INFO), detail
  SUMMARY+=("$(printf '%-12s %-5s %s' "$1" "$2" "$3")")
  echo "[check $(elapsed)s] $1: $2 $3"
  [ "$2" = FAIL ] && FAILED=1
  return 0
}

# ---- 0. environment ----------------------------------------------------------------------------------------
{
  echo "date: $(date -u +%FT%TZ)"; echo "commit: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  uname -a; nproc; command -v nvcc && nvcc --version; command -v meson && meson --version
  command -v ninja && ninja --version; command -v compute-sanitizer
  nvidia-smi 2>&1
} > "$OUT/env.txt" 2>&1
GPU=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  GPU=1
  note env INFO "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
else
  note env INFO "no GPU visible (nvidia-smi missing or lists none): run phases will be skipped"
fi
HAVE_NVCC=0
command -v nvcc >/dev/null && HAVE_NVCC=1
ARCH=${MYNA_CUDA_ARCH:-}
if [ -z "$ARCH" ]; then
  if [ "$GPU" = 1 ]; then ARCH=native; else ARCH=sm_90; fi
fi

# ---- 1. build ------------------------------------------------------------------------------------------------
BIN_PARITY= BIN_NODEV= BIN_RUN= BIN_BW= BIN_SYN= BIN_VIS= BIN_WSP=
build_meson() {
  local dir="$ROOT/build-gpucheck" t
  t=$(limit 300)
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" -Dcuda=enabled -Dcuda-arch="$ARCH" -Dbuildtype=release || return 1
  else
    meson setup "$dir" -Dcuda=enabled -Dcuda-arch="$ARCH" -Dbuildtype=release || return 1
  fi
  # Only what the later phases run; the synthetic-model tool is built too when it is a Meson target.
  local targets="tests/backend/test-backend-parity tests/backend/test-cuda-nodev clients/myna-run bench/cuda-bandwidth"
  ninja -C "$dir" -t targets all 2>/dev/null | grep -q '^bench/make-synthetic-model:' &&
    targets="$targets bench/make-synthetic-model"
  timeout "$t" ninja -C "$dir" -j "$JOBS" $targets || return 1
  BIN_PARITY="$dir/tests/backend/test-backend-parity"; BIN_NODEV="$dir/tests/backend/test-cuda-nodev"
  BIN_RUN="$dir/clients/myna-run"; BIN_BW="$dir/bench/cuda-bandwidth"
  [ -x "$dir/bench/make-synthetic-model" ] && BIN_SYN="$dir/bench/make-synthetic-model"
  # The vision and speech benches are optional: their failure leaves the core phases running.
  local opt= b
  for b in bench/bench-vision bench/bench-whisper; do
    ninja -C "$dir" -t targets all 2>/dev/null | grep -q "^$b:" && opt="$opt $b"
  done
  if [ -n "$opt" ]; then
    timeout "$(limit 120)" ninja -C "$dir" -j "$JOBS" $opt || echo "check: optional benches failed to build:$opt"
  fi
  [ -x "$dir/bench/bench-vision" ] && BIN_VIS="$dir/bench/bench-vision"
  [ -x "$dir/bench/bench-whisper" ] && BIN_WSP="$dir/bench/bench-whisper"
  return 0
}

# Direct compile: every .c of core/ (minus the no-CUDA stub), core/cpu/, core/cuda/, lm/, plus the .cu files;
# a hand-written config.h (optional media libraries off). Needs gcc, nvcc, Jansson and PCRE2 headers.
build_direct() {
  local dir="$ROOT/build-gpucheck-direct" t cf cuflags f o objs=() lmobjs=()
  t=$(limit 300)
  rm -rf "$dir" && mkdir -p "$dir/obj" || return 1
  cat > "$dir/config.h" <<EOF
#define MYNA_VERSION "gpucheck"
#define MYNA_DATADIR "/usr/local/share/myna"
#define HAVE_FFMPEG 0
#define HAVE_PNG 0
#define HAVE_JPEG 0
#define HAVE_PORTAUDIO 0
#define HAVE_OPENBLAS 0
#define HAVE_SYSTEMD 0
#define HAVE_CUDA 1
EOF
  cf="-std=c11 -O2 -D_GNU_SOURCE -DNDEBUG -fno-strict-aliasing -pthread -I$dir -I$ROOT/core -I$ROOT/core/cpu"
  cf="$cf -I$ROOT/lm -I$ROOT/tests -I$CUDA_HOME/include"
  if [ "$ARCH" = native ]; then cuflags="-arch=native"; else
    cuflags="-gencode=arch=compute_${ARCH#sm_},code=sm_${ARCH#sm_}"; fi
  {
    for f in core/*.c core/cpu/*.c core/cuda/*.c; do
      [ "$f" = core/cuda-stub.c ] && continue
      case $f in
        core/quant-avx2.c) echo "gcc $cf -mavx2 -mfma -mf16c -c $f -o $dir/obj/$(echo "$f" | tr / _).o" ;;
        core/quant-avx512.c) echo "gcc $cf -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16 -c $f -o $dir/obj/$(echo "$f" | tr / _).o" ;;
        *) echo "gcc $cf -c $f -o $dir/obj/$(echo "$f" | tr / _).o" ;;
      esac
    done
    for f in core/cuda/*.cu; do
      echo "nvcc -O3 -std=c++17 $cuflags -I$ROOT/core -I$ROOT/core/cuda -I$dir -c $f -o $dir/obj/$(echo "$f" | tr / _).o"
    done
    for f in lm/*.c; do echo "gcc $cf -c $f -o $dir/lmobj_$(basename "$f").o"; done
  } > "$dir/commands.txt"
  # Core objects must all compile; LM objects may fail (then only myna-run is missing).
  grep -v lmobj_ "$dir/commands.txt" | timeout "$t" xargs -P "$JOBS" -I{} sh -c '{}' || return 1
  grep lmobj_ "$dir/commands.txt" | timeout "$(limit 120)" xargs -P "$JOBS" -I{} sh -c '{}' || true
  ar rcs "$dir/libmyna-core.a" "$dir"/obj/*.o || return 1
  local libs="-L$CUDA_HOME/lib64 -lcublas -lcudart -ljansson -lstdc++ -lm -lpthread -ldl -lrt"
  local ld="-Wl,--whole-archive $dir/libmyna-core.a -Wl,--no-whole-archive"
  gcc $cf tests/backend/test-backend-parity.c $ld $libs -o "$dir/test-backend-parity" &&
    gcc $cf tests/backend/test-cuda-nodev.c $ld $libs -o "$dir/test-cuda-nodev" || return 1
  BIN_PARITY="$dir/test-backend-parity"; BIN_NODEV="$dir/test-cuda-nodev"
  nvcc -O2 $cuflags bench/cuda-bandwidth.cu -o "$dir/cuda-bandwidth" && BIN_BW="$dir/cuda-bandwidth"
  if ls "$dir"/lmobj_*.o >/dev/null 2>&1 &&
     gcc $cf clients/myna-run.c "$dir"/lmobj_*.o $ld $libs -lpcre2-8 -o "$dir/myna-run"; then
    BIN_RUN="$dir/myna-run"
  fi
  if [ -f bench/make-synthetic-model.c ] &&
     gcc $cf bench/make-synthetic-model.c "$dir"/lmobj_*.o $ld $libs -lpcre2-8 -o "$dir/make-synthetic-model"; then
    BIN_SYN="$dir/make-synthetic-model"
  fi
  return 0
}

if [ "$HAVE_NVCC" = 0 ]; then
  note build SKIP "nvcc not found (PATH, $CUDA_HOME/bin): nothing CUDA can be built"
elif [ -z "${MYNA_CHECK_NO_MESON:-}" ] && command -v meson >/dev/null && command -v ninja >/dev/null; then
  if build_meson > "$OUT/build.log" 2>&1; then
    note build PASS "meson, cuda-arch=$ARCH ($(elapsed)s)"
  else
    note build INFO "meson build failed (build.log); trying the direct compile"
    if build_direct > "$OUT/build-direct.log" 2>&1; then note build PASS "direct gcc+nvcc, arch=$ARCH"
    else note build FAIL "direct compile failed too (build-direct.log)"; fi
  fi
else
  note build INFO "meson/ninja not available (or MYNA_CHECK_NO_MESON): direct gcc+nvcc compile"
  if build_direct > "$OUT/build-direct.log" 2>&1; then note build PASS "direct gcc+nvcc, arch=$ARCH ($(elapsed)s)"
  else note build FAIL "direct compile failed (build-direct.log)"; fi
fi

# ---- 2. parity -----------------------------------------------------------------------------------------------
if [ -z "$BIN_PARITY" ]; then
  note parity SKIP "not built"
else
  MYNA_FIXTURES="$ROOT/tests/fixtures" timeout "$(limit 30)" "$BIN_NODEV" > "$OUT/cuda-nodev.log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then note nodev PASS "$(tail -2 "$OUT/cuda-nodev.log" | head -1)"
  else note nodev FAIL "rc $rc (cuda-nodev.log)"; fi
  MYNA_TEST_VERBOSE=1 MYNA_FIXTURES="$ROOT/tests/fixtures" timeout "$(limit 150)" "$BIN_PARITY" \
    > "$OUT/parity.log" 2>&1
  rc=$?
  case $rc in
    0) note parity PASS "$(tail -1 "$OUT/parity.log")" ;;
    77) if [ "$GPU" = 1 ]; then note parity FAIL "skipped although a GPU is visible: $(tail -1 "$OUT/parity.log")"
        else note parity SKIP "no GPU: $(tail -1 "$OUT/parity.log")"; fi ;;
    124) note parity FAIL "timed out (parity.log)" ;;
    *) note parity FAIL "rc $rc: $(grep -c '^FAIL' "$OUT/parity.log") failing cases (parity.log)" ;;
  esac
fi

# ---- 3. memcheck -----------------------------------------------------------------------------------------------
SAN=$(command -v compute-sanitizer || true)
if [ "$GPU" = 0 ]; then
  note memcheck SKIP "no GPU"
elif [ -z "$BIN_RUN" ]; then
  note memcheck SKIP "myna-run not built"
elif [ -z "$SAN" ]; then
  note memcheck SKIP "compute-sanitizer not found"
else
  for m in tests/fixtures/tiny-llama/tiny-llama-b.Q8_0.gguf tests/fixtures/tiny-llama/tiny-llama-a.F16.gguf; do
    [ -f "$m" ] || { note memcheck SKIP "$m missing"; continue; }
    log="$OUT/memcheck-$(basename "$m" .gguf).log"
    timeout "$(limit 90)" "$SAN" --tool memcheck --error-exitcode 86 --leak-check no \
      "$BIN_RUN" -m "$m" --backend cuda -p "Once upon a time" -n 12 --temp 0 --seed 1 --print-tokens > "$log" 2>&1
    rc=$?
    case $rc in
      0) note memcheck PASS "$(basename "$m"): $(grep -m1 'ERROR SUMMARY' "$log" || echo 'no errors')" ;;
      86) note memcheck FAIL "$(basename "$m"): $(grep -m1 'ERROR SUMMARY' "$log") ($(basename "$log"))" ;;
      124) note memcheck FAIL "$(basename "$m"): timed out" ;;
      *) note memcheck FAIL "$(basename "$m"): myna-run rc $rc ($(basename "$log"))" ;;
    esac
    # Greedy tokens on CPU vs CUDA (information only: tiny random models can flip near-ties).
    timeout "$(limit 30)" "$BIN_RUN" -m "$m" --backend cpu -p "Once upon a time" -n 12 --temp 0 --seed 1 \
      --print-tokens > "$log.cpu" 2>&1 && timeout "$(limit 30)" "$BIN_RUN" -m "$m" --backend cuda \
      -p "Once upon a time" -n 12 --temp 0 --seed 1 --print-tokens > "$log.cuda" 2>&1 &&
      if diff -q <(grep -v 'tok/s\|cuda:\|cpu:' "$log.cpu") <(grep -v 'tok/s\|cuda:\|cpu:' "$log.cuda") >/dev/null
      then note greedy INFO "$(basename "$m"): CPU and CUDA generate the same tokens"
      else note greedy INFO "$(basename "$m"): CPU and CUDA tokens differ (see $(basename "$log").cpu/.cuda)"; fi
  done
fi

# ---- 4. bandwidth ----------------------------------------------------------------------------------------------
D2D=
if [ "$GPU" = 0 ]; then
  note bandwidth SKIP "no GPU"
elif [ -z "$BIN_BW" ]; then
  note bandwidth SKIP "cuda-bandwidth not built"
elif timeout "$(limit 60)" "$BIN_BW" 1024 > "$OUT/bandwidth.log" 2>&1; then
  D2D=$(sed -n 's/.*d2d_GBps=\([0-9.]*\).*/\1/p' "$OUT/bandwidth.log")
  note bandwidth PASS "$(tail -1 "$OUT/bandwidth.log")"
else
  note bandwidth FAIL "cuda-bandwidth failed (bandwidth.log)"
fi

# ---- 5. vision (tiny mllama fixture) -----------------------------------------------------------------------------
MEDIA=()
# vision_run LABEL DIR LOG [ARGS…] → runs bench-vision --backend cuda --json, notes a row; 0 when it ran.
vision_run() {
  local label=$1 dir=$2 log=$3 rc enc kv dimg ph=vision
  shift 3
  [ "$label" = tiny-mllama ] || ph=vision-11b
  timeout "$(limit 90)" "$BIN_VIS" "$dir" --backend cuda --json "$@" > "$log" 2>&1
  rc=$?
  if [ $rc != 0 ]; then
    [ $rc = 124 ] && note $ph FAIL "$label: timed out ($(basename "$log"))" ||
      note $ph FAIL "$label: bench-vision rc $rc ($(basename "$log"))"
    return 1
  fi
  read -r enc kv dimg < <(python3 -c 'import json,sys; o=json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1]); k="_11b" if sys.argv[2]=="1" else ""; print(round(o["encoder_ms"+k],3), round(o["cross_kv_ms"+k],3), round(o["decode_tok_s_image"],1))' "$log" "$( [ $ph = vision ] && echo 0 || echo 1)" 2>/dev/null || echo "? ? ?")
  MEDIA+=("$(printf '%-22s %-34s %s' "vision $label" "encoder $enc ms, K/V $kv ms" "decode with image $dimg tok/s")")
  note $ph PASS "$label: encoder $enc ms + cross K/V $kv ms per 4-tile image, decode with the image $dimg tok/s"
}
if [ "$GPU" = 0 ]; then
  note vision SKIP "no GPU"
elif [ -z "$BIN_VIS" ]; then
  note vision SKIP "bench-vision not built (Meson build only; see build.log)"
elif [ ! -f tests/fixtures/tiny-mllama/model.safetensors ]; then
  note vision SKIP "tests/fixtures/tiny-mllama missing"
else
  vision_run tiny-mllama tests/fixtures/tiny-mllama "$OUT/vision-tiny.log" --reps 3 --tokens 16
fi

# ---- 6. speech (tiny Whisper fixture) ----------------------------------------------------------------------------
if [ "$GPU" = 0 ]; then
  note speech SKIP "no GPU"
elif [ -z "$BIN_WSP" ]; then
  note speech SKIP "bench-whisper not built (Meson build only; see build.log)"
elif [ ! -d tests/fixtures/tiny-whisper/model ]; then
  note speech SKIP "tests/fixtures/tiny-whisper/model missing"
else
  # 10 s of 16 kHz float32: a gliding tone with noise (Python's standard library), or silence without Python.
  wav="$OUT/speech-10s.f32"
  python3 -c 'import array,math,random,sys; random.seed(1); a=array.array("f",(0.3*math.sin(2*math.pi*(200+40*i/16000)*i/16000)+0.05*random.uniform(-1,1) for i in range(160000))); a.tofile(open(sys.argv[1],"wb"))' "$wav" 2>/dev/null ||
    head -c 640000 /dev/zero > "$wav"
  MYNA_BACKEND=cuda timeout "$(limit 60)" "$BIN_WSP" tests/fixtures/tiny-whisper/model "$wav" 3 > "$OUT/speech-tiny.log" 2>&1
  rc=$?
  if [ $rc = 0 ] && grep -q 'RTF' "$OUT/speech-tiny.log"; then
    enc=$(sed -n 's/.*encoder \([0-9.]*\) s per 30 s window.*/\1/p' "$OUT/speech-tiny.log" | head -1)
    rtf=$(sed -n 's/.*: RTF \([0-9.]*\).*/\1/p' "$OUT/speech-tiny.log" | head -1)
    enc_ms=$(awk -v e="${enc:-0}" 'BEGIN{printf "%.1f", e*1000}')
    MEDIA+=("$(printf '%-22s %-34s %s' "speech tiny-whisper" "encoder $enc_ms ms/30 s" "RTF $rtf (10 s audio)")")
    note speech PASS "tiny-whisper on cuda: encoder $enc_ms ms per 30 s window, real-time factor $rtf"
  elif [ $rc = 0 ] && grep -q 'no transcription' "$OUT/speech-tiny.log"; then
    # The fixture's window is 80 mel frames, not 3000: whisper_transcribe refuses it (-ENOTSUP), so no RTF.
    enc_ms=$(sed -n 's/.*encoder \([0-9.]*\) ms per window of \([0-9]*\) mel frames.*/\1 ms per \2-frame window/p' \
      "$OUT/speech-tiny.log" | head -1)
    MEDIA+=("$(printf '%-22s %-34s %s' "speech tiny-whisper" "encoder ${enc_ms%% per*}" "RTF n/a (fixture cannot transcribe)")")
    note speech PASS "tiny-whisper on cuda: encoder $enc_ms; RTF n/a (the fixture's short window cannot be transcribed)"
  elif [ $rc = 124 ]; then note speech FAIL "bench-whisper timed out (speech-tiny.log)"
  else note speech FAIL "bench-whisper rc $rc (speech-tiny.log)"; fi
fi

# ---- 7. LM benchmark on synthetic models -----------------------------------------------------------------------
SYN=${BIN_SYN:-}
BENCH=()
# 8B BF16 is a 16 GB file: by default it is made with fewer layers (same per-layer shapes, so decode % of
# bandwidth stays comparable; tok/s scales with the layer count) and the table says so. 32 = the full model.
BF16_8B_LAYERS=${MYNA_GPU_8B_BF16_LAYERS:-16}
# make_model SHAPE DTYPE FILE [LAYERS] → 0 made, 3 the tool cannot make this shape/dtype, else failure.
# The tool's `--shape/--dtype/--layers/-o` interface is used when its --help mentions --shape; an older
# tool only has `make-synthetic-model OUT.gguf [q8_0|q4_k]` (Llama-3.2-1B shape).
make_model() {
  local shape=$1 dt=$2 file=$3 layers=${4:-} help
  help=$("$SYN" --help 2>&1 || true)
  if echo "$help" | grep -q -- '--shape'; then
    timeout "$(limit 150)" "$SYN" --shape "$shape" --dtype "$dt" ${layers:+--layers "$layers"} -o "$file"
    return
  fi
  [ "$shape" = llama-3.2-1b ] || return 3
  case $dt in Q8_0) dt=q8_0 ;; Q4_K) dt=q4_k ;; *) return 3 ;; esac
  timeout "$(limit 150)" "$SYN" "$file" "$dt"
}
if [ "$GPU" = 0 ]; then
  note lm-bench SKIP "no GPU"
elif [ -z "$BIN_RUN" ]; then
  note lm-bench SKIP "myna-run not built"
elif [ -z "$SYN" ]; then
  note lm-bench SKIP "bench/make-synthetic-model not built"
else
  # 1B files are kept on disk between runs; 8B files (4.6–9 GB) go to /dev/shm when it has room (page-cache
  # speed, no disk wear) and are deleted after use.
  MODELS="$ROOT/build-gpucheck-models"
  BIG="$MODELS"
  mkdir -p "$MODELS"
  shm_free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 {print int($4 / 1048576)}')
  if [ "${shm_free:-0}" -ge 20 ] && mkdir -p /dev/shm/myna-gpucheck 2>/dev/null; then BIG=/dev/shm/myna-gpucheck; fi
  # The synthetic vocabulary is byte-level: ~600 letters are ~600 prompt tokens.
  PROMPT=$(for i in $(seq 1 60); do printf 'abcdefghij'; done)
  # The rows that carry the issue's bars first (8B Q4_K decode, 8B BF16 % of bandwidth), Q8_0 last.
  for dt in Q4_K BF16 Q8_0; do
    for shape in llama-3.2-1b llama-3.1-8b; do
      layers= label=$shape dir=$MODELS
      [ "$shape" = llama-3.1-8b ] && dir=$BIG
      if [ "$shape" = llama-3.1-8b ] && [ "$dt" = BF16 ] && [ "$BF16_8B_LAYERS" != 32 ]; then
        layers=$BF16_8B_LAYERS label="$shape/${layers}L"
      fi
      f="$dir/$shape-$dt${layers:+-${layers}L}.gguf"
      [ "$(limit 60)" -lt 60 ] && { note lm-bench SKIP "$label $dt: out of time budget"; continue; }
      if [ ! -f "$f" ]; then
        t0=$(date +%s)
        make_model "$shape" "$dt" "$f" "$layers" > "$OUT/make-$shape-$dt.log" 2>&1
        rc=$?
        if [ $rc = 3 ]; then note lm-bench SKIP "$label $dt: make-synthetic-model cannot make it yet"; continue; fi
        if [ $rc != 0 ]; then
          rm -f "$f"; note lm-bench FAIL "$label $dt: make-synthetic-model failed rc $rc (make-$shape-$dt.log)"; continue
        fi
        note lm-bench INFO "$label $dt: made in $(( $(date +%s) - t0 ))s ($(tail -1 "$OUT/make-$shape-$dt.log"))"
      fi
      log="$OUT/bench-$shape-$dt.json"
      if timeout "$(limit 120)" "$BIN_RUN" -m "$f" --backend cuda -p "$PROMPT" -n 64 --ctx 2048 --temp 0 --seed 1 \
           --json > "$log" 2> "$log.err"; then
        read -r pf dc wb < <(python3 -c 'import json,sys; o=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(round(o["prefill_tok_s"],1), round(o["decode_tok_s"],1), o.get("weight_bytes", 0))' "$log" 2>/dev/null || echo "? ? 0")
        [ "${wb:-0}" -gt 0 ] 2>/dev/null || wb=$(stat -c %s "$f")
        pct="?"
        [ -n "$D2D" ] && [ "$dc" != "?" ] && pct=$(awk -v d="$dc" -v b="$wb" -v bw="$D2D" 'BEGIN{printf "%.0f%%", 100*d*b/(bw*1e9)}')
        BENCH+=("$(printf '%-17s %-5s %8.2f GB %10s %10s %8s' "$label" "$dt" "$(awk -v b="$wb" 'BEGIN{print b/1e9}')" "$pf" "$dc" "$pct")")
        note lm-bench PASS "$label $dt: prefill $pf tok/s, decode $dc tok/s ($pct of copy bandwidth)"
      else
        note lm-bench FAIL "$label $dt: myna-run failed ($(basename "$log").err)"
      fi
      [ "$shape" = llama-3.1-8b ] && rm -f "$f"
    done
  done
  [ "$BIG" != "$MODELS" ] && rmdir "$BIG" 2>/dev/null
fi

# ---- 8. vision at the 11B widths (random weights; only with torch + transformers and time left) -------------------
if [ "$GPU" = 0 ]; then
  note vision-11b SKIP "no GPU"
elif [ -z "$BIN_VIS" ]; then
  note vision-11b SKIP "bench-vision not built"
elif ! python3 -c 'import torch, transformers' >/dev/null 2>&1; then
  note vision-11b SKIP "python3 cannot import torch + transformers (tools/ref/mllama_shaped.py needs them; not installed here)"
elif [ "$(limit 200)" -lt 200 ]; then
  note vision-11b SKIP "out of time budget (needs ~200 s: build the folder + bench)"
else
  vdir="$ROOT/build-gpucheck-models/mllama-11b-shaped"
  if [ ! -f "$vdir/config.json" ]; then
    rm -rf "$vdir.tmp"; mkdir -p "$(dirname "$vdir")"
    if timeout "$(limit 120)" python3 tools/ref/mllama_shaped.py "$vdir.tmp" > "$OUT/vision-11b-make.log" 2>&1; then
      mv "$vdir.tmp" "$vdir"
    else
      rm -rf "$vdir.tmp"; note vision-11b FAIL "mllama_shaped.py failed or timed out (vision-11b-make.log)"
    fi
  fi
  [ -f "$vdir/config.json" ] && vision_run 11b-shaped "$vdir" "$OUT/vision-11b.log" --scale-11b --reps 2 --tokens 16
fi

# ---- summary ---------------------------------------------------------------------------------------------------
{
  echo
  echo "=== GPU check summary ($(elapsed)s, logs in $OUT) ==="
  printf '%s\n' "${SUMMARY[@]}"
  if [ ${#BENCH[@]} -gt 0 ]; then
    echo
    echo "device-to-device copy bandwidth: ${D2D:-?} GB/s (read + write); decode % = tok/s x weight bytes / that"
    printf '%-17s %-5s %11s %10s %10s %8s\n' model dtype size prefill/s decode/s "%bw"
    printf '%s\n' "${BENCH[@]}"
  fi
  if [ ${#MEDIA[@]} -gt 0 ]; then
    echo
    echo "vision: per 4-tile image (11b-shaped: scaled to 40 vision / 8 cross layers); speech: RTF = wall / audio time"
    printf '%s\n' "${MEDIA[@]}"
  fi
} | tee "$OUT/summary.txt"
exit $FAILED
