#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), seeded from fixtures/.
# Crashes land in fuzz/artifacts/<target>/; turn each into a regression test.
#   scripts/fuzz.sh            # the long run (10 minutes per target)
#   scripts/fuzz.sh 20         # the CI smoke
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
targets=(parse sql analyze redact)
for t in "${targets[@]}"; do
  corpus=fuzz/corpus/$t
  mkdir -p "$corpus"
  # Seed with small genuine fixtures (≤ 64 KiB each) so the fuzzer starts deep in the parsers.
  find fixtures -type f \( -name '*.tsv' -o -name '*.csv' -o -name '*.jsonl' -o -name '*.txt' -o -name '*.log' \) -size -64k \
    -exec cp -n {} "$corpus"/ \; 2>/dev/null || true
  echo "::: fuzz $t for ${secs}s"
  (cd fuzz && cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 15)
done
