#!/usr/bin/env bash
# tests/gpu/check.sh OUTDIR — everything the project checks on a (rarely lent) GPU machine, from the repository
# and the bundle built here by tests/gpu/bundle.sh (no network, nothing to install). Phases, each under
# `timeout` and skipped with a line saying why:
#   0. env         GPU (nvidia-smi), driver, compute capability, nvcc, glibc, where libcudart/libcublas were
#                  found (sets LD_LIBRARY_PATH), the bundle's commit and whether its programs resolve
#   1. build       none with the bundle (build-gpu-bundle/dist, or MYNA_GPU_BUNDLE); without it: Meson + ninja
#                  -Dcuda=enabled -Dcuda-arch=native, or a direct gcc + nvcc compile (build-gpucheck-direct)
#   2. parity      test-cuda-nodev and test-cuda-dequant (run without a GPU too), test-backend-parity;
#      models      the model tests that read MYNA_BACKEND (test-vits: Piper synthesis, …) on cuda
#   3. memcheck    myna-run --backend cuda on the tiny fixture models under compute-sanitizer --tool memcheck
#   4. bandwidth   bench/cuda-bandwidth (device-to-device copy and read-only GB/s)
#   5. vision      bench-vision --backend cuda on the tiny mllama fixture (11B-shaped part: 12.)
#   6. speech      bench-whisper (MYNA_BACKEND=cuda) on the tiny Whisper fixture, 10 s of synthetic audio
#   7. whisper-int8, 8. tts (Piper), 9. voice (pipeline stages), 10. omni (LLaMA-Omni shapes): run when their
#                  program is in the bundle (the contract each one follows is in tests/gpu/README.md), else SKIP
#  11. lm-bench    synthetic Llama-3.2-1B / Llama-3.1-8B-shaped GGUFs (make-synthetic-model, made here) in
#                  Q4_K, BF16, Q8_0: prefill and decode tok/s, decode as % of the measured copy bandwidth
#  12. vision-11b  only with torch + transformers and >= 200 s of budget left
# OUTDIR gets at most 8 files (the device tool returns no more): summary.txt (written as the phases go, the
# full table at the end), env.txt, build.log, parity.log, memcheck.log, bench.log, media.log, voice.log — the
# per-phase logs appended to them as each phase ends, so a run killed at its limit still returns what it did.
# Exit status: 0 when no phase failed (skips are not failures), 1 otherwise. Knobs: MYNA_GPU_BUDGET_S (default
# 360 s), MYNA_GPU_BUNDLE (bundle folder; "none" = build here), MYNA_CHECK_NO_MESON=1 (direct compile),
# MYNA_CUDA_ARCH (build here: default native, sm_90 without a GPU), MYNA_GPU_8B_BF16_LAYERS (default 16),
# MYNA_GPU_MODELS_DIR (default build-gpucheck-models), MYNA_GPU_SKIP (phases not to run, e.g. "memcheck lm-bench").
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
BUDGET=${MYNA_GPU_BUDGET_S:-360}
JOBS=$(nproc 2>/dev/null || echo 4)
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
# The toolkit where nvcc is, when /usr/local/cuda is not it; the driver's tools where the image mounts them.
if [ ! -x "$CUDA_HOME/bin/nvcc" ] && command -v nvcc >/dev/null; then
  CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
fi
export PATH="$PATH:$CUDA_HOME/bin:$CUDA_HOME/compute-sanitizer:/usr/local/nvidia/bin"
FAILED=0
SUMMARY=()
# Scratch logs (parsed by the phases); each is appended to one of OUTDIR's files when its phase ends.
L=$(mktemp -d "${TMPDIR:-/tmp}/myna-gpucheck.XXXXXX") || exit 2
trap 'rm -rf "$L"' EXIT
rm -f "$OUT"/{summary.txt,env.txt,build.log,parity.log,memcheck.log,bench.log,media.log,voice.log}

elapsed() { echo $(( $(date +%s) - START )); }
# Seconds a phase may take: what it asks for, capped by what is left of the budget (minus a reserve).
limit() {
  local want=$1 left=$(( BUDGET - $(elapsed) - 15 ))
  [ "$left" -lt "$want" ] && want=$left
  [ "$want" -lt 0 ] && want=0
  echo "$want"
}
note() { # phase, status (PASS/FAIL/SKIP/INFO), detail
  local line
  line=$(printf '%-12s %-5s %s' "$1" "$2" "$3")
  SUMMARY+=("$line")
  echo "$line" >> "$OUT/summary.txt"
  echo "[check $(elapsed)s] $1: $2 $3"
  [ "$2" = FAIL ] && FAILED=1
  return 0
}
keep() { # OUTFILE SCRATCH... — append each scratch log to OUTDIR/OUTFILE under a header
  local dst=$OUT/$1 f
  shift
  for f in "$@"; do
    [ -f "$f" ] || continue
    { echo "===== $(basename "$f") ($(elapsed)s) ====="; cat "$f"; echo; } >> "$dst"
  done
}
why() { # LOG → its last error-looking line, else its last line, short (a FAIL line quotes it: the summary teaches)
  local w
  w=$(grep -iE 'error|fail|cannot|no usable|not found|invalid|denied|refus|insufficient' "$1" 2>/dev/null | tail -1)
  [ -n "$w" ] || w=$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -1)
  echo "${w:0:140}"
}
skip_phase() { # PHASE — listed in MYNA_GPU_SKIP (spaces or commas)? Then note it and say so.
  local list=${MYNA_GPU_SKIP:-}
  case " ${list//,/ } " in *" $1 "*) note "$1" SKIP "MYNA_GPU_SKIP"; return 0 ;; esac
  return 1
}
have_help() { # PROG PATTERN — does PROG's --help (or usage on bad arguments) mention PATTERN?
  timeout 10 "$1" --help 2>&1 | grep -q -e "$2"
}

# ---- 0. environment ----------------------------------------------------------------------------------------
GPU=0 CAP=
if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  GPU=1
  CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' ')
  note env INFO "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1), compute capability ${CAP:-?}"
else
  note env INFO "no GPU visible (nvidia-smi $(command -v nvidia-smi >/dev/null && echo 'lists none' || echo missing)): run phases will be skipped"
fi
shm=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { printf "%.0f", $4 / 1048576 }')
note env INFO "host: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo) GiB, kernel $(uname -r)$(case $(uname -r) in 4.4.0*) echo ' (gVisor: compute-sanitizer and ncu refuse the GPU there)' ;; esac), /dev/shm ${shm:-?} GB free"
HAVE_NVCC=0
if command -v nvcc >/dev/null; then
  HAVE_NVCC=1
  note env INFO "nvcc $(nvcc --version | sed -n 's/.*release [0-9.]*, V\([0-9.]*\).*/\1/p') at $(command -v nvcc); glibc $(ldd --version 2>/dev/null | head -1 | awk '{ print $NF }')"
else
  note env INFO "nvcc not found (PATH, $CUDA_HOME/bin); glibc $(ldd --version 2>/dev/null | head -1 | awk '{ print $NF }')"
fi

BUNDLE=${MYNA_GPU_BUNDLE:-$ROOT/build-gpu-bundle/dist}
MODELS=${MYNA_GPU_MODELS_DIR:-$ROOT/build-gpucheck-models} # made models kept between runs (1B GGUFs, 11B folder)
USE_BUNDLE=0
BBIN= # the bundle's programs: its bin/, or programs.tar.xz unpacked into the scratch folder
if [ "$BUNDLE" != none ] && [ -f "$BUNDLE/MANIFEST" ]; then
  BUNDLE=$(cd "$BUNDLE" && pwd)
  if [ -f "$BUNDLE/programs.tar.xz" ]; then
    mkdir -p "$L/bundle"
    if command -v xz >/dev/null; then xz -dc "$BUNDLE/programs.tar.xz" | tar -C "$L/bundle" -xf -
    else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$BUNDLE/programs.tar.xz" "$L/bundle"; fi
    [ -d "$L/bundle/bin" ] && BBIN=$L/bundle/bin
    [ -z "$BBIN" ] && note env FAIL "could not unpack $BUNDLE/programs.tar.xz (neither xz nor python3's tarfile)"
  elif [ -d "$BUNDLE/bin" ]; then
    BBIN=$BUNDLE/bin
  fi
  if [ -n "$BBIN" ]; then
    USE_BUNDLE=1
    chmod u+x "$BBIN"/* 2>/dev/null # the transfer to the GPU machine may not keep the executable bits
  fi
fi
mf() { sed -n "s/^$1=//p" "$BUNDLE/MANIFEST" | head -1; }

# The CUDA runtime and cuBLAS the programs need (their sonames from ldd): first the toolkit, then python3's
# nvidia wheels (torch's), then the system; each directory holding one is put on LD_LIBRARY_PATH.
cuda_lib_dirs() {
  local d s
  for d in "$CUDA_HOME/lib64" "$CUDA_HOME/targets/x86_64-linux/lib" /usr/local/cuda*/lib64 \
           /usr/local/cuda*/targets/x86_64-linux/lib; do
    [ -d "$d" ] && echo "$d"
  done
  python3 -c 'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null |
    while read -r s; do for d in "$s"/nvidia/*/lib "$s"/nvidia/*/lib64; do [ -d "$d" ] && echo "$d"; done; done
  echo /usr/lib/x86_64-linux-gnu
}
if [ "$USE_BUNDLE" = 1 ]; then
  SONAMES=$(for f in "$BBIN"/*; do ldd "$f" 2>/dev/null; done | awk '$1 ~ /^libcu/ { print $1 }' | sort -u)
else
  SONAMES="libcudart.so.13 libcublas.so.13 libcublasLt.so.13"
fi
LDP= FOUND= MISSING=
DIRS=$(cuda_lib_dirs | awk '!seen[$0]++')
for so in $SONAMES; do
  hit=
  for d in $DIRS; do
    if [ -e "$d/$so" ]; then hit=$d; break; fi
  done
  if [ -n "$hit" ]; then
    FOUND="$FOUND $so=$hit/$so"
    case ":$LDP:" in *":$hit:"*) ;; *) LDP=${LDP:+$LDP:}$hit ;; esac
  elif ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$so "; then
    FOUND="$FOUND $so=(ldconfig)"
  else
    MISSING="$MISSING $so"
  fi
done
[ -n "$LDP" ] && export LD_LIBRARY_PATH="$LDP${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -n "$MISSING" ]; then
  note env INFO "CUDA libraries not found:$MISSING (searched: $(echo $DIRS | tr ' ' ,), ldconfig)"
fi
[ -n "$FOUND" ] && note env INFO "CUDA libraries:$FOUND"

if [ "$USE_BUNDLE" = 1 ]; then
  head=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
  bc=$(mf commit) stale=
  # (the copy on the GPU machine may have no .git: then nothing can be said)
  [ "$head" != unknown ] && [ "$bc" != "$head" ] && stale=" — the tree is at ${head:0:12}: the bundle may be stale, rebuild it with tests/gpu/bundle.sh"
  bc=${bc:0:12}
  [ "$(mf dirty)" != 0 ] && [ -n "$(mf dirty)" ] && bc="$bc + $(mf dirty) modified files"
  note env INFO "bundle $BUNDLE: commit $bc, built $(mf built) for $(mf cuda_arch) (needs $(mf glibc_max)$(g=$(mf glibcxx_max); [ -n "$g" ] && echo ", $g") at most), $(ls "$BBIN" | wc -l) programs$stale"
  unresolved=$(for f in "$BBIN"/*; do ldd "$f" 2>&1 | awk -v p="$(basename "$f")" '/not found/ { print p ": " $1 }'; done)
  if [ -n "$unresolved" ] && [ "$GPU" = 1 ]; then
    note env FAIL "bundled programs cannot find: $(echo "$unresolved" | tr '\n' ';' | cut -c1-300)"
  elif [ -n "$unresolved" ]; then
    note env INFO "bundled programs cannot find (no GPU here, so no matter): $(echo "$unresolved" | awk '{ print $2 }' | sort -u | tr '\n' ' ')"
  fi
  # sm_90 machine code + compute_90 PTX: runs on compute capability >= 9.0 only.
  barch=$(mf cuda_arch)
  if [ "$GPU" = 1 ] && [ -n "$CAP" ] && [ "$barch" != native ]; then
    want=$(echo "$barch" | tr ',' '\n' | sed 's/[^0-9]//g' | sort -n | head -1)
    have=$(echo "$CAP" | tr -d .)
    if [ -n "$want" ] && [ -n "$have" ] && [ "$have" -lt "$want" ] 2>/dev/null; then
      note env INFO "bundle is built for $barch but this GPU is compute $CAP: building here instead"
      USE_BUNDLE=0
    fi
  fi
else
  if [ "$BUNDLE" = none ]; then note env INFO "MYNA_GPU_BUNDLE=none: building here"
  else note env INFO "no bundle at $BUNDLE (tests/gpu/bundle.sh makes it; carry it): building here"; fi
fi
{
  echo "date: $(date -u +%FT%TZ)"; echo "commit: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  uname -a; echo "cpus: $(nproc)"; ldd --version 2>&1 | head -1
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  command -v nvcc && nvcc --version; command -v meson && meson --version
  command -v ninja && ninja --version; command -v compute-sanitizer; command -v python3 && python3 --version
  nvidia-smi 2>&1
  if [ "$USE_BUNDLE" = 1 ]; then
    echo; echo "--- $BUNDLE/MANIFEST"; grep -v '^sha256=' "$BUNDLE/MANIFEST"
    for f in "$BBIN"/*; do echo "--- ldd $(basename "$f")"; ldd "$f" 2>&1; done
  fi
} > "$OUT/env.txt" 2>&1
ARCH=${MYNA_CUDA_ARCH:-}
if [ -z "$ARCH" ]; then
  if [ "$GPU" = 1 ]; then ARCH=native; else ARCH=sm_90; fi
fi

# ---- 1. build (only without the bundle) --------------------------------------------------------------------------
BIN_PARITY= BIN_NODEV= BIN_DEQ= BIN_RUN= BIN_BW= BIN_SYN= BIN_VIS= BIN_WSP= BIN_TTS= BIN_VOICE= BIN_OMNI=
# Model tests (tiny fixtures vs their references) that run on the backend MYNA_BACKEND names (bundle.sh bundles
# them only once they read it): Piper synthesis (test-vits), Whisper, the speech adapter, mllama, the LM.
MODEL_TESTS="test-vits test-whisper test-speech-adapter test-mllama test-lm-tiny"
MODEL_BINS=()
FIX=$ROOT/tests/fixtures
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
  for b in tests/backend/test-cuda-dequant bench/bench-vision bench/bench-whisper bench/bench-tts bench/bench-voice \
           bench/bench-omni $(for m in $MODEL_TESTS; do echo "tests/model/$m"; done); do
    ninja -C "$dir" -t targets all 2>/dev/null | grep -q "^$b:" && opt="$opt $b"
  done
  if [ -n "$opt" ]; then
    timeout "$(limit 120)" ninja -C "$dir" -j "$JOBS" $opt || echo "check: optional benches failed to build:$opt"
  fi
  [ -x "$dir/tests/backend/test-cuda-dequant" ] && BIN_DEQ="$dir/tests/backend/test-cuda-dequant"
  [ -x "$dir/bench/bench-vision" ] && BIN_VIS="$dir/bench/bench-vision"
  [ -x "$dir/bench/bench-whisper" ] && BIN_WSP="$dir/bench/bench-whisper"
  [ -x "$dir/bench/bench-tts" ] && BIN_TTS="$dir/bench/bench-tts"
  [ -x "$dir/bench/bench-voice" ] && BIN_VOICE="$dir/bench/bench-voice"
  [ -x "$dir/bench/bench-omni" ] && BIN_OMNI="$dir/bench/bench-omni"
  for b in $MODEL_TESTS; do [ -x "$dir/tests/model/$b" ] && MODEL_BINS+=("$dir/tests/model/$b"); done
  return 0
}

# Direct compile: every .c of core/ (minus the no-CUDA stub), core/cpu/, core/cuda/, lm/, text/, the .cu files;
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
  cf="$cf -I$ROOT/lm -I$ROOT/text -I$ROOT/tests -I$CUDA_HOME/include"
  if [ "$ARCH" = native ]; then cuflags="-arch=native"; else
    cuflags="-gencode=arch=compute_${ARCH#sm_},code=sm_${ARCH#sm_}"; fi
  {
    for f in core/*.c core/cpu/*.c core/cuda/*.c; do
      [ "$f" = core/cuda-stub.c ] && continue
      case $f in
        core/quant-avx2.c) echo "gcc $cf -mavx2 -mfma -mf16c -c $f -o $dir/obj/$(echo "$f" | tr / _).o" ;;
        core/quant-avx512*.c) echo "gcc $cf -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16 -c $f -o $dir/obj/$(echo "$f" | tr / _).o" ;;
        *) echo "gcc $cf -c $f -o $dir/obj/$(echo "$f" | tr / _).o" ;;
      esac
    done
    for f in core/cuda/*.cu; do
      echo "nvcc -O3 -std=c++17 $cuflags -I$ROOT/core -I$ROOT/core/cuda -I$dir -c $f -o $dir/obj/$(echo "$f" | tr / _).o"
    done
    for f in lm/*.c text/*.c; do [ -f "$f" ] || continue; echo "gcc $cf -c $f -o $dir/lmobj_$(basename "$f").o"; done
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


if [ "$USE_BUNDLE" = 1 ]; then
  b=$BBIN
  BIN_PARITY=$b/test-backend-parity BIN_NODEV=$b/test-cuda-nodev BIN_RUN=$b/myna-run BIN_BW=$b/cuda-bandwidth
  BIN_SYN=$b/make-synthetic-model
  for v in BIN_PARITY BIN_NODEV BIN_RUN BIN_BW BIN_SYN; do [ -x "${!v}" ] || eval "$v="; done
  [ -x "$b/test-cuda-dequant" ] && BIN_DEQ=$b/test-cuda-dequant
  [ -x "$b/bench-vision" ] && BIN_VIS=$b/bench-vision
  [ -x "$b/bench-whisper" ] && BIN_WSP=$b/bench-whisper
  [ -x "$b/bench-tts" ] && BIN_TTS=$b/bench-tts
  [ -x "$b/bench-voice" ] && BIN_VOICE=$b/bench-voice
  [ -x "$b/bench-omni" ] && BIN_OMNI=$b/bench-omni
  for m in $MODEL_TESTS; do [ -x "$b/$m" ] && MODEL_BINS+=("$b/$m"); done
  FIX=$BUNDLE/fixtures
  note build INFO "nothing built here: the bundle's $(ls "$b" | wc -l) programs, fixtures from $FIX"
elif [ "$HAVE_NVCC" = 0 ]; then
  note build SKIP "nvcc not found (PATH, $CUDA_HOME/bin) and no bundle: nothing CUDA can be built"
elif [ -z "${MYNA_CHECK_NO_MESON:-}" ] && command -v meson >/dev/null && command -v ninja >/dev/null; then
  if build_meson > "$L/build.log" 2>&1; then
    note build PASS "meson, cuda-arch=$ARCH ($(elapsed)s)"
  else
    note build INFO "meson build failed (build.log); trying the direct compile"
    if build_direct > "$L/build-direct.log" 2>&1; then note build PASS "direct gcc+nvcc, arch=$ARCH"
    else note build FAIL "direct compile failed too (build.log)"; fi
  fi
else
  note build INFO "meson/ninja not available (or MYNA_CHECK_NO_MESON): direct gcc+nvcc compile"
  if build_direct > "$L/build-direct.log" 2>&1; then note build PASS "direct gcc+nvcc, arch=$ARCH ($(elapsed)s)"
  else note build FAIL "direct compile failed (build.log)"; fi
fi
keep build.log "$L/build.log" "$L/build-direct.log"

# ---- 2. parity -----------------------------------------------------------------------------------------------
if skip_phase nodev; then :
elif [ -z "$BIN_NODEV" ]; then
  note nodev SKIP "test-cuda-nodev not built"
else
  MYNA_FIXTURES="$FIX" timeout "$(limit 30)" "$BIN_NODEV" > "$L/cuda-nodev.log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then note nodev PASS "$(tail -2 "$L/cuda-nodev.log" | head -1)"
  else note nodev FAIL "rc $rc: $(why "$L/cuda-nodev.log") (parity.log)"; fi
fi
if skip_phase dequant; then :
elif [ -z "$BIN_DEQ" ]; then
  note dequant SKIP "test-cuda-dequant not built"
else
  # Host-compiled device dequantizers vs the CPU oracle: runs without a GPU.
  timeout "$(limit 30)" "$BIN_DEQ" > "$L/cuda-dequant.log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then note dequant PASS "$(tail -1 "$L/cuda-dequant.log")"
  else note dequant FAIL "rc $rc: $(why "$L/cuda-dequant.log") (parity.log)"; fi
fi
if skip_phase parity; then :
elif [ -z "$BIN_PARITY" ]; then
  note parity SKIP "test-backend-parity not built"
else
  MYNA_TEST_VERBOSE=1 MYNA_FIXTURES="$FIX" timeout "$(limit 150)" "$BIN_PARITY" > "$L/backend-parity.log" 2>&1
  rc=$?
  case $rc in
    0) note parity PASS "$(tail -1 "$L/backend-parity.log")" ;;
    77) if [ "$GPU" = 1 ]; then note parity FAIL "skipped although a GPU is visible: $(tail -1 "$L/backend-parity.log")"
        else note parity SKIP "no GPU: $(tail -1 "$L/backend-parity.log")"; fi ;;
    124) note parity FAIL "timed out (parity.log)" ;;
    *) note parity FAIL "rc $rc: $(grep -c '^FAIL' "$L/backend-parity.log") failing cases (parity.log)" ;;
  esac
fi
keep parity.log "$L/cuda-nodev.log" "$L/cuda-dequant.log" "$L/backend-parity.log"

# ---- 2b. model tests on cuda (the fixtures' references, e.g. Piper synthesis: test-vits) ---------------------
MFIX=$ROOT/tests/fixtures # the tree travels with the bundle: every model test's fixtures are there
[ -d "$MFIX" ] || MFIX=$FIX
nmodel=0
skip_phase models && { MODEL_BINS=(); nmodel=-1; }
for t in "${MODEL_BINS[@]}"; do
  mt=$(basename "$t")
  grep -aq MYNA_BACKEND "$t" || continue # only tests that can be pointed at the CUDA backend
  nmodel=$((nmodel + 1))
  if [ "$GPU" = 0 ]; then note models SKIP "$mt: no GPU"; continue; fi
  MYNA_BACKEND=cuda MYNA_FIXTURES="$MFIX" MYNA_SOURCE_ROOT="$ROOT" timeout "$(limit 90)" "$t" > "$L/$mt.log" 2>&1
  rc=$?
  case $rc in
    0) note models PASS "$mt on cuda: $(tail -1 "$L/$mt.log" | cut -c1-160)" ;;
    77) note models FAIL "$mt skipped although a GPU is visible: $(tail -1 "$L/$mt.log" | cut -c1-160)" ;;
    124) note models FAIL "$mt timed out (parity.log)" ;;
    *) note models FAIL "$mt rc $rc: $(why "$L/$mt.log") (parity.log)" ;;
  esac
  keep parity.log "$L/$mt.log"
done
[ "$nmodel" = 0 ] && note models SKIP "no model test reads MYNA_BACKEND yet (test-vits = Piper synthesis, test-whisper, test-speech-adapter, test-mllama, test-lm-tiny: tests/gpu/README.md)"

# ---- 3. memcheck -----------------------------------------------------------------------------------------------
SAN=$(command -v compute-sanitizer || true)
if skip_phase memcheck; then :
elif [ "$GPU" = 0 ]; then
  note memcheck SKIP "no GPU"
elif [ -z "$BIN_RUN" ]; then
  note memcheck SKIP "myna-run not built"
elif [ -z "$SAN" ]; then
  note memcheck SKIP "compute-sanitizer not found"
else
  for m in "$FIX/tiny-llama/tiny-llama-b.Q8_0.gguf" "$FIX/tiny-llama/tiny-llama-a.F16.gguf"; do
    [ -f "$m" ] || { note memcheck SKIP "$m missing"; continue; }
    mb=$(basename "$m" .gguf)
    log="$L/memcheck-$mb.log"
    timeout "$(limit 90)" "$SAN" --tool memcheck --error-exitcode 86 --leak-check no \
      "$BIN_RUN" -m "$m" --backend cuda -p "Once upon a time" -n 12 --temp 0 --seed 1 --print-tokens > "$log" 2>&1
    rc=$?
    case $rc in
      0) note memcheck PASS "$mb: $(grep -m1 'ERROR SUMMARY' "$log" || echo 'no errors')" ;;
      86) note memcheck FAIL "$mb: $(grep -m1 'ERROR SUMMARY' "$log") (memcheck.log)" ;;
      124) note memcheck FAIL "$mb: timed out" ;;
      *) if grep -q 'Device not supported' "$log"; then
           note memcheck SKIP "$mb: compute-sanitizer does not support this device here (a gVisor runtime refuses it)"
         else note memcheck FAIL "$mb: myna-run rc $rc: $(why "$log") (memcheck.log)"; fi ;;
    esac
    # Greedy tokens on CPU vs CUDA (information only: tiny random models can flip near-ties).
    timeout "$(limit 30)" "$BIN_RUN" -m "$m" --backend cpu -p "Once upon a time" -n 12 --temp 0 --seed 1 \
      --print-tokens > "$log.cpu" 2>&1 && timeout "$(limit 30)" "$BIN_RUN" -m "$m" --backend cuda \
      -p "Once upon a time" -n 12 --temp 0 --seed 1 --print-tokens > "$log.cuda" 2>&1 &&
      if diff -q <(grep -v 'tok/s\|cuda:\|cpu:' "$log.cpu") <(grep -v 'tok/s\|cuda:\|cpu:' "$log.cuda") >/dev/null
      then note greedy INFO "$mb: CPU and CUDA generate the same tokens"
      else note greedy INFO "$mb: CPU and CUDA tokens differ (memcheck.log)"; fi
    keep memcheck.log "$log" "$log.cpu" "$log.cuda"
  done
fi

# ---- 4. bandwidth ----------------------------------------------------------------------------------------------
D2D=
if skip_phase bandwidth; then :
elif [ "$GPU" = 0 ]; then
  note bandwidth SKIP "no GPU"
elif [ -z "$BIN_BW" ]; then
  note bandwidth SKIP "cuda-bandwidth not built"
elif timeout "$(limit 60)" "$BIN_BW" 1024 > "$L/bandwidth.log" 2>&1; then
  D2D=$(sed -n 's/.*d2d_GBps=\([0-9.]*\).*/\1/p' "$L/bandwidth.log")
  note bandwidth PASS "$(tail -1 "$L/bandwidth.log")"
else
  note bandwidth FAIL "cuda-bandwidth failed: $(why "$L/bandwidth.log") (bench.log)"
fi
keep bench.log "$L/bandwidth.log"

# ---- 5. vision (tiny mllama fixture) -----------------------------------------------------------------------------
MEDIA=()
# vision_run LABEL DIR LOG [ARGS…] → runs bench-vision --backend cuda --json, notes a row; 0 when it ran.
vision_run() {
  local label=$1 dir=$2 log=$3 rc enc kv dimg ph=vision
  shift 3
  [ "$label" = tiny-mllama ] || ph=vision-11b
  timeout "$(limit 90)" "$BIN_VIS" "$dir" --backend cuda --json "$@" > "$log" 2>&1
  rc=$?
  keep media.log "$log"
  if [ $rc != 0 ]; then
    [ $rc = 124 ] && note $ph FAIL "$label: timed out (media.log)" ||
      note $ph FAIL "$label: bench-vision rc $rc: $(why "$log") (media.log)"
    return 1
  fi
  read -r enc kv dimg < <(python3 -c 'import json,sys; o=json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1]); k="_11b" if sys.argv[2]=="1" else ""; print(round(o["encoder_ms"+k],3), round(o["cross_kv_ms"+k],3), round(o["decode_tok_s_image"],1))' "$log" "$( [ $ph = vision ] && echo 0 || echo 1)" 2>/dev/null || echo "? ? ?")
  MEDIA+=("$(printf '%-22s %-34s %s' "vision $label" "encoder $enc ms, K/V $kv ms" "decode with image $dimg tok/s")")
  note $ph PASS "$label: encoder $enc ms + cross K/V $kv ms per 4-tile image, decode with the image $dimg tok/s"
}
if skip_phase vision; then :
elif [ "$GPU" = 0 ]; then
  note vision SKIP "no GPU"
elif [ -z "$BIN_VIS" ]; then
  note vision SKIP "bench-vision not built"
elif [ ! -f "$FIX/tiny-mllama/model.safetensors" ]; then
  note vision SKIP "$FIX/tiny-mllama missing"
else
  vision_run tiny-mllama "$FIX/tiny-mllama" "$L/vision-tiny.log" --reps 3 --tokens 16
fi

# ---- 6. speech (tiny Whisper fixture) ----------------------------------------------------------------------------
# 10 s of 16 kHz float32: a gliding tone with noise (Python's standard library), or silence without Python.
WAV="$L/speech-10s.f32"
python3 -c 'import array,math,random,sys; random.seed(1); a=array.array("f",(0.3*math.sin(2*math.pi*(200+40*i/16000)*i/16000)+0.05*random.uniform(-1,1) for i in range(160000))); a.tofile(open(sys.argv[1],"wb"))' "$WAV" 2>/dev/null ||
  head -c 640000 /dev/zero > "$WAV"
WMODEL=$FIX/tiny-whisper/model
# speech_run PHASE LOG [ENV=VALUE…] → bench-whisper on cuda, notes a row.
speech_run() {
  local ph=$1 log=$2 rc enc rtf enc_ms
  shift 2
  env "$@" MYNA_BACKEND=cuda timeout "$(limit 60)" "$BIN_WSP" "$WMODEL" "$WAV" 3 > "$log" 2>&1
  rc=$?
  keep media.log "$log"
  if [ $rc = 0 ] && grep -q 'RTF' "$log"; then
    enc=$(sed -n 's/.*encoder \([0-9.]*\) s per 30 s window.*/\1/p' "$log" | head -1)
    rtf=$(sed -n 's/.*: RTF \([0-9.]*\).*/\1/p' "$log" | head -1)
    enc_ms=$(awk -v e="${enc:-0}" 'BEGIN{printf "%.1f", e*1000}')
    MEDIA+=("$(printf '%-22s %-34s %s' "$ph tiny-whisper" "encoder $enc_ms ms/30 s" "RTF $rtf (10 s audio)")")
    note "$ph" PASS "tiny-whisper on cuda: encoder $enc_ms ms per 30 s window, real-time factor $rtf"
  elif [ $rc = 0 ] && grep -q 'no transcription' "$log"; then
    # The fixture's window is 80 mel frames, not 3000: whisper_transcribe refuses it (-ENOTSUP), so no RTF.
    enc_ms=$(sed -n 's/.*encoder \([0-9.]*\) ms per window of \([0-9]*\) mel frames.*/\1 ms per \2-frame window/p' \
      "$log" | head -1)
    MEDIA+=("$(printf '%-22s %-34s %s' "$ph tiny-whisper" "encoder ${enc_ms%% per*}" "RTF n/a (fixture cannot transcribe)")")
    note "$ph" PASS "tiny-whisper on cuda: encoder $enc_ms; RTF n/a (the fixture's short window cannot be transcribed)"
  elif [ $rc = 124 ]; then note "$ph" FAIL "bench-whisper timed out (media.log)"
  else note "$ph" FAIL "bench-whisper rc $rc: $(why "$log") (media.log)"; fi
}
if skip_phase speech; then :
elif [ -z "$BIN_WSP" ]; then
  note speech SKIP "bench-whisper not built"
elif [ "$GPU" = 0 ]; then
  note speech SKIP "no GPU"
elif [ ! -d "$WMODEL" ]; then
  note speech SKIP "$WMODEL missing"
else
  speech_run speech "$L/speech-tiny.log"
fi

# ---- 7-10. this wave's additions: each runs when its program (and its contract, tests/gpu/README.md) is there ----
# json_run PHASE OUTFILE LOG CMD… → runs CMD (MYNA_BACKEND=cuda), notes PASS with its last JSON line.
json_run() {
  local ph=$1 dst=$2 log=$3 rc j
  shift 3
  MYNA_BACKEND=cuda timeout "$(limit 90)" "$@" > "$log" 2>&1
  rc=$?
  keep "$dst" "$log"
  if [ $rc != 0 ]; then
    [ $rc = 124 ] && note "$ph" FAIL "timed out ($dst)" || note "$ph" FAIL "$(basename "$1") rc $rc: $(why "$log") ($dst)"
    return 1
  fi
  j=$(grep '^{' "$log" | tail -1 | cut -c1-220)
  MEDIA+=("$(printf '%-22s %s' "$ph" "${j:-$(tail -1 "$log" | cut -c1-200)}")")
  note "$ph" PASS "${j:-$(tail -1 "$log" | cut -c1-200)}"
}

# 7. Whisper's int8 path (issue 17): bench-whisper says MYNA_WHISPER_INT8 in its --help.
if skip_phase whisper-int8; then :
elif [ -z "$BIN_WSP" ]; then
  note whisper-int8 SKIP "bench-whisper not built"
elif ! have_help "$BIN_WSP" MYNA_WHISPER_INT8; then
  note whisper-int8 SKIP "bench-whisper has no int8 path yet (issue 17; its --help names MYNA_WHISPER_INT8 when it has)"
elif [ "$GPU" = 0 ]; then
  note whisper-int8 SKIP "no GPU"
elif [ ! -d "$WMODEL" ]; then
  note whisper-int8 SKIP "$WMODEL missing"
else
  speech_run whisper-int8 "$L/whisper-int8.log" MYNA_WHISPER_INT8=1
fi

# 8. Piper synthesis (issue 13): bench-tts VOICE --backend cuda --json on the tiny voice fixture.
# The voice: a tiny Piper .onnx under tiny-piper* when there is one, else the tiny VITS folder (config.json +
# model.safetensors, what test-vits reads).
VOICE=$(find "$FIX" -maxdepth 3 -path '*tiny-piper*' -name '*.onnx' 2>/dev/null | sort | head -1)
[ -z "$VOICE" ] && [ -f "$FIX/tiny-vits/config.json" ] && VOICE=$FIX/tiny-vits
if skip_phase tts; then :
elif [ -z "$BIN_TTS" ]; then
  note tts SKIP "bench-tts not built yet (Piper synthesis, issue 13)"
elif [ "$GPU" = 0 ]; then
  note tts SKIP "no GPU"
elif [ -z "$VOICE" ]; then
  note tts SKIP "no tiny voice: neither $FIX/tiny-piper*/*.onnx nor $FIX/tiny-vits"
else
  json_run tts media.log "$L/tts.log" "$BIN_TTS" "$VOICE" --backend cuda --json
fi

# 9. The voice pipeline's per-stage timings on a synthetic input (issue 14).
if skip_phase voice; then :
elif [ -z "$BIN_VOICE" ]; then
  note voice SKIP "bench-voice not built yet (voice pipeline stage timings, issue 14)"
elif ! have_help "$BIN_VOICE" "--synthetic"; then
  note voice SKIP "bench-voice has no --synthetic input (the contract in tests/gpu/README.md)"
elif [ "$GPU" = 0 ]; then
  note voice SKIP "no GPU"
else
  json_run voice voice.log "$L/voice.log" "$BIN_VOICE" --synthetic --fixtures "$FIX" --backend cuda --json
fi

# 10. LLaMA-Omni shapes (issue 16): make-synthetic-model lists an omni shape, bench-omni runs it.
OMNI_SHAPE=
[ -n "$BIN_SYN" ] && OMNI_SHAPE=$(timeout 10 "$BIN_SYN" --help 2>&1 | grep -o '[A-Za-z0-9._-]*omni[A-Za-z0-9._-]*' | head -1)
if skip_phase omni; then :
elif [ -z "$BIN_OMNI" ]; then
  note omni SKIP "bench-omni not built yet (LLaMA-Omni shapes, issue 16)"
elif [ -z "$OMNI_SHAPE" ]; then
  note omni SKIP "make-synthetic-model has no omni --shape yet (issue 16)"
elif [ "$GPU" = 0 ]; then
  note omni SKIP "no GPU"
elif [ "$(limit 150)" -lt 150 ]; then
  note omni SKIP "out of time budget (needs ~150 s)"
else
  of=/dev/shm/myna-gpucheck-omni.gguf
  [ -w /dev/shm ] || of=$MODELS/omni.gguf
  mkdir -p "$(dirname "$of")"
  if timeout "$(limit 90)" "$BIN_SYN" --shape "$OMNI_SHAPE" --dtype Q4_K -o "$of" > "$L/omni-make.log" 2>&1; then
    json_run omni voice.log "$L/omni.log" "$BIN_OMNI" "$of" --backend cuda --json
  else
    note omni FAIL "make-synthetic-model --shape $OMNI_SHAPE failed (voice.log)"
  fi
  keep voice.log "$L/omni-make.log"
  rm -f "$of"
fi

# ---- 11. LM benchmark on synthetic models (made here)  -----------------------------------------------------------------------
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
if skip_phase lm-bench; then :
elif [ "$GPU" = 0 ]; then
  note lm-bench SKIP "no GPU"
elif [ -z "$BIN_RUN" ]; then
  note lm-bench SKIP "myna-run not built"
elif [ -z "$SYN" ]; then
  note lm-bench SKIP "bench/make-synthetic-model not built"
else
  # 1B files are kept on disk between runs; 8B files (4.6–9 GB) go to /dev/shm when it has room (page-cache
  # speed, no disk wear) and are deleted after use.
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
        make_model "$shape" "$dt" "$f" "$layers" > "$L/make-$shape-$dt.log" 2>&1
        rc=$?
        if [ $rc = 3 ]; then note lm-bench SKIP "$label $dt: make-synthetic-model cannot make it yet"; continue; fi
        if [ $rc != 0 ]; then
          rm -f "$f"; keep bench.log "$L/make-$shape-$dt.log"; note lm-bench FAIL "$label $dt: make-synthetic-model failed rc $rc (bench.log)"; continue
        fi
        note lm-bench INFO "$label $dt: made in $(( $(date +%s) - t0 ))s ($(tail -1 "$L/make-$shape-$dt.log"))"
      fi
      log="$L/bench-$shape-$dt.json"
      if timeout "$(limit 120)" "$BIN_RUN" -m "$f" --backend cuda -p "$PROMPT" -n 64 --ctx 2048 --temp 0 --seed 1 \
           --json > "$log" 2> "$log.err"; then
        read -r pf dc wb < <(python3 -c 'import json,sys; o=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(round(o["prefill_tok_s"],1), round(o["decode_tok_s"],1), o.get("weight_bytes", 0))' "$log" 2>/dev/null || echo "? ? 0")
        [ "${wb:-0}" -gt 0 ] 2>/dev/null || wb=$(stat -c %s "$f")
        pct="?"
        [ -n "$D2D" ] && [ "$dc" != "?" ] && pct=$(awk -v d="$dc" -v b="$wb" -v bw="$D2D" 'BEGIN{printf "%.0f%%", 100*d*b/(bw*1e9)}')
        BENCH+=("$(printf '%-17s %-5s %8.2f GB %10s %10s %8s' "$label" "$dt" "$(awk -v b="$wb" 'BEGIN{print b/1e9}')" "$pf" "$dc" "$pct")")
        note lm-bench PASS "$label $dt: prefill $pf tok/s, decode $dc tok/s ($pct of copy bandwidth)"
      else
        note lm-bench FAIL "$label $dt: myna-run failed: $(why "$log.err") (bench.log)"
      fi
      keep bench.log "$L/make-$shape-$dt.log" "$log" "$log.err"
      [ "$shape" = llama-3.1-8b ] && rm -f "$f"
    done
  done
  [ "$BIG" != "$MODELS" ] && rmdir "$BIG" 2>/dev/null
fi

# ---- 12. vision at the 11B widths (random weights; only with torch + transformers and time left) -------------------
if skip_phase vision-11b; then :
elif [ "$GPU" = 0 ]; then
  note vision-11b SKIP "no GPU"
elif [ -z "$BIN_VIS" ]; then
  note vision-11b SKIP "bench-vision not built"
elif ! python3 -c 'import torch, transformers' >/dev/null 2>&1; then
  note vision-11b SKIP "python3 cannot import torch + transformers (tools/ref/mllama_shaped.py needs them; not installed here)"
elif [ "$(limit 200)" -lt 200 ]; then
  note vision-11b SKIP "out of time budget (needs ~200 s: build the folder + bench)"
else
  vdir="$MODELS/mllama-11b-shaped"
  if [ ! -f "$vdir/config.json" ]; then
    rm -rf "$vdir.tmp"; mkdir -p "$(dirname "$vdir")"
    if timeout "$(limit 120)" python3 tools/ref/mllama_shaped.py "$vdir.tmp" > "$L/vision-11b-make.log" 2>&1; then
      mv "$vdir.tmp" "$vdir"
    else
      rm -rf "$vdir.tmp"; note vision-11b FAIL "mllama_shaped.py failed or timed out (media.log)"
    fi
    keep media.log "$L/vision-11b-make.log"
  fi
  [ -f "$vdir/config.json" ] && vision_run 11b-shaped "$vdir" "$L/vision-11b.log" --scale-11b --reps 2 --tokens 16
fi

# ---- summary (the notes written as the run went are replaced by the whole table) ------------------------------
{
  echo
  echo "=== GPU check summary ($(elapsed)s, logs in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')) ==="
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
} > "$L/summary.txt"
cp "$L/summary.txt" "$OUT/summary.txt"
cat "$OUT/summary.txt"
exit $FAILED
