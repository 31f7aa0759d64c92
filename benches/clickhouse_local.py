"""The clickhouse-local side of benches/run.sh: the ClickHouse 26.9 engine (PyPI chdb-core)
aggregating the same TSVWithNames export chaudit scans: per (user, address), count() and
sum(result_bytes). Prints the number of groups so the work cannot be skipped."""
import sys

import chdb

path, threads = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
settings = f" SETTINGS max_threads = {threads}" if threads else ""
query = (
    f"SELECT user, address, count() AS queries, sum(result_bytes) AS result_bytes "
    f"FROM file('{path}', TSVWithNames) GROUP BY user, address "
    f"ORDER BY result_bytes DESC{settings}"
)
result = chdb.query(query, "TSV")
data = result.bytes() if hasattr(result, "bytes") else str(result).encode()
print(f"{len(data.splitlines())} groups")
