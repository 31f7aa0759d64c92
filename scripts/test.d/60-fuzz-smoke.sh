#!/usr/bin/env bash
# A short fuzz smoke: each target for a few seconds. The long run is `scripts/fuzz.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-15}"
