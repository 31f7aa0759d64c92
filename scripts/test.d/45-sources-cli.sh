#!/usr/bin/env bash
# The real CLI over every evidence source of the 18.16 incident at once (query_log, server
# text log + .err.log, nginx access log), the text log gzip- and zstd-compressed: one critical
# story for the attacker, and no URL password in any output format, even with --no-redact.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --locked --bin chaudit
bin=target/debug/chaudit
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gzip -c fixtures/text_log/18.16/clickhouse-server.log >"$tmp/server.log.gz"
if command -v zstd >/dev/null; then
  zstd -q -c fixtures/text_log/18.16/clickhouse-server.log >"$tmp/server.log.zst"
  text_log="$tmp/server.log.zst"
else
  text_log="$tmp/server.log.gz"
fi
inputs=(fixtures/query_log/18.16/incident.TSVWithNames.tsv "$text_log"
  fixtures/text_log/18.16/clickhouse-server.err.log fixtures/access_log/nginx/combined.log)
fail() { echo "45-sources-cli: $*" >&2; exit 1; }
for args in "-f text" "-f json" "-f jsonl" "-f json --no-redact"; do
  set +e
  # shellcheck disable=SC2086
  out=$("$bin" scan $args "${inputs[@]}" 2>&1)
  code=$?
  set -e
  [ "$code" -eq 1 ] || fail "$args: exit $code, expected 1 (findings)"
  for pw in an4lyst-pw alice123; do
    if grep -q -- "$pw" <<<"$out"; then fail "$args: password $pw in output"; fi
  done
  grep -qi "critical" <<<"$out" || fail "$args: no critical finding"
  grep -q "198.51.100.7" <<<"$out" || fail "$args: attacker missing"
done
out=$("$bin" scan -f json "${inputs[@]}" || true)
python3 - "$out" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
assert d["summary"]["rejected"] == 0, d["rejected"]
story = [f for f in d["findings"] if f["rule"] == "unauthenticated-read" and f["user"] == "default"]
assert len(story) == 1 and story[0]["client_ip"] == "198.51.100.7", story
assert story[0]["severity"] == "critical"
paths = {e["path"] for e in story[0]["evidence"]}
assert any(p.endswith(".tsv") for p in paths) and any("combined.log" in p for p in paths), paths
print("45-sources-cli: one story,", story[0]["count"], "reads from", len(paths), "sources")
PY
