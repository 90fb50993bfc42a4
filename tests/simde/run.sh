#!/usr/bin/env bash
# The fused C layer's AVX-512 build on any x86 CPU: fused_layer.c compiled with -D__AVX512F__
# against SIMDe's portable AVX-512 intrinsics (tests/simde/immintrin.h; the VNNI/AMX target
# attributes dropped, so no AVX-512 instruction is emitted), then the C-layer tests run on it
# as the AVX-512 build (fp32, bf16 on FMAs, int8 on VNNI's u8 codes and column sums, pairs of
# column blocks, 12-row tiles, masked attention). AMX is not covered. ~10 s; `make test` runs it.
#   bash tests/simde/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-.venv/bin/python}"
if [ "$(uname -m)" != x86_64 ]; then echo "tests/simde: skipped, not an x86_64 machine"; exit 0; fi
if [ ! -f /usr/include/simde/x86/avx512.h ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsimde-dev >/dev/null
    else
        echo "tests/simde: skipped, SIMDe is not installed (as root: apt-get install libsimde-dev)"
        [ "${CI:-}" != true ]; exit
    fi
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp bertkit/inference/csrc/*.[ch] "$work/"
sed -i -e 's/^#define VNNI __attribute__.*/#define VNNI/' -e 's/^#define AMX __attribute__.*/#define AMX/' "$work"/*.[ch]
grep -q '^#define VNNI$' "$work"/*.[ch] && grep -q '^#define AMX$' "$work"/*.[ch]
"${CC:-cc}" -O2 -fopenmp -fPIC -shared -mavx2 -mfma -D__AVX512F__ -DSIMDE_NO_NATIVE -Wno-psabi \
    -I tests/simde "$work/fused_layer.c" -o "$work/fused_layer-avx512-simde.so" -lm
if objdump -d "$work/fused_layer-avx512-simde.so" 2>/dev/null | grep -q zmm; then
    echo "tests/simde: the build emitted AVX-512 instructions"; exit 1
fi
BERTKIT_SIMDE_LIBRARY="$work/fused_layer-avx512-simde.so" PYTHONPATH="tests/simde${PYTHONPATH:+:$PYTHONPATH}" \
    "$PY" -m pytest -q -p no:xdist -p no:cacheprovider -p plugin tests/inference/test_fused_layer.py \
    -k "rounding or matches_the_pytorch or any_split or every_build or more_rows or larger_passes or library_builds" "$@"
