//! `first-seen-table`
//!
//! ## What it flags
//! A client the baseline knows reading a table it never read before (system tables aside).
//! Low; the sensitive-table patterns of the configuration raise it. The finding scores the
//! read's result bytes against the client's own volume baseline and lists the new tables.
//!
//! ## Why it matters
//! Credentials that are stolen keep their user and often their address (a compromised app
//! server), but not their habits: the reporting account that suddenly reads `users` or
//! `log_stream` is exploring. Cheap to check, and explains itself.
//!
//! ## Example
//! ```text
//! bi@10.0.0.6 has read sales.orders for 13 days; today: SELECT * FROM default.log_stream
//! → low: `bi` from internal 10.0.0.6 read 1 table it never read: default.log_stream …
//! ```

use super::super::baseline::{Baseline, Metric};
use super::super::{describe_client, is_system_table, GroupKey, Groups, Hit, Observation, Verdict};
use super::volume_anomaly::{describe_source, deviation_metrics};
use crate::detect::finding::Group;
use crate::detect::{human_bytes, human_count, RuleId, Severity};
use crate::event::QueryOutcome;

pub(crate) fn observe(
    obs: &Observation<'_, '_>,
    b: &Baseline,
    tables: &[String],
    groups: &mut Groups,
) {
    let e = obs.event;
    if e.outcome != QueryOutcome::Finished || !obs.kind().is_read() {
        return;
    }
    let key = b.key(&e.user, e.client);
    let Some(h) = b.history(&key) else { return };
    if h.tables_dropped > 0 {
        // The remembered set is incomplete: a "new" table may just have been dropped.
        return;
    }
    let new: Vec<String> = tables
        .iter()
        .filter(|t| !is_system_table(t) && !h.tables.contains(*t))
        .cloned()
        .collect();
    if new.is_empty() {
        return;
    }
    groups.add(
        obs.key(RuleId::FirstSeenTable),
        Hit {
            severity: Severity::Low,
            time: e.start,
            client_class: obs.client_class,
            sums: &[
                ("result_bytes", e.volume.result_bytes),
                ("read_rows", e.volume.read_rows),
            ],
            maxes: &[],
            tables: &new,
            targets: &[],
            evidence: obs.pending(e.volume.result_bytes.saturating_add(1)),
        },
    );
}

pub(crate) fn judge(key: &GroupKey, g: &Group, b: &Baseline) -> Option<Verdict> {
    let ck = b.key(&key.user, key.client);
    let known = b.history(&ck).map_or(0, |h| h.tables.len() as u64);
    let d = b.deviation(
        &ck,
        key.window.secs(),
        Metric::ResultBytes,
        g.sum("result_bytes"),
    );
    let names: Vec<&str> = g.tables.iter().map(String::as_str).take(5).collect();
    let mut extra = deviation_metrics(&d);
    extra.push(("known_tables", known));
    extra.push(("new_tables", g.tables.len() as u64));
    Some(Verdict {
        severity: g.severity,
        summary: format!(
            "{} read {} table{} it never read before ({} known): {}; {} in {} quer{}, against {}: p50 {}, p99 {}, score {}.{:02}.",
            describe_client(key, g.client_class),
            g.tables.len(),
            if g.tables.len() == 1 { "" } else { "s" },
            human_count(known),
            names.join(", "),
            human_bytes(g.sum("result_bytes")),
            human_count(g.count),
            if g.count == 1 { "y" } else { "ies" },
            describe_source(&d, b, g.client_class == crate::net::NetClass::External),
            human_bytes(d.p50),
            human_bytes(d.p99),
            d.score_x100 / 100,
            d.score_x100 % 100,
        ),
        assumptions: Vec::new(),
        extra_metrics: extra,
    })
}

#[cfg(test)]
mod tests {
    use crate::detect::baseline::BaselineState;
    use crate::detect::tests::event;
    use crate::detect::{BaselineMode, Detector, RuleId, Settings};
    use crate::event::Event;
    use crate::Config;

    fn findings(query: &'static str) -> Vec<crate::Finding> {
        let config = Config::default();
        let settings = Settings::new(&config).unwrap();
        let mut learn = Detector::new(settings.clone());
        learn
            .attach_baseline(BaselineState::new(&config.baseline), BaselineMode::Learn)
            .unwrap();
        learn.observe(&Event::Query(event(
            "bi",
            "10.0.0.6",
            "SELECT * FROM sales.orders",
            10,
        )));
        let state = learn.finish(&[]).baseline.unwrap();
        assert!(state.clients["bi@10.0.0.6"].tables.contains("sales.orders"));
        let mut d = Detector::new(settings);
        d.attach_baseline(state, BaselineMode::Scan).unwrap();
        d.observe(&Event::Query(event("bi", "10.0.0.6", query, 10)));
        d.finish(&["log".to_owned()])
            .findings
            .into_iter()
            .filter(|f| f.rule == RuleId::FirstSeenTable)
            .collect()
    }

    #[test]
    fn ok_new_table_flagged_known_and_system_not() {
        let f = findings("SELECT * FROM default.log_stream");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].tables, ["default.log_stream"]);
        assert_eq!(f[0].metrics["known_tables"], 1);
        assert!(findings("SELECT count() FROM sales.orders").is_empty());
        assert!(findings("SELECT * FROM system.tables").is_empty());
    }
}
