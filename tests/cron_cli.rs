//! The CLI in cron mode: learn, incremental scans over a growing file, rotation, a corrupt
//! or locked state, time bounds, the config file and the new report formats.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::fs;
use std::path::Path;

use assert_cmd::Command;

fn chaudit() -> Command {
    Command::cargo_bin("chaudit").unwrap()
}

fn learn(log: &Path, state: &Path) {
    chaudit()
        .args(["baseline", "learn", "-q"])
        .arg(log)
        .arg("-o")
        .arg(state)
        .assert()
        .success();
}

fn update(log: &Path, state: &Path) -> assert_cmd::assert::Assert {
    chaudit()
        .args([
            "scan",
            "-q",
            "--format",
            "json",
            "--fail-on",
            "critical",
            "--baseline",
        ])
        .arg(state)
        .arg("--update-baseline")
        .arg(log)
        .assert()
}

/// A state file without what a judging run quotes about its open bucket (the first and last
/// event and the heaviest queries, which `baseline learn` does not collect): the numbers only.
fn unquoted(state: &Path) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(state).unwrap()).unwrap();
    for p in v["pending"].as_array_mut().unwrap() {
        let p = p.as_object_mut().unwrap();
        for k in ["first_us", "last_us", "evidence"] {
            p.remove(k);
        }
    }
    v
}

#[test]
fn ok_two_incremental_runs_equal_one_full_run() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("query_log.jsonl");
    let text = common::history(3, 9) + &common::planted_day(3, 9);
    // Cut in the middle of a line: the writer is still writing it.
    let cut = text.len() * 3 / 5 + 7;
    assert_ne!(text.as_bytes()[cut - 1], b'\n');

    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    fs::write(&log, &text[..cut]).unwrap();
    learn(&log, &a);
    fs::write(&log, &text).unwrap();
    let out = update(&log, &a).get_output().stdout.clone();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        report["summary"]["rejected"], 0,
        "the cut line was not fed half"
    );

    learn(&log, &b);
    assert_eq!(unquoted(&a), unquoted(&b));

    // An unchanged file adds nothing on the next run.
    let state = dir.path().join("c.json");
    learn(&log, &state);
    let before = fs::read_to_string(&state).unwrap();
    update(&log, &state).success();
    assert_eq!(fs::read_to_string(&state).unwrap(), before);
}

#[test]
fn ok_rotation_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("q.jsonl");
    let state = dir.path().join("s.json");
    fs::write(&log, common::history(2, 1)).unwrap();
    learn(&log, &state);
    let mut day = String::new();
    common::ordinary_day(&mut day, 2, 1);
    fs::write(
        &log,
        &day[..day.len() / 2 + day[day.len() / 2..].find('\n').unwrap() + 1],
    )
    .unwrap();
    chaudit()
        .args(["scan", "--format", "json", "--baseline"])
        .arg(&state)
        .arg("--update-baseline")
        .arg(&log)
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "is shorter than when last read (truncated or rotated); reading it from the start",
        ));
    // Replaced by a longer file of later traffic: rotated too.
    let mut later = String::new();
    for d in 3..6 {
        common::ordinary_day(&mut later, d, 7);
    }
    fs::write(&log, later).unwrap();
    chaudit()
        .args(["scan", "--format", "json", "--baseline"])
        .arg(&state)
        .arg("--update-baseline")
        .arg(&log)
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "begins differently than when last read (rotated)",
        ));
}

#[test]
fn err_corrupt_or_missing_state_is_exit_2_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("q.jsonl");
    fs::write(&log, common::history(1, 1)).unwrap();
    let state = dir.path().join("s.json");
    fs::write(&state, "{\"format\":\"chaudit-baseline\",\"version\":1,").unwrap();
    chaudit()
        .args(["scan", "--baseline"])
        .arg(&state)
        .arg("--update-baseline")
        .arg(&log)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "is corrupt; refusing to start over",
        ));
    assert_eq!(
        fs::read_to_string(&state).unwrap(),
        "{\"format\":\"chaudit-baseline\",\"version\":1,"
    );
    chaudit()
        .args(["scan", "--baseline"])
        .arg(dir.path().join("missing.json"))
        .arg(&log)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot read baseline state"));
}

#[test]
fn err_concurrent_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("q.jsonl");
    fs::write(&log, common::history(1, 1)).unwrap();
    let state = dir.path().join("s.json");
    learn(&log, &state);
    let lock = fs::File::create(dir.path().join("s.json.lock")).unwrap();
    lock.try_lock().unwrap();
    update(&log, &state)
        .code(2)
        .stderr(predicates::str::contains("another chaudit run holds"));
    drop(lock);
    // Released. A child another test thread is spawning may still hold a copy of the
    // descriptor between its fork and exec (the lock belongs to the open file, not to this
    // handle), so the free lock is waited for, a bounded number of times.
    let mut refused = 0;
    while update(&log, &state).get_output().status.code() == Some(2) {
        refused += 1;
        assert!(
            refused < 50,
            "still refused 5 s after the lock was released"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    update(&log, &state).success();
}

#[test]
fn ok_day_14_end_to_end_with_reports() {
    let dir = tempfile::tempdir().unwrap();
    let hist = dir.path().join("history.jsonl");
    let today = dir.path().join("today.jsonl");
    let state = dir.path().join("s.json");
    fs::write(&hist, common::history(13, 1)).unwrap();
    fs::write(&today, common::planted_day(13, 1)).unwrap();
    learn(&hist, &state);
    let scan = |format: &str| {
        let a = chaudit()
            .args([
                "scan",
                "--config",
                "chaudit.example.toml",
                "--format",
                format,
                "--baseline",
            ])
            .arg(&state)
            .arg(&today)
            .assert()
            .code(1);
        String::from_utf8(a.get_output().stdout.clone()).unwrap()
    };
    let csv = scan("csv");
    assert!(csv.starts_with("first_seen,last_seen,severity,rule,"));
    assert!(csv.contains(",volume-anomaly,bi,10.0.0.6,"), "{csv}");
    assert!(csv.contains(",first-seen-client,default,203.0.113.9,"));
    let ts = scan("timesketch");
    for line in ts.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            v["datetime"].is_string()
                && v["timestamp_desc"].is_string()
                && v["message"].is_string()
        );
    }
    assert!(ts.contains("\"datetime\":\"2025-01-29T03:02:00Z\""));
    let html = scan("html");
    assert!(
        html.contains("<svg") && html.contains("volume-anomaly") && html.contains("Egress ledger")
    );
    assert!(
        !html.contains("<script") && !html.contains("http://")
            || html.contains("xmlns=\"http://www.w3.org/2000/svg\"")
    );
    // --until before the spike: the spike is out of range; the config's sensitive
    // pattern raises the external reader of default.log_stream.
    let a = chaudit()
        .args([
            "scan",
            "--format",
            "csv",
            "--until",
            "2025-01-29T03:00:00Z",
            "--baseline",
        ])
        .arg(&state)
        .arg(&today)
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&a.get_output().stdout)
            .lines()
            .count(),
        1
    );
    // Relative bounds count back from the clock: 2025 traffic is all before "24h ago".
    let a = chaudit()
        .args(["scan", "--format", "json", "--since", "24h"])
        .arg(&today)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(v["summary"]["events"], 0);
    assert_eq!(v["summary"]["out_of_range"], 1837);
    let text = chaudit()
        .args(["scan", "--ledger", "--color", "never"])
        .arg(&today)
        .assert()
        .code(1);
    let out = String::from_utf8_lossy(&text.get_output().stdout).into_owned();
    assert!(
        out.contains("Egress ledger") && out.contains("default@203.0.113.9"),
        "{out}"
    );
}

/// Header formats resume by replaying the header: genuine 18.16 and 26.9 exports, cut
/// mid-line, learned, grown, updated — equal to one run, nothing rejected, true line numbers.
#[test]
fn ok_incremental_on_genuine_header_exports() {
    for fixture in [
        "fixtures/query_log/18.16/incident.TSVWithNamesAndTypes.tsv",
        "fixtures/query_log/26.9/incident.CSVWithNames.csv",
    ] {
        let full = fs::read(fixture).unwrap();
        let lines: Vec<usize> = full
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .collect();
        let cut = lines[lines.len() / 2] + 20;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(Path::new(fixture).file_name().unwrap());
        let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
        fs::write(&log, &full[..cut]).unwrap();
        learn(&log, &a);
        fs::write(&log, &full).unwrap();
        let out = update(&log, &a).get_output().stdout.clone();
        let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(report["summary"]["rejected"], 0, "{fixture}");
        let text = String::from_utf8_lossy(&full);
        let findings = report["findings"].as_array().unwrap();
        assert!(
            !findings.is_empty(),
            "{fixture}: the second half has findings"
        );
        for f in findings {
            for e in f["evidence"].as_array().unwrap() {
                let line = e["line"].as_u64().unwrap() as usize;
                assert!(
                    line > lines.len() / 2,
                    "{fixture}: evidence from the first run's half"
                );
                // Compare without quoting: TSV escapes ' as \', CSV doubles ".
                let plain = |s: &str| s.replace(['\\', '\'', '"'], "");
                let excerpt = plain(e["excerpt"].as_str().unwrap_or(""));
                let prefix: String = excerpt.chars().take(30).collect();
                assert!(
                    plain(text.lines().nth(line - 1).unwrap()).contains(&prefix),
                    "{fixture}: line {line} does not hold {prefix:?}"
                );
            }
        }
        learn(&log, &b);
        assert_eq!(unquoted(&a), unquoted(&b), "{fixture}");
    }
}

/// The comparable part of a finding: everything but the baseline statistics, which an
/// incremental run computes against a history that already holds the hours its previous run
/// closed (one run over everything judges against the older history).
fn comparable(f: &serde_json::Value) -> String {
    let mut f = f.clone();
    let o = f.as_object_mut().unwrap();
    o.remove("summary");
    if let Some(m) = o.get_mut("metrics").and_then(|m| m.as_object_mut()) {
        for k in [
            "baseline_n",
            "p50",
            "p99",
            "mad",
            "score_x100",
            "z_x100",
            "q_x100",
        ] {
            m.remove(k);
        }
    }
    f.to_string()
}

fn findings(out: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(out).unwrap();
    assert_eq!(v["summary"]["rejected"], 0);
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(comparable)
        .collect()
}

/// A spike whose hour is cut in two by the moment the first run reads the file: the first
/// run must not report the open hour, the second reports it once, whole, with evidence from
/// both halves — as one run over the whole file does.
#[test]
fn ok_incremental_findings_equal_one_run_with_a_straddling_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let hist = dir.path().join("history.jsonl");
    fs::write(&hist, common::history(13, 1)).unwrap();
    let s0 = dir.path().join("s0.json");
    learn(&hist, &s0);
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    fs::copy(&s0, &a).unwrap();
    fs::copy(&s0, &b).unwrap();

    // Day 13 is 2025-01-29; the first run reads up to 03:30.
    let mut day = String::new();
    common::ordinary_day(&mut day, 13, 1);
    let (mut first, mut second) = (String::new(), String::new());
    for line in day.lines() {
        let t = &line[line.find("\"event_time\":\"").unwrap() + 14..][..19];
        let part = if t < "2025-01-29 03:30:00" {
            &mut first
        } else {
            &mut second
        };
        part.push_str(line);
        part.push('\n');
    }
    let base = common::DAY0 + 13 * 86_400;
    let q = "SELECT * FROM sales.orders";
    common::row(
        &mut first,
        base + 3 * 3600 + 600,
        "bi",
        "10.0.0.6",
        q,
        9_000_000,
        1 << 30,
    );
    let mut spike_b = String::new();
    common::row(
        &mut spike_b,
        base + 3 * 3600 + 2700,
        "bi",
        "10.0.0.6",
        q,
        9_000_000,
        1 << 30,
    );
    let second = spike_b + &second;

    let log = dir.path().join("today.jsonl");
    fs::write(&log, &first).unwrap();
    let run1 = findings(&update(&log, &a).get_output().stdout);
    assert!(
        !run1.iter().any(|f| f.contains("volume-anomaly")),
        "the open hour is not judged yet: {run1:#?}"
    );
    fs::write(&log, first.clone() + &second).unwrap();
    let run2 = findings(&update(&log, &a).get_output().stdout);
    let whole = findings(&update(&log, &b).get_output().stdout);

    let spike: Vec<&String> = whole
        .iter()
        .filter(|f| f.contains("volume-anomaly") && f.contains("\"bi\""))
        .collect();
    assert_eq!(spike.len(), 1, "{whole:#?}");
    let v: serde_json::Value = serde_json::from_str(spike[0]).unwrap();
    assert!(v["metrics"]["result_bytes"].as_u64().unwrap() > 2 << 30);
    assert_eq!(v["first_seen"], "2025-01-29T03:02:00Z");
    let lines: Vec<u64> = v["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    let cut = first.lines().count() as u64;
    assert!(
        lines.iter().any(|l| *l <= cut) && lines.iter().any(|l| *l > cut),
        "evidence from both runs' halves: {lines:?} (cut after line {cut})"
    );

    let mut split: Vec<String> = run1.into_iter().chain(run2).collect();
    let mut whole = whole;
    split.sort();
    whole.sort();
    assert_eq!(split, whole);
}

#[test]
fn err_until_with_high_water_marks_is_refused() {
    // A mark at the end of the file would hide the events after --until from every later run.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let log = dir.path().join("q.tsv");
    std::fs::write(&log, "").unwrap();
    let out = chaudit()
        .args(["baseline", "learn", "--until", "2025-01-29T03:00:00Z", "-o"])
        .arg(&state)
        .arg(&log)
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--until"));
    assert!(!state.exists(), "no state written");
    let out = chaudit()
        .args([
            "scan",
            "--update-baseline",
            "--until",
            "2025-01-29T03:00:00Z",
            "--baseline",
        ])
        .arg(&state)
        .arg(&log)
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--update-baseline"));
}
