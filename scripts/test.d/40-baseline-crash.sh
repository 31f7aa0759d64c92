#!/usr/bin/env bash
# Crash safety of the baseline state: kill -9 `chaudit scan --update-baseline` at random
# moments, many times; after every kill the state must still load (exit 0, not 2), and the
# lock must not outlive the killed process. Temp files left by a kill mid-write are counted:
# they show the kill did land during a save at least sometimes.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked --quiet --bin chaudit
bin=target/debug/chaudit
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# query_log lines for 1500 clients over three days; `gen START COUNT` appends COUNT lines.
gen() {
  awk -v start="$1" -v n="$2" 'BEGIN {
    for (i = start; i < start + n; i++) {
      c = i % 1500; d = 16 + int(i / 8000) % 3; h = int(i / 333) % 24
      printf "{\"type\":\"QueryFinish\",\"event_time\":\"2025-01-%02d %02d:%02d:%02d\",\"user\":\"u%d\",\"address\":\"10.%d.%d.1\",\"query\":\"SELECT * FROM db.t%d\",\"read_rows\":%d,\"result_rows\":%d,\"result_bytes\":%d}\n", d, h, i % 60, i % 60, c, c % 250, int(c / 250), c % 40, i * 7 % 100000, i % 1000, i * 13 % 1000000
    }
  }' >> "$dir/q.jsonl"
}

gen 0 24000
"$bin" baseline learn -q "$dir/q.jsonl" -o "$dir/s.json"
size=$(wc -c < "$dir/s.json")
echo "state: $size bytes"

# Time one update, so kills can be spread over a whole run (load, scan, save).
gen 24000 500
t0=$(date +%s%N)
"$bin" scan -q --format json -o /dev/null --fail-on critical \
  --baseline "$dir/s.json" --update-baseline "$dir/q.jsonl"
run_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "one update run: ${run_ms} ms"

iterations=${CRASH_ITERATIONS:-20}
next=24500
for i in $(seq 1 "$iterations"); do
  gen "$next" 500
  next=$((next + 500))
  "$bin" scan -q --format json -o /dev/null --fail-on critical \
    --baseline "$dir/s.json" --update-baseline "$dir/q.jsonl" &
  pid=$!
  # Anywhere in the run, biased to its second half where the save happens.
  ms=$(( run_ms / 3 + (RANDOM * 32768 + RANDOM) % (run_ms * 5 / 6 + 1) ))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if ! "$bin" scan -q --format json -o /dev/null --baseline "$dir/s.json" /dev/null; then
    echo "iteration $i: state unusable after kill -9" >&2
    head -c 300 "$dir/s.json" >&2
    exit 1
  fi
  # The next locked run removes the temp file a kill mid-write leaves; count them first.
  torn=$((${torn:-0} + $(find "$dir" -name 's.json.tmp.*' | wc -l)))
  find "$dir" -name 's.json.tmp.*' -delete
done
echo "$iterations kills; $torn during a save (temp file left); state valid every time"
[ "$torn" -gt 0 ] || echo "warning: no kill landed during a save this time" >&2
# The lock died with its holder: a normal update still succeeds, and cleans up.
touch "$dir/s.json.tmp.999999"
"$bin" scan -q --format json -o /dev/null --fail-on critical \
  --baseline "$dir/s.json" --update-baseline "$dir/q.jsonl"
if [ -e "$dir/s.json.tmp.999999" ]; then
  echo "stale temp file not removed" >&2
  exit 1
fi
