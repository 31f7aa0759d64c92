#!/usr/bin/env bash
# `chaudit pull --cluster` against a real two-node cluster: two ClickHouse 18.16 servers on
# 127.0.0.1 (HTTP 38223/38224, native 39100/39101), each with a `chaudit_two` cluster of two
# shards, one per server. The passwordless `default` reads bulk from node B only (from
# 127.0.0.2, declared external); node A sees password users only. Pulling from node A:
#   plain pull sees node A's rows only and no unauthenticated read;
#   --cluster chaudit_two sees both nodes' rows and finds the read on node B;
#   --cluster with --pushdown agrees with --cluster on findings.
# 18.16 has no clusterAllReplicas: chaudit falls back to cluster(), which reads one replica
# per shard — with one replica per shard, every node.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
source scripts/pull/ch18.sh
WORK=$(mktemp -d /tmp/chaudit-cluster-test.XXXXXX)
A_HTTP=38223 A_TCP=39100 B_HTTP=38224 B_TCP=39101
A_PID="" B_PID=""
cleanup() {
  for p in "$A_PID" "$B_PID"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  sleep 1
  for p in "$A_PID" "$B_PID"; do
    [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cargo build --locked --quiet
BIN=$ROOT/target/debug/chaudit
export CH_CLUSTER_EXTRA="        <chaudit_two>
            <shard><replica><host>127.0.0.1</host><port>$A_TCP</port></replica></shard>
            <shard><replica><host>127.0.0.1</host><port>$B_TCP</port></replica></shard>
        </chaudit_two>"
CH_HTTP=$A_HTTP CH_TCP=$A_TCP; ch18_start "$WORK/a"; A_PID=$CH_PID; CH_PID=""
CH_HTTP=$B_HTTP CH_TCP=$B_TCP; ch18_start "$WORK/b"; B_PID=$CH_PID; CH_PID=""

CA=(clickhouse-client --host 127.0.0.1 --port "$A_TCP")
CB=(clickhouse-client --host 127.0.0.1 --port "$B_TCP")
for c in CA CB; do
  declare -n cc=$c
  "${cc[@]}" -u etl --password etl-L0ader-pw -q "CREATE TABLE default.log_stream (timestamp DateTime, span_name String) ENGINE = MergeTree() ORDER BY timestamp"
  "${cc[@]}" -u etl --password etl-L0ader-pw -q "INSERT INTO default.log_stream SELECT toDateTime('2025-01-29 00:00:00') + number, concat('span-', toString(number)) FROM numbers(30000)"
  "${cc[@]}" -u alice --password alice-Str0ng-pw -q "SELECT count() FROM default.log_stream" >/dev/null
done
curl -sSf --interface 127.0.0.2 "http://127.0.0.1:$B_HTTP/?query=SHOW+TABLES" >/dev/null
curl -sSf --interface 127.0.0.2 "http://127.0.0.1:$B_HTTP/?query=SELECT+*+FROM+default.log_stream" >/dev/null
for c in CA CB; do
  declare -n cc=$c
  "${cc[@]}" -u auditor --password auditor-Pw-9f3k -q "SYSTEM FLUSH LOGS"
done
sleep 1
UNTIL=$("${CA[@]}" -u auditor --password auditor-Pw-9f3k -q "SELECT toString(now())")
sleep 1.2

export CHAUDIT_PASSWORD=auditor-Pw-9f3k
COMMON=(--url "http://127.0.0.1:$A_HTTP" -u auditor --external 127.0.0.2/32 --until "$UNTIL" -f json)
"$BIN" pull "${COMMON[@]}" -o "$WORK/plain.json" || [ $? = 1 ]
"$BIN" pull "${COMMON[@]}" --cluster chaudit_two -o "$WORK/cluster.json" || [ $? = 1 ]
"$BIN" pull "${COMMON[@]}" --cluster chaudit_two --pushdown -o "$WORK/cluster-pushdown.json" || [ $? = 1 ]
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
r = {m: json.load(open(f"{w}/{m}.json")) for m in ("plain", "cluster", "cluster-pushdown")}
def unauth(a):
    return [f for f in a["findings"] if f["rule"] == "unauthenticated-read" and f["user"] == "default"]
plain, cluster, pushed = r["plain"], r["cluster"], r["cluster-pushdown"]
assert not unauth(plain), f"node A alone has no passwordless read: {unauth(plain)}"
u = unauth(cluster)
assert u and u[0]["severity"] == "critical" and u[0]["client_ip"] == "127.0.0.2", u
assert cluster["summary"]["events"] > plain["summary"]["events"], (cluster["summary"]["events"], plain["summary"]["events"])
# Both nodes' alice reads arrive through the cluster: twice node A's alone.
def reads(a, user):
    return sum(c["queries"] for c in a["clients"] if c["user"] == user)
assert reads(cluster, "alice") == 2 * reads(plain, "alice") > 0, (reads(cluster, "alice"), reads(plain, "alice"))
key = lambda a: sorted((f["rule"], f["severity"], f["user"], f.get("client_ip")) for f in a["findings"])
assert key(cluster) == key(pushed), (key(cluster), key(pushed))
print(f"two-node cluster: plain {plain['summary']['events']} events (node A), "
      f"--cluster {cluster['summary']['events']} events, {len(cluster['findings'])} findings; --pushdown agrees")
PY
echo "ok: pull --cluster reads every node of a two-node cluster; --pushdown agrees"
