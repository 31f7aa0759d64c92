//! `first-seen-client`
//!
//! ## What it flags
//! A user or a client address that the baseline has never seen, reading data (a read that
//! returned or scanned rows). Medium for an internal address, high for an external one. The
//! finding carries what similar clients usually receive per bucket (the population profile,
//! or the static limits) and scores the newcomer's volume against it. Silent while the
//! baseline is empty: on a first run everything is new.
//!
//! ## Why it matters
//! Novelty is often a stronger egress signal than volume (prior-art §4: Sumo "First Seen",
//! Datadog `new_value`). The DeepSeek reader was a new address issuing `SHOW TABLES` and
//! `SELECT * FROM log_stream`: small at first, and never seen before.
//!
//! ## Example
//! ```text
//! user=default address=203.0.113.9 query="SHOW TABLES"  (not in the baseline)
//! → high: `default` from external 203.0.113.9 is new to the baseline (address never seen) …
//! ```

use super::super::baseline::{Baseline, Metric};
use super::super::{describe_client, GroupKey, Groups, Hit, Observation, Verdict};
use super::volume_anomaly::{describe_source, deviation_metrics};
use crate::detect::finding::Group;
use crate::detect::{human_bytes, human_count, RuleId, Severity};
use crate::event::QueryOutcome;
use crate::net::NetClass;

pub(crate) fn observe(obs: &Observation<'_, '_>, b: &Baseline, groups: &mut Groups) {
    let e = obs.event;
    if b.is_empty() || e.outcome != QueryOutcome::Finished || !obs.kind().is_read() {
        return;
    }
    if e.volume.result_rows == 0 && e.volume.read_rows == 0 {
        return;
    }
    let new_user = !b.knows_user(&e.user);
    let new_address = !b.knows_address(e.client);
    if !new_user && !new_address {
        return;
    }
    let severity = if obs.client_class == NetClass::External {
        Severity::High
    } else {
        Severity::Medium
    };
    groups.add(
        obs.key(RuleId::FirstSeenClient),
        Hit {
            severity,
            time: e.start,
            client_class: obs.client_class,
            sums: &[
                ("result_bytes", e.volume.result_bytes),
                ("result_rows", e.volume.result_rows),
                ("read_rows", e.volume.read_rows),
                ("new_user", u64::from(new_user)),
                ("new_address", u64::from(new_address)),
            ],
            maxes: &[],
            tables: &obs.tables(),
            targets: &[],
            evidence: obs.pending(e.volume.result_bytes.saturating_add(1)),
        },
    );
}

pub(crate) fn judge(key: &GroupKey, g: &Group, b: &Baseline) -> Option<Verdict> {
    let ck = b.key(&key.user, key.client);
    let d = b.deviation(
        &ck,
        key.window.secs(),
        Metric::ResultBytes,
        g.sum("result_bytes"),
    );
    let external = g.client_class == NetClass::External;
    let what = match (g.sum("new_user") > 0, g.sum("new_address") > 0) {
        (true, true) => "user and address never seen",
        (true, false) => "user never seen",
        _ => "address never seen",
    };
    let mut extra = deviation_metrics(&d);
    extra.push(("known_clients", b.state().clients.len() as u64));
    Some(Verdict {
        severity: g.severity,
        summary: format!(
            "{} is new to the baseline ({what}; {} known clients) and read data: {} quer{}, {} in results; against {}: p50 {}, p99 {}, score {}.{:02}.",
            describe_client(key, g.client_class),
            human_count(b.state().clients.len() as u64),
            human_count(g.count),
            if g.count == 1 { "y" } else { "ies" },
            human_bytes(g.sum("result_bytes")),
            describe_source(&d, b, external),
            human_bytes(d.p50),
            human_bytes(d.p99),
            d.score_x100 / 100,
            d.score_x100 % 100,
        ),
        assumptions: vec![
            "the baseline covers the client's normal activity; clients evicted from it look new"
                .to_owned(),
        ],
        extra_metrics: extra,
    })
}

#[cfg(test)]
mod tests {
    use crate::detect::baseline::BaselineState;
    use crate::detect::tests::event;
    use crate::detect::{BaselineMode, Detector, RuleId, Settings, Severity};
    use crate::event::Event;
    use crate::Config;

    fn findings(
        learned: &[(&'static str, &str)],
        seen: (&'static str, &str),
    ) -> Vec<crate::Finding> {
        let config = Config::default();
        let settings = Settings::new(&config).unwrap();
        let mut state = BaselineState::new(&config.baseline);
        if !learned.is_empty() {
            let mut learn = Detector::new(settings.clone());
            learn.attach_baseline(state, BaselineMode::Learn).unwrap();
            for (u, ip) in learned {
                learn.observe(&Event::Query(event(u, ip, "SELECT * FROM t", 1000)));
            }
            state = learn.finish(&[]).baseline.unwrap();
        }
        let mut d = Detector::new(settings);
        d.attach_baseline(state, BaselineMode::Scan).unwrap();
        d.observe(&Event::Query(event(
            seen.0,
            seen.1,
            "SELECT * FROM t",
            1000,
        )));
        d.finish(&["log".to_owned()])
            .findings
            .into_iter()
            .filter(|f| f.rule == RuleId::FirstSeenClient)
            .collect()
    }

    #[test]
    fn ok_new_external_address_is_high() {
        let f = findings(&[("bi", "10.0.0.6")], ("bi", "203.0.113.9"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(f[0].metrics["new_address"], 1);
        assert_eq!(f[0].metrics["new_user"], 0);
        assert_eq!(f[0].metrics["observed"], 1000);
        assert!(f[0].metrics.contains_key("p99"));
    }

    #[test]
    fn ok_known_client_and_empty_baseline_are_quiet() {
        assert!(findings(&[("bi", "10.0.0.6")], ("bi", "10.0.0.6")).is_empty());
        assert!(findings(&[], ("bi", "10.0.0.6")).is_empty());
        let f = findings(&[("bi", "10.0.0.6")], ("eve", "10.0.0.6"));
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].metrics["new_user"], 1);
    }
}
