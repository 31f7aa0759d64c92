#!/usr/bin/env bash
# One command, one table: on the same generated TSVWithNames query_log export (1 GiB by
# default), time chaudit on one thread and on all cores, the physical limit (`wc -l`,
# `cat > /dev/null`) and clickhouse-local (the ClickHouse 26.9 engine from PyPI chdb-core)
# doing the equivalent aggregation; print seconds, MB/s, lines/s and peak RSS for each.
#
#   benches/run.sh                 # 1 GiB, best of 3 runs each
#   SIZE=5G CLIENTS=10000 benches/run.sh
#   SIZE=100M REPEAT=1 benches/run.sh
#   PGO=1 benches/run.sh           # also the profile-guided build (scripts/build-pgo.sh)
#
# Needs cargo and python3; installs `time` (apt) and chdb-core (a venv under $BENCH_DIR) if
# missing. Generated data lives in $BENCH_DIR (default /tmp/chaudit-bench), never in git.
set -euo pipefail

SIZE=${SIZE:-1G}
SEED=${SEED:-7}
CLIENTS=${CLIENTS:-300}
DAYS=${DAYS:-3}
REPEAT=${REPEAT:-3}
BENCH_DIR=${BENCH_DIR:-/tmp/chaudit-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BENCH_DIR"

if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time (apt)…" >&2
    (apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; })
fi

VENV=$BENCH_DIR/venv
if ! "$VENV/bin/python" -c 'import chdb' 2>/dev/null; then
    echo "installing chdb-core into $VENV…" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q chdb-core
fi

echo "building…" >&2
(cd "$ROOT" && cargo build --release -q --bin chaudit --example generate)
CHAUDIT=$ROOT/target/release/chaudit
GENERATE=$ROOT/target/release/examples/generate
CHAUDIT_PGO=""
if [ "${PGO:-0}" = 1 ]; then
    CHAUDIT_PGO=$(bash "$ROOT/scripts/build-pgo.sh")
fi

# Files are named after the generator's source too: a changed generator means new data.
GEN=$(sha1sum "$ROOT/examples/generate.rs" | cut -c1-8)
FILE=$BENCH_DIR/query_log-$SIZE-c$CLIENTS-d$DAYS-s$SEED-g$GEN.tsv
if [ ! -s "$FILE" ]; then
    echo "generating $FILE…" >&2
    "$GENERATE" --kind query_log --format tsv --size "$SIZE" --clients "$CLIENTS" \
        --days "$DAYS" --seed "$SEED" --incident --out "$FILE.part"
    mv "$FILE.part" "$FILE"
fi

ACCESS=$BENCH_DIR/access_log-$SIZE-c$CLIENTS-d$DAYS-s$SEED-g$GEN.log
if [ ! -s "$ACCESS" ]; then
    echo "generating $ACCESS…" >&2
    "$GENERATE" --kind access_log --size "$SIZE" --clients "$CLIENTS" \
        --days "$DAYS" --seed "$SEED" --incident --out "$ACCESS.part"
    mv "$ACCESS.part" "$ACCESS"
fi

BYTES=$(stat -L -c %s "$FILE")
LINES=$(wc -l < "$FILE")
cat "$FILE" > /dev/null # warm the page cache: every tool reads from memory

# run NAME CMD…: best elapsed of $REPEAT runs, and the peak RSS of that run (also kept in
# BEST[NAME] and RSS[NAME] for the targets below).
declare -A BEST RSS
run() {
    local name=$1 best="" rss="" out
    shift
    out=$(mktemp)
    for _ in $(seq "$REPEAT"); do
        /usr/bin/time -f "%e %M" -o "$out" "$@" > /dev/null 2>&1 || true
        read -r secs kb < <(tail -n 1 "$out")
        if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN{exit !(a<b)}'; then
            best=$secs rss=$kb
        fi
    done
    rm -f "$out"
    BEST[$name]=$best RSS[$name]=$rss
    awk -v n="$name" -v s="$best" -v kb="$rss" -v bytes="$BYTES" -v lines="$LINES" 'BEGIN {
        if (s <= 0) s = 0.005
        printf "| %-38s | %8.2f | %9.0f | %12.0f | %9.1f |\n", n, s, bytes / 1e6 / s, lines / s, kb / 1024
    }'
}

echo
echo "input: $FILE ($(awk -v b="$BYTES" 'BEGIN{printf "%.0f MB", b/1e6}'), $LINES lines)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "best of $REPEAT runs each, page cache warm"
echo
echo "| tool                                   |        s |      MB/s |      lines/s |  peak MiB |"
echo "|----------------------------------------|---------:|----------:|-------------:|----------:|"
run "cat > /dev/null" cat "$FILE"
run "wc -l" wc -l "$FILE"
run "chaudit scan (1 thread)" "$CHAUDIT" scan --threads 1 "$FILE"
run "chaudit scan (all cores)" "$CHAUDIT" scan "$FILE"
if [ -n "$CHAUDIT_PGO" ]; then
    run "chaudit scan, PGO build (1 thread)" "$CHAUDIT_PGO" scan --threads 1 "$FILE"
fi
run "clickhouse-local 26.9 (chdb, default)" "$VENV/bin/python" "$ROOT/benches/clickhouse_local.py" "$FILE"
run "clickhouse-local 26.9 (max_threads=1)" "$VENV/bin/python" "$ROOT/benches/clickhouse_local.py" "$FILE" 1
run "(python + import chdb, no query)" "$VENV/bin/python" -c "import chdb"
# Each tool's start-up: the same query on the file's first 1,000 rows. chdb's first query
# starts the engine, which costs far more than the import.
HEAD_FILE=$(mktemp --suffix=.tsv)
trap 'rm -f "$HEAD_FILE"' EXIT
head -n 1001 "$FILE" > "$HEAD_FILE"
FULL_BYTES=$BYTES FULL_LINES=$LINES
BYTES=$(stat -c %s "$HEAD_FILE") LINES=1001 # the two rows' rates are of the slice
run "chaudit, first 1,000 rows (1 thread)" "$CHAUDIT" scan --threads 1 "$HEAD_FILE"
run "clickhouse-local, first 1,000 rows" "$VENV/bin/python" "$ROOT/benches/clickhouse_local.py" "$HEAD_FILE" 1
BYTES=$FULL_BYTES LINES=$FULL_LINES
QLOG_LINES=$LINES
# All cores must say exactly what one thread says.
if cmp -s <("$CHAUDIT" scan --threads 1 --format json "$FILE") <("$CHAUDIT" scan --format json "$FILE"); then
    SAME="identical"
else
    SAME="DIFFERENT"
fi

QLOG_ONE=${BEST["chaudit scan (1 thread)"]} QLOG_ALL=${BEST["chaudit scan (all cores)"]}
QLOG_RSS_ONE=${RSS["chaudit scan (1 thread)"]} QLOG_RSS_ALL=${RSS["chaudit scan (all cores)"]}
QLOG_WC=${BEST["wc -l"]}
QLOG_PGO=${BEST["chaudit scan, PGO build (1 thread)"]:-}

echo
echo "nginx access log in front of :8123: $ACCESS"
BYTES=$(stat -L -c %s "$ACCESS")
LINES=$(wc -l < "$ACCESS")
cat "$ACCESS" > /dev/null
echo "($(awk -v b="$BYTES" 'BEGIN{printf "%.0f MB", b/1e6}'), $LINES lines)"
echo
echo "| tool                                   |        s |      MB/s |      lines/s |  peak MiB |"
echo "|----------------------------------------|---------:|----------:|-------------:|----------:|"
run "wc -l" wc -l "$ACCESS"
run "chaudit scan (1 thread)" "$CHAUDIT" scan --threads 1 "$ACCESS"
if [ -n "$CHAUDIT_PGO" ]; then
    run "chaudit scan, PGO build (1 thread)" "$CHAUDIT_PGO" scan --threads 1 "$ACCESS"
    PGO_ACC=${BEST["chaudit scan, PGO build (1 thread)"]}
fi

# The targets of issue 6, from the figures above. clickhouse-local's time includes starting
# python and importing chdb (the "no query" row) and starting the engine (the "first 1,000
# rows" row): the ratio is printed end to end (the issue's measure), without python's
# start-up (the verdict's), and per byte past each tool's start-up (what a bigger file gets).
echo
echo "targets:"
awk -v qone="$QLOG_ONE" -v qall="$QLOG_ALL" -v qrss1="$QLOG_RSS_ONE" -v qrssall="$QLOG_RSS_ALL" \
    -v ch1="${BEST["clickhouse-local 26.9 (chdb, default)"]}" -v ch2="${BEST["clickhouse-local 26.9 (max_threads=1)"]}" \
    -v py="${BEST["(python + import chdb, no query)"]}" -v qwc="$QLOG_WC" -v same="$SAME" -v cores="$(nproc)" \
    -v chhead="${BEST["clickhouse-local, first 1,000 rows"]}" -v qhead="${BEST["chaudit, first 1,000 rows (1 thread)"]}" \
    -v acc="${BEST["chaudit scan (1 thread)"]}" -v acclines="$LINES" -v accrss="${RSS["chaudit scan (1 thread)"]}" \
    -v qpgo="$QLOG_PGO" -v accpgo="${PGO_ACC:-}" '
    function verdict(ok) { return ok ? "met" : "NOT met" }
    BEGIN {
        ch = ch1 < ch2 ? ch1 : ch2
        printf "  query_log, 1 thread vs clickhouse-local: %.2fx (%.2fx without its python start-up); target >= 3x: %s\n", ch / qone, (ch - py) / qone, verdict((ch - py) / qone >= 3)
        marginal = (qone - qhead) > 0 ? (ch - chhead) / (qone - qhead) : 0
        printf "  query_log, per byte past each tool'"'"'s start-up (%.2f s clickhouse-local, %.2f s chaudit): %.2fx; >= 3x: %s\n", chhead, qhead, marginal, verdict(marginal >= 3)
        printf "  query_log, 1 thread vs wc -l: %.2fx; target >= 0.5x: %s\n", qwc / qone, verdict(qwc / qone >= 0.5)
        printf "  access log, 1 thread: %.2f M lines/s; target >= 3 M: %s\n", acclines / acc / 1e6, verdict(acclines / acc >= 3e6)
        if (qpgo != "") {
            printf "  PGO build, 1 thread: query_log %.2fx clickhouse-local without its python start-up, %.2fx wc -l; access log %.2f M lines/s\n", (ch - py) / qpgo, qwc / qpgo, acclines / accpgo / 1e6
        }
        printf "  query_log, all %d cores: %.2fx one thread, report %s to one thread\n", cores, qone / qall, same
        printf "  peak RSS: query_log %.1f MiB (1 thread), %.1f MiB (all cores), access log %.1f MiB; target < 100 MiB on 5 GB (SIZE=5G CLIENTS=10000)\n", qrss1 / 1024, qrssall / 1024, accrss / 1024
    }'
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
