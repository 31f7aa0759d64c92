#!/usr/bin/env python3
"""chdb_check.py CHAUDIT: run the SQL of `chaudit sql` on a modern engine.

Runs inside the chdb-core venv (ClickHouse 26.9 in-process, no network listener, so no
HTTP pull): writes a query_log with an incident (passwordless `default` does SHOW TABLES, a
bulk SELECT, a file() read), then for two network configurations
  * runs `chaudit sql` (plain) and `chaudit sql --pushdown` as printed, on the engine,
  * scans the plain rows and the candidate rows with `chaudit scan`,
  * checks both give the same findings (evidence lines aside) and that the aggregates parse.
Exit 0 on success; prints one line per check.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

CHAUDIT = sys.argv[1]
WORK = tempfile.mkdtemp(prefix="chaudit-chdb-")


def config():
    cfg = f"""<clickhouse>
  <logger><level>warning</level><log>{WORK}/server.log</log><console>0</console></logger>
  <timezone>UTC</timezone>
  <query_log><database>system</database><table>query_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds></query_log>
  <session_log><database>system</database><table>session_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds></session_log>
  <user_files_path>{WORK}/user_files/</user_files_path>
</clickhouse>"""
    os.makedirs(f"{WORK}/user_files", exist_ok=True)
    with open(f"{WORK}/user_files/secrets.env", "w") as f:
        f.write("DB_PASSWORD=FAKE\n")
    with open(f"{WORK}/config.xml", "w") as f:
        f.write(cfg)


def statements(args):
    out = subprocess.run([CHAUDIT, "sql", *args], check=True, capture_output=True, text=True).stdout
    stmts = []
    for chunk in out.split(";\n"):
        lines = [l for l in chunk.splitlines() if l.strip() and not l.startswith("--")]
        if lines:
            stmts.append("\n".join(lines))
    return stmts


def scan(path, args):
    r = subprocess.run([CHAUDIT, "scan", "-f", "json", *args, path], capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise SystemExit(f"scan {path} failed: {r.stderr}")
    a = json.loads(r.stdout)
    return [{k: v for k, v in f.items() if k != "evidence"} for f in a["findings"]], a


def main():
    import chdb
    config()
    conn = chdb.connect(f"{WORK}/data?config-file={WORK}/config.xml")
    cur = conn.cursor()
    for q in [
        "CREATE TABLE default.log_stream (ts DateTime, span String) ENGINE = MergeTree ORDER BY ts",
        "INSERT INTO default.log_stream SELECT toDateTime('2025-01-29 00:00:00') + number, concat(toString(number), repeat('x', 20)) FROM numbers(100000)",
        "SHOW TABLES",
        "SELECT * FROM default.log_stream",
        f"SELECT * FROM file('{WORK}/user_files/secrets.env', 'TSV', 'line String')",
        "SELECT count() FROM numbers(10)",
    ]:
        cur.execute(q)
        cur.fetchall()
    time.sleep(1)
    cur.execute("SYSTEM FLUSH LOGS")

    def text(sql):
        res = conn.query(sql)
        return (res.bytes() if hasattr(res, "bytes") else bytes(res)).decode()

    # Every statement reads up to UNTIL, so the check's own queries (flushed while it runs)
    # never count: the incident's rows are all flushed, and the queries below end after it.
    until = text("SELECT toString(now()) FORMAT TabSeparated").strip()
    time.sleep(1.2)
    failures = 0
    for net in ([], ["--external", "127.0.0.1/32", "--external", "::/128"]):
        plain = statements(["--until", until, *net])
        push = statements(["--pushdown", "--until", until, *net])
        files = {}
        for name, sql in [("plain", plain[0]), ("aggregates", push[0]), ("candidates", push[1])]:
            res = conn.query(sql)
            data = res.bytes() if hasattr(res, "bytes") else bytes(res)
            path = f"{WORK}/{name}.tsv"
            with open(path, "wb") as f:
                f.write(data)
            files[name] = path
        for sql in plain[1:]:  # session_log
            conn.query(sql)
        with open(files["aggregates"]) as f:
            rows = [l.split("\t") for l in f.read().splitlines() if l]
        ok_agg = rows and all(len(r) == 13 for r in rows)
        fa, a = scan(files["plain"], net)
        fb, b = scan(files["candidates"], net)
        same = fa == fb
        label = "default networks" if not net else " ".join(net)
        print(f"chdb 26.9 [{label}]: plain {a['summary']['events']} events / candidates "
              f"{b['summary']['events']} events, {len(fa)} findings ({', '.join(sorted({f['rule'] for f in fa}))}), same={same}, "
              f"aggregates {len(rows)} rows ok={bool(ok_agg)}")
        rules = {f["rule"] for f in fa}
        if net and "external-client-read" not in rules:
            print("expected an external-client-read finding with loopback declared external")
            same = False
        if not (same and ok_agg and fa):
            failures += 1
            print(json.dumps(fa, indent=1)[:2000], json.dumps(fb, indent=1)[:2000], sep="\n---\n")
    # The incremental pull's SQL (what `pull --baseline S --update-baseline` runs): end rows
    # only, half-open whole-second ranges; two adjacent ranges add up to one, no row twice.
    lo, hi = text(
        "SELECT toString(min(event_time)) FROM system.query_log FORMAT TabSeparated"
    ).strip(), until
    mid = text(
        f"SELECT toString(toDateTime(intDiv(toUInt32(toDateTime('{lo}')) + toUInt32(toDateTime('{hi}')), 2))) "
        "FORMAT TabSeparated"
    ).strip()

    def incremental(since, until):
        stmts = statements(["--incremental", "--since", since, "--until", until])
        assert "type != 'QueryStart'" in stmts[0], stmts[0]
        path = f"{WORK}/incremental.tsv"
        with open(path, "w") as f:
            f.write(text(stmts[0]))
        _, a = scan(path, [])
        return a["summary"]["events"], a["summary"]["unfinished"]

    def ended(since, until):
        return int(text(
            f"SELECT count() FROM system.query_log WHERE type != 'QueryStart' AND "
            f"event_time >= toDateTime('{since}') AND event_time < toDateTime('{until}') FORMAT TabSeparated"
        ))

    (e1, u1), (e2, u2), (e, u) = incremental(lo, mid), incremental(mid, hi), incremental(lo, hi)
    want = (ended(lo, mid), ended(mid, hi), ended(lo, hi))
    ok_inc = (e1, e2, e) == want and e1 + e2 == e and e > 0 and u1 == u2 == u == 0
    print(f"chdb 26.9 [incremental]: [{lo}, {mid}) {e1} + [{mid}, {hi}) {e2} = {e} end rows "
          f"(server counts {want}), no QueryStart rows, ok={ok_inc}")
    if not ok_inc:
        failures += 1
    conn.close()
    shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(1 if failures else 0)


try:
    main()
finally:
    shutil.rmtree(WORK, ignore_errors=True)
