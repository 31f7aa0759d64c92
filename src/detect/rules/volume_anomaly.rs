//! `volume-anomaly`
//!
//! ## What it flags
//! A client whose bucket (default one hour) of queries, rows read, result rows, result bytes
//! or bytes sent is far above its own baseline: robust Z > 3 **and** quantile distance Q > 3
//! **and** at least an absolute floor (see [`crate::detect::baseline`] for the method and its
//! fallbacks: own hour of day, own history, population of similar clients, static limits).
//! Medium; high when the score reaches 10 or the client is external; critical when an
//! external client's anomalous result bytes reach `critical_bytes`.
//!
//!
//! Also per query: a read whose result is far above what the same client's earlier runs of
//! the same query *shape* returned (text with literals replaced by `?`, whitespace collapsed,
//! lower-cased; at least `min_history` earlier runs, same Z/Q/floor test). The dashboard
//! query that always returns 40 KiB and today returns 3 GiB stands out even inside an hour
//! whose total looks ordinary.
//!
//! ## Why it matters
//! Thresholds that fit every client fit none: 2 GiB an hour is routine for the ETL job and a
//! breach for the dashboard account. A client suddenly reading or receiving far more than it
//! ever did is how stolen credentials and a `SELECT *` of a log table look in aggregate.
//!
//! ## Example
//! ```text
//! bi@10.0.0.6, 03:00–04:00: result_bytes 1.2 GiB; own baseline N=312 p50 21 MiB p99 29 MiB
//! → high: `bi` from internal 10.0.0.6: result_bytes 1.2 GiB in one bucket …, Z 4100.3, Q 14000.0
//! ```

use std::collections::BTreeMap;

use super::super::baseline::{
    Baseline, BaselineSource, BaselineState, ClientKey, Deviation, Metric, PendingBucket,
    PendingEvidence,
};
use super::super::{Observation, RawEvidence, Settings};
use crate::detect::{human_bytes, human_count, Evidence, Finding, RuleId, Severity};
use crate::net::NetClass;
use crate::time::Timestamp;

/// Heaviest queries kept per client bucket.
const EVIDENCE_PER_BUCKET: usize = 3;

/// What a bucket's finding will quote: its time span, query count and heaviest queries.
#[derive(Debug, Default)]
pub(crate) struct BucketEvidence {
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    pieces: Vec<RawEvidence>,
    /// Quoted by the earlier run(s) that saw this bucket open.
    carried: Vec<PendingEvidence>,
}

impl BucketEvidence {
    /// The heaviest queries of the bucket over every run, in input order.
    fn quoted(&self, paths: &[String]) -> Vec<Evidence> {
        self.ranked(paths).into_iter().map(|(_, e)| e).collect()
    }

    /// [`Self::quoted`] with each query's weight.
    fn ranked(&self, paths: &[String]) -> Vec<(u64, Evidence)> {
        let mut all: Vec<(u64, Evidence)> = self
            .carried
            .iter()
            .map(|c| {
                (
                    c.weight,
                    Evidence {
                        path: c.path.clone(),
                        line: c.line,
                        excerpt: Some(c.excerpt.clone()).filter(|s| !s.is_empty()),
                    },
                )
            })
            .collect();
        let mut pieces = self.pieces.clone();
        pieces.sort_by_key(|e| e.location);
        let weights: Vec<u64> = pieces.iter().map(|e| e.weight).collect();
        all.extend(
            weights
                .into_iter()
                .zip(crate::detect::resolve_evidence(pieces, paths)),
        );
        let order = |e: &Evidence| {
            (
                paths
                    .iter()
                    .position(|p| *p == e.path)
                    .unwrap_or(usize::MAX),
                e.line,
            )
        };
        // Heaviest first; of equal weights the earliest, as one run keeps them.
        all.sort_by(|a, b| b.0.cmp(&a.0).then(order(&a.1).cmp(&order(&b.1))));
        all.truncate(EVIDENCE_PER_BUCKET);
        all.sort_by_key(|(_, e)| order(e));
        all
    }
}

/// The strongest single-query anomaly of a client in one window.
#[derive(Debug)]
struct QueryAnomaly {
    dev: Deviation,
    evidence: RawEvidence,
    count: u64,
    first: Timestamp,
    last: Timestamp,
}

/// Evidence per (client, bucket), collected while scanning against a baseline.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    buckets: BTreeMap<(ClientKey, i64), BucketEvidence>,
    queries: BTreeMap<(ClientKey, Timestamp), QueryAnomaly>,
}

/// A query's shape: FNV-1a of its text with string and number literals replaced by `?`,
/// whitespace runs collapsed and ASCII lower-cased. Lexical, like [`crate::sql`].
pub(crate) fn query_shape(q: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut push = |c: char| {
        let mut buf = [0u8; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut chars = q.trim().chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        if c == '\'' || c == '"' {
            while let Some(d) = chars.next() {
                if d == '\\' {
                    chars.next();
                } else if d == c {
                    // A doubled quote is a quote inside the literal.
                    if chars.peek() == Some(&c) {
                        chars.next();
                        continue;
                    }
                    break;
                }
            }
            push('?');
            prev = '?';
        } else if c.is_ascii_digit() && !(prev.is_alphanumeric() || prev == '_') {
            while chars
                .peek()
                .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '.')
            {
                chars.next();
            }
            push('?');
            prev = '?';
        } else if c.is_whitespace() {
            if prev != ' ' {
                push(' ');
                prev = ' ';
            }
        } else {
            let l = c.to_ascii_lowercase();
            push(l);
            prev = l;
        }
    }
    h
}

impl Tracker {
    /// Takes over what earlier runs noted about buckets that were still open.
    pub(crate) fn seed(&mut self, pending: &[PendingBucket]) {
        for p in pending {
            let b = self.buckets.entry((p.key.clone(), p.bucket)).or_default();
            b.first = p.first_us.map(Timestamp);
            b.last = p.last_us.map(Timestamp);
            b.carried.clone_from(&p.evidence);
        }
    }

    /// Writes what this run noted about the buckets left open into the state, so the run that
    /// closes them reports their whole span and heaviest queries.
    pub(crate) fn carry(&self, state: &mut BaselineState, paths: &[String]) {
        for p in &mut state.pending {
            let Some(b) = self.buckets.get(&(p.key.clone(), p.bucket)) else {
                continue;
            };
            p.first_us = b.first.map(|t| t.0);
            p.last_us = b.last.map(|t| t.0);
            p.evidence = b
                .ranked(paths)
                .into_iter()
                .map(|(weight, e)| PendingEvidence {
                    weight,
                    path: e.path,
                    line: e.line,
                    excerpt: e.excerpt.unwrap_or_default(),
                })
                .collect();
        }
    }

    /// Keeps the strongest anomalous query of the client's window.
    pub(crate) fn observe_query(
        &mut self,
        obs: &Observation<'_, '_>,
        key: &ClientKey,
        dev: Deviation,
    ) {
        let t = obs.event.start;
        let slot = self.queries.entry((key.clone(), obs.window()));
        let q = slot.or_insert_with(|| QueryAnomaly {
            dev,
            evidence: obs.evidence(dev.observed),
            count: 0,
            first: t,
            last: t,
        });
        q.count += 1;
        q.first = q.first.min(t);
        q.last = q.last.max(t);
        if dev.score_x100 > q.dev.score_x100 {
            q.dev = dev;
            q.evidence = obs.evidence(dev.observed);
        }
    }

    pub(crate) fn observe(&mut self, obs: &Observation<'_, '_>, key: &ClientKey, bucket_secs: i64) {
        let v = obs.event.volume;
        let weight = v.result_bytes.saturating_add(v.read_rows).saturating_add(1);
        let bucket = obs.event.start.floor_to(bucket_secs).secs();
        let b = self.buckets.entry((key.clone(), bucket)).or_default();
        let t = obs.event.start;
        b.first = Some(b.first.map_or(t, |f| f.min(t)));
        b.last = Some(b.last.map_or(t, |l| l.max(t)));
        if b.pieces.len() < EVIDENCE_PER_BUCKET {
            b.pieces.push(obs.evidence(weight));
        } else if let Some(min) = b
            .pieces
            .iter_mut()
            .min_by_key(|e| (e.weight, std::cmp::Reverse(e.location)))
        {
            if weight > min.weight {
                *min = obs.evidence(weight);
            }
        }
    }
}

/// Severity from the strongest deviation of a bucket.
fn severity(d: &Deviation, external: bool, s: &Settings) -> Severity {
    if external && d.metric == Metric::ResultBytes && d.observed >= s.thresholds.critical_bytes {
        Severity::Critical
    } else if external || d.score_x100 >= 1_000 {
        Severity::High
    } else {
        Severity::Medium
    }
}

fn amount(m: Metric, v: u64) -> String {
    match m {
        Metric::ResultBytes | Metric::SentBytes => human_bytes(v),
        _ => human_count(v),
    }
}

fn hundredths(v: u64) -> String {
    format!("{}.{:02}", v / 100, v % 100)
}

/// Describes where a baseline came from, for summaries and assumptions.
pub(crate) fn describe_source(d: &Deviation, b: &Baseline, external: bool) -> String {
    match d.source {
        BaselineSource::OwnHourOfDay => format!("its own history at this hour of day (N={})", d.n),
        BaselineSource::Own => format!("its own history (N={})", d.n),
        BaselineSource::Population => format!(
            "the population of {} {} clients (too little own history; N={})",
            b.population_size(external),
            if external { "external" } else { "internal" },
            d.n
        ),
        BaselineSource::Static => "static limits (no own history and no population)".to_owned(),
    }
}

/// The deviation metrics every baseline finding carries.
pub(crate) fn deviation_metrics(d: &Deviation) -> Vec<(&'static str, u64)> {
    vec![
        ("observed", d.observed),
        ("baseline_n", d.n),
        ("p50", d.p50),
        ("p99", d.p99),
        ("mad", d.mad),
        ("score_x100", d.score_x100),
        ("z_x100", d.z_x100),
        ("q_x100", d.q_x100),
        ("floor", d.floor),
        ("baseline_source", d.source.code()),
    ]
}

/// Scores every bucket of the scan and returns the anomalous ones as findings.
///
/// With `closed_only` (a scan that updates the state, i.e. an incremental cron run) the newest
/// bucket is left alone: it is still open, goes into the state as pending, and is judged —
/// once, whole — by the run that sees a later bucket. A one-off scan judges every bucket.
pub(crate) fn judge_all(
    b: &Baseline,
    tracker: &Tracker,
    s: &Settings,
    paths: &[String],
    closed_only: bool,
) -> Vec<Finding> {
    let bucket_secs = b.state().bucket_secs;
    let open = if closed_only { b.newest_bucket() } else { None };
    let mut out = Vec::new();
    for (key, bucket, values) in b.buckets() {
        if Some(bucket) == open {
            continue;
        }
        let external = b.is_external(key);
        let devs: Vec<Deviation> = Metric::ALL
            .into_iter()
            .zip(values.iter())
            .filter(|(_, v)| **v > 0)
            .map(|(m, v)| b.deviation(key, bucket, m, *v))
            .filter(|d| d.anomalous)
            .collect();
        let Some(top) = devs
            .iter()
            .max_by_key(|d| (d.score_x100, std::cmp::Reverse(d.metric)))
        else {
            continue;
        };
        let class = s.classify(key.address);
        let ev = tracker.buckets.get(&(key.clone(), bucket));
        let start = Timestamp::from_secs(bucket);
        let user = key.user.clone().unwrap_or_else(|| "*".to_owned());
        let who = match key.address {
            Some(ip) => format!("`{user}` from {class} {ip}"),
            None => format!("`{user}`"),
        };
        let others: Vec<String> = devs
            .iter()
            .filter(|d| d.metric != top.metric)
            .map(|d| format!("{} {}", d.metric.name(), amount(d.metric, d.observed)))
            .collect();
        let summary = format!(
            "{who}: {} {} in the {} s bucket from {start}, against {}: p50 {}, p99 {}, MAD {}; Z {}, Q {} (both above {}), floor {}{}.",
            top.metric.name(),
            amount(top.metric, top.observed),
            bucket_secs,
            describe_source(top, b, external),
            amount(top.metric, top.p50),
            amount(top.metric, top.p99),
            amount(top.metric, top.mad),
            hundredths(top.z_x100),
            hundredths(top.q_x100),
            hundredths(u64::try_from(b.config().z_threshold_x100).unwrap_or(0)),
            amount(top.metric, top.floor),
            if others.is_empty() {
                String::new()
            } else {
                format!("; also anomalous: {}", others.join(", "))
            }
        );
        let mut metrics: BTreeMap<&'static str, u64> = deviation_metrics(top).into_iter().collect();
        for (m, v) in Metric::ALL.into_iter().zip(values.iter()) {
            metrics.insert(m.name(), *v);
        }
        metrics.insert("bucket_secs", u64::try_from(bucket_secs).unwrap_or(0));
        let mut assumptions = Vec::new();
        if top.source != BaselineSource::Own && top.source != BaselineSource::OwnHourOfDay {
            assumptions.push(format!(
                "judged against {}, not the client's own history",
                describe_source(top, b, external)
            ));
        }
        let evidence = ev.map(|e| e.quoted(paths)).unwrap_or_default();
        out.push(Finding {
            rule: RuleId::VolumeAnomaly,
            severity: severity(top, external || class == NetClass::External, s),
            first_seen: ev.and_then(|e| e.first).unwrap_or(start),
            last_seen: ev.and_then(|e| e.last).unwrap_or(start),
            user,
            client_ip: key.address,
            client_class: class,
            count: values.first().copied().unwrap_or(0),
            summary,
            metrics,
            tables: Vec::new(),
            targets: Vec::new(),
            assumptions,
            evidence,
        });
    }
    for ((key, _), q) in &tracker.queries {
        let class = s.classify(key.address);
        let user = key.user.clone().unwrap_or_else(|| "*".to_owned());
        let who = match key.address {
            Some(ip) => format!("`{user}` from {class} {ip}"),
            None => format!("`{user}`"),
        };
        let d = &q.dev;
        let mut metrics: BTreeMap<&'static str, u64> = deviation_metrics(d).into_iter().collect();
        metrics.insert("per_query", 1);
        out.push(Finding {
            rule: RuleId::VolumeAnomaly,
            severity: severity(d, class == NetClass::External, s),
            first_seen: q.first,
            last_seen: q.last,
            user,
            client_ip: key.address,
            client_class: class,
            count: q.count,
            summary: format!(
                "{who}: one query returned {} where its {} earlier runs of the same query returned p50 {}, p99 {} (MAD {}); Z {}, Q {}, floor {}{}.",
                human_bytes(d.observed),
                human_count(d.n),
                human_bytes(d.p50),
                human_bytes(d.p99),
                human_bytes(d.mad),
                hundredths(d.z_x100),
                hundredths(d.q_x100),
                human_bytes(d.floor),
                if q.count > 1 {
                    format!("; {} such queries in this window", q.count)
                } else {
                    String::new()
                }
            ),
            metrics,
            tables: Vec::new(),
            targets: Vec::new(),
            assumptions: Vec::new(),
            evidence: vec![Evidence {
                path: paths
                    .get(q.evidence.location.source.0 as usize)
                    .cloned()
                    .unwrap_or_default(),
                line: q.evidence.location.line,
                excerpt: Some(q.evidence.excerpt.clone()).filter(|s| !s.is_empty()),
            }],
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::detect::baseline::BaselineState;
    use crate::detect::tests::event;
    use crate::detect::{BaselineMode, Detector, RuleId, Settings};
    use crate::event::Event;
    use crate::time::Timestamp;
    use crate::Config;

    /// Learns 30 hours of ~1 MiB for `bi`, then scans one hour with `bytes`.
    fn scan(bytes: u64) -> Vec<crate::Finding> {
        let config = Config::default();
        let settings = Settings::new(&config).unwrap();
        let mut learn = Detector::new(settings.clone());
        learn
            .attach_baseline(BaselineState::new(&config.baseline), BaselineMode::Learn)
            .unwrap();
        for h in 0..30 {
            let mut e = event(
                "bi",
                "10.0.0.6",
                "SELECT * FROM sales",
                (1 << 20) + h * 10_000,
            );
            e.start = Timestamp::from_secs(h as i64 * 3600);
            learn.observe(&Event::Query(e));
        }
        let state = learn.finish(&[]).baseline.unwrap();
        let mut d = Detector::new(settings);
        d.attach_baseline(state, BaselineMode::Scan).unwrap();
        let mut e = event("bi", "10.0.0.6", "SELECT * FROM sales", bytes);
        e.start = Timestamp::from_secs(40 * 3600);
        d.observe(&Event::Query(e));
        d.finish(&["log".to_owned()])
            .findings
            .into_iter()
            .filter(|f| f.rule == RuleId::VolumeAnomaly && !f.metrics.contains_key("per_query"))
            .collect()
    }

    #[test]
    fn ok_spike_flagged_with_baseline_numbers() {
        let f = scan(500 << 20);
        assert_eq!(f.len(), 1, "{f:#?}");
        let m = &f[0].metrics;
        assert_eq!(m["result_bytes"], 500 << 20);
        // The strongest metric is reported; here rows and bytes all jumped 500-fold.
        let top = ["read_rows", "result_rows", "result_bytes"]
            .into_iter()
            .find(|k| m[*k] == m["observed"])
            .unwrap();
        assert!(f[0].summary.contains(top), "{}", f[0].summary);
        assert_eq!(m["baseline_n"], 29);
        assert!(m["p50"] * 400 < m["observed"] && m["p99"] * 300 < m["observed"]);
        assert!(m["score_x100"] > 300);
        assert_eq!(m["baseline_source"], 2);
        assert!(
            f[0].summary.contains("its own history (N=29)"),
            "{}",
            f[0].summary
        );
        assert_eq!(f[0].evidence.len(), 1);
    }

    #[test]
    fn ok_query_shapes_ignore_literals() {
        use super::query_shape;
        assert_eq!(
            query_shape("SELECT * FROM t WHERE id = 42 AND s = 'a''b'"),
            query_shape("select *  from t where id = 7 and s = 'zz'")
        );
        assert_ne!(
            query_shape("SELECT a FROM t"),
            query_shape("SELECT b FROM t")
        );
        assert_ne!(
            query_shape("SELECT * FROM t1"),
            query_shape("SELECT * FROM t2")
        );
    }

    #[test]
    fn ok_single_query_far_above_its_shape() {
        let config = Config::default();
        let settings = Settings::new(&config).unwrap();
        let mut learn = Detector::new(settings.clone());
        learn
            .attach_baseline(BaselineState::new(&config.baseline), BaselineMode::Learn)
            .unwrap();
        // 30 runs a day of a ~40 KiB dashboard query, alongside a big ETL volume.
        for i in 0..30 {
            let mut e = event(
                "bi",
                "10.0.0.6",
                "SELECT * FROM kpi WHERE day = 1",
                40_000 + i * 100,
            );
            e.start = Timestamp::from_secs(i as i64 * 600);
            learn.observe(&Event::Query(e));
        }
        let state = learn.finish(&[]).baseline.unwrap();
        let mut d = Detector::new(settings);
        d.attach_baseline(state, BaselineMode::Scan).unwrap();
        let mut e = event(
            "bi",
            "10.0.0.6",
            "SELECT * FROM kpi WHERE day = 2",
            300 << 20,
        );
        e.start = Timestamp::from_secs(40 * 3600);
        d.observe(&Event::Query(e));
        let f: Vec<_> = d
            .finish(&["log".to_owned()])
            .findings
            .into_iter()
            .filter(|f| f.rule == RuleId::VolumeAnomaly && f.metrics.contains_key("per_query"))
            .collect();
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].metrics["observed"], 300 << 20);
        assert_eq!(f[0].metrics["baseline_n"], 30);
        assert!(f[0].summary.contains("30 earlier runs"), "{}", f[0].summary);
    }

    #[test]
    fn ok_ordinary_and_small_buckets_are_quiet() {
        assert!(scan(1 << 20).is_empty());
        // Far above the baseline but under the 10 MiB floor.
        assert!(scan(8 << 20).is_empty());
    }
}
