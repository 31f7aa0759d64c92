#!/usr/bin/env bash
# Byte-identical output check for access-log performance work.
#   scripts/access-golden.sh save  DIR   # record `chaudit scan --threads 1 -f json` outputs
#   scripts/access-golden.sh check DIR   # compare against them; non-zero exit on any diff
# Cases: every access-log fixture alone, every rules directory as a whole (joins with the
# server log and query_log), and the generated files listed in $EXTRA (default /tmp/acc50.log).
set -uo pipefail
MODE=${1:?save|check}
DIR=${2:?output dir}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/chaudit}
EXTRA=${EXTRA:-/tmp/acc50.log}
mkdir -p "$DIR"
cases=()
for f in "$ROOT"/fixtures/access_log/*/* "$ROOT"/fixtures/rules/*/*access.log; do cases+=("$f"); done
for d in "$ROOT"/fixtures/rules/*/; do
    ls "$d" | grep -q access && cases+=("$d")
done
for f in $EXTRA; do [ -s "$f" ] && cases+=("$f"); done
fail=0
for c in "${cases[@]}"; do
    name=$(echo "${c#"$ROOT"/}" | tr '/' '_')
    for fmt in json text; do
        out=$DIR/$name.$fmt
        "$BIN" scan --threads 1 -f "$fmt" "$c" >"$out.new" 2>"$out.err.new"
        echo "exit $?" >>"$out.err.new"
        if [ "$MODE" = save ]; then
            mv "$out.new" "$out"; mv "$out.err.new" "$out.err"
        elif cmp -s "$out.new" "$out" && cmp -s "$out.err.new" "$out.err"; then
            rm -f "$out.new" "$out.err.new"
        else
            echo "DIFF: $c ($fmt)"; fail=1
        fi
    done
done
[ "$MODE" = check ] && { [ $fail = 0 ] && echo "all ${#cases[@]} cases identical" || echo FAILED; }
exit $fail
