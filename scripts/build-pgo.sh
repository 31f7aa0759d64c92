#!/usr/bin/env bash
# Profile-guided release build of the CLI: build an instrumented binary, scan generated
# training logs of every kind with it (other seeds than benches/run.sh's data) and the
# bundled fixtures, then build again with that profile. LLVM lays the hot paths out straight
# and keeps them together: on the 1 GiB access log 11–23 % less time, 11 % fewer
# instructions and 84 % fewer instruction-cache misses (docs/performance.md, "Access logs →
# Session 9"). The reports are the plain build's, byte for byte (scripts/test.d/70-pgo.sh
# checks it on every fixture).
#
#   scripts/build-pgo.sh                  # prints the binary's path: target/pgo/chaudit
#   TRAIN_SIZE=4M scripts/build-pgo.sh    # smaller training logs (CI)
#
# Needs the `llvm-tools` rustup component (installed when missing: its llvm-profdata reads
# the profiles of exactly this rustc's LLVM). Two release builds and the training take ~7 min
# here.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${PGO_DIR:-$ROOT/target/pgo}") # absolute: rustc resolves the profile paths
TRAIN_SIZE=${TRAIN_SIZE:-32M}
cd "$ROOT"
. scripts/common.sh

rustup component list --installed 2>/dev/null | grep -q '^llvm-tools' || rustup component add llvm-tools
HOST=$(rustc -vV | sed -n 's/^host: //p')
PROFDATA=$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-profdata

# --target keeps RUSTFLAGS off build scripts and proc macros: only the binary is profiled.
build() { # build TARGET_DIR RUSTFLAGS
    RUSTFLAGS=$2 cargo build --release --locked -q --bin chaudit --target "$HOST" --target-dir "$1"
}

echo "pgo: instrumented build…" >&2
rm -rf "$OUT/raw" "$OUT/train"
mkdir -p "$OUT/raw" "$OUT/train"
build "$OUT/gen" "-Cprofile-generate=$OUT/raw"
cargo build --release --locked -q --example generate
GENERATE=$ROOT/target/release/examples/generate

echo "pgo: training on $TRAIN_SIZE per kind of log…" >&2
T=$OUT/train
"$GENERATE" --kind query_log --format tsv --size "$TRAIN_SIZE" --clients 200 --days 2 --seed 11 --incident --out "$T/query_log.tsv"
"$GENERATE" --kind query_log --format csv --size "$TRAIN_SIZE" --clients 200 --days 2 --seed 12 --incident --out "$T/query_log.csv"
"$GENERATE" --kind query_log --format json --size "$TRAIN_SIZE" --clients 200 --days 2 --seed 13 --incident --out "$T/query_log.json"
"$GENERATE" --kind text_log --size "$TRAIN_SIZE" --clients 200 --days 2 --seed 14 --incident --out "$T/clickhouse-server.log"
"$GENERATE" --kind access_log --size "$TRAIN_SIZE" --clients 200 --days 2 --seed 15 --incident --out "$T/access.log"
BIN=$OUT/gen/$HOST/release/chaudit
scan() { chaudit_ok "$BIN" scan "$@" > /dev/null; }
for f in "$T"/*; do
    scan --threads 1 --format text "$f"
done
scan --format json "$T/query_log.tsv" "$T/access.log"
scan --threads 2 --format text "$T/query_log.tsv"
mapfile -t FIXTURES < <(log_fixtures)
for f in "${FIXTURES[@]}"; do
    scan --format text "$f"
done
scan --format json "${FIXTURES[@]}"

"$PROFDATA" merge -o "$OUT/chaudit.profdata" "$OUT/raw"
echo "pgo: optimised build…" >&2
build "$OUT/use" "-Cprofile-use=$OUT/chaudit.profdata"
cp "$OUT/use/$HOST/release/chaudit" "$OUT/chaudit"
echo "$OUT/chaudit"
