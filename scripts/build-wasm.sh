#!/usr/bin/env bash
# Builds the browser module and page: pkg/ (wasm-bindgen --target web output), www/pkg/
# (the same files beside the page, so www/ alone is a deployable static site) and
# dist/chaudit.html (one self-contained file, wasm inlined, that works from file://).
#
# pkg/, www/pkg/ and dist/ are generated and git-ignored: binary artefacts built on five
# branches would conflict on every merge, and rustc output is not byte-reproducible across
# checkouts. The browser tests (scripts/test.d/50-browser.sh) always run this first.
#
# wasm-opt comes from npm's binaryen (node_modules/.bin), never Debian's binaryen 108, whose
# wasm-opt silently produces modules that fail at load time (docs/toolchain.md §2.3).
# Set WASM_OPT=none to skip it.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
if [ "$want" != "$have" ]; then
  echo "wasm-bindgen CLI ${have:-missing}, Cargo.toml pins $want: run scripts/setup.d/50-wasm.sh" >&2
  exit 1
fi

# --lib: the bin shares the crate's name and must not be built for wasm32 (toolchain.md 1.4).
# Full LTO and one codegen unit for the browser only; native release builds keep Cargo.toml's.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128" \
CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
CARGO_PROFILE_RELEASE_DEBUG=false \
  cargo build --release --locked --target wasm32-unknown-unknown --lib --no-default-features
rm -rf pkg
wasm-bindgen --target web --out-dir pkg target/wasm32-unknown-unknown/release/chaudit.wasm

WASM_OPT="${WASM_OPT:-node_modules/.bin/wasm-opt}"
if [ "$WASM_OPT" != none ]; then
  [ -x "$WASM_OPT" ] || { echo "no $WASM_OPT: run npm ci (or WASM_OPT=none)" >&2; exit 1; }
  # -ocimfs 200: by default -O3 inlines every function that has one caller, however large,
  # and builds a 100 KB scan function. V8 runs a new module in its baseline tier until the
  # optimising tier has compiled the hot functions, and a huge function takes long to
  # compile: the first scan after loading the page (the only one, for most users) was ~12 %
  # slower than with no wasm-opt at all (node, 200 MiB, docs/performance.md).
  "$WASM_OPT" -O3 --one-caller-inline-max-function-size 200 pkg/chaudit_bg.wasm -o pkg/chaudit_bg.wasm
fi

rm -rf www/pkg
mkdir -p www/pkg
cp pkg/chaudit.js pkg/chaudit_bg.wasm www/pkg/
node scripts/build-single.mjs
ls -l pkg/chaudit_bg.wasm dist/chaudit.html | awk '{print $5, $9}'
