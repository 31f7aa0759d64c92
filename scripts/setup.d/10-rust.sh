#!/usr/bin/env bash
# Rust toolchain pieces: rustfmt, clippy, llvm-tools (the PGO build) and the wasm32 target
# (for the wasm clippy pass).
set -euo pipefail
have_component() { rustup component list --installed 2>/dev/null | grep -q "^$1"; }
have_component rustfmt || rustup component add rustfmt
have_component clippy || rustup component add clippy
have_component llvm-tools || rustup component add llvm-tools # llvm-profdata for scripts/build-pgo.sh
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
