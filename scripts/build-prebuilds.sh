#!/usr/bin/env bash
# Builds the native I/O addon into prebuilds/<platform>-<arch>/ (prebuildify, N-API, stripped), which
# node-gyp-build loads at run time, so that installing the package needs no compiler. linux-arm64 is
# cross-built when Debian's gcc-aarch64-linux-gnu and libc6-dev-arm64-cross are installed (the addon
# is C only, so the C compiler links it too). x64 is built last: prebuildify compiles in build/, and
# build/Release is what a development checkout loads first.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf prebuilds
if command -v aarch64-linux-gnu-gcc >/dev/null; then
  CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-gcc LINK=aarch64-linux-gnu-gcc PREBUILD_STRIP_BIN=aarch64-linux-gnu-strip \
    npx --no-install prebuildify --napi --strip --arch arm64
else
  echo "build-prebuilds: no aarch64-linux-gnu-gcc (Debian gcc-aarch64-linux-gnu), so no linux-arm64 prebuild" >&2
fi
npx --no-install prebuildify --napi --strip
find prebuilds -name '*.node' -print
