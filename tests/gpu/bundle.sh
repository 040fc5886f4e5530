#!/usr/bin/env bash
# tests/gpu/bundle.sh [--all] [--no-check] [DIR]   build the GPU check's programs HERE, for a bare GPU machine
# tests/gpu/bundle.sh --check [DIR]                 only the ldd + size check of an existing bundle
#
# The GPU machine this project is lent (rarely, 15 minutes) has nvcc, cuBLAS and python3 but no Jansson, PCRE2
# or other -dev packages and no package registry, so tests/gpu/check.sh must not build there. This script
# builds (Meson, -Dcuda=enabled -Dcuda-arch=sm_90, every optional library off, -Dprefer_static=true so
# Jansson, PCRE2 and zlib are linked from Debian's .a files) into build-gpu-bundle/meson and copies into DIR
# (default build-gpu-bundle/dist, git-ignored by /build*/):
#   programs.tar.xz  bin/: the programs check.sh runs (the ones not built yet in this tree are simply absent),
#               packed: each program holds the same CUDA kernels, so xz packs 23 MiB into ~2 MiB; check.sh
#               unpacks it into a scratch folder (xz, or python3's tarfile)
#   fixtures/   the tiny fixture models the run phases use (the synthetic 1B/8B GGUFs are made on the GPU
#               machine by the bundled make-synthetic-model: too big to carry)
#   LICENSES/   the copyright files of every library linked statically, and a note on the CUDA runtime
#   MANIFEST    commit, build options, per-program size and newest GLIBC symbol, sha256 of every file
# Then the check: ldd of every program must list nothing beyond glibc, libstdc++/libgcc_s and the CUDA
# runtime/cuBLAS (found on the GPU machine; check.sh searches /usr/local/cuda*/lib64 and python3's nvidia/*/lib
# wheels and sets LD_LIBRARY_PATH), and the bundle must stay under MYNA_BUNDLE_MAX_MIB (default 16) so that it
# plus the working tree stay under the device tool's 64 MiB. Prints the bundle size and the tree size.
#   --all        then build every other Meson target too (what scripts/test does: the CUDA compile-and-link
#                check of the whole tree, here without the optional libraries)
#   --no-check   skip the ldd + size check (scripts/test runs it as its own counted step with --check)
# Knobs: MYNA_CUDA_ARCH (default sm_90: H100/H200), MYNA_MESON_ARGS (extra meson options), MYNA_BUNDLE_BUILD.
# Exit status: 0 ok, 1 build failed, 2 usage, 3 ldd check failed, 4 size over the limit, 5 (--all) the bundle
# is built but another target failed.
set -uo pipefail

ALL=0 CHECK=1 BUILD_IT=1
while [ $# -gt 0 ]; do
  case $1 in
    --all) ALL=1 ;;
    --no-check) CHECK=0 ;;
    --check) BUILD_IT=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "bundle.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${1:-$ROOT/build-gpu-bundle/dist}
case $DIR in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
BUILD=${MYNA_BUNDLE_BUILD:-$ROOT/build-gpu-bundle/meson}
ARCH=${MYNA_CUDA_ARCH:-sm_90}
MAX_MIB=${MYNA_BUNDLE_MAX_MIB:-16}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export PATH="$PATH:$CUDA_HOME/bin"
JOBS=$(nproc 2>/dev/null || echo 2)
cd "$ROOT" || exit 2

# The programs check.sh runs, by Meson target name. REQUIRED must build; OPTIONAL are bundled when this tree
# has the target (a phase whose program is absent says so and is skipped).
REQUIRED="test-backend-parity test-cuda-nodev myna-run cuda-bandwidth make-synthetic-model"
OPTIONAL="test-cuda-dequant bench-vision bench-whisper bench-tts bench-voice bench-omni"
# Model tests (fixture vs reference): bundled only once they take MYNA_BACKEND (check.sh then runs them on cuda).
MODEL_TESTS="test-vits test-whisper test-speech-adapter test-mllama test-lm-tiny"
# Fixtures the run phases read (paths under tests/fixtures; missing ones are skipped by check.sh).
FIXTURES="tiny-llama/tiny-llama-b.Q8_0.gguf tiny-llama/tiny-llama-a.F16.gguf tiny-mllama tiny-whisper/model
tiny-vits tiny-piper* tiny-omni*"

# Every optional library (each 'feature' option of meson_options.txt but cuda: FFmpeg, PortAudio, OpenBLAS,
# libpng, TurboJPEG, espeak-ng, the desktop client, and any added later) is off: the check decodes no media
# file (bench-vision makes its image, the speech phases use raw float32 audio), the GPU machine has none of
# their runtime files, and a static link of each would drag in its own dependencies. MYNA_MESON_ARGS can turn
# one back on (a later -D wins).
FEATURES_OFF=$(sed -n "s/^option('\([a-z0-9_-]*\)', *type: *'feature'.*/\1/p" meson_options.txt | grep -vx cuda |
               sed 's/^/-D/; s/$/=disabled/' | tr '\n' ' ')

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# ---- build ----------------------------------------------------------------------------------------------------
build() {
  # shellcheck disable=SC2206
  local opts=(-Dcuda=enabled "-Dcuda-arch=$ARCH" $FEATURES_OFF -Dprefer_static=true -Dbuildtype=release
              ${MYNA_MESON_ARGS:-})
  if ! command -v nvcc >/dev/null; then echo "bundle: nvcc not found (PATH, $CUDA_HOME/bin)"; return 1; fi
  if [ -f "$BUILD/build.ninja" ]; then
    meson setup --reconfigure "$BUILD" "${opts[@]}" >/dev/null || meson setup --wipe "$BUILD" "${opts[@]}" || return 1
  else
    meson setup "$BUILD" "${opts[@]}" || return 1
  fi
  # name → ninja target path of every executable (Meson's introspection; robust to files moving between folders)
  meson introspect "$BUILD" --targets | python3 -c '
import json, os, sys
build = sys.argv[1]
for t in json.load(sys.stdin):
    if t["type"] == "executable":
        print(t["name"], os.path.relpath(t["filename"][0], build))' "$BUILD" > "$BUILD/exe-targets.txt" || return 1
  local want=() opt=() n p
  for n in $REQUIRED; do
    p=$(awk -v n="$n" '$1 == n { print $2; exit }' "$BUILD/exe-targets.txt")
    [ -n "$p" ] || { echo "bundle: required program $n is not a Meson target in this tree"; return 1; }
    want+=("$p")
  done
  for n in $OPTIONAL $MODEL_TESTS; do
    p=$(awk -v n="$n" '$1 == n { print $2; exit }' "$BUILD/exe-targets.txt")
    [ -n "$p" ] && opt+=("$p")
  done
  ninja -C "$BUILD" -j "$JOBS" "${want[@]}" || return 1
  # An optional program that does not build is left out (its phase then says so), not a failed bundle.
  if [ ${#opt[@]} -gt 0 ] && ! ninja -C "$BUILD" -j "$JOBS" -k 0 "${opt[@]}"; then
    for p in "${opt[@]}"; do
      if ninja -C "$BUILD" -n "$p" | grep -q 'no work to do'; then want+=("$p")
      else echo "bundle: optional program $p does not build: left out"; fi
    done
  else
    want+=("${opt[@]}")
  fi
  printf '%s\n' "${want[@]}" > "$BUILD/bundle-targets.txt"
}

# ---- copy into DIR ------------------------------------------------------------------------------------------------
assemble() {
  local tmp="$DIR.tmp" t f pkg lic statics
  rm -rf "$tmp" && mkdir -p "$tmp/bin" "$tmp/fixtures" "$tmp/LICENSES" || return 1
  while read -r t; do
    case " $MODEL_TESTS " in
      *" $(basename "$t") "*) grep -aq MYNA_BACKEND "$BUILD/$t" || continue ;;
    esac
    cp "$BUILD/$t" "$tmp/bin/" || return 1
  done < "$BUILD/bundle-targets.txt"
  set -f # the patterns are expanded under tests/fixtures only
  for p in $FIXTURES; do
    set +f
    for f in tests/fixtures/$p; do
      [ -e "$f" ] || continue
      f=${f#tests/fixtures/}
      mkdir -p "$tmp/fixtures/$(dirname "$f")" && cp -r "tests/fixtures/$f" "$tmp/fixtures/$f" || return 1
    done
    set -f
  done
  set +f
  # Licences: every static archive outside the build dir on the programs' link lines, by Debian package.
  statics=$(while read -r t; do ninja -C "$BUILD" -t commands "$t" | tail -1; done < "$BUILD/bundle-targets.txt" |
            tr ' ' '\n' | sed 's/^-Xlinker=//; s/^-Wl,//' | grep '^/.*\.a$' | sort -u)
  {
    echo "Libraries linked statically into bin/* (copyright files beside this one):"
    for f in $statics; do
      pkg=$(dpkg -S "$f" 2>/dev/null | head -1 | cut -d: -f1)
      lic=/usr/share/doc/$pkg/copyright
      if [ -n "$pkg" ] && [ -f "$lic" ]; then
        cp "$lic" "$tmp/LICENSES/$pkg.copyright"
        echo "  $(basename "$f")  Debian package $pkg ($(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null)): $pkg.copyright"
      else
        echo "  $(basename "$f")  ($f: no Debian copyright file found — check its licence before sharing)"
      fi
    done
    echo
    echo "Not included: the CUDA runtime (libcudart) and cuBLAS are found on the GPU machine (dynamic)."
    echo "cuda-bandwidth is linked by nvcc with NVIDIA's static CUDA runtime (libcudart_static.a), which the"
    echo "CUDA Toolkit EULA lists as redistributable in applications (Attachment A)."
    echo "Myna itself: MIT (meson.build's project license)."
  } > "$tmp/LICENSES/README" || return 1
  {
    echo "commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -c .)"
    echo "built=$(date -u +%FT%TZ)"
    echo "cuda_arch=$ARCH"
    echo "nvcc=$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\), V\([0-9.]*\).*/\2/p')"
    echo "meson_options=-Dcuda=enabled -Dcuda-arch=$ARCH $FEATURES_OFF-Dprefer_static=true ${MYNA_MESON_ARGS:-}"
    for f in "$tmp"/bin/*; do
      echo "program=$(basename "$f") $(stat -c %s "$f") $(objdump -T "$f" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
    done
    echo "glibc_max=$(for f in "$tmp"/bin/*; do objdump -T "$f" 2>/dev/null | grep -o 'GLIBC_[0-9.]*'; done | sort -uV | tail -1)"
    echo "glibcxx_max=$(for f in "$tmp"/bin/*; do objdump -T "$f" 2>/dev/null | grep -o 'GLIBCXX_[0-9.]*'; done | sort -uV | tail -1)"
    (cd "$tmp" && find bin fixtures LICENSES -type f | sort | xargs sha256sum | sed 's/^/sha256=/')
  } > "$tmp/MANIFEST" || return 1
  tar -C "$tmp" -cf - bin | xz -T"$JOBS" -6 > "$tmp/programs.tar.xz" || return 1
  rm -rf "$tmp/bin"
  rm -rf "$DIR" && mv "$tmp" "$DIR"
}

# ---- ldd + size check ---------------------------------------------------------------------------------------------
# Allowed: glibc's own libraries, the C++ runtime (nvcc-built code), and the CUDA runtime/cuBLAS.
ALLOWED='^(linux-vdso\.so\.1|/lib64/ld-linux-x86-64\.so\.2|ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libmvec\.so\.1|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libcudart\.so\.[0-9]+|libcublas\.so\.[0-9]+|libcublasLt\.so\.[0-9]+)$'
check() {
  local f bad=0 n=0 lib size tree bins work
  # What travels is checked: the packed programs, unpacked into a scratch folder, against the MANIFEST.
  [ -f "$DIR/programs.tar.xz" ] || { echo "bundle check: $DIR/programs.tar.xz missing (build it: tests/gpu/bundle.sh $DIR)"; return 3; }
  work=$(mktemp -d) || return 3
  bins=$work/bin
  if ! xz -dc "$DIR/programs.tar.xz" | tar -C "$work" -xf - ||
     ! (cd "$work" && grep '^sha256=.* bin/' "$DIR/MANIFEST" | sed 's/^sha256=//' | sha256sum --quiet -c -); then
    echo "bundle check: $DIR/programs.tar.xz does not unpack to the programs its MANIFEST lists"; rm -rf "$work"; return 3
  fi
  for f in "$bins"/*; do
    n=$((n + 1))
    if ! ldd "$f" > "$work/ldd.txt" 2>&1; then
      echo "bundle check: ldd $(basename "$f") failed: $(head -1 "$work/ldd.txt")"; bad=1; continue
    fi
    while read -r lib; do
      if ! [[ $lib =~ $ALLOWED ]]; then
        echo "bundle check: $(basename "$f") needs $lib ($(grep -m1 -F "$lib" "$work/ldd.txt" | sed 's/^[[:space:]]*//')) — not on the GPU machine"
        bad=1
      fi
    done < <(awk '{ print $1 }' "$work/ldd.txt")
  done
  [ "$n" -gt 0 ] || { echo "bundle check: no programs in $DIR/programs.tar.xz"; rm -rf "$work"; return 3; }
  size=$(du -sb "$DIR" | cut -f1)
  tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
  echo "bundle: $DIR: $(mib "$size") MiB ($n programs: $(mib "$(du -sb "$bins" | cut -f1)") MiB packed into $(mib "$(stat -c %s "$DIR/programs.tar.xz")") MiB, fixtures $(mib "$(du -sb "$DIR/fixtures" | cut -f1)") MiB); working tree $(mib "$tree") MiB; together $(mib $((size + tree))) MiB of the device tool's 64 MiB"
  rm -rf "$work"
  [ "$bad" = 0 ] || { echo "bundle check: FAILED (ldd: a program needs a library the GPU machine does not have)"; return 3; }
  echo "bundle check: ldd OK — every program needs only glibc, libstdc++/libgcc_s and the CUDA runtime/cuBLAS ($(grep -m1 '^glibc_max=' "$DIR/MANIFEST" 2>/dev/null | cut -d= -f2) at most)"
  if [ "$size" -gt $((MAX_MIB * 1048576)) ] || [ $((size + tree)) -gt $((60 * 1048576)) ]; then
    echo "bundle check: FAILED (size: bundle over $MAX_MIB MiB or bundle + tree over 60 MiB)"; return 4
  fi
  return 0
}

if [ "$BUILD_IT" = 1 ]; then
  t0=$(date +%s)
  if ! build; then echo "bundle: build FAILED ($BUILD)"; exit 1; fi
  if ! assemble; then echo "bundle: copying into $DIR FAILED"; exit 1; fi
  echo "bundle: built $(grep -c '^program=' "$DIR/MANIFEST") programs for $ARCH in $(( $(date +%s) - t0 )) s: $(sed -n 's/^program=\([^ ]*\).*/\1/p' "$DIR/MANIFEST" | tr '\n' ' ')"
  # --all: the rest of the tree, after the bundle is in place (so a break elsewhere still leaves a bundle).
  if [ "$ALL" = 1 ] && ! ninja -C "$BUILD" -j "$JOBS"; then
    echo "bundle: the bundle is built, but not every target builds with -Dcuda=enabled and the optional"
    echo "bundle: libraries off ($FEATURES_OFF; see the ninja error above)"
    exit 5
  fi
  [ "$ALL" = 1 ] && echo "bundle: every target of $BUILD built ($(( $(date +%s) - t0 )) s in all)"
fi
if [ "$CHECK" = 1 ] || [ "$BUILD_IT" = 0 ]; then
  check; exit $?
fi
echo "bundle: $DIR: $(mib "$(du -sb "$DIR" | cut -f1)") MiB"
exit 0
