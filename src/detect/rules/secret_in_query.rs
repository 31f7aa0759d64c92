//! `secret-in-query`
//!
//! ## What it flags
//! Plaintext secrets written into logs: API-key shapes (`sk-…`, `AKIA…`, `ghp_…`), `password=`
//! and other credential parameters, `IDENTIFIED BY '…'`, `user:password@` in URLs — in query
//! text, and passwords in HTTP request URLs (`?user=…&password=…`). The finding says *where*
//! (file, line, which kind of secret) and never the secret: its excerpts are always redacted,
//! even with `--no-redact`. High for keys and URL passwords; medium for `IDENTIFIED BY` (an
//! administrator setting a password, which ClickHouse masks in query_log since ≈22.x but
//! older servers and text logs keep).
//!
//! ## Why it matters
//! Logs are copied, shipped and read by more people than the database. A password in a URL is
//! in every proxy log and in the server's `Request URI` trace line; an attacker hunting
//! `sk-` keys in a table leaves the pattern in the query itself.
//!
//! ## Example
//! ```text
//! GET /?user=analyst&password=an4lyst-pw&query=SELECT… (nginx access log, line 10)
//! → high: `analyst` from internal 127.0.0.1 put secrets in logs: password in URL …
//! ```

use super::super::{
    describe_client, GroupKey, Groups, Hit, KeyRef, Observation, Settings, Verdict,
};
use crate::detect::finding::{Excerpt, Group, Pending};
use crate::detect::{human_count, RuleId, Severity};
use crate::event::{Credentials, HttpEvent};
use crate::net::NetClass;
use crate::redact::redact_url;

const URL_PASSWORD: &str = "password in an HTTP request URL";

pub(crate) fn observe(obs: &Observation<'_, '_>, groups: &mut Groups) {
    let kinds = obs.facts().secret_kinds(&obs.event.query);
    if kinds.is_empty() {
        return;
    }
    let severity = if kinds.iter().all(|k| k.starts_with("IDENTIFIED")) {
        Severity::Medium
    } else {
        Severity::High
    };
    let targets: Vec<String> = kinds.iter().map(|k| format!("{k} in query text")).collect();
    groups.add(
        obs.key(RuleId::SecretInQuery),
        Hit {
            severity,
            time: obs.event.start,
            client_class: obs.client_class,
            sums: &[("queries_with_secrets", 1)],
            maxes: &[],
            tables: &[],
            targets: &targets,
            // Always redacted: this rule exists to say where secrets are, not to repeat them.
            evidence: Pending {
                location: obs.event.location,
                weight: 1,
                excerpt: Excerpt::Query {
                    text: &obs.event.query,
                    redact: true,
                    clean: false,
                },
            },
        },
    );
}

/// Whether the request's URL carried a password.
pub(crate) fn url_password(h: &HttpEvent<'_>) -> bool {
    h.credentials
        == (Credentials::UrlParams {
            password_given: true,
        })
}

pub(crate) fn observe_http(
    h: &HttpEvent<'_>,
    class: NetClass,
    settings: &Settings,
    groups: &mut Groups,
) {
    if !url_password(h) {
        return;
    }
    let user = h.user.as_deref().unwrap_or("default");
    groups.add(
        KeyRef {
            rule: RuleId::SecretInQuery,
            window: h.time.floor_to(settings.thresholds.window_secs),
            user,
            client: h.client,
        },
        Hit {
            severity: Severity::High,
            time: h.time,
            client_class: class,
            sums: &[("urls_with_passwords", 1)],
            maxes: &[],
            tables: &[],
            targets: &[URL_PASSWORD.to_owned()],
            evidence: Pending {
                location: h.location,
                weight: 1,
                // The target had its password masked when parsed; redact the rest too.
                excerpt: Excerpt::With(&|| format!("{} {}", h.method, redact_url(&h.target))),
            },
        },
    );
}

pub(crate) fn judge(key: &GroupKey, g: &Group, _s: &Settings) -> Option<Verdict> {
    let n = g.sum("queries_with_secrets") + g.sum("urls_with_passwords");
    let kinds: Vec<&str> = g.targets.iter().map(String::as_str).collect();
    Some(Verdict {
        severity: g.severity,
        summary: format!(
            "{} put secrets in the logs ({} record{}): {}. The values are not shown; rotate them.",
            describe_client(key, g.client_class),
            human_count(n),
            if n == 1 { "" } else { "s" },
            kinds.join("; ")
        ),
        assumptions: vec![
            "secrets are recognised by shape (key prefixes, parameter names); others may pass unseen".to_owned(),
        ],
        extra_metrics: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::detect::tests::{event, run};
    use crate::detect::{Detector, RuleId, Settings, Severity};
    use crate::event::Event;

    #[test]
    fn ok_reports_where_never_what_even_unredacted() {
        let e = event(
            "default",
            "198.51.100.7",
            "SELECT * FROM log_stream WHERE msg LIKE '%sk-FAKE0123456789abcdefXYZ%'",
            10,
        );
        let config = Config {
            redact: false,
            ..Config::default()
        };
        let mut d = Detector::new(Settings::new(&config).unwrap());
        d.observe(&Event::Query(e));
        let f = d.finish(&["q.tsv".to_owned()]).findings;
        let f: Vec<_> = f
            .iter()
            .filter(|f| f.rule == RuleId::SecretInQuery)
            .collect();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(f[0].targets, ["API key (sk-…) in query text"]);
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains("0123456789abcdef"), "{json}");
    }

    #[test]
    fn ok_identified_by_is_medium_and_plain_queries_quiet() {
        let f = run(&[event(
            "admin",
            "10.0.0.1",
            "CREATE USER u IDENTIFIED BY 'pw12345'",
            0,
        )]);
        let f: Vec<_> = f
            .iter()
            .filter(|f| f.rule == RuleId::SecretInQuery)
            .collect();
        assert_eq!(f.first().map(|f| f.severity), Some(Severity::Medium));
        assert!(
            run(&[event("a", "10.0.0.1", "SELECT password FROM users", 0)])
                .iter()
                .all(|f| f.rule != RuleId::SecretInQuery)
        );
    }
}
