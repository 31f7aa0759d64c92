//! The report's per-client timeline on genuine exports: it accounts for exactly the queries
//! and result bytes of the client table, in every format of the same incident, and its shape
//! is pinned by a snapshot.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod common;

use chaudit::Analysis;

/// Queries and result bytes over every window of the timeline.
fn timeline_totals(a: &Analysis) -> (u64, u64) {
    let t = &a.timeline;
    t.series
        .iter()
        .flat_map(|s| s.windows.iter())
        .chain(t.other.iter())
        .fold((0, 0), |(q, b), w| (q + w.1, b + w.2))
}

#[test]
fn ok_timeline_matches_the_client_table_in_every_format() {
    let mut shapes = Vec::new();
    for dir in ["fixtures/query_log/26.9", "fixtures/query_log/18.16"] {
        for rel in common::exports_in(dir) {
            let a = common::analyze_fixture(&rel);
            let clients = a
                .clients
                .iter()
                .fold((0, 0), |(q, b), c| (q + c.queries, b + c.result_bytes));
            assert_eq!(timeline_totals(&a), clients, "{rel}");
            let t = &a.timeline;
            assert!(t.window_secs > 0, "{rel}");
            for s in &t.series {
                assert!(s.windows.windows(2).all(|p| p[0].0 < p[1].0), "{rel}");
                assert!(s
                    .windows
                    .iter()
                    .all(|w| w.0 .0 % (t.window_secs * 1_000_000) == 0));
            }
            // Every client with a finding has a lane of its own.
            for f in &a.findings {
                assert!(
                    t.series
                        .iter()
                        .any(|s| s.user == f.user && s.client_ip == f.client_ip),
                    "{rel}: no series for {}@{:?}",
                    f.user,
                    f.client_ip
                );
            }
            if rel.contains("incident") {
                shapes.push((rel, t.series.len(), t.window_secs));
            }
        }
    }
    assert!(shapes.len() >= 10, "{shapes:?}");
}

#[test]
fn ok_timeline_snapshot() {
    let a = common::analyze_fixture("fixtures/query_log/26.9/incident.TSVWithNames.tsv");
    insta::assert_json_snapshot!("incident_26_9_timeline", a.timeline);
}

#[test]
fn ok_no_queries_no_timeline() {
    let a = chaudit::analyze(chaudit::Config::default(), &[("empty.tsv", b"")]).unwrap();
    assert_eq!(a.timeline, chaudit::Timeline::default());
    let json = {
        let mut out = Vec::new();
        chaudit::report::render_json(&a, chaudit::Severity::Info, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert!(
        json.contains(
            "\"timeline\": {\n    \"window_secs\": 0,\n    \"series\": [],\n    \"other\": []\n  }"
        ),
        "{json}"
    );
}
