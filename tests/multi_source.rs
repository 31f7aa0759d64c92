//! One incident through every source at once: ClickHouse 18.16's query_log, its server text
//! log (and .err.log) and the nginx access log in front of it must read as one story per
//! attacker — each query counted once, evidence from every source, no URL password anywhere.

// A test crate: failing loudly is the point (clippy's allow-unwrap-in-tests covers only
// `#[test]` functions, not their helpers).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;

use chaudit::report::{render_json, render_text, TextOptions};
use chaudit::{analyze, Analysis, Config, RuleId, Severity};

const ATTACKER: &str = "198.51.100.7";
const QUERY_LOG: &str = "fixtures/query_log/18.16/incident.TSVWithNames.tsv";
const TEXT_LOG: &str = "fixtures/text_log/18.16/clickhouse-server.log";
const ERR_LOG: &str = "fixtures/text_log/18.16/clickhouse-server.err.log";
const NGINX: &str = "fixtures/access_log/nginx/combined.log";
const NGINX_JSON: &str = "fixtures/access_log/nginx/json.log";
/// Every password that appears in a URL in these fixtures.
const URL_PASSWORDS: &[&str] = &["an4lyst-pw", "alice123"];

fn read(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn scan(paths: &[&str], config: Config) -> Analysis {
    let data: Vec<Vec<u8>> = paths.iter().map(|p| read(p)).collect();
    let inputs: Vec<(&str, &[u8])> = paths
        .iter()
        .zip(&data)
        .map(|(p, d)| (*p, d.as_slice()))
        .collect();
    analyze(config, &inputs).unwrap()
}

fn finding<'a>(
    a: &'a Analysis,
    rule: RuleId,
    user: &str,
    ip: &str,
) -> Option<&'a chaudit::Finding> {
    a.findings.iter().find(|f| {
        f.rule == rule
            && f.user == user
            && f.client_ip.map(|i| i.to_string()).as_deref() == Some(ip)
    })
}

fn client<'a>(a: &'a Analysis, user: &str, ip: &str) -> &'a chaudit::ClientSummary {
    a.clients
        .iter()
        .find(|c| c.user == user && c.client_ip.map(|i| i.to_string()).as_deref() == Some(ip))
        .unwrap_or_else(|| panic!("no client {user}@{ip}"))
}

fn outputs(a: &Analysis) -> String {
    let mut text = Vec::new();
    render_text(
        a,
        &TextOptions {
            min_level: Severity::Info,
            ..TextOptions::default()
        },
        &mut text,
    )
    .unwrap();
    let mut json = Vec::new();
    render_json(a, Severity::Info, &mut json).unwrap();
    format!(
        "{}\n{}",
        String::from_utf8(text).unwrap(),
        String::from_utf8(json).unwrap()
    )
}

#[test]
fn ok_one_coherent_story_for_the_attacker() {
    // The proxied reads show in query_log as `default` from the proxy, 127.0.0.1.
    let alone = scan(&[QUERY_LOG], Config::default());
    let direct = finding(&alone, RuleId::UnauthenticatedRead, "default", ATTACKER)
        .expect("query_log alone flags the attacker")
        .count;
    let proxied = finding(&alone, RuleId::UnauthenticatedRead, "default", "127.0.0.1")
        .expect("query_log alone shows proxied reads from the proxy")
        .count;

    for proxy_log in [NGINX, NGINX_JSON] {
        let all = scan(
            &[QUERY_LOG, TEXT_LOG, ERR_LOG, proxy_log],
            Config::default(),
        );
        assert_eq!(all.summary.rejected, 0, "{:?}", all.rejected);
        let story = finding(&all, RuleId::UnauthenticatedRead, "default", ATTACKER).unwrap();
        assert_eq!(story.severity, Severity::Critical);
        // Each read once: the text-log copies and the proxy lines add evidence, not reads.
        assert_eq!(story.count, direct + proxied, "{proxy_log}");
        for source in [QUERY_LOG, TEXT_LOG, proxy_log] {
            assert!(
                story.evidence.iter().any(|e| e.path == source),
                "{source} missing from the story's evidence"
            );
        }
        // The proxy's address no longer carries the attacker's reads.
        assert!(finding(&all, RuleId::UnauthenticatedRead, "default", "127.0.0.1").is_none());
        // The bulk read of log_stream is counted once in the bytes too.
        assert_eq!(story.metrics["max_result_bytes"], 16_740_270);
        // Recon (SHOW TABLES, /play …), file() and the external bulk read are the same client.
        for rule in [
            RuleId::Recon,
            RuleId::ServerFileAccess,
            RuleId::ExternalClientRead,
        ] {
            let f = finding(&all, rule, "default", ATTACKER)
                .unwrap_or_else(|| panic!("{rule} missing for the attacker"));
            assert!(f.severity >= Severity::High, "{rule}: {:?}", f.severity);
        }
        let recon = finding(&all, RuleId::Recon, "default", ATTACKER).unwrap();
        assert!(
            recon.targets.contains(&"/play".to_owned()),
            "{:?}",
            recon.targets
        );
        assert!(all.summary.duplicates > 0);
        // No URL password in any output, though the logs hold them in clear.
        let out = outputs(&all);
        for pw in URL_PASSWORDS {
            assert!(!out.contains(pw), "{pw} leaked into a report");
        }
        let secret = finding(&all, RuleId::SecretInQuery, "analyst", "127.0.0.1").unwrap();
        assert!(secret.evidence.iter().any(|e| e.path == proxy_log));
    }
}

/// Without query_log, the server text log and the proxy log are the two views of each proxied
/// request: ClickHouse's `Request URI` and `executeQuery` lines name the proxy (127.0.0.1), the
/// nginx line names the attacker. Each request must count once, under the attacker, with both
/// logs as evidence, and its egress (the text log has no result bytes) must be the proxy's.
#[test]
fn ok_text_log_and_proxy_log_tell_one_story() {
    let text_only = scan(&[TEXT_LOG, ERR_LOG], Config::default());
    let direct = finding(&text_only, RuleId::UnauthenticatedRead, "default", ATTACKER)
        .expect("the text log alone flags the attacker's direct reads");
    let proxied = finding(
        &text_only,
        RuleId::UnauthenticatedRead,
        "default",
        "127.0.0.1",
    )
    .expect("the text log alone shows the proxied reads from the proxy");
    // The text log carries no result volume of its own.
    assert_eq!(direct.metrics["result_bytes"], 0);
    assert_eq!(proxied.metrics["result_bytes"], 0);
    let secret_text = finding(&text_only, RuleId::SecretInQuery, "analyst", "127.0.0.1").unwrap();
    assert_eq!(secret_text.count, 1);

    for proxy_log in [NGINX, NGINX_JSON] {
        let proxy_only = scan(&[proxy_log], Config::default());
        // What nginx sent the attacker in answer to queries (the POST's SQL is invisible to
        // it, so alone it cannot tell that the POST was a read).
        let egress = client(&proxy_only, "default", ATTACKER).result_bytes;
        let secret_proxy =
            finding(&proxy_only, RuleId::SecretInQuery, "analyst", "127.0.0.1").unwrap();
        assert_eq!(secret_proxy.count, 1);

        let both = scan(&[TEXT_LOG, ERR_LOG, proxy_log], Config::default());
        assert_eq!(both.summary.rejected, 0, "{:?}", both.rejected);
        let story = finding(&both, RuleId::UnauthenticatedRead, "default", ATTACKER).unwrap();
        // Each query once: the direct ones plus the proxied ones, not the proxied ones twice.
        assert_eq!(story.count, direct.count + proxied.count, "{proxy_log}");
        let totals = client(&both, "default", ATTACKER);
        assert_eq!(
            totals.queries,
            client(&text_only, "default", ATTACKER).queries
                + client(&text_only, "default", "127.0.0.1").queries
        );
        assert_eq!(totals.result_bytes, egress, "{proxy_log}");
        assert!(finding(&both, RuleId::UnauthenticatedRead, "default", "127.0.0.1").is_none());
        // The bytes once: what nginx sent (the 20 000-row read is 4 225 143 bytes of it).
        assert_eq!(story.metrics["result_bytes"], egress, "{proxy_log}");
        assert_eq!(story.metrics["max_result_bytes"], 4_225_143);
        let big = "SELECT * FROM default.log_stream LIMIT 20000 FORMAT JSONEachRow";
        let cited: Vec<&str> = story
            .evidence
            .iter()
            .filter(|e| e.excerpt.as_deref().is_some_and(|x| x.contains(big)))
            .map(|e| e.path.as_str())
            .collect();
        assert!(cited.contains(&TEXT_LOG), "{cited:?}");
        assert!(cited.contains(&proxy_log), "{cited:?}");
        // The server's `Request URI` line of that request is listed with it.
        assert!(
            story.evidence.iter().any(|e| e.path == TEXT_LOG
                && e.excerpt
                    .as_deref()
                    .is_some_and(|x| x.starts_with("Request URI:"))),
            "{:?}",
            story.evidence
        );
        // The URL with a password: one request seen by both logs is one record.
        let secret = finding(&both, RuleId::SecretInQuery, "analyst", "127.0.0.1").unwrap();
        assert_eq!(secret.count, 1, "{proxy_log}");
        let paths: Vec<&str> = secret.evidence.iter().map(|e| e.path.as_str()).collect();
        assert!(
            paths.contains(&TEXT_LOG) && paths.contains(&proxy_log),
            "{paths:?}"
        );
        // The proxied executions and the URL-password request line, at least.
        assert!(both.summary.duplicates > proxied.count);
        let out = outputs(&both);
        for pw in URL_PASSWORDS {
            assert!(!out.contains(pw), "{pw} leaked into a report");
        }
    }
}

#[test]
fn ok_password_stays_hidden_even_without_redaction() {
    let raw = String::from_utf8(read(TEXT_LOG)).unwrap();
    assert!(raw.contains("an4lyst-pw"), "the fixture holds the password");
    let config = Config {
        redact: false,
        ..Config::default()
    };
    let all = scan(&[QUERY_LOG, TEXT_LOG, NGINX], config);
    let out = outputs(&all);
    for pw in URL_PASSWORDS {
        assert!(!out.contains(pw), "{pw} leaked with --no-redact");
    }
}

#[test]
fn ok_genuine_logs_parse_without_rejects() {
    let cases: &[(&str, &str)] = &[
        ("fixtures/text_log/18.16/clickhouse-server.log", "ServerLog"),
        (
            "fixtures/text_log/18.16/clickhouse-server.err.log",
            "ServerLog",
        ),
        (
            "fixtures/text_log/26.9/incident.clickhouse-server.log",
            "ServerLog",
        ),
        (
            "fixtures/text_log/26.9/incident.clickhouse-server.err.log",
            "ServerLog",
        ),
        (
            "fixtures/text_log/26.9/tricky.clickhouse-server.json.log",
            "ServerJsonLog",
        ),
        (
            "fixtures/text_log/26.9/tricky.clickhouse-server.err.json.log",
            "ServerJsonLog",
        ),
        ("fixtures/access_log/nginx/combined.log", "AccessLog"),
        ("fixtures/access_log/nginx/json.log", "AccessLogJson"),
        (
            "fixtures/session_log/26.9/incident.TSVWithNames.tsv",
            "TsvWithNames",
        ),
        (
            "fixtures/session_log/26.9/incident.TSVWithNamesAndTypes.tsv",
            "TsvWithNamesAndTypes",
        ),
        (
            "fixtures/session_log/26.9/incident.CSVWithNames.csv",
            "CsvWithNames",
        ),
        (
            "fixtures/session_log/26.9/incident.JSONEachRow.jsonl",
            "JsonEachRow",
        ),
        (
            "fixtures/session_log/26.9/incident.Vertical.txt",
            "Vertical",
        ),
    ];
    for (path, format) in cases {
        let a = scan(&[path], Config::default());
        let s = &a.summary.sources[0];
        assert_eq!(s.rejected, 0, "{path}: {:?}", a.rejected);
        assert!(s.events > 0, "{path}");
        assert_eq!(
            format!("{:?}", s.format),
            format!("Some({format})"),
            "{path}"
        );
    }
    // session_log: 31 rows, each a login event (the generator's keeper plus each client).
    let a = scan(
        &["fixtures/session_log/26.9/incident.JSONEachRow.jsonl"],
        Config::default(),
    );
    assert_eq!(a.summary.logins, 31);
}

#[test]
fn ok_compressed_inputs_read_like_plain_ones() {
    use std::io::Write;
    let plain = read(NGINX);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let zst = ruzstd::encoding::compress_to_vec(
        plain.as_slice(),
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    let one = |name: &str, bytes: &[u8]| {
        let a = analyze(Config::default(), &[(name, bytes)]).unwrap();
        (
            a.summary.sources[0].events,
            a.summary.rejected,
            a.findings.len(),
        )
    };
    let want = one("combined.log", &plain);
    assert_eq!(want.0, 21);
    assert_eq!(one("combined.log.gz", &gz), want);
    assert_eq!(one("combined.log.zst", &zst), want);
}

/// What the CLI, `analyze` and the browser page decide from the inputs' heads: joins only
/// when kinds mix or a head cannot tell its kind.
#[test]
fn ok_joins_needed_only_when_kinds_mix() {
    use std::io::Write;
    let a = chaudit::Analyzer::new(Config::default()).unwrap();
    let (qlog, text, err, nginx) = (read(QUERY_LOG), read(TEXT_LOG), read(ERR_LOG), read(NGINX));
    let needed = |heads: &[&[u8]]| a.joins_needed(heads.iter().copied());
    assert!(!needed(&[]));
    assert!(!needed(&[&qlog]));
    assert!(
        !needed(&[&text, &err]),
        "a server log and its .err.log are one kind"
    );
    assert!(!needed(&[&nginx, b"", &nginx]), "empty inputs do not count");
    assert!(needed(&[&qlog, &text]));
    assert!(needed(&[&text, &nginx]));
    assert!(needed(&[&qlog, &nginx]));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&qlog).unwrap();
    assert!(
        needed(&[&gz.finish().unwrap()]),
        "a compressed head could be anything"
    );
}

/// Turning joins off for inputs of one kind changes nothing in the report: every fixture
/// file alone, and each rules directory's files of one kind together, scanned with joins
/// on (the default) and off.
#[test]
fn ok_joins_off_for_one_kind_changes_no_report() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut groups: Vec<Vec<std::path::PathBuf>> = Vec::new();
    for dir in [
        "query_log/18.16",
        "query_log/26.9",
        "session_log/26.9",
        "text_log/18.16",
        "access_log/nginx",
    ] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            groups.push(vec![e.unwrap().path()]);
        }
    }
    let probe = chaudit::Analyzer::new(Config::default()).unwrap();
    for rules in std::fs::read_dir(root.join("rules")).unwrap() {
        let mut by_kind = std::collections::BTreeMap::<_, Vec<_>>::new();
        for e in std::fs::read_dir(rules.unwrap().path()).unwrap() {
            let path = e.unwrap().path();
            let kind = probe.source_kind(&std::fs::read(&path).unwrap());
            by_kind.entry(kind).or_default().push(path);
        }
        groups.extend(by_kind.into_values());
    }
    let mut compared = 0;
    for paths in groups {
        let data: Vec<(String, Vec<u8>)> = paths
            .iter()
            .filter(|p| p.is_file())
            .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
            .collect();
        let Some((_, first)) = data.first() else {
            continue;
        };
        let heads = data.iter().map(|(_, d)| d.as_slice());
        if probe.source_kind(first).is_none() || probe.joins_needed(heads) {
            continue; // not one known kind: not what this test is about
        }
        let report = |joins: bool| {
            let mut a = chaudit::Analyzer::new(Config::default()).unwrap();
            a.set_joins(joins);
            for (name, bytes) in &data {
                a.begin_file(name);
                let _ = a.feed(bytes);
                let _ = a.end_file();
            }
            outputs(&a.finish())
        };
        assert_eq!(report(false), report(true), "{paths:?}");
        compared += 1;
    }
    assert!(compared >= 40, "only {compared} groups compared");
}
