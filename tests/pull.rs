//! `chaudit sql` and `chaudit pull`: the printed SQL, argument checks and connection errors
//! without a server, and incremental cron pulls against a real ClickHouse 18.16 that the test
//! starts on 127.0.0.1 itself (the throw-away config of scripts/pull/ch18.sh). More tests
//! against a real server live in scripts/test.d/40-pull.sh.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout // the real-server test reports its figures
)] // test code

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;

fn chaudit(args: &[&str]) -> (String, String, i32) {
    let out = Command::cargo_bin("chaudit")
        .unwrap()
        .args(args)
        .env_remove("CHAUDIT_PASSWORD")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap(),
    )
}

// ---- chaudit sql: assumes a current server without --url

#[test]
fn ok_sql_plain_selects_only_parser_columns() {
    let (out, _, code) = chaudit(&["sql", "--since", "1h"]);
    assert_eq!(code, 0);
    assert!(out.contains("FROM system.query_log WHERE event_date >= toDate(now() - 3600) - 1"));
    assert!(out.contains("FORMAT TSVWithNames;"));
    assert!(out.contains("used_table_functions"));
    assert!(!out.contains("ProfileEvents"), "{out}");
    assert!(out.contains("FROM system.session_log"));
}

#[test]
fn ok_sql_pushdown_cluster_uses_modern_functions() {
    let (out, _, code) = chaudit(&[
        "sql",
        "--pushdown",
        "--cluster",
        "prod",
        "--internal",
        "203.0.113.0/24",
        "--passwordless",
        "guest",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("clusterAllReplicas('prod', system.query_log)"));
    assert!(out.contains("isIPAddressInRange(toString(address), '::ffff:203.0.113.0/120')"));
    assert!(out.contains("user IN ('guest')"));
    assert!(out.contains("GLOBAL IN"));
    assert!(out.contains("-- 1. per (user, address, window) totals"));
}

#[test]
fn err_bad_arguments_exit_2() {
    let (_, err, code) = chaudit(&["sql", "--since", "yesterday"]);
    assert_eq!(code, 2);
    assert!(err.contains("bad time `yesterday`"), "{err}");
    let (_, err, code) = chaudit(&["sql", "--internal", "10.0.0.0/33"]);
    assert_eq!(code, 2, "{err}");
    let (_, err, code) = chaudit(&["pull", "--url", "ftp://h:21"]);
    assert_eq!(code, 2);
    assert!(err.contains("must start with http:// or https://"), "{err}");
    let (_, err, code) = chaudit(&["pull", "--url", "http://u:secret@127.0.0.1:1"]);
    assert_eq!(code, 2);
    assert!(err.contains("must not carry credentials") && !err.contains("secret"));
}

#[test]
fn err_missing_password_file() {
    let (_, err, code) = chaudit(&[
        "pull",
        "--url",
        "http://127.0.0.1:1",
        "--password-file",
        "/nonexistent/pw",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read password file"), "{err}");
}

#[test]
fn ok_sql_incremental_reads_end_rows_in_half_open_ranges() {
    let (out, _, code) = chaudit(&[
        "sql",
        "--incremental",
        "--since",
        "2025-01-29T10:00:00Z",
        "--until",
        "2025-01-29T11:00:00Z",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("-- chaudit incremental pull"), "{out}");
    assert!(out.contains("event_time_microseconds >= toDateTime64('2025-01-29 10:00:00.000000', 6, 'UTC') AND event_time_microseconds < toDateTime64('2025-01-29 11:00:00.000000', 6, 'UTC') AND type != 'QueryStart'"), "{out}");
    let (_, err, code) = chaudit(&["sql", "--incremental", "--pushdown"]);
    assert_eq!(code, 2, "{err}");
    let (_, err, code) = chaudit(&[
        "pull",
        "--url",
        "http://127.0.0.1:1",
        "--baseline",
        "s.json",
        "--pushdown",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
}

// ---- against a real server (see `Server`)

const AUDITOR_PW: &str = "auditor-Pw-9f3k";

/// One statement over HTTP as `user`, from `iface` (a loopback address), via curl.
fn ch(http: &str, user: &str, pw: &str, iface: &str, sql: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail-with-body", "--interface", iface])
        .args(["-H", &format!("X-ClickHouse-User: {user}")])
        .args(["-H", &format!("X-ClickHouse-Key: {pw}")])
        .args(["--data-binary", sql])
        .arg(format!("http://127.0.0.1:{http}/"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{sql}: {text}");
    text
}

fn audit(http: &str, sql: &str) -> String {
    ch(http, "auditor", AUDITOR_PW, "127.0.0.1", sql)
        .trim()
        .to_owned()
}

/// `SYSTEM FLUSH LOGS`, then the server's clock as `YYYY-MM-DD hh:mm:ss` (the server is UTC).
fn flush_and_now(http: &str) -> String {
    audit(http, "SYSTEM FLUSH LOGS");
    audit(http, "SELECT toString(now())")
}

/// `chaudit pull … -f json` against the server; (report, stderr).
fn pull(http: &str, state: &Path, extra: &[&str]) -> (serde_json::Value, String) {
    let out = Command::cargo_bin("chaudit")
        .unwrap()
        .args(["pull", "--url", &format!("http://127.0.0.1:{http}")])
        .args(["-u", "auditor", "-f", "json", "--external", "127.0.0.0/29"])
        .arg("--baseline")
        .arg(state)
        .arg("--update-baseline")
        .args(extra)
        .env("CHAUDIT_PASSWORD", AUDITOR_PW)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "pull {extra:?}: {err}"
    );
    assert!(!err.contains(AUDITOR_PW));
    (serde_json::from_slice(&out.stdout).unwrap(), err)
}

/// Rows that end an execution in `[since, until)`, counted by the server itself.
fn ended(http: &str, since: &str, until: &str) -> u64 {
    audit(
        http,
        &format!(
            "SELECT count() FROM system.query_log WHERE type != 1 \
             AND event_time >= toDateTime('{since}') AND event_time < toDateTime('{until}')"
        ),
    )
    .parse()
    .unwrap()
}

/// A finding without its baseline statistics and wording (the incremental run judges against
/// a history that already holds the previous pull), and with its evidence as a set of
/// excerpts (a line is a position in one pull's answer, and rows of one second come in any
/// order).
fn comparable(f: &serde_json::Value) -> String {
    let mut f = f.clone();
    let o = f.as_object_mut().unwrap();
    o.remove("summary");
    let mut excerpts: Vec<String> = o["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["excerpt"].to_string())
        .collect();
    excerpts.sort();
    o.insert("evidence".into(), excerpts.into());
    if let Some(m) = o.get_mut("metrics").and_then(|m| m.as_object_mut()) {
        for k in [
            "baseline_n",
            "p50",
            "p99",
            "mad",
            "score_x100",
            "z_x100",
            "q_x100",
            // What the baseline knew: the second pull's includes the first pull's clients.
            "known_clients",
            "new_user",
            "new_address",
        ] {
            m.remove(k);
        }
    }
    f.to_string()
}

fn of_user(report: &serde_json::Value, user: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["user"] == user)
        .map(comparable)
        .collect()
}

/// `(rule, user, client) → summed count` of the rules that judge rows alone: what a window
/// split across two pulls must add up to. (first-seen-* and volume-anomaly judge against the
/// baseline, which learns in between: a client new in the first pull is known in the second.)
fn counts(reports: &[&serde_json::Value]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in reports {
        for f in r["findings"].as_array().unwrap() {
            let rule = f["rule"].as_str().unwrap();
            if rule.starts_with("first-seen") || rule == "volume-anomaly" {
                continue;
            }
            let k = format!("{} {} {}", f["rule"], f["user"], f["client_ip"]);
            *out.entry(k).or_default() += f["count"].as_u64().unwrap();
        }
    }
    out
}

/// An hourly cron pull against a real 18.16: a first pull sets the mark, traffic, a second
/// pull, more traffic, a third; the third reads only what is new, and the two incremental
/// pulls add up to one pull over both ranges — with rows sharing the boundary second.
#[test]
fn ok_incremental_pulls_against_a_real_server() {
    let server = Server::start();
    let http = server.http.clone();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let etl = |sql: &str| ch(&http, "etl", "etl-L0ader-pw", "127.0.0.1", sql);
    etl("CREATE TABLE IF NOT EXISTS default.cron_orders (id UInt64, note String) ENGINE = MergeTree() ORDER BY id");
    etl("INSERT INTO default.cron_orders SELECT number, concat('order-', toString(number)) FROM numbers(20000)");

    // The first pull learns everything before T0 and sets the mark; b starts from the same.
    audit(&http, "SYSTEM FLUSH LOGS");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let t0 = flush_and_now(&http);
    let (p0, err) = pull(&http, &a, &["--until", &t0]);
    assert!(
        err.contains(&format!("read up to {}", t0.replace(' ', "T"))),
        "{err}"
    );
    std::fs::copy(&a, &b).unwrap();
    assert!(
        p0["summary"]["events"].as_u64().unwrap() >= 2,
        "{}",
        p0["summary"]
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&a).unwrap()).unwrap();
    let mark = &state["pulls"][&format!("http://127.0.0.1:{http}")];
    assert!(mark["until_us"].as_i64().unwrap() > 0, "{state:#}");
    assert_eq!(
        mark["events"],
        p0["summary"]["events"].as_u64().unwrap() + p0["summary"]["logins"].as_u64().unwrap()
    );

    // Batch 1: the passwordless `default` from 127.0.0.2, then a burst whose last second is
    // the boundary T1: rows of that second belong to the next pull.
    ch(&http, "default", "", "127.0.0.2", "SHOW TABLES");
    ch(
        &http,
        "default",
        "",
        "127.0.0.2",
        "SELECT * FROM default.cron_orders",
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for i in 0..40 {
        ch(
            &http,
            "alice",
            "alice-Str0ng-pw",
            "127.0.0.1",
            &format!("SELECT {i} AS burst_one"),
        );
    }
    audit(&http, "SYSTEM FLUSH LOGS");
    let t1 = audit(
        &http,
        "SELECT toString(max(event_time)) FROM system.query_log WHERE query LIKE '%burst_one%' AND type = 2",
    );
    let at_t1: u64 = audit(
        &http,
        &format!("SELECT count() FROM system.query_log WHERE type != 1 AND event_time = toDateTime('{t1}')"),
    )
    .parse()
    .unwrap();
    assert!(at_t1 > 0, "rows share the boundary second {t1}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (r1, _) = pull(&http, &a, &["--until", &t1]);

    // Batch 2: `default` from a new address, 127.0.0.3.
    ch(&http, "default", "", "127.0.0.3", "SHOW DATABASES");
    ch(
        &http,
        "default",
        "",
        "127.0.0.3",
        "SELECT * FROM default.cron_orders WHERE id > 10",
    );
    for i in 0..10 {
        ch(
            &http,
            "alice",
            "alice-Str0ng-pw",
            "127.0.0.1",
            &format!("SELECT {i} AS burst_two"),
        );
    }
    audit(&http, "SYSTEM FLUSH LOGS");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let t2 = flush_and_now(&http);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (r2, _) = pull(&http, &a, &["--until", &t2]);
    let (whole, _) = pull(&http, &b, &["--until", &t2]);

    // No row twice, none missed: each pull read exactly the end rows of its range.
    let (n1, n2) = (ended(&http, &t0, &t1), ended(&http, &t1, &t2));
    let events = |r: &serde_json::Value| r["summary"]["events"].as_u64().unwrap();
    assert_eq!(events(&r1), n1, "first incremental pull: [{t0}, {t1})");
    assert_eq!(events(&r2), n2, "second incremental pull: [{t1}, {t2})");
    assert_eq!(events(&whole), n1 + n2);
    assert!(n2 >= 12 + at_t1, "{n2}");

    // The second pull sees only batch 2's attacker; the first only batch 1's.
    let clients = |r: &serde_json::Value| -> Vec<String> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["user"] == "default")
            .map(|f| f["client_ip"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert!(clients(&r1).iter().all(|c| c == "127.0.0.2") && !clients(&r1).is_empty());
    assert!(clients(&r2).iter().all(|c| c == "127.0.0.3") && !clients(&r2).is_empty());
    assert!(of_user(&r2, "default")
        .iter()
        .any(|f| f.contains("first-seen-client")));

    // The attacker's findings are those of one pull over both ranges; for every other
    // principal (the pulls' own probes fall in both ranges and are grouped per hour), the
    // counts of the two pulls add up to the one.
    let mut split: Vec<String> = of_user(&r1, "default")
        .into_iter()
        .chain(of_user(&r2, "default"))
        .collect();
    let mut one = of_user(&whole, "default");
    split.sort();
    one.sort();
    assert_eq!(split, one);
    assert_eq!(counts(&[&r1, &r2]), counts(&[&whole]));

    // The states agree: same clients, buckets, pending hour, mark and events read.
    let state = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let (sa, sb) = (state(&a), state(&b));
    for k in ["clients", "newest_bucket", "pulls", "evicted", "hour_zone"] {
        assert_eq!(sa[k], sb[k], "{k}");
    }
    // Pending hours alike but for which of equally heavy queries they quote (rows of one
    // second arrive in any order).
    let pending = |s: &serde_json::Value| {
        let mut p = s["pending"].clone();
        for b in p.as_array_mut().unwrap() {
            b.as_object_mut().unwrap().remove("evidence");
        }
        p
    };
    assert_eq!(pending(&sa), pending(&sb));
    println!(
        "incremental pulls: [{t0}, {t1}) {n1} rows, [{t1}, {t2}) {n2} rows ({at_t1} in the boundary second), one pull {}; {} findings",
        events(&whole),
        whole["findings"].as_array().unwrap().len()
    );
}

/// A throw-away ClickHouse 18.16 on 127.0.0.1 (config from scripts/pull/ch18.sh), killed on drop.
struct Server {
    child: std::process::Child,
    http: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (http, tcp) = (port().to_string(), port().to_string());
        let dir = tempfile::tempdir().unwrap();
        let root = env!("CARGO_MANIFEST_DIR");
        let ok = std::process::Command::new("bash")
            .args([
                "-c",
                "source scripts/pull/ch18.sh && ch18_write_config \"$1\"",
                "-",
            ])
            .arg(dir.path())
            .current_dir(root)
            .env("CH_HTTP", &http)
            .env("CH_TCP", &tcp)
            .status()
            .unwrap();
        assert!(ok.success(), "writing the server config");
        let child = std::process::Command::new("clickhouse-server")
            .arg(format!(
                "--config-file={}",
                dir.path().join("config.xml").display()
            ))
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("clickhouse-server (Debian package; scripts/setup.d/40-clickhouse.sh)");
        let server = Self {
            child,
            http,
            _dir: dir,
        };
        for _ in 0..300 {
            let up = std::process::Command::new("curl")
                .args(["-sf", &format!("http://127.0.0.1:{}/ping", server.http)])
                .output()
                .is_ok_and(|o| o.status.success());
            if up {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!("clickhouse-server did not start");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
