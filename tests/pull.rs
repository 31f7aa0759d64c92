//! `chaudit sql` and `chaudit pull` without a server: the printed SQL, argument checks and
//! connection errors. The tests against a real ClickHouse live in scripts/test.d/40-pull.sh.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

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
