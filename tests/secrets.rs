//! Secrets planted in every kind of input never reach any output format, unless `--no-redact`
//! asks for query text as it was — and even then a URL's `password=` value stays masked.
//!
//! Inputs: query_log in all six export formats, session_log, the server text log (plain and
//! JSON logger: `executeQuery` text and `Request URI` lines), proxy access logs (combined and
//! JSON: `query=` text, `password=` parameters, userinfo in absolute URLs, a logged
//! `Authorization: Basic` header). Outputs: every `chaudit scan --format`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

use std::path::Path;

use assert_cmd::Command;

/// Every `--format` of `chaudit scan`.
const OUTPUTS: [&str; 6] = ["text", "json", "jsonl", "csv", "html", "timesketch"];

/// Secrets inside query text: redacted on output, shown with `--no-redact`.
const QUERY_SECRETS: &[&str] = &[
    "Pw-Url-Secret-1",
    "sk-PlantedKey0123456789abcdef",
    "Pw-Where-Secret-2",
    "AKIAPLANTED12345678",
    "Pw-Param-Secret-3",
    "Pw-Ident-Secret-4",
];

/// Credentials of HTTP requests (URL parameters, userinfo, Basic auth) and of session
/// settings: never stored, so absent even with `--no-redact`.
const REQUEST_SECRETS: &[&str] = &[
    "Pw-UrlParam-Secret-5",
    "Pw-Userinfo-Secret-6",
    "Pw-Basic-Secret-7",
    // base64("admin:Pw-Basic-Secret-7"), as an `Authorization: Basic` header carries it.
    "YWRtaW46UHctQmFzaWMtU2VjcmV0LTc=",
    "Pw-Setting-Secret-8",
    "Pw-ClientName-Secret-9",
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

/// One input file: its name, bytes, extra scan flags, and the secrets that `--no-redact`
/// must reveal (the query text it carries).
struct Input {
    name: &'static str,
    text: String,
    flags: Vec<String>,
    revealed: &'static [&'static str],
}

impl Input {
    fn new(name: &'static str, text: String, revealed: &'static [&'static str]) -> Self {
        Self {
            name,
            text,
            flags: Vec::new(),
            revealed,
        }
    }
}

fn tsv_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The same query_log rows in every export format ClickHouse writes.
fn query_log_inputs() -> Vec<Input> {
    let rows: Vec<(String, String)> = queries()
        .into_iter()
        .enumerate()
        .map(|(i, q)| (format!("2025-01-29 10:11:{:02}", 10 + i), q))
        .collect();
    let names = "type\tevent_time\tuser\taddress\tquery\tresult_bytes\n";
    let mut tsv = String::from(names);
    let mut tsv_types = format!("{names}Enum8\tDateTime\tString\tIPv6\tString\tUInt64\n");
    let mut headerless = String::new();
    let mut csv =
        String::from("\"type\",\"event_time\",\"user\",\"address\",\"query\",\"result_bytes\"\n");
    let mut json = String::new();
    let mut vertical = String::new();
    for (i, (t, q)) in rows.iter().enumerate() {
        let line = format!(
            "QueryFinish\t{t}\tdefault\t::ffff:198.51.100.7\t{}\t2000000\n",
            tsv_escape(q)
        );
        tsv.push_str(&line);
        tsv_types.push_str(&line);
        headerless.push_str(&line);
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
    let mut tab_separated = Input::new("planted.TabSeparated.tsv", headerless, QUERY_SECRETS);
    tab_separated.flags = vec![
        "--input-format".into(),
        "TabSeparated".into(),
        "--columns".into(),
        "type,event_time,user,address,query,result_bytes".into(),
    ];
    vec![
        Input::new("planted.TSVWithNames.tsv", tsv, QUERY_SECRETS),
        Input::new("planted.TSVWithNamesAndTypes.tsv", tsv_types, QUERY_SECRETS),
        tab_separated,
        Input::new("planted.CSVWithNames.csv", csv, QUERY_SECRETS),
        Input::new("planted.JSONEachRow.jsonl", json, QUERY_SECRETS),
        Input::new("planted.Vertical.txt", vertical, QUERY_SECRETS),
    ]
}

/// A burst of failed logins from outside (an `auth-failure-burst`), with secrets in the
/// `settings` and `client_name` columns a real export carries.
fn session_log_input() -> Input {
    let mut tsv = String::from(
        "type\tevent_time_microseconds\tuser\tauth_type\tsettings\tclient_address\tinterface\tclient_name\tfailure_reason\n",
    );
    for i in 0..8 {
        tsv.push_str(&format!(
            "LoginFailure\t2025-01-29 10:12:{:02}.000000\tadmin\tNO_PASSWORD\t[('s3_secret_access_key',\\'Pw-Setting-Secret-8\\')]\t::ffff:198.51.100.7\tHTTP\tPw-ClientName-Secret-9\tadmin: Authentication failed: password is incorrect, or there is no user with such name.\n",
            10 + i
        ));
    }
    Input::new("planted.session_log.tsv", tsv, &[])
}

/// The server log of the same queries from outside, and HTTP requests with a password.
fn text_log_inputs() -> Vec<Input> {
    let mut plain = String::new();
    let mut json = String::new();
    for (i, q) in queries().iter().enumerate() {
        let time = format!("2025.01.29 10:11:{:02}.000100", 10 + i);
        let id = format!("0000000{i}-aaaa-bbbb-cccc-dddddddddddd");
        let lines = [
            (
                "HTTPHandler",
                "Trace",
                String::new(),
                "Request URI: /?user=default&password=Pw-UrlParam-Secret-5&query=SELECT%201"
                    .to_owned(),
            ),
            (
                "executeQuery",
                "Debug",
                id.clone(),
                format!("(from 198.51.100.7:57708) {q} (stage: Complete)"),
            ),
            (
                "executeQuery",
                "Debug",
                id.clone(),
                "Read 100000 rows, 16.10 MiB in 0.100 sec., 1000000 rows/sec., 161.00 MiB/sec."
                    .to_owned(),
            ),
        ];
        for (logger, level, qid, msg) in lines {
            plain.push_str(&format!(
                "{time} [ 76 ] {{{qid}}} <{level}> {logger}: {msg}\n"
            ));
            json.push_str(
                &serde_json::json!({
                    "date_time_utc": format!("2025-01-29T10:11:{:02}Z", 10 + i),
                    "date_time": format!("{}.000100", 1_738_145_470 + i),
                    "thread_name": "",
                    "thread_id": "76",
                    "level": level,
                    "query_id": qid,
                    "logger_name": logger,
                    "message": msg,
                    "source_file": "src/Interpreters/executeQuery.cpp; void DB::logQuery()",
                    "source_line": "1",
                })
                .to_string(),
            );
            json.push('\n');
        }
    }
    vec![
        Input::new("planted.clickhouse-server.log", plain, QUERY_SECRETS),
        Input::new("planted.clickhouse-server.json.log", json, QUERY_SECRETS),
    ]
}

/// Percent-encodes a query for a URL, as HTTP clients send it.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Proxy logs: each query sent with a password parameter, through an absolute URL with
/// userinfo, and with the Basic credentials a `$http_authorization` field logs.
fn access_log_inputs() -> Vec<Input> {
    let mut combined = String::new();
    let mut json = String::new();
    for (i, q) in queries().iter().enumerate() {
        let time = format!("29/Jan/2025:10:11:{:02} +0000", 10 + i);
        let iso = format!("2025-01-29T10:11:{:02}+00:00", 10 + i);
        let q = url_encode(q);
        let targets = [
            format!("/?user=default&password=Pw-UrlParam-Secret-5&query={q}"),
            format!("http://admin:Pw-Userinfo-Secret-6@203.0.113.5:8123/?query={q}"),
        ];
        for target in targets {
            combined.push_str(&format!(
                "198.51.100.7 - admin [{time}] \"GET {target} HTTP/1.1\" 200 2000000 \"http://admin:Pw-Userinfo-Secret-6@203.0.113.5/play\" \"curl/8.5.0\"\n"
            ));
            json.push_str(
                &serde_json::json!({
                    "time": iso,
                    "remote_addr": "198.51.100.7",
                    "remote_user": "admin",
                    "method": "GET",
                    "uri": target,
                    "status": 200,
                    "body_bytes_sent": 2_000_000,
                    "ua": "curl/8.5.0",
                    "referer": "http://admin:Pw-Userinfo-Secret-6@203.0.113.5/play",
                    "http_authorization": "Basic YWRtaW46UHctQmFzaWMtU2VjcmV0LTc=",
                    "basic_password": "Pw-Basic-Secret-7",
                })
                .to_string(),
            );
            json.push('\n');
        }
    }
    vec![
        Input::new("planted.access.log", combined, QUERY_SECRETS),
        Input::new("planted.access.json.log", json, QUERY_SECRETS),
    ]
}

fn all_inputs() -> Vec<Input> {
    let mut v = query_log_inputs();
    v.push(session_log_input());
    v.extend(text_log_inputs());
    v.extend(access_log_inputs());
    v
}

/// Runs `chaudit scan --format <format>` and returns the report (never exit 2 or 101).
fn scan(path: &Path, format: &str, flags: &[String]) -> String {
    let out = Command::cargo_bin("chaudit")
        .unwrap()
        .args(["scan", "--format", format])
        .args(flags)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{} as {format}: exit {:?}: {}",
        path.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn ok_no_secret_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    for input in all_inputs() {
        let path = dir.path().join(input.name);
        std::fs::write(&path, &input.text).unwrap();
        for format in OUTPUTS {
            let out = scan(&path, format, &input.flags);
            // Not vacuous: the input was read and something was reported from it.
            assert!(
                out.contains(input.name),
                "{} as {format}: the report names no evidence from the input:\n{out}",
                input.name
            );
            for s in QUERY_SECRETS.iter().chain(REQUEST_SECRETS) {
                assert!(
                    !out.contains(s),
                    "{} as {format} leaks {s}:\n{out}",
                    input.name
                );
            }
        }
    }
}

#[test]
fn ok_no_redact_is_the_explicit_way_out() {
    let dir = tempfile::tempdir().unwrap();
    for input in all_inputs() {
        let path = dir.path().join(input.name);
        std::fs::write(&path, &input.text).unwrap();
        let mut flags = input.flags.clone();
        flags.push("--no-redact".into());
        for format in ["text", "json"] {
            let out = scan(&path, format, &flags);
            for s in input.revealed {
                assert!(
                    out.contains(s),
                    "{} as {format} with --no-redact should show {s}:\n{out}",
                    input.name
                );
            }
            // Request credentials are dropped when read, before any redaction setting.
            for s in REQUEST_SECRETS {
                assert!(
                    !out.contains(s),
                    "{} as {format} with --no-redact leaks {s}",
                    input.name
                );
            }
        }
    }
}
