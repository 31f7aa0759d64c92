//! One fixture that fires and one that does not for every rule, from genuine exports
//! (ClickHouse 26.9 via chdb-core, and 18.16 with genuine external addresses), with a
//! snapshot of what the rule reports. The rules that read more than query_log (recon,
//! auth-failure-burst, secret-in-query, server-file-access) get each case as the 18.16 server
//! saw it in every log of the run: query_log, server text log and the nginx access log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod common;

use chaudit::{analyze, Analysis, Config, RuleId, Severity};

fn of_rule(a: &Analysis, rule: RuleId) -> Vec<&chaudit::Finding> {
    a.findings.iter().filter(|f| f.rule == rule).collect()
}

fn check(rule: RuleId) {
    let dir = format!("fixtures/rules/{}", rule.name());
    for version in ["", ".18.16"] {
        let flags = common::analyze_fixture(&format!("{dir}/flags{version}.TSVWithNames.tsv"));
        let clean = common::analyze_fixture(&format!("{dir}/clean{version}.TSVWithNames.tsv"));
        assert_eq!(flags.summary.rejected + clean.summary.rejected, 0);
        let fired = of_rule(&flags, rule);
        assert!(!fired.is_empty(), "{rule} did not fire on flags{version}");
        assert!(
            of_rule(&clean, rule).is_empty(),
            "{rule} fired on clean{version}: {:?}",
            of_rule(&clean, rule)
        );
        let name = format!("{}{}", rule.name(), version.replace('.', "_"));
        insta::assert_json_snapshot!(name, fired);
    }
}

/// Analyzes the files of one case together; every file must parse without a rejected record.
fn analyze_case(paths: &[String]) -> Analysis {
    let data: Vec<Vec<u8>> = paths.iter().map(|p| common::fixture(p)).collect();
    let inputs: Vec<(&str, &[u8])> = paths
        .iter()
        .zip(&data)
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    let a = analyze(Config::default(), &inputs).unwrap();
    assert_eq!(a.summary.sources.len(), paths.len());
    for s in &a.summary.sources {
        assert_eq!(s.rejected, 0, "{}: {:?}", s.path, a.rejected);
        assert!(s.events > 0, "{} gave no event", s.path);
    }
    a
}

/// Like [`check`] for cases made of several logs: `logs` are the suffixes of the files that
/// make up each case (`flags<version>.<suffix>` and `clean<version>.<suffix>`), `version` is
/// `""` (26.9) or `".18.16"`.
fn check_logs(rule: RuleId, version: &str, logs: &[&str]) -> Vec<chaudit::Finding> {
    let dir = format!("fixtures/rules/{}", rule.name());
    let files = |case: &str| -> Vec<String> {
        logs.iter()
            .map(|l| format!("{dir}/{case}{version}.{l}"))
            .collect()
    };
    let flags = analyze_case(&files("flags"));
    let clean = analyze_case(&files("clean"));
    let fired: Vec<chaudit::Finding> = of_rule(&flags, rule).into_iter().cloned().collect();
    assert!(!fired.is_empty(), "{rule} did not fire on flags{version}");
    assert!(
        of_rule(&clean, rule).is_empty(),
        "{rule} fired on clean{version}: {:?}",
        of_rule(&clean, rule)
    );
    let name = format!("{}{}", rule.name(), version.replace('.', "_"));
    insta::assert_json_snapshot!(name, fired);
    fired
}

/// The findings of one rule about one client address.
fn about<'a>(fired: &'a [chaudit::Finding], ip: &str) -> Vec<&'a chaudit::Finding> {
    fired
        .iter()
        .filter(|f| f.client_ip.map(|i| i.to_string()).as_deref() == Some(ip))
        .collect()
}

#[test]
fn ok_unauthenticated_read() {
    check(RuleId::UnauthenticatedRead);
}

#[test]
fn ok_external_client_read() {
    check(RuleId::ExternalClientRead);
}

#[test]
fn ok_table_function_egress() {
    check(RuleId::TableFunctionEgress);
}

#[test]
fn ok_recon() {
    // 26.9: six metadata queries by the attacker (SHOW DATABASES's internal sub-query is not one).
    let fired = check_logs(RuleId::Recon, "", &["TSVWithNames.tsv"]);
    let att = about(&fired, "198.51.100.7");
    assert_eq!(att.len(), 1, "{fired:?}");
    assert_eq!(att[0].severity, Severity::High);
    assert_eq!(att[0].metrics["metadata_queries"], 6);
    assert!(att[0].tables.contains(&"system.users".to_owned()));

    let fired = check_logs(
        RuleId::Recon,
        ".18.16",
        &["TSVWithNames.tsv", "clickhouse-server.log", "access.log"],
    );
    // One story: the attacker's 5 metadata queries (each in query_log *and* the text log,
    // counted once) and its 3 probes through nginx.
    let att = about(&fired, "198.51.100.7");
    assert_eq!(att.len(), 1, "{fired:?}");
    assert_eq!(att[0].severity, Severity::High);
    assert_eq!(att[0].metrics["metadata_queries"], 5);
    assert_eq!(att[0].metrics["http_probes"], 3);
    for t in ["/play", "/ping", "/"] {
        assert!(
            att[0].targets.contains(&t.to_owned()),
            "{:?}",
            att[0].targets
        );
    }
    assert!(att[0].tables.contains(&"system.tables".to_owned()));
    assert!(att[0].tables.contains(&"system.columns".to_owned()));
}

#[test]
fn ok_auth_failure_burst() {
    let fired = check_logs(
        RuleId::AuthFailureBurst,
        ".18.16",
        &["clickhouse-server.log"],
    );
    let att = about(&fired, "198.51.100.7");
    assert_eq!(att.len(), 1, "{fired:?}");
    // Six wrong passwords for alice, then alice's native login from the same address.
    assert_eq!(att[0].severity, Severity::Critical);
    assert_eq!(att[0].count, 6);
    assert_eq!(att[0].user, "alice");

    // Native guessing that never gets in: 18.16 writes `Connected … user: alice` before each
    // wrong-password error, which is no successful login.
    let guessing = analyze_case(&[
        "fixtures/rules/auth-failure-burst/tcp-guessing.18.16.clickhouse-server.log".to_owned(),
    ]);
    let fired = of_rule(&guessing, RuleId::AuthFailureBurst);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].count, 6);
    assert_eq!(fired[0].severity, Severity::High, "{}", fired[0].summary);
}

/// Every fake secret the secret-in-query fixtures plant, in clear.
const PLANTED: &[&str] = &[
    "sk-FAKEb7c1d2e3f4a5b6c7d8e9f0a1",
    "AKIAFAKEACCESSKEY01",
    "svc-FAKE-pw",
    "b0b-FAKE-pw",
    "an4lyst-pw",
];

#[test]
fn ok_secret_in_query() {
    let logs = ["TSVWithNames.tsv", "clickhouse-server.log", "access.log"];
    // The fixtures really hold each secret in clear, in at least one of the logs.
    let raw: String = logs
        .iter()
        .map(|l| {
            String::from_utf8_lossy(&common::fixture(&format!(
                "fixtures/rules/secret-in-query/flags.18.16.{l}"
            )))
            .into_owned()
        })
        .collect();
    for s in PLANTED {
        assert!(raw.contains(s), "the fixtures no longer plant {s}");
    }
    let fired = check_logs(RuleId::SecretInQuery, ".18.16", &logs);
    let kinds: Vec<&String> = fired.iter().flat_map(|f| &f.targets).collect();
    for want in [
        "API key (sk-…) in query text",
        "AWS access key id (AKIA…) in query text",
        "password in an HTTP request URL",
    ] {
        assert!(
            kinds.iter().any(|k| k.as_str() == want),
            "{want}: {kinds:?}"
        );
    }
    assert!(
        kinds.iter().any(|k| k.starts_with("IDENTIFIED")),
        "{kinds:?}"
    );
    // Where, never what: no secret in the findings, nor anywhere in the whole analysis.
    let json = serde_json::to_string(&fired).unwrap();
    let paths: Vec<String> = logs
        .iter()
        .map(|l| format!("fixtures/rules/secret-in-query/flags.18.16.{l}"))
        .collect();
    let everything = serde_json::to_string(&analyze_case(&paths)).unwrap();
    for s in PLANTED {
        assert!(!json.contains(s), "{s} in the findings");
        assert!(!everything.contains(s), "{s} in the analysis");
    }

    // 26.9: the same shapes in query text. The server itself drops the password of
    // `CREATE USER … IDENTIFIED BY` from query_log, so that one is in the clean case.
    let dir = "fixtures/rules/secret-in-query";
    let clean =
        String::from_utf8(common::fixture(&format!("{dir}/clean.TSVWithNames.tsv"))).unwrap();
    assert!(clean.contains("CREATE USER bob IDENTIFIED") && !clean.contains("b0b-FAKE-pw"));
    let flags =
        String::from_utf8(common::fixture(&format!("{dir}/flags.TSVWithNames.tsv"))).unwrap();
    let planted = &PLANTED[..3];
    for s in planted {
        assert!(flags.contains(s), "the 26.9 fixture no longer plants {s}");
    }
    let fired = check_logs(RuleId::SecretInQuery, "", &["TSVWithNames.tsv"]);
    assert_eq!(fired.len(), 3, "{fired:?}");
    let everything =
        serde_json::to_string(&analyze_case(&[format!("{dir}/flags.TSVWithNames.tsv")])).unwrap();
    for s in planted {
        assert!(!everything.contains(s), "{s} in the 26.9 analysis");
    }
}

#[test]
fn ok_server_file_access() {
    // 26.9 (chdb): file() inside and outside user_files (clickhouse-local reads both).
    let fired = check_logs(RuleId::ServerFileAccess, "", &["TSVWithNames.tsv"]);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].severity, Severity::Critical);
    assert_eq!(fired[0].count, 2);

    let fired = check_logs(
        RuleId::ServerFileAccess,
        ".18.16",
        &["TSVWithNames.tsv", "clickhouse-server.log"],
    );
    let att = about(&fired, "198.51.100.7");
    assert_eq!(att.len(), 1, "{fired:?}");
    assert_eq!(att[0].severity, Severity::Critical);
    // file('app_secrets.env') and the refused file('/etc/passwd'): each once, though the text
    // log has both too.
    assert_eq!(att[0].count, 2);
    let outfile = about(&fired, "127.0.0.1");
    assert_eq!(outfile.len(), 1, "{fired:?}");
    assert_eq!(outfile[0].user, "analyst");
}
