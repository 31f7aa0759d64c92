#!/usr/bin/env bash
# `chaudit pull` against a real ClickHouse 18.16 on 127.0.0.1 (ports 38123/39000), started
# and stopped here. An incident runs over HTTP (curl) and native (clickhouse-client):
# password users first, then the passwordless `default` — from 127.0.0.2, which the checks
# declare external with --external — running SHOW TABLES and a bulk SELECT. Then:
#   pull finds the critical unauthenticated read, with and without --pushdown, also through
#   --cluster (cluster() fallback on 18.16), and all modes agree on findings and summary;
#   connection refused, wrong password, a hung server and a server killed mid-answer each
#   exit 2 with a clear message and leave no output file.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
source scripts/pull/ch18.sh
WORK=$(mktemp -d /tmp/chaudit-pull-test.XXXXXX)
HELPERS=()
cleanup() {
  ch18_stop
  for p in "${HELPERS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --locked --quiet
BIN=$ROOT/target/debug/chaudit
H=http://127.0.0.1:$CH_HTTP
CC=(clickhouse-client --host 127.0.0.1 --port "$CH_TCP")
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ch18_start "$WORK/ch"

# ---- incident -------------------------------------------------------------------------
"${CC[@]}" -u etl --password etl-L0ader-pw -q "CREATE TABLE default.log_stream (timestamp DateTime, span_name String, _service String) ENGINE = MergeTree() ORDER BY timestamp"
"${CC[@]}" -u etl --password etl-L0ader-pw -q "INSERT INTO default.log_stream SELECT toDateTime('2025-01-29 00:00:00') + number, concat('span-', toString(number)), 'chat-api' FROM numbers(50000)"
"${CC[@]}" -u alice --password alice-Str0ng-pw -q "SELECT count() FROM default.log_stream" >/dev/null
curl -sSf -u alice:alice-Str0ng-pw "$H/?query=SELECT+span_name+FROM+default.log_stream+LIMIT+3" >/dev/null
# a table-function read (18.16 logs no used_table_functions: pushdown matches the text)
"${CC[@]}" -u alice --password alice-Str0ng-pw -q "SELECT count() FROM url('http://127.0.0.1:$CH_HTTP/?query=SELECT+1', TSV, 'x String')" >/dev/null
"${CC[@]}" -q "SHOW TABLES" >/dev/null                      # default, no password, internal
curl -sSf --interface 127.0.0.2 "$H/?query=SHOW+TABLES" >/dev/null
curl -sSf --interface 127.0.0.2 "$H/?query=SELECT+*+FROM+default.log_stream" >/dev/null
"${CC[@]}" -u auditor --password auditor-Pw-9f3k -q "SYSTEM FLUSH LOGS"
sleep 1
UNTIL=$("${CC[@]}" -u auditor --password auditor-Pw-9f3k -q "SELECT toString(now())")
sleep 1.2   # every pull's own queries fall after --until

# ---- pull: plain, pushdown, cluster --------------------------------------------------------
export CHAUDIT_PASSWORD=auditor-Pw-9f3k
COMMON=(--url "$H" -u auditor --external 127.0.0.2/32 --until "$UNTIL" -f json)
for mode in plain pushdown cluster cluster-pushdown; do
  extra=()
  case $mode in
    pushdown) extra=(--pushdown) ;;
    cluster) extra=(--cluster chaudit_local) ;;
    cluster-pushdown) extra=(--cluster chaudit_local --pushdown) ;;
  esac
  set +e
  "$BIN" pull "${COMMON[@]}" "${extra[@]}" -o "$WORK/$mode.json"
  rc=$?
  set -e
  [ "$rc" = 1 ] || fail "pull $mode exited $rc, expected 1 (critical finding)"
done
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
runs = {m: json.load(open(f"{w}/{m}.json")) for m in ("plain", "pushdown", "cluster", "cluster-pushdown")}
def key(a):
    return [{k: v for k, v in f.items() if k != "evidence"} for f in a["findings"]]
def summ(a):
    return {k: v for k, v in a["summary"].items() if k != "sources"}
p = runs["plain"]
crit = [f for f in p["findings"] if f["rule"] == "unauthenticated-read" and f["severity"] == "critical"]
assert len(crit) == 1 and crit[0]["user"] == "default" and crit[0]["client_ip"] == "127.0.0.2", p["findings"]
assert crit[0]["count"] == 2 and "default.log_stream" in crit[0]["tables"], crit[0]
ev = " ".join(e.get("excerpt") or "" for e in crit[0]["evidence"])
assert "SHOW TABLES" in ev and "SELECT * FROM default.log_stream" in ev, ev
assert any(f["rule"] == "table-function-egress" and f["user"] == "alice" for f in p["findings"]), p["findings"]
for m, a in runs.items():
    assert key(a) == key(p), f"{m} findings differ from plain"
    assert summ(a) == summ(p), f"{m} summary differs: {summ(a)} vs {summ(p)}"
    assert a["clients"] == p["clients"], f"{m} clients differ"
print(f"all modes agree: {len(p['findings'])} findings "
      f"({', '.join(f['rule'] + '/' + f['severity'] for f in p['findings'])}), "
      f"{p['summary']['events']} events, {p['summary']['clients']} clients")
PY
ok "pull finds the critical unauthenticated read; plain, --pushdown, --cluster (± --pushdown) agree"

# text report + high-water mark
"$BIN" pull --url "$H" -u auditor --external 127.0.0.2/32 --until "$UNTIL" --print-high-water-mark \
  --color never >"$WORK/text.out" 2>"$WORK/text.err" || true
grep -q "CRITICAL *unauthenticated-read *default @ 127.0.0.2" "$WORK/text.out" || fail "text report: $(head -30 "$WORK/text.out")"
grep -q "high-water mark 20" "$WORK/text.err" || fail "no high-water mark: $(cat "$WORK/text.err")"
! grep -q "auditor-Pw-9f3k" "$WORK/text.out" "$WORK/text.err" || fail "password in output"
ok "text report and high-water mark"

# --since relative to the server's clock, and sql printing adapted to 18.16
"$BIN" pull --url "$H" -u auditor --since 10m --until "$UNTIL" -f json -o "$WORK/since.json" || [ $? = 1 ]
python3 -c "import json,sys; a=json.load(open(sys.argv[1])); assert a['summary']['events']>0" "$WORK/since.json"
"$BIN" sql --url "$H" -u auditor --pushdown --cluster chaudit_local --since 1h >"$WORK/sql.out"
grep -q "hex(address) BETWEEN" "$WORK/sql.out" && grep -q "FROM cluster('chaudit_local', system.query_log)" "$WORK/sql.out" \
  && grep -q "ClickHouse 18.16" "$WORK/sql.out" || fail "sql output: $(head -c 600 "$WORK/sql.out")"
ok "--since 10m; chaudit sql asks the server (18.16: hex ranges, cluster())"

# ---- errors: exit 2, clear message, no output file -----------------------------------------
expect_error() { # name pattern cmd...
  local name=$1 pattern=$2; shift 2
  local out="$WORK/err-$name.json" t0 rc
  t0=$(date +%s)
  set +e; "$@" -o "$out" 2>"$WORK/err-$name.txt"; rc=$?; set -e
  [ "$rc" = 2 ] || fail "$name: exit $rc, expected 2; stderr: $(cat "$WORK/err-$name.txt")"
  grep -qi -- "$pattern" "$WORK/err-$name.txt" || fail "$name: message lacks '$pattern': $(cat "$WORK/err-$name.txt")"
  ls "$WORK" | grep -q "^err-$name.json" && fail "$name: left an output file"
  ! grep -q "auditor-Pw-9f3k\|Wr0ng-pw" "$WORK/err-$name.txt" || fail "$name: password in the message"
  ok "$name: exit 2 after $(( $(date +%s) - t0 ))s, no output file: $(head -c 200 "$WORK/err-$name.txt")"
}
P=$(free_port)
expect_error refused "connection refused" "$BIN" pull --url "http://127.0.0.1:$P" -u auditor
CHAUDIT_PASSWORD=Wr0ng-pw expect_error wrong-password "HTTP 401" "$BIN" pull --url "$H" -u auditor
P=$(free_port)
python3 scripts/pull/sockets.py silent "$P" >"$WORK/silent.out" & HELPERS+=($!)
for _ in $(seq 50); do grep -q ready "$WORK/silent.out" 2>/dev/null && break; sleep 0.1; done
expect_error timeout "timed out" "$BIN" pull --url "http://127.0.0.1:$P" -u auditor --timeout 2
expect_error userinfo "must not carry credentials" "$BIN" pull --url "http://auditor:x@127.0.0.1:$CH_HTTP" -u auditor

# Server killed mid-answer: ~20 MB of query_log, read through a relay at 1 MB/s so that the
# SIGKILL lands while the server is still writing the body.
python3 -c "
pad='x'*200000
print('\n'.join(f\"SELECT length('{pad}') + {i};\" for i in range(100)))" >"$WORK/pad.sql"
"${CC[@]}" -u alice --password alice-Str0ng-pw -n <"$WORK/pad.sql" >/dev/null
"${CC[@]}" -u auditor --password auditor-Pw-9f3k -q "SYSTEM FLUSH LOGS"
# An incremental pull reads up to the server's current second, exclusive: let the padding's
# second pass, or the answer can be small enough to finish before the kill.
sleep 1.2
P=$(free_port)
python3 scripts/pull/sockets.py throttle "$P" "$CH_HTTP" 1000000 >"$WORK/relay.out" & HELPERS+=($!)
for _ in $(seq 50); do grep -q ready "$WORK/relay.out" 2>/dev/null && break; sleep 0.1; done
( sleep 2; kill -9 "$CH_PID" ) & KILLER=$!
expect_error killed "broke mid-answer" "$BIN" pull --url "http://127.0.0.1:$P" -u auditor \
  --baseline "$WORK/killed-state.json" --update-baseline --settle 0
wait "$KILLER"
[ ! -e "$WORK/killed-state.json" ] || fail "killed: a baseline state was written"
ls "$WORK" | grep -q "killed-state.json.tmp" && fail "killed: a temporary state was left"
ok "killed: no baseline state written either"
CH_PID=""

echo "$passed passed, 0 failed"
