#!/usr/bin/env bash
# A short fuzz smoke: every target (nine) for a few seconds each, about a minute and a half of
# fuzzing in all. The long run is `scripts/fuzz.sh` (10 minutes per target).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-8}"
