#!/usr/bin/env bash
# Unit, integration, CLI and doc tests; benches must compile but are never timed here.
set -euo pipefail
INSTA_UPDATE=no cargo test --all-features --locked
cargo bench --no-run --locked --quiet
