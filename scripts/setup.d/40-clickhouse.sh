#!/usr/bin/env bash
# ClickHouse for the pull tests: Debian clickhouse-server/-client (18.16) and curl; python3
# with chdb-core 26.9 in a venv under /tmp for checking the generated SQL on a modern engine.
set -euo pipefail
need=()
command -v clickhouse-server >/dev/null || need+=(clickhouse-server)
command -v clickhouse-client >/dev/null || need+=(clickhouse-client)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
VENV=/tmp/chaudit-venv26
if ! "$VENV/bin/python" -c "import chdb" 2>/dev/null; then
  python3 -m venv "$VENV" || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv && python3 -m venv "$VENV"; }
  "$VENV/bin/python" -m pip install -q "chdb-core==26.9.0"
fi
