#!/usr/bin/env bash
# The browser module and page in a real headless Chromium: builds pkg/, www/pkg/ and the
# single-file dist/chaudit.html, then runs tests-browser/ (parity with the CLI's JSON on every
# query_log fixture, no foreign requests, file:// single file). Screenshots: target/browser/.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked --quiet --bin chaudit          # the CLI the parity test compares against
bash scripts/build-wasm.sh
node --test --test-reporter=spec tests-browser/
