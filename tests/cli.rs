//! The `chaudit` command as a DBA or a cron job meets it: exit codes, the JSON contract,
//! report snapshots, and bad input that must neither crash nor vanish.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod common;

use assert_cmd::Command;
use serde_json::Value;

const INCIDENT: &str = "fixtures/query_log/26.9/incident.TSVWithNames.tsv";
const CLEAN: &str = "fixtures/rules/unauthenticated-read/clean.TSVWithNames.tsv";

fn chaudit() -> Command {
    let mut c = Command::cargo_bin("chaudit").unwrap();
    c.current_dir(common::root()).env_remove("NO_COLOR");
    c
}

fn json(args: &[&str]) -> (Value, i32) {
    let out = chaudit()
        .args(["scan", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (v, out.status.code().unwrap())
}

#[test]
fn ok_incident_exits_1_and_names_the_attacker() {
    let (v, code) = json(&[INCIDENT]);
    assert_eq!(code, 1);
    let top = &v["findings"][0];
    assert_eq!(top["severity"], "critical");
    assert_eq!(top["user"], "default");
    assert_eq!(top["client_ip"], "198.51.100.7");
}

#[test]
fn ok_json_contract() {
    let (v, _) = json(&[INCIDENT]);
    for key in ["events", "rejected"] {
        assert!(v["summary"][key].is_u64(), "summary.{key}");
    }
    let findings = v["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        for key in [
            "rule",
            "severity",
            "first_seen",
            "last_seen",
            "user",
            "client_ip",
            "count",
            "summary",
            "metrics",
            "evidence",
        ] {
            assert!(f.get(key).is_some(), "finding lacks {key}: {f}");
        }
        assert!(["info", "low", "medium", "high", "critical"]
            .contains(&f["severity"].as_str().unwrap()));
        for t in ["first_seen", "last_seen"] {
            let s = f[t].as_str().unwrap();
            assert!(s.ends_with('Z') && s.contains('T'), "{t} = {s}");
        }
        for e in f["evidence"].as_array().unwrap() {
            assert_eq!(e["path"], INCIDENT);
            assert!(e["line"].as_u64().unwrap() >= 2);
        }
    }
}

#[test]
fn ok_jsonl_is_one_finding_per_line() {
    let out = chaudit()
        .args(["scan", "--format", "jsonl", INCIDENT])
        .output()
        .unwrap();
    let (full, _) = json(&[INCIDENT]);
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), full["findings"].as_array().unwrap().len());
    assert_eq!(lines[0]["rule"], full["findings"][0]["rule"]);
}

#[test]
fn ok_fail_on_and_min_level() {
    assert_eq!(
        chaudit()
            .args(["scan", CLEAN])
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    // Nothing above critical exists: --fail-on critical still fails on the incident.
    assert_eq!(
        chaudit()
            .args(["scan", "--fail-on", "critical", INCIDENT])
            .output()
            .unwrap()
            .status
            .code(),
        Some(1)
    );
    let (v, _) = json(&["--min-level", "critical", INCIDENT]);
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["severity"] == "critical"));
    // The summary still counts what the filter hides.
    assert!(
        v["summary"]["findings"].as_u64().unwrap() > v["findings"].as_array().unwrap().len() as u64
    );
}

#[test]
fn ok_text_report_snapshot() {
    let out = chaudit()
        .args(["scan", "--color", "never", INCIDENT])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("incident_26_9_text", String::from_utf8(out.stdout).unwrap());
}

#[test]
fn ok_stdin_and_directories() {
    let bytes = common::fixture(INCIDENT);
    let out = chaudit()
        .args(["scan", "--format", "json", "-"])
        .write_stdin(bytes)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (file, _) = json(&[INCIDENT]);
    assert_eq!(v["summary"]["events"], file["summary"]["events"]);
    assert_eq!(
        v["findings"].as_array().unwrap().len(),
        file["findings"].as_array().unwrap().len()
    );
    let (dir, _) = json(&["fixtures/rules/unauthenticated-read"]);
    assert_eq!(dir["summary"]["sources"].as_array().unwrap().len(), 4);
}

#[test]
fn ok_networks_and_passwordless_flags_change_the_verdict() {
    // Declaring the attacker's range internal lowers the unauthenticated read from critical.
    let (v, _) = json(&["--internal", "198.51.100.0/24", INCIDENT]);
    let unauth = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "unauthenticated-read")
        .unwrap();
    assert_eq!(unauth["client_class"], "internal");
    assert_ne!(unauth["severity"], "critical");
    // …and a more specific external range inside it wins again.
    let (v, _) = json(&[
        "--internal",
        "198.51.100.0/24",
        "--external",
        "198.51.100.7/32",
        INCIDENT,
    ]);
    assert_eq!(v["findings"][0]["client_class"], "external");
    // With no passwordless users, no unauthenticated-read at all.
    let (v, _) = json(&["--passwordless", "nobody", INCIDENT]);
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["rule"] != "unauthenticated-read"));
}

#[test]
fn ok_timezone_shifts_log_times() {
    let (utc, _) = json(&[INCIDENT]);
    let (msk, _) = json(&["--timezone", "Europe/Moscow", INCIDENT]);
    let t = |v: &Value| v["summary"]["first_event"].as_str().unwrap().to_owned();
    assert_ne!(t(&utc), t(&msk));
    assert_eq!(&t(&utc)[..13], "2026-11-25T22");
    assert_eq!(&t(&msk)[..13], "2026-11-25T19");
}

#[test]
fn ok_bad_records_are_counted_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.tsv");
    let mut text = String::from_utf8(common::fixture(CLEAN)).unwrap();
    text.push_str("QueryFinish\tnot a time\n");
    std::fs::write(&path, text).unwrap();
    let out = chaudit()
        .args(["scan", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["rejected"], 1);
    assert!(v["rejected"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("fields as in the header"));
    // --strict makes the first bad record fatal, with file:line:column.
    let out = chaudit()
        .args(["scan", "--strict"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let lines = common::fixture(CLEAN)
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1;
    assert!(err.contains(&format!("broken.tsv:{lines}:")), "{err}");
}

#[test]
fn err_unusable_invocations_exit_2() {
    let out = chaudit()
        .args(["scan", "does/not/exist.tsv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("cannot open does/not/exist.tsv"));
    assert_eq!(
        chaudit()
            .args(["scan", "--internal", "10.0.0.0/33", CLEAN])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        chaudit()
            .args(["scan", "--timezone", "Mars/Base", CLEAN])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        chaudit()
            .args(["scan", "--fail-on", "severe", CLEAN])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn ok_binary_garbage_is_rejected_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.bin");
    std::fs::write(
        &path,
        (0..=255u8).cycle().take(100_000).collect::<Vec<u8>>(),
    )
    .unwrap();
    let out = chaudit()
        .args(["scan", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["events"], 0);
    assert!(v["summary"]["rejected"].as_u64().unwrap() > 0);
}

#[test]
fn ok_secrets_are_redacted_unless_asked() {
    // The 26.9 incident's s3() call carries an AWS-shaped access key in clear.
    let out = chaudit()
        .args(["scan", "--format", "json", INCIDENT])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("AKIAFAKEACCESSKEY01"));
    assert!(text.contains("[REDACTED]"));
    let out = chaudit()
        .args(["scan", "--format", "json", "--no-redact", INCIDENT])
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("AKIAFAKEACCESSKEY01"));
}

/// The summary of `scan --format json` of `bytes`, read from a file (memory-mapped) and from
/// stdin (streamed): both must agree.
fn file_and_stdin(name: &str, bytes: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let (file, _) = json(&[path.to_str().unwrap()]);
    let out = chaudit()
        .args(["scan", "--format", "json", "-"])
        .write_stdin(bytes.to_vec())
        .output()
        .unwrap();
    let stdin: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["events", "rejected", "http_requests", "logins"] {
        assert_eq!(file["summary"][key], stdin["summary"][key], "{name}: {key}");
    }
    file
}

/// A mapped text log was read as one "part" that never flushed the queries still waiting for
/// their last line: the last query of each thread was lost (found by tests/secrets.rs).
#[test]
fn ok_text_log_last_queries_are_kept_from_a_file() {
    let log = "\
2025.01.29 10:11:10.000100 [ 76 ] {q-1} <Debug> executeQuery: (from 198.51.100.7:57708) SELECT 1 (stage: Complete)
2025.01.29 10:11:11.000100 [ 77 ] {q-2} <Debug> executeQuery: (from 198.51.100.7:57709) SELECT 2 (stage: Complete)
2025.01.29 10:11:11.000200 [ 77 ] {q-2} <Debug> executeQuery: Read 1 rows, 1.00 B in 0.001 sec., 1000 rows/sec., 1.00 KiB/sec.
";
    let v = file_and_stdin("clickhouse-server.log", log.as_bytes());
    assert_eq!(v["summary"]["events"], 2);
}

/// A truncated .gz read from a file must say so, as it does from stdin.
#[test]
fn err_truncated_gzip_file_is_reported() {
    use std::io::Write as _;
    let plain = std::fs::read(common::root().join(INCIDENT)).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&plain).unwrap();
    let gz = enc.finish().unwrap();
    let v = file_and_stdin("cut.tsv.gz", &gz[..gz.len() - 100]);
    assert!(
        v["summary"]["rejected"].as_u64().unwrap() >= 1,
        "{}",
        v["summary"]
    );
    assert!(
        v["rejected"].to_string().contains("compressed input"),
        "{}",
        v["rejected"]
    );
}

/// `-o /dev/null` writes into the device: the atomic temp-file-and-rename used for regular
/// files would replace /dev/null itself with a regular file (as root, for every process).
#[cfg(unix)]
#[test]
fn ok_output_to_dev_null_leaves_the_device_alone() {
    use std::os::unix::fs::FileTypeExt;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chaudit"))
        .args(["scan", "-f", "json", "-o", "/dev/null", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kind = std::fs::metadata("/dev/null").unwrap().file_type();
    assert!(
        kind.is_char_device(),
        "/dev/null is no longer a device: {kind:?}"
    );
}
