#!/usr/bin/env bash
# Formatting, clippy (native and wasm32) and docs, all with warnings as errors.
set -euo pipefail
cargo fmt --all --check
cargo clippy --all-targets --all-features --locked -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown --no-default-features --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib --locked --quiet
# The shells may only use what lib.rs re-exports: no reaching into parse internals.
if grep -rn "chaudit::parse::\|crate::parse::" src/bin src/wasm.rs 2>/dev/null | grep -v "^src/lib.rs"; then
  echo "a shell reaches into chaudit::parse; use the lib.rs re-exports" >&2
  exit 1
fi
