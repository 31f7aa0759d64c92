//! `external-client-read`
//!
//! ## What it flags
//! A client outside the internal networks that received query results above a threshold:
//! `external_read_bytes` (default 1 MiB) in one query, or `external_read_bytes_per_window`
//! summed over one window (default 1 MiB per hour). High for a single large result, medium
//! for many small ones adding up, critical from `critical_bytes` (default 100 MiB) in a window.
//!
//! ## Why it matters
//! Whoever the user is, bulk results leaving to an address outside the organisation are how
//! a leak looks from the database: a stolen password, a misrouted BI tool, an open port.
//!
//! ## Example
//! ```text
//! user=alice address=203.0.113.50 result_bytes=48000000 query="SELECT * FROM orders"
//! → high: `alice` from external 203.0.113.50 received 45.8 MiB in 1 query …
//! ```

use super::super::{describe_client, GroupKey, Groups, Hit, Observation, Settings, Verdict};
use crate::detect::finding::Group;
use crate::detect::{human_bytes, human_count, RuleId, Severity};
use crate::net::NetClass;
use crate::sql::StatementKind;

pub(crate) fn observe(obs: &Observation<'_, '_>, groups: &mut Groups) {
    let v = obs.event.volume;
    // For INSERT, result_bytes counts inserted data, which travelled *to* the server.
    if obs.client_class != NetClass::External || v.result_bytes == 0 {
        return;
    }
    if matches!(
        obs.kind(),
        StatementKind::Insert | StatementKind::InsertIntoFunction
    ) {
        return;
    }
    groups.add(
        obs.key(RuleId::ExternalClientRead),
        Hit {
            severity: Severity::Medium,
            time: obs.event.start,
            client_class: obs.client_class,
            sums: &[
                ("result_rows", v.result_rows),
                ("result_bytes", v.result_bytes),
            ],
            maxes: &[("max_result_bytes", v.result_bytes)],
            tables: &obs.tables(),
            targets: &[],
            evidence: obs.pending(v.result_bytes),
        },
    );
}

pub(crate) fn judge(key: &GroupKey, g: &Group, s: &Settings) -> Option<Verdict> {
    let t = &s.thresholds;
    let (sum, max) = (g.sum("result_bytes"), g.max("max_result_bytes"));
    let severity = if sum >= t.critical_bytes {
        Severity::Critical
    } else if max >= t.external_read_bytes {
        Severity::High
    } else if sum >= t.external_read_bytes_per_window {
        Severity::Medium
    } else {
        return None;
    };
    let hours = t.window_secs as f64 / 3600.0;
    let summary = format!(
        "{} received {} in {} quer{} within a {}{} window (largest {}); thresholds: {} per query, {} per window.",
        describe_client(key, g.client_class),
        human_bytes(sum),
        human_count(g.count),
        if g.count == 1 { "y" } else { "ies" },
        if hours.fract() == 0.0 { format!("{hours:.0}") } else { format!("{hours:.2}") },
        " h",
        human_bytes(max),
        human_bytes(t.external_read_bytes),
        human_bytes(t.external_read_bytes_per_window),
    );
    Some(Verdict {
        severity,
        summary,
        assumptions: Vec::new(),
        extra_metrics: vec![
            ("threshold_bytes_per_query", t.external_read_bytes),
            (
                "threshold_bytes_per_window",
                t.external_read_bytes_per_window,
            ),
        ],
    })
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::{event, run};
    use crate::detect::{RuleId, Severity};

    fn verdict(events: &[crate::event::QueryEvent<'static>]) -> Option<Severity> {
        run(events)
            .into_iter()
            .find(|f| f.rule == RuleId::ExternalClientRead)
            .map(|f| f.severity)
    }

    #[test]
    fn ok_single_large_and_summed_small() {
        assert_eq!(
            verdict(&[event("alice", "203.0.113.50", "SELECT * FROM t", 2 << 20)]),
            Some(Severity::High)
        );
        let small: Vec<_> = (0..20)
            .map(|_| event("alice", "203.0.113.50", "SELECT * FROM t", 100 << 10))
            .collect();
        assert_eq!(verdict(&small), Some(Severity::Medium));
        assert_eq!(
            verdict(&[event("alice", "203.0.113.50", "SELECT * FROM t", 200 << 20)]),
            Some(Severity::Critical)
        );
    }

    #[test]
    fn ok_quiet_for_internal_small_and_inserts() {
        assert_eq!(
            verdict(&[event("alice", "10.1.1.1", "SELECT * FROM t", 50 << 20)]),
            None
        );
        assert_eq!(
            verdict(&[event("alice", "203.0.113.50", "SELECT 1", 100)]),
            None
        );
        assert_eq!(
            verdict(&[event(
                "alice",
                "203.0.113.50",
                "INSERT INTO t FORMAT TSV",
                50 << 20
            )]),
            None
        );
    }
}
