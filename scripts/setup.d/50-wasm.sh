#!/usr/bin/env bash
# Browser toolchain: the wasm-bindgen CLI (exactly the version Cargo.toml pins), Debian
# chromium for the page tests, and the npm packages (playwright-core, binaryen's wasm-opt).
# Idempotent: each piece is skipped when already present. Never installs Debian's binaryen
# (its v108 wasm-opt silently breaks wasm-bindgen output; see docs/toolchain.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "no wasm-bindgen = \"=X.Y.Z\" pin in Cargo.toml" >&2; exit 1; }
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  # No --locked: the registry mirror lags the upstream lockfile (toolchain.md pitfall 1).
  cargo install wasm-bindgen-cli --version "$version"
fi
if ! [ -x /usr/bin/chromium ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi
if ! [ -d node_modules/playwright-core ] || ! [ -x node_modules/.bin/wasm-opt ] \
  || ! [ node_modules/.package-lock.json -nt package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
