# Sourced by scripts that scan the bundled fixtures with a chaudit binary.

# The bundled log fixtures, the files a scan reads (not notes, column lists or generator
# scripts), one path per line, sorted. Run from the repository's root.
log_fixtures() {
    find fixtures -type f \( -name '*.tsv' -o -name '*.csv' -o -name '*.jsonl' -o -name '*.log' -o -name '*.txt' \) | sort
}

# chaudit_ok BIN ARGS…: runs `BIN ARGS…`, its output on stdout; fails, saying so, unless it
# exits 0 (nothing found) or 1 (findings).
chaudit_ok() {
    local rc=0
    "$@" || rc=$?
    [ "$rc" -le 1 ] || { echo "exit $rc: $*" >&2; return 1; }
}
