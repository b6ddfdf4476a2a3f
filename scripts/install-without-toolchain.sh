#!/usr/bin/env bash
# Installs a packed wiremesh tarball into a fresh directory the way a gateway's user data does
# (`npm install --omit=dev`), with a PATH that holds only node, npm and coreutils: no cc, g++, make or
# python3. Proves the prebuilt addon is used. Then runs `wiremesh-agent check --offline` on a configuration
# (its file sources are verified; cloud secrets are not fetched).
# Usage: scripts/install-without-toolchain.sh TARBALL CONFIG [INSTALL_DIR]
set -euo pipefail
tarball="$(realpath "$1")"
config="$(realpath "$2")"
prefix="${3:-$(mktemp -d)}"
node_bin="$(cd "$(dirname "$0")/.." && npx --no-install node -p process.execPath)"
npm_cli="$(dirname "$(realpath "$(command -v npm)")")/npm-cli.js"

tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
for tool in sh bash env cat cp mv rm ln mkdir chmod ls dirname basename readlink realpath uname tr sed grep head tail; do
  ln -s "$(command -v "$tool")" "$tools/$tool"
done
ln -s "$node_bin" "$tools/node"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$node_bin" "$npm_cli" > "$tools/npm"
chmod +x "$tools/npm"
for compiler in cc gcc g++ make python3; do
  if PATH="$tools" command -v "$compiler" >/dev/null; then echo "error: $compiler is on the restricted PATH" >&2; exit 1; fi
done

PATH="$tools" npm install --prefix "$prefix" --omit=dev --no-audit --no-fund "$tarball" >&2
PATH="$tools" "$prefix/node_modules/.bin/wiremesh-agent" check --offline --config "$config"
echo "installed into $prefix: $(du -sk "$prefix/node_modules" | cut -f1) KiB, $(find "$prefix/node_modules" -name package.json -not -path '*/node_modules/*/node_modules/*/*' -path '*/node_modules/*/package.json' | wc -l) package.json files" >&2
