//! Hostile input: whatever the bytes, `chaudit scan` ends with exit 0 or 1, counts and explains
//! what it rejected, never panics (exit 101), never hangs, and keeps memory bounded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

fn scan(path: &Path, extra: &[&str]) -> (Value, i32) {
    let out = Command::cargo_bin("chaudit")
        .unwrap()
        .args(["scan", "--format", "json"])
        .args(extra)
        .arg(path)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let code = out.status.code().expect("killed: a hang or a crash");
    assert!(
        code == 0 || code == 1,
        "exit {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (serde_json::from_slice(&out.stdout).unwrap(), code)
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

const HEADER: &str = "type\tevent_time\tuser\taddress\tquery\tresult_bytes\tused_table_functions\n";

#[test]
fn ok_invalid_utf8_and_nul_in_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b"QueryFinish\t2025-01-29 10:11:12\tde\xfffault\t198.51.100.7\tSELECT \xff\xfe\0 FROM t\t10\t['u\xffrl']\n");
    bytes.extend_from_slice(
        b"Query\xffFinish\t2025-01-29 10:11:12\t\0\t\0\xff\t\xc3\t\xff\t[\xff\n",
    );
    let (v, _) = scan(&write(&dir, "utf8.tsv", &bytes), &[]);
    assert_eq!(v["summary"]["events"], 1);
    assert_eq!(v["summary"]["rejected"], 1);
    assert!(v["rejected"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("type"));
    // The user name with a bad byte is shown with a replacement character, not dropped.
    assert_eq!(v["clients"][0]["user"], "de\u{fffd}fault");
}

#[test]
fn ok_crlf_and_mixed_line_endings() {
    let dir = tempfile::tempdir().unwrap();
    let row = "QueryFinish\t2025-01-29 10:11:12\tdefault\t198.51.100.7\tSHOW TABLES\t10\t[]";
    let text = format!(
        "{}\r\n{row}\r\n{row}\n{row}\r\n\r\n\n{row}",
        HEADER.trim_end()
    );
    let (v, code) = scan(&write(&dir, "crlf.tsv", text.as_bytes()), &[]);
    assert_eq!(v["summary"]["events"], 4);
    assert_eq!(v["summary"]["rejected"], 0);
    assert_eq!(code, 1);
}

#[test]
fn ok_a_100_mb_line_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let row = "QueryFinish\t2025-01-29 10:11:12\tdefault\t198.51.100.7\tSHOW TABLES\t10\t[]\n";
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(row.as_bytes());
    bytes.extend(std::iter::repeat_n(b'x', 100 << 20));
    bytes.push(b'\n');
    bytes.extend_from_slice(row.as_bytes());
    let path = write(&dir, "long.tsv", &bytes);
    let (v, _) = scan(&path, &[]);
    assert_eq!(v["summary"]["events"], 2);
    assert_eq!(v["summary"]["rejected"], 1);
    assert_eq!(v["rejected"][0]["line"], 3);
    assert!(v["rejected"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("longer than"));
    // A smaller limit from the command line applies too.
    let (v, _) = scan(&path, &["--max-line-bytes", "4096"]);
    assert_eq!(v["summary"]["rejected"], 1);
    assert_eq!(v["summary"]["events"], 2);
}

#[test]
fn ok_deep_json_and_huge_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!(
        "{{\"type\":\"QueryFinish\",\"event_time\":\"2025-01-29 10:11:12\",\"x\":{}{}}}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let mut huge = String::from("{\"type\":\"QueryFinish\",\"event_time\":\"2025-01-29 10:11:12\",\"user\":\"default\",\"address\":\"198.51.100.7\",\"query\":\"SELECT 1\",\"used_table_functions\":[");
    for i in 0..1_000_000 {
        let _ = write!(huge, "{}\"f{i}\"", if i == 0 { "" } else { "," });
    }
    huge.push_str("]}\n");
    let (v, _) = scan(
        &write(&dir, "deep.jsonl", format!("{deep}{huge}").as_bytes()),
        &[],
    );
    assert_eq!(v["summary"]["events"], 1);
    assert_eq!(v["summary"]["rejected"], 1);
    assert!(v["rejected"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("nesting"));
}

#[test]
fn ok_many_distinct_clients_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(HEADER);
    for i in 0..20_000u32 {
        let ip = std::net::Ipv4Addr::from(0xC633_0000 + i); // 198.51.0.0 + i: external
        let _ = writeln!(
            text,
            "QueryFinish\t2025-01-29 10:11:12\tdefault\t{ip}\tSHOW TABLES\t10\t[]"
        );
    }
    let (v, _) = scan(&write(&dir, "flood.tsv", text.as_bytes()), &[]);
    assert_eq!(v["summary"]["clients"], 20_000);
    let unauth = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "unauthenticated-read")
        .count();
    assert_eq!(unauth, 20_000);
    // With small caps (as the library's Config allows), the flood folds instead of growing.
    let mut analyzer = chaudit::Analyzer::new(chaudit::Config {
        max_tracked_clients: 100,
        max_findings: 50,
        ..chaudit::Config::default()
    })
    .unwrap();
    analyzer.begin_file("flood.tsv");
    analyzer.feed(text.as_bytes()).unwrap();
    let a = analyzer.finish();
    assert_eq!(a.clients.len(), 100);
    assert_eq!(a.summary.clients_untracked, 19_900);
    // The same flood twice: clients beyond the cap are still counted once each.
    let mut twice = chaudit::Analyzer::new(chaudit::Config {
        max_tracked_clients: 100,
        ..chaudit::Config::default()
    })
    .unwrap();
    twice.begin_file("flood.tsv");
    twice.feed(text.as_bytes()).unwrap();
    twice.feed(text.as_bytes()).unwrap();
    let t = twice.finish();
    assert_eq!(t.summary.clients, 20_000);
    assert_eq!(t.summary.clients_untracked, 19_900);
    // At most `max_findings` groups plus one overflow group per rule and window…
    assert!(
        a.findings.len() <= 50 + chaudit::RuleId::ALL.len(),
        "{}",
        a.findings.len()
    );
    assert!(a.summary.findings_folded > 19_000);
    // …and no read is lost: itemized plus folded reads add up to every read.
    let unauth: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.rule == chaudit::RuleId::UnauthenticatedRead)
        .collect();
    let folded = unauth.iter().find(|f| f.user == "*").unwrap();
    assert!(folded.client_ip.is_none());
    assert_eq!(unauth.iter().map(|f| f.count).sum::<u64>(), 20_000);
}

#[test]
fn ok_times_out_of_order_far_past_and_future() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(HEADER);
    for t in [
        "2299-12-31 23:59:59",
        "1970-01-01 00:00:00",
        "2025-01-29 10:11:12",
        "0001-01-01 00:00:00",
    ] {
        let _ = writeln!(
            text,
            "QueryFinish\t{t}\tdefault\t198.51.100.7\tSHOW TABLES\t10\t[]"
        );
    }
    let (v, _) = scan(&write(&dir, "times.tsv", text.as_bytes()), &[]);
    assert_eq!(v["summary"]["events"], 4);
    assert_eq!(v["summary"]["first_event"], "0001-01-01T00:00:00Z");
    assert_eq!(v["summary"]["last_event"], "2299-12-31T23:59:59Z");
}

#[test]
fn err_special_files_and_directories() {
    let out = Command::cargo_bin("chaudit")
        .unwrap()
        .args(["scan", "/dev/zero"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("chaudit")
        .unwrap()
        .args(["scan"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "an empty directory is an empty scan"
    );
}

#[test]
fn ok_a_file_that_shrinks_or_grows_while_read() {
    // logrotate's copytruncate empties a log under its reader; a writer appends to it. A
    // memory-mapped reader dies of SIGBUS on the first case: the scan must just end (exit 0
    // or 1, a valid report) in both, on one thread and on several.
    let dir = tempfile::tempdir().unwrap();
    let row = "QueryFinish\t2025-01-29 10:11:12\talice\t10.0.0.1\tSELECT 1\t10\t[]\n";
    let body = row.repeat((64 << 20) / row.len());
    for (threads, shrink) in [("1", true), ("2", true), ("2", false)] {
        let path = dir.path().join(format!("rotating-{threads}-{shrink}.tsv"));
        std::fs::write(&path, format!("{HEADER}{body}")).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_chaudit"))
            .args(["scan", "--format", "json", "--threads", threads])
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        if shrink {
            f.set_len(100).unwrap();
        } else {
            use std::io::Write as _;
            (&f).write_all(body.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let code = out.status.code().expect("killed by a signal");
        assert!(
            code == 0 || code == 1,
            "exit {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["summary"]["sources"].is_array());
    }
}
