//! Every export format of the same rows gives the same findings, and genuine exports of
//! ClickHouse 18.16 and 26.9 parse with zero rejected records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod common;

use common::{analyze_fixture, exports_in};
use serde_json::Value;

/// A finding without its evidence: line numbers differ between formats by nature
/// (CSV and Vertical records span lines), everything else must not.
fn comparable(a: &chaudit::Analysis) -> Vec<Value> {
    a.findings
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap();
            v.as_object_mut().unwrap().remove("evidence");
            v
        })
        .collect()
}

fn check_version(version: &str, scenario: &str) {
    let files: Vec<String> = exports_in(&format!("fixtures/query_log/{version}"))
        .into_iter()
        .filter(|f| f.contains(&format!("/{scenario}.")) || f.contains(&format!("/{scenario}-")))
        .collect();
    assert!(
        files.len() >= 6,
        "expected all six formats of {version}/{scenario}, got {files:?}"
    );
    let reference = analyze_fixture(&files[0]);
    assert!(reference.summary.events > 0);
    for f in &files {
        let a = analyze_fixture(f);
        assert_eq!(a.summary.rejected, 0, "{f}: {:?}", a.rejected);
        assert_eq!(a.summary.events, reference.summary.events, "{f}");
        assert_eq!(a.summary.failed, reference.summary.failed, "{f}");
        assert_eq!(
            comparable(&a),
            comparable(&reference),
            "{f} disagrees with {}",
            files[0]
        );
        assert_eq!(a.clients, reference.clients, "{f}");
    }
}

#[test]
fn ok_18_16_incident_same_in_every_format() {
    check_version("18.16", "incident");
}

#[test]
fn ok_18_16_tricky_same_in_every_format() {
    check_version("18.16", "tricky");
}

#[test]
fn ok_26_9_incident_same_in_every_format() {
    check_version("26.9", "incident");
}

#[test]
fn ok_26_9_tricky_same_in_every_format() {
    check_version("26.9", "tricky");
}

/// Every query text of a fixture, parsed through the public streaming parser in odd chunks.
fn queries(rel: &str) -> Vec<String> {
    struct Texts(Vec<String>, u64);
    impl chaudit::Sink for Texts {
        fn event(&mut self, event: chaudit::Event<'_>) {
            if let chaudit::Event::Query(q) = event {
                self.0.push(q.query.into_owned());
            }
        }
        fn reject(&mut self, _: chaudit::ParseError) {
            self.1 += 1;
        }
    }
    let mut options = chaudit::ParseOptions::default();
    if rel.ends_with(".TabSeparated.tsv") {
        options.columns = Some(common::columns_of(rel));
    }
    let mut p = chaudit::FileParser::new(chaudit::event::SourceId(0), options);
    let mut sink = Texts(Vec::new(), 0);
    for chunk in common::fixture(rel).chunks(4093) {
        p.feed(chunk, &mut sink);
    }
    p.finish(&mut sink);
    assert_eq!(sink.1, 0, "{rel}");
    sink.0
}

#[test]
fn ok_long_and_odd_queries_arrive_whole() {
    for version in ["18.16", "26.9"] {
        for f in exports_in(&format!("fixtures/query_log/{version}"))
            .iter()
            .filter(|f| f.contains("/tricky."))
        {
            let q = queries(f);
            // A 75,463-byte IN list (well past nom's 65,535-column convert_error limit).
            assert!(
                q.iter().any(|q| q.len() >= 75_000 && q.contains(" IN (")),
                "{f}"
            );
            // TAB, LF, doubled quote, backslashes and double quotes, decoded to the bytes sent.
            let want = "SELECT 'a\tb' AS tab, 'line1\nline2' AS nl, 'it''s' AS q1, 'back\\\\slash' AS bs, 'say \"hi\"' AS dq";
            assert!(q.iter().any(|q| q == want), "{f}");
            assert!(
                q.iter().any(|q| q.contains("🦆 émoji — ünïcödé 日本語")),
                "{f}"
            );
            assert!(
                q.iter().any(|q| q.contains("SELECT id,\r\n  body\r\nFROM")),
                "{f}"
            );
        }
    }
}

#[test]
fn ok_tricky_rows_survive_unharmed() {
    for f in exports_in("fixtures/query_log/18.16")
        .iter()
        .filter(|f| f.contains("tricky"))
    {
        let a = analyze_fixture(f);
        let weird: Vec<_> = a
            .clients
            .iter()
            .filter_map(|c| c.client_ip)
            .map(|ip| ip.to_string())
            .collect();
        // Raw FixedString(16) addresses whose bytes are LF, TAB, quotes and backslashes.
        assert!(weird.contains(&"127.10.9.34".to_owned()), "{f}: {weird:?}");
        assert!(weird.contains(&"127.44.92.39".to_owned()), "{f}: {weird:?}");
    }
}

#[test]
fn ok_incident_names_the_attacker_in_both_versions() {
    for f in [
        "fixtures/query_log/18.16/incident.TSVWithNames.tsv",
        "fixtures/query_log/26.9/incident.JSONEachRow.jsonl",
    ] {
        let a = analyze_fixture(f);
        let top = &a.findings[0];
        assert_eq!(top.severity, chaudit::Severity::Critical, "{f}");
        assert_eq!(top.user, "default", "{f}");
        assert_eq!(top.client_ip.unwrap().to_string(), "198.51.100.7", "{f}");
        assert!(
            top.tables.iter().any(|t| t == "default.log_stream"),
            "{f}: {:?}",
            top.tables
        );
        // No finding may blame the internal password users.
        assert!(
            a.findings
                .iter()
                .all(|f| !["alice", "etl", "analyst"].contains(&f.user.as_str())),
            "{f}: {:?}",
            a.findings
                .iter()
                .map(|f| (&f.rule, &f.user))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn ok_26_9_push_exfiltration_is_critical() {
    let a = analyze_fixture("fixtures/query_log/26.9/incident.TSVWithNames.tsv");
    let egress = a
        .findings
        .iter()
        .find(|f| f.rule == chaudit::RuleId::TableFunctionEgress)
        .unwrap();
    assert_eq!(egress.severity, chaudit::Severity::Critical);
    assert_eq!(egress.metrics["written_rows"], 100_000);
    assert!(
        egress
            .targets
            .iter()
            .any(|t| t.starts_with("url → 127.0.0.1 (write)")),
        "{:?}",
        egress.targets
    );
}

#[test]
fn ok_quoted_and_bare_64_bit_json_agree() {
    for scenario in ["incident", "tricky"] {
        let quoted = analyze_fixture(&format!(
            "fixtures/query_log/26.9/{scenario}.JSONEachRow-quoted64.jsonl"
        ));
        let bare = analyze_fixture(&format!(
            "fixtures/query_log/26.9/{scenario}.JSONEachRow.jsonl"
        ));
        assert_eq!(comparable(&quoted), comparable(&bare));
        assert_eq!(quoted.clients, bare.clients);
    }
}
