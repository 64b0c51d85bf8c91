#!/usr/bin/env bash
# Builds the IDE (ide/lib) when its inputs changed: `npm ci` when the lock file (or node) changed,
# `theia build --mode production` when anything that goes into the bundle changed. Each step is
# skipped when its stamp matches, so a second call costs a hash. Prints what it did and how long.
# Needs node 20+, npm, a C++ toolchain and libsecret-1-dev (keytar and drivelist build from source).
# Usage: bash ide/build.sh [--force]
set -euo pipefail
cd "$(dirname "$0")"

# No browser download (puppeteer comes with @theia/cli); native modules use the local headers.
export PUPPETEER_SKIP_DOWNLOAD=true
export npm_config_nodedir="${npm_config_nodedir:-/usr}"

force=0
[ "${1:-}" = "--force" ] && force=1

digest() { sha256sum | cut -c1-16; }
deps_hash=$( { node --version; cat package-lock.json .npmrc; } | digest)
build_hash=$( { echo "$deps_hash"; cat package.json esbuild.mjs
  if [ -d src ]; then find src -type f -print0 | sort -z | xargs -0 cat; fi; } | digest)

deps_stamp=node_modules/.coditect-deps-$deps_hash
build_stamp=lib/.coditect-build-$build_hash

seconds() { echo "$(( $(date +%s%N) / 1000000 - $1 ))" | awk '{printf "%.1f", $1 / 1000}'; }

if [ $force = 1 ] || [ ! -e "$deps_stamp" ]; then
  t0=$(( $(date +%s%N) / 1000000 ))
  npm ci --no-audit --no-fund --loglevel=error
  touch "$deps_stamp"
  echo "ide: npm ci took $(seconds $t0) s"
  rm -rf lib
else
  echo "ide: dependencies up to date ($deps_hash)"
fi

if [ $force = 1 ] || [ ! -e "$build_stamp" ]; then
  t0=$(( $(date +%s%N) / 1000000 ))
  rm -rf lib src-gen
  npx --no-install theia build --mode production >/dev/null
  touch "$build_stamp"
  echo "ide: theia build took $(seconds $t0) s"
else
  echo "ide: build up to date ($build_hash)"
fi
echo "ide: $(du -sh . | cut -f1) on disk (lib $(du -sh lib | cut -f1))"
