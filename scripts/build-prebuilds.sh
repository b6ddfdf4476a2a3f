#!/usr/bin/env bash
# Builds the native I/O addon into prebuilds/<platform>-<arch>/ (prebuildify, N-API, stripped), which
# node-gyp-build loads at run time, so that installing the package needs no compiler. linux-arm64 is
# cross-built when Debian's gcc-aarch64-linux-gnu and libc6-dev-arm64-cross are installed (the addon
# is C only, so the C compiler links it too). The build runs in a scratch copy of the sources, so the
# checkout's build/Release (which a development checkout loads first) is never touched, and the new
# prebuilds/ replaces the old one in one rename.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/agent/native"
cp "$root/package.json" "$root/binding.gyp" "$scratch/"
cp "$root"/agent/native/*.c "$root"/agent/native/*.h "$scratch/agent/native/"

cd "$root"
if command -v aarch64-linux-gnu-gcc >/dev/null; then
  CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-gcc LINK=aarch64-linux-gnu-gcc PREBUILD_STRIP_BIN=aarch64-linux-gnu-strip \
    npx --no-install prebuildify --cwd "$scratch" --napi --strip --arch arm64
else
  echo "build-prebuilds: no aarch64-linux-gnu-gcc (Debian gcc-aarch64-linux-gnu), so no linux-arm64 prebuild" >&2
fi
npx --no-install prebuildify --cwd "$scratch" --napi --strip
rm -rf "$root/prebuilds.new"
cp -r "$scratch/prebuilds" "$root/prebuilds.new"
rm -rf "$root/prebuilds"
mv "$root/prebuilds.new" "$root/prebuilds"
find prebuilds -name '*.node' -print
