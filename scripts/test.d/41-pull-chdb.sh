#!/usr/bin/env bash
# The SQL of `chaudit sql` (plain and --pushdown) runs on a modern engine (chdb-core 26.9,
# in-process), and scanning its plain rows and its candidate rows gives the same findings.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked --quiet
/tmp/chaudit-venv26/bin/python scripts/pull/chdb_check.py "$PWD/target/debug/chaudit"
