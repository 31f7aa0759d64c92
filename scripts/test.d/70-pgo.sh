#!/usr/bin/env bash
# The profile-guided build (scripts/build-pgo.sh) builds, trains and says exactly what the
# plain build says: the JSON report of every fixture file, of all fixtures together and of
# each generated training log, compared byte for byte with the debug build's.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/common.sh
export PGO_DIR=$PWD/target/pgo
PGO=$(TRAIN_SIZE=4M bash scripts/build-pgo.sh)
cargo build --locked --quiet --bin chaudit
PLAIN=target/debug/chaudit

report() { chaudit_ok "$@" > "$OUT"; }
OUT=$(mktemp)
trap 'rm -f "$OUT" "$OUT.plain"' EXIT
mapfile -t FIXTURES < <(log_fixtures)
compared=0
same() { # same ARGS…: the two builds' JSON reports of ARGS are identical
    report "$PLAIN" scan --threads 1 --format json "$@"
    mv "$OUT" "$OUT.plain"
    report "$PGO" scan --threads 1 --format json "$@"
    if ! cmp -s "$OUT.plain" "$OUT"; then
        echo "PGO build reports differently on: $*" >&2
        diff "$OUT.plain" "$OUT" | head -20 >&2
        exit 1
    fi
    compared=$((compared + 1))
}
for f in "${FIXTURES[@]}" "$PGO_DIR"/train/*; do
    same "$f"
done
same "${FIXTURES[@]}"
[ "$compared" -ge 90 ] || { echo "only $compared inputs compared" >&2; exit 1; }
echo "PGO build: $compared reports identical to the plain build's"
