//! `recon`
//!
//! ## What it flags
//! Reconnaissance: `SHOW TABLES/DATABASES`, `DESCRIBE`, `EXISTS`, `SELECT version()` (and
//! `currentUser()`, `hostName()` …) without a table, reads that touch only `system.*` or
//! `information_schema.*`, and HTTP probes of the server's fixed endpoints (`/play`, `/ping`,
//! `/dashboard`, `/replicas_status`, a bare `GET /`) from external clients. Info for internal
//! password users (every SQL client and dashboard lists tables: worth knowing, never an
//! alarm; one finding per client for the whole scan rather than per window); medium when
//! the client is external or passwordless; high when both.
//!
//! ## Why it matters
//! Every exposure starts by looking around: the DeepSeek attacker ran `SHOW TABLES` before
//! `SELECT * FROM log_stream`. Seen alone it is noise; next to a bulk read from the same client
//! it dates the start of the intrusion.
//!
//! ## Example
//! ```text
//! user=default address=198.51.100.7 query="SHOW TABLES"; GET /play from 198.51.100.7
//! → high: `default` from external 198.51.100.7 explored the server: 6 metadata queries, 2 probes …
//! ```

use super::super::{
    describe_client, GroupKey, Groups, Hit, KeyRef, Observation, Settings, Verdict,
};
use crate::detect::finding::{Excerpt, Group, Pending};
use crate::detect::{human_count, is_system_table, mentions, RuleId, Severity};
use crate::event::HttpEvent;
use crate::net::NetClass;
use crate::sql::StatementKind;
use crate::time::Timestamp;

/// Endpoints a scanner fingerprints (ClickHouse's built-in handlers besides the query handler).
const PROBE_PATHS: &[&str] = &[
    "/play",
    "/dashboard",
    "/replicas_status",
    "/ping",
    "/binary",
    "/merges",
    "/jemalloc",
    "/js/",
];

/// Functions whose only use in a table-less SELECT is to learn about the server.
const FINGERPRINT_FUNCTIONS: &[&str] = &[
    "version()",
    "currentuser()",
    "hostname()",
    "timezone()",
    "uptime()",
    "currentdatabase()",
    "getmacro(",
    "serveruuid()",
];

/// Whether `text` calls one of the [`FINGERPRINT_FUNCTIONS`] (any ASCII case).
pub(crate) fn fingerprints(text: &str) -> bool {
    FINGERPRINT_FUNCTIONS
        .iter()
        .any(|f| mentions(text, f.as_bytes()))
}

/// Whether a path is ClickHouse's query handler (`/`, `/query`).
pub(crate) fn is_query_handler(path: &str) -> bool {
    matches!(path, "/" | "/query" | "")
}

fn severity(external: bool, passwordless: bool) -> Severity {
    match (external, passwordless) {
        (true, true) => Severity::High,
        (true, false) | (false, true) => Severity::Medium,
        (false, false) => Severity::Info,
    }
}

pub(crate) fn observe(obs: &Observation<'_, '_>, groups: &mut Groups) {
    let kind = obs.kind();
    // A SELECT without FROM reads `system.one`, and 26.x query_log lists it in `tables`: that
    // is no look at the server's metadata.
    let not_one = |t: &&str| !t.eq_ignore_ascii_case("system.one");
    let recon = match kind {
        StatementKind::Show | StatementKind::Describe | StatementKind::Exists => true,
        StatementKind::Select => {
            let mut tables = obs.each_table().filter(not_one).peekable();
            if tables.peek().is_none() {
                obs.facts().fingerprint(&obs.event.query)
            } else {
                tables.all(is_system_table)
            }
        }
        _ => false,
    };
    if !recon {
        return;
    }
    let tables: Vec<String> = obs
        .each_table()
        .filter(not_one)
        .map(str::to_owned)
        .collect();
    let severity = severity(obs.client_class == NetClass::External, obs.passwordless);
    let mut key = obs.key(RuleId::Recon);
    if severity == Severity::Info {
        // Routine (an internal password user listing tables, as every SQL client and
        // dashboard does): one finding per client for the whole scan, not one per window,
        // so a week of dashboards is a line per client and memory does not grow with time.
        key.window = Timestamp(0);
    }
    groups.add(
        key,
        Hit {
            severity,
            time: obs.event.start,
            client_class: obs.client_class,
            sums: &[("metadata_queries", 1)],
            maxes: &[],
            tables: &tables,
            targets: &[],
            evidence: obs.pending(1),
        },
    );
}

/// Whether the request is for a fixed endpoint, or is a bare `GET /`.
pub(crate) fn probes(h: &HttpEvent<'_>) -> bool {
    PROBE_PATHS
        .iter()
        .any(|p| h.path == *p || (p.ends_with('/') && h.path.starts_with(p)))
        || (h.path == "/" && h.query.is_none() && h.method != "POST")
}

/// An HTTP request for a fixed endpoint, or a bare `GET /`, from an external client.
pub(crate) fn observe_http(
    h: &HttpEvent<'_>,
    class: NetClass,
    settings: &Settings,
    groups: &mut Groups,
) {
    if class != NetClass::External || !probes(h) {
        return;
    }
    let user = h.user.as_deref().unwrap_or("default");
    let passwordless = settings.passwordless.contains(user);
    let path = h.path.to_string();
    groups.add(
        KeyRef {
            rule: RuleId::Recon,
            window: h.time.floor_to(settings.thresholds.window_secs),
            user,
            client: h.client,
        },
        Hit {
            severity: severity(true, passwordless),
            time: h.time,
            client_class: class,
            sums: &[("http_probes", 1)],
            maxes: &[],
            tables: &[],
            targets: &[path],
            evidence: Pending {
                location: h.location,
                weight: 1,
                excerpt: Excerpt::With(&|| {
                    format!(
                        "{} {} → {}",
                        if h.method.is_empty() { "?" } else { &h.method },
                        if settings.redact {
                            crate::redact::redact_url(&h.target)
                        } else {
                            std::borrow::Cow::Borrowed(h.target.as_ref())
                        },
                        h.status.map_or("-".to_owned(), |s| s.to_string())
                    )
                }),
            },
        },
    );
}

pub(crate) fn judge(key: &GroupKey, g: &Group, _s: &Settings) -> Option<Verdict> {
    let queries = g.sum("metadata_queries");
    let probes = g.sum("http_probes");
    let mut parts = Vec::new();
    if queries > 0 {
        parts.push(format!(
            "{} metadata quer{}",
            human_count(queries),
            if queries == 1 { "y" } else { "ies" }
        ));
    }
    if probes > 0 {
        let paths: Vec<&str> = g.targets.iter().map(String::as_str).take(6).collect();
        parts.push(format!(
            "{} endpoint probe{} ({})",
            human_count(probes),
            if probes == 1 { "" } else { "s" },
            paths.join(", ")
        ));
    }
    let tables: Vec<&str> = g.tables.iter().map(String::as_str).take(6).collect();
    Some(Verdict {
        severity: g.severity,
        summary: format!(
            "{} explored the server: {}{}.",
            describe_client(key, g.client_class),
            parts.join(" and "),
            if tables.is_empty() {
                String::new()
            } else {
                format!("; system tables read: {}", tables.join(", "))
            }
        ),
        assumptions: Vec::new(),
        extra_metrics: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::{event, run};
    use crate::detect::{RuleId, Severity};

    fn recon(user: &'static str, ip: &str, q: &'static str) -> Option<Severity> {
        run(&[event(user, ip, q, 10)])
            .into_iter()
            .find(|f| f.rule == RuleId::Recon)
            .map(|f| f.severity)
    }

    #[test]
    fn ok_metadata_queries_by_who_asks() {
        assert_eq!(
            recon("default", "198.51.100.7", "SHOW TABLES"),
            Some(Severity::High)
        );
        assert_eq!(
            recon("alice", "198.51.100.7", "SELECT version()"),
            Some(Severity::Medium)
        );
        assert_eq!(
            recon("alice", "10.0.0.1", "SELECT name FROM system.tables"),
            Some(Severity::Info)
        );
        assert_eq!(
            recon("alice", "10.0.0.1", "DESCRIBE TABLE t"),
            Some(Severity::Info)
        );
    }

    #[test]
    fn ok_routine_recon_is_one_finding_per_client_for_the_whole_scan() {
        let at = |user: &'static str, ip: &str, hour: i64| {
            let mut e = event(user, ip, "SHOW TABLES", 10);
            e.start = crate::time::Timestamp::from_secs(1_700_000_000 + hour * 3600);
            e.end = Some(e.start);
            e
        };
        // A day of hourly `SHOW TABLES` from an internal analyst: one info finding.
        let routine: Vec<_> = (0..24).map(|h| at("alice", "10.0.0.1", h)).collect();
        let found = run(&routine);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!((found[0].severity, found[0].count), (Severity::Info, 24));
        // The same from outside stays one finding per window: each hour dates a look around.
        let outside: Vec<_> = (0..24).map(|h| at("alice", "198.51.100.7", h)).collect();
        let found = run(&outside);
        assert!(found.len() > 1, "{found:#?}");
        assert!(found.iter().all(|f| f.severity == Severity::Medium));
    }

    #[test]
    fn ok_quiet_for_data_reads() {
        assert_eq!(
            recon("default", "198.51.100.7", "SELECT * FROM log_stream"),
            None
        );
        assert_eq!(recon("alice", "10.0.0.1", "SELECT 1"), None);
        // 26.x query_log names the implicit table of a SELECT without FROM.
        let mut e = event("alice", "10.0.0.1", "SELECT 'task-sk-1' AS ticket", 10);
        e.tables = Some(vec![std::borrow::Cow::Borrowed("system.one")]);
        assert!(run(&[e.clone()]).iter().all(|f| f.rule != RuleId::Recon));
        e.query = std::borrow::Cow::Borrowed("SELECT version()");
        assert!(run(&[e]).iter().any(|f| f.rule == RuleId::Recon));
        assert_eq!(
            recon(
                "alice",
                "10.0.0.1",
                "SELECT * FROM system.tables JOIN db.t USING x"
            ),
            None
        );
    }
}
