#!/usr/bin/env bash
# cargo-fuzz for the fuzz smoke (the nightly toolchain comes with the machine).
set -euo pipefail
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2
