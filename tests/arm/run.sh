#!/usr/bin/env bash
# bertkit on an emulated 64-bit ARM CPU (qemu-aarch64 user mode): every precision, no C layer.
#   bash tests/arm/run.sh            (~5 minutes: ~130 MB of downloads the first time, then emulation)
# Builds an aarch64 sysroot in $ARM_ROOT (default .venv/arm) from Debian's arm64 packages
# (Python 3.11 and the C libraries it needs, unpacked, not installed) and PyPI's aarch64 wheels
# (torch 2.9.1, the newest CPU build for aarch64 on PyPI, numpy, safetensors, tqdm, google-crc32c and
# torch's pure-Python dependencies), then runs tests/arm/check.py there against the bundled model.
# Needs root (dpkg --add-architecture arm64, apt-get) and qemu-user. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="${ARM_ROOT:-$PWD/.venv/arm}"
PY="${PYTHON:-.venv/bin/python}"
command -v qemu-aarch64 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null; }
if [ ! -x "$ROOT/sysroot/usr/bin/python3.11" ]; then
    dpkg --add-architecture arm64 && apt-get update -qq
    mkdir -p "$ROOT/debs" "$ROOT/sysroot"
    (cd "$ROOT/debs" && for p in python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libexpat1 zlib1g \
        libssl3 libffi8 libbz2-1.0 liblzma5 libsqlite3-0 libncursesw6 libtinfo6 libreadline8 libuuid1 libgcc-s1 \
        libstdc++6 libgomp1 libcrypt1 libdb5.3 libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3 \
        libkrb5support0 libcom-err2 libkeyutils1; do apt-get download "$p:arm64" >/dev/null 2>&1 || { echo "apt-get download $p:arm64 failed"; exit 1; }; done)
    for deb in "$ROOT"/debs/*.deb; do dpkg -x "$deb" "$ROOT/sysroot"; done
fi
# The wheels again whenever this list changes (a sysroot built by an older list lacks the new ones).
AARCH64_WHEELS="torch==2.9.1 numpy safetensors tqdm markupsafe google-crc32c"
PURE_WHEELS="filelock typing-extensions sympy mpmath networkx jinja2 fsspec"
if [ "$(cat "$ROOT/site/.wheels" 2>/dev/null)" != "$AARCH64_WHEELS $PURE_WHEELS" ]; then
    rm -rf "$ROOT/wheels" "$ROOT/site" && mkdir -p "$ROOT/wheels" "$ROOT/site"
    arm=(--platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux_2_28_aarch64
         --only-binary=:all: --python-version 3.11 --no-deps -q -d "$ROOT/wheels")
    "$PY" -m pip download "${arm[@]}" $AARCH64_WHEELS
    "$PY" -m pip download --no-deps -q -d "$ROOT/wheels" $PURE_WHEELS
    for wheel in "$ROOT"/wheels/*.whl; do "$PY" -m zipfile -e "$wheel" "$ROOT/site/"; done
    echo "$AARCH64_WHEELS $PURE_WHEELS" > "$ROOT/site/.wheels"
fi
MODEL="$("$PY" -c 'from bertkit.bundled import resolve_model_dir; print(resolve_model_dir(None))')"
exec qemu-aarch64 -L "$ROOT/sysroot" -E PYTHONPATH="$ROOT/site:$PWD" -E PYTHONHOME="$ROOT/sysroot/usr" \
    "$ROOT/sysroot/usr/bin/python3.11" tests/arm/check.py "$MODEL"
