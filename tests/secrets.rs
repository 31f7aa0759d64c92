//! Secrets planted in logs never reach any output, in any input format, unless `--no-redact`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

use assert_cmd::Command;

const SECRETS: &[&str] = &[
    "Pw-Url-Secret-1",
    "sk-PlantedKey0123456789abcdef",
    "Pw-Where-Secret-2",
    "AKIAPLANTED12345678",
    "Pw-Param-Secret-3",
    "Pw-Ident-Secret-4",
];

fn queries() -> Vec<String> {
    vec![
        "SELECT * FROM url('http://admin:Pw-Url-Secret-1@203.0.113.9/x', 'TSV', 'a String')".into(),
        "SELECT 'sk-PlantedKey0123456789abcdef' AS k FROM log_stream".into(),
        "SELECT * FROM app.users WHERE password = 'Pw-Where-Secret-2'".into(),
        "SELECT * FROM s3('https://b.s3.amazonaws.com/k.csv', 'AKIAPLANTED12345678', 'x')".into(),
        "SELECT 'http://h:8123/?user=bob&password=Pw-Param-Secret-3' FROM log_stream".into(),
        "SELECT 1 FROM system.one WHERE 'CREATE USER u IDENTIFIED WITH plaintext_password BY ''Pw-Ident-Secret-4''' != ''".into(),
    ]
}

/// The same rows as TSVWithNames, CSVWithNames, JSONEachRow and Vertical.
fn inputs() -> Vec<(&'static str, String)> {
    let rows: Vec<(String, String)> = queries()
        .into_iter()
        .enumerate()
        .map(|(i, q)| (format!("2025-01-29 10:11:{:02}", 10 + i), q))
        .collect();
    let mut tsv = String::from("type\tevent_time\tuser\taddress\tquery\tresult_bytes\n");
    let mut csv =
        String::from("\"type\",\"event_time\",\"user\",\"address\",\"query\",\"result_bytes\"\n");
    let mut json = String::new();
    let mut vertical = String::new();
    for (i, (t, q)) in rows.iter().enumerate() {
        tsv.push_str(&format!(
            "QueryFinish\t{t}\tdefault\t::ffff:198.51.100.7\t{}\t2000000\n",
            q.replace('\\', "\\\\").replace('\'', "\\'")
        ));
        csv.push_str(&format!(
            "\"QueryFinish\",\"{t}\",\"default\",\"::ffff:198.51.100.7\",\"{}\",2000000\n",
            q.replace('"', "\"\"")
        ));
        json.push_str(&format!(
            "{{\"type\":\"QueryFinish\",\"event_time\":\"{t}\",\"user\":\"default\",\"address\":\"::ffff:198.51.100.7\",\"query\":{},\"result_bytes\":\"2000000\"}}\n",
            serde_json::to_string(q).unwrap()
        ));
        vertical.push_str(&format!(
            "Row {}:\n──────\ntype:         QueryFinish\nevent_time:   {t}\nuser:         default\naddress:      ::ffff:198.51.100.7\nquery:        {q}\nresult_bytes: 2000000\n\n",
            i + 1
        ));
    }
    vec![
        ("planted.tsv", tsv),
        ("planted.csv", csv),
        ("planted.jsonl", json),
        ("planted.txt", vertical),
    ]
}

fn outputs(path: &std::path::Path, extra: &[&str]) -> Vec<(String, String)> {
    ["text", "json", "jsonl"]
        .iter()
        .map(|f| {
            let out = Command::cargo_bin("chaudit")
                .unwrap()
                .args(["scan", "--format", f])
                .args(extra)
                .arg(path)
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(1),
                "{f}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            ((*f).to_owned(), String::from_utf8(out.stdout).unwrap())
        })
        .collect()
}

#[test]
fn ok_no_secret_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in inputs() {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        for (format, out) in outputs(&path, &[]) {
            // Each query is quoted as evidence — redacted.
            assert!(
                out.contains("[REDACTED]"),
                "{name} as {format}: nothing redacted"
            );
            for s in SECRETS {
                assert!(!out.contains(s), "{name} as {format} leaks {s}");
            }
        }
        // --no-redact is the explicit way out.
        let (_, json) = outputs(&path, &["--no-redact"]).swap_remove(1);
        assert!(
            SECRETS.iter().all(|s| json.contains(s)),
            "{name}: --no-redact should show every planted secret"
        );
    }
}
