#!/usr/bin/env bash
# Runs fuzz targets for SECONDS each (default 600), one after another, seeded from fixtures/.
# Crashes land in fuzz/artifacts/<target>/; turn each into a regression test.
#   scripts/fuzz.sh                  # the long run: every target, 10 minutes each
#   scripts/fuzz.sh 8                # the CI smoke (scripts/test.d/60-fuzz-smoke.sh)
#   scripts/fuzz.sh 600 decompress   # one target (or several, in the order given)
# Each run ends with libFuzzer's final lines (cov, ft, corp, exec/s; -print_final_stats=1).
# One job, one worker: the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
all=(parse sql analyze redact text_log access_log session_log sniff decompress)
targets=("${@:-${all[@]}}")

# Copies each file given to the corpus, cut to its first BYTES (the fuzzer starts deep in the
# parser from genuine lines; mutations of a 500 KiB file would be slow to run).
seed() {
  local corpus=$1 bytes=$2
  shift 2
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    head -c "$bytes" "$f" >"$corpus/seed-$(echo "$f" | tr '/' '_')"
  done
}

seed_target() {
  local t=$1 corpus=fuzz/corpus/$1
  mkdir -p "$corpus"
  case $t in
    text_log) seed "$corpus" 16384 fixtures/text_log/*/* ;;
    access_log) seed "$corpus" 16384 fixtures/access_log/*/* ;;
    session_log) seed "$corpus" 16384 fixtures/session_log/*/*.{tsv,csv,jsonl,txt} ;;
    sniff)
      # Every kind of input, first lines only: the sniffer looks at no more.
      seed "$corpus" 2048 fixtures/query_log/*/incident.* fixtures/session_log/*/incident.* \
        fixtures/text_log/*/* fixtures/access_log/*/*
      ;;
    decompress)
      # Plain seeds are compressed by the target (the first byte picks how); a few genuine
      # streams after their magic (selector 3: gzip, 7: zstd) let it mutate real ones.
      seed "$corpus" 4096 fixtures/session_log/26.9/tricky.* fixtures/access_log/nginx/combined.log \
        fixtures/text_log/18.16/clickhouse-server.err.log
      local f=fixtures/access_log/nginx/combined.log
      { printf '\x03'; gzip -c "$f" | tail -c +3; } >"$corpus/seed-gzip"
      if command -v zstd >/dev/null; then
        { printf '\x07'; zstd -q -c "$f" | tail -c +5; } >"$corpus/seed-zstd"
      fi
      ;;
    *)
      # Small genuine fixtures (≤ 64 KiB each), whole.
      find fixtures -type f \( -name '*.tsv' -o -name '*.csv' -o -name '*.jsonl' -o -name '*.txt' -o -name '*.log' \) -size -64k \
        -exec cp -n {} "$corpus"/ \; 2>/dev/null || true
      ;;
  esac
}

(cd fuzz && cargo +nightly fuzz build)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
for t in "${targets[@]}"; do
  seed_target "$t"
  echo "::: fuzz $t for ${secs}s"
  if (cd fuzz && cargo +nightly fuzz run "$t" "corpus/$t" -- -jobs=1 -workers=1 -max_total_time="$secs" \
    -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1; then
    tail -n 15 "$log"
  else
    # What broke, and the input that broke it (the stack traces and dictionary are left out).
    grep -a -A3 -E "panicked at|ERROR: libFuzzer|^artifact_prefix|Output of .std::fmt::Debug" "$log" | cut -c1-3000
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "::: fuzz: ${failed[*]} failed; inputs in fuzz/artifacts/<target>/"
  exit 1
fi
