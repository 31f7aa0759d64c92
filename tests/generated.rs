//! The data generator (`examples/generate.rs`) against the library: a generated export with a
//! planted incident yields exactly that incident, in every format, and a clean one yields
//! nothing worth reporting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../examples/generate.rs"]
#[allow(dead_code, unreachable_pub)]
mod generate;

use chaudit::{analyze, Analysis, Config, Severity};
use generate::{Format, Kind, Opts};

fn opts(format: Format, incident: bool) -> Opts {
    Opts {
        kind: Kind::QueryLog,
        format,
        size: None,
        rows: Some(3_000),
        clients: 120,
        days: 2,
        seed: 11,
        incident,
        out: None,
    }
}

fn scan(o: &Opts) -> Analysis {
    let mut bytes = Vec::new();
    generate::generate(o, &mut bytes).unwrap();
    analyze(Config::default(), &[("generated", &bytes)]).unwrap()
}

#[test]
fn ok_planted_incident_is_found_and_nothing_else() {
    for format in [Format::Tsv, Format::Csv, Format::Json] {
        let a = scan(&opts(format, true));
        assert_eq!(a.summary.rejected, 0, "{:?}", a.rejected);
        assert_eq!(a.summary.events, 3_000);
        assert_eq!(
            a.summary.unfinished, 0,
            "every QueryStart has its QueryFinish"
        );
        assert_only_routine_recon_below_low(&a);
        let mut rules: Vec<&str> = a
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .map(|f| f.rule.name())
            .collect();
        rules.sort_unstable();
        assert_eq!(
            rules,
            [
                "external-client-read",
                "recon",
                "table-function-egress",
                "unauthenticated-read"
            ],
            "{:#?}",
            a.findings
        );
        for f in a.findings.iter().filter(|f| f.severity > Severity::Info) {
            // The attacker's SHOW TABLES: passwordless and external, high; the rest critical.
            let expected = if f.rule.name() == "recon" {
                Severity::High
            } else {
                Severity::Critical
            };
            assert_eq!(f.severity, expected, "{f:#?}");
            assert_eq!(f.user, "default");
            assert_eq!(f.client_ip, Some("198.51.100.7".parse().unwrap()));
        }
    }
}

#[test]
fn ok_clean_log_has_no_findings() {
    let a = scan(&opts(Format::Tsv, false));
    assert_eq!(a.summary.events, 3_000);
    assert_only_routine_recon_below_low(&a);
    assert!(
        a.findings.iter().all(|f| f.severity == Severity::Info),
        "{:#?}",
        a.findings
    );
    assert!(a.summary.clients >= 100);
}

/// The nginx access log of the same workload: the proxy sees the attacker's requests (no
/// credentials, so `default`) and every other client's HTTP Basic user.
#[test]
fn ok_access_log_shows_the_incident_and_no_false_alarm() {
    for incident in [true, false] {
        let o = Opts {
            kind: Kind::AccessLog,
            ..opts(Format::Tsv, incident)
        };
        let a = scan(&o);
        assert_eq!(a.summary.rejected, 0, "{:?}", a.rejected);
        assert_eq!(a.summary.http_requests, a.summary.events);
        assert!(a.summary.events >= 3_000, "{}", a.summary.events);
        assert_only_routine_recon_below_low(&a);
        let mut alarms: Vec<(&str, &str)> = a
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .map(|f| (f.rule.name(), f.user.as_str()))
            .collect();
        alarms.sort_unstable();
        let expected: &[(&str, &str)] = if incident {
            &[
                ("external-client-read", "default"),
                ("recon", "default"),
                ("table-function-egress", "default"),
                ("unauthenticated-read", "default"),
            ]
        } else {
            &[]
        };
        assert_eq!(alarms, expected, "{:#?}", a.findings);
    }
}

#[test]
fn ok_same_seed_same_bytes() {
    let mut a = Vec::new();
    let mut b = Vec::new();
    generate::generate(&opts(Format::Json, true), &mut a).unwrap();
    generate::generate(&opts(Format::Json, true), &mut b).unwrap();
    assert_eq!(a, b);
}

/// The generated analysts and dashboards read `system.tables`: `recon` notes it at info for
/// internal password users, and nothing else may sit below low.
fn assert_only_routine_recon_below_low(a: &Analysis) {
    for f in a.findings.iter().filter(|f| f.severity == Severity::Info) {
        assert_eq!(f.rule.name(), "recon", "{f:#?}");
        assert_eq!(f.client_class, chaudit::net::NetClass::Internal, "{f:#?}");
    }
}
