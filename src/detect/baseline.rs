//! Per-client baselines: keys, buckets and numbers — never formats, files or findings.
//!
//! A *client key* is `user@address` by default (or the user, or the address, by
//! [`KeyMode`]). Every event adds its numbers to the bucket (default one hour) it starts in:
//! queries, read_rows, result_rows, result_bytes and `sent_bytes` (the bytes a proxy's access
//! log says it sent for the client's requests: a request paired with its query_log row adds the
//! server's result bytes to one and the proxy's bytes to the other; a request only the proxy
//! logged adds its bytes to both). A client's *history* is one HDR histogram per metric of
//! its per-bucket values (only buckets in which it was active; an idle hour is not a zero),
//! plus one histogram per hour of day (the server's wall-clock hour, in the configured zone, so
//! a 09:00–17:00 rhythm survives a DST change), plus the tables it read, plus one histogram of
//! single query result bytes per query shape (normalized text, hashed by the caller).
//!
//! ## How a bucket is scored
//! Against the history *before* the current scan, with two robust distances in the spirit of
//! Microsoft Sentinel's volume rule (prior-art §4.1), with the median and MAD standing in for
//! Sentinel's mean and standard deviation so that a few past spikes cannot hide the next one:
//!
//! * robust **Z** = (x − p50) / (1.4826 · MAD + 1), where 1.4826 = 1/Φ⁻¹(0.75) (computed with
//!   statrs) makes the MAD estimate a standard deviation under normality, and the `+ 1` keeps
//!   a perfectly flat client from dividing by zero;
//! * quantile distance **Q** = (x − p99) / (p99 − p50 + 1): how many "upper spreads" above the
//!   client's own 99th percentile the value lies.
//!
//! Both spreads are floored at p50/8 (a relative margin, like the ±0.5 × median fallback of
//! Grafana's robust bands): a client that reads the same 30 MiB every hour has a MAD near 0
//! and would otherwise alert on a 2 % wobble.
//!
//! A bucket is anomalous when Z > 3 **and** Q > 3 **and** x ≥ an absolute floor (10 MiB of
//! results, 1 M rows read, … per bucket), with N ≥ 20 buckets of history. Z alone fires on
//! heavy-tailed clients; Q alone fires on clients with a narrow spread; the floor stops
//! near-idle clients alerting on noise. Score = (Z + Q) / 2. All arithmetic on decisions is
//! integer (hundredths), so native and wasm agree bit for bit.
//!
//! ## Fallbacks, in order (the finding says which was used)
//! 1. **own, hour of day** — once the client's history spans `seasonal_days` (14) and that
//!    hour of day has `min_seasonal_history` buckets;
//! 2. **own** — N ≥ `min_history` (20) active buckets;
//! 3. **population** — the medians, over clients of the same network class with enough own
//!    history (at least `min_population` of them), of their p50, p99 and MAD (statrs);
//! 4. **static** — fixed per-bucket limits (`static_limit`); score = x / limit.
//!
//! ## State
//! [`BaselineState`] is plain serde data, versioned ([`STATE_VERSION`]; version 1 is read),
//! bounded (`max_keys` clients, least recently seen evicted and counted; during a scan at most
//! `max_tracked_clients` clients have buckets, the rest are counted). Histograms are stored as
//! `[value, count]` pairs of their recorded buckets. The bucket that was still open at the end
//! of the last run is kept apart (`pending`) and completed by the next run, so that two
//! incremental runs over a growing log leave the same state as one run over all of it; a run
//! that updates the state judges only closed buckets, so the open one is judged once, whole, by
//! the run that closes it. The `sources` and `pulls` maps belong to the shell (high-water
//! marks); the library only carries them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use statrs::distribution::{ContinuousCDF, Normal};
use statrs::statistics::{Data, Median};

use crate::config::{BaselineConfig, KeyMode, MetricValues};
use crate::time::{Timestamp, Zone};

/// The state file format version this build writes (it reads 1 too; see [`BaselineState::check`]).
pub const STATE_VERSION: u32 = 2;
/// The oldest state file format version this build reads.
pub const STATE_VERSION_MIN: u32 = 1;
/// The `format` tag of a state file.
pub const STATE_FORMAT: &str = "chaudit-baseline";
/// The spreads used by Z and Q are at least the median divided by this.
const RELATIVE_SPREAD: i128 = 8;
/// Significant digits of every histogram (1 % precision).
const SIGFIG: u8 = 2;

/// A baselined quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Query executions.
    Queries,
    /// Rows read on the client's behalf.
    ReadRows,
    /// Result rows sent.
    ResultRows,
    /// Result bytes sent.
    ResultBytes,
    /// Bytes an HTTP front end sent (access logs).
    SentBytes,
}

impl Metric {
    /// Every metric, in storage order.
    pub const ALL: [Self; 5] = [
        Self::Queries,
        Self::ReadRows,
        Self::ResultRows,
        Self::ResultBytes,
        Self::SentBytes,
    ];

    /// The snake_case name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Queries => "queries",
            Self::ReadRows => "read_rows",
            Self::ResultRows => "result_rows",
            Self::ResultBytes => "result_bytes",
            Self::SentBytes => "sent_bytes",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// This metric's entry in a [`MetricValues`].
    #[must_use]
    pub fn of(self, v: &MetricValues) -> u64 {
        match self {
            Self::Queries => v.queries,
            Self::ReadRows => v.read_rows,
            Self::ResultRows => v.result_rows,
            Self::ResultBytes => v.result_bytes,
            Self::SentBytes => v.sent_bytes,
        }
    }
}

/// Per-bucket values, indexed by [`Metric`] order.
pub type Values = [u64; 5];

/// Identifies a client in a baseline.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientKey {
    /// The user, unless keyed by address only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The address, unless keyed by user only (or not logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
}

impl ClientKey {
    /// The key for `user` at `address` under `mode`.
    #[must_use]
    pub fn new(mode: KeyMode, user: &str, address: Option<IpAddr>) -> Self {
        match mode {
            KeyMode::UserAddress => Self {
                user: Some(user.to_owned()),
                address,
            },
            KeyMode::User => Self {
                user: Some(user.to_owned()),
                address: None,
            },
            KeyMode::Address => Self {
                user: None,
                address,
            },
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.user, &self.address) {
            (Some(u), Some(a)) => write!(f, "{u}@{a}"),
            (Some(u), None) => f.write_str(u),
            (None, Some(a)) => write!(f, "{a}"),
            (None, None) => f.write_str("-"),
        }
    }
}

/// HDR bucketing (hdrhistogram, 2 significant digits: every value is stored as the
/// highest value equivalent to it, within 1 %), counted sparsely: a dense HDR counts array
/// is ~12–24 KB whatever the data, and a client has 125 histograms (5 metrics, and 5 per hour
/// of day), while a client's history has at most one entry per bucket it was active in.
/// Serialized as `[[value, count], …]` in value order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hist {
    counts: BTreeMap<u64, u64>,
    total: u64,
}

/// The shared bucketing template (no counts are ever recorded in it).
fn template() -> Option<&'static Histogram<u8>> {
    static T: std::sync::OnceLock<Option<Histogram<u8>>> = std::sync::OnceLock::new();
    T.get_or_init(|| Histogram::new(SIGFIG).ok()).as_ref()
}

/// The value HDR reports for `v`: the highest value equivalent to it.
fn quantize(v: u64) -> u64 {
    // Bucketing math only; values past i64::MAX (never a real count) stay as they are.
    match template() {
        Some(t) if v < (1 << 62) => t.highest_equivalent(v),
        _ => v,
    }
}

impl Hist {
    fn record(&mut self, v: u64) {
        self.record_n(quantize(v), 1);
    }

    fn record_n(&mut self, v: u64, n: u64) {
        let c = self.counts.entry(v).or_insert(0);
        *c = c.saturating_add(n);
        self.total = self.total.saturating_add(n);
    }

    /// Values recorded.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.total
    }

    fn merge(&mut self, other: &Self) {
        for (v, c) in &other.counts {
            self.record_n(*v, *c);
        }
    }

    /// Whether nothing was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The value at `pct` percent (0..=100), as HDR's `value_at_quantile` rounds it
    /// (the first value whose cumulative count reaches `round(pct % · N)`, at least 1);
    /// 0 when empty. Integer arithmetic only.
    #[must_use]
    pub fn percentile(&self, pct: u64) -> u64 {
        let target = (u128::from(self.total) * u128::from(pct.min(100)) + 50) / 100;
        let target = u64::try_from(target).unwrap_or(u64::MAX).max(1);
        let mut seen = 0u64;
        for (v, c) in &self.counts {
            seen = seen.saturating_add(*c);
            if seen >= target {
                return *v;
            }
        }
        self.counts.keys().next_back().copied().unwrap_or(0)
    }

    /// Median absolute deviation from the median (integer).
    #[must_use]
    pub fn mad(&self) -> u64 {
        let m = self.percentile(50);
        let mut dev: Vec<(u64, u64)> = self
            .counts
            .iter()
            .map(|(v, c)| (v.abs_diff(m), *c))
            .collect();
        dev.sort_unstable();
        let half = self.total.div_ceil(2);
        let mut seen = 0u64;
        for (d, c) in dev {
            seen = seen.saturating_add(c);
            if seen >= half {
                return d;
            }
        }
        0
    }
}

impl Serialize for Hist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<[u64; 2]> = self.counts.iter().map(|(v, c)| [*v, *c]).collect();
        pairs.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = Vec::<[u64; 2]>::deserialize(d)?;
        let mut h = Self::default();
        for [v, c] in pairs {
            // Re-quantized, so a hand-edited value still lands on an HDR bucket.
            h.record_n(quantize(v), c);
        }
        Ok(h)
    }
}

/// One client's learned history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientHistory {
    /// The client.
    pub key: ClientKey,
    /// Whether its address was external when last seen.
    pub external: bool,
    /// Start of its first active bucket (Unix seconds).
    pub first_bucket: i64,
    /// Start of its last active bucket (Unix seconds).
    pub last_bucket: i64,
    /// Per-bucket values of each metric, by [`Metric`] name.
    pub metrics: BTreeMap<Metric, Hist>,
    /// Per hour of day (0–23 on the server's wall clock, [`BaselineState::hour_zone`]), per
    /// metric.
    pub hourly: BTreeMap<u8, BTreeMap<Metric, Hist>>,
    /// Tables it read (capped; `tables_dropped` counts the rest).
    pub tables: BTreeSet<String>,
    /// Distinct tables not remembered because of the cap.
    pub tables_dropped: u64,
    /// Result bytes of single queries, per query shape (hex hash of the normalized text).
    #[serde(default)]
    pub queries: BTreeMap<String, Hist>,
    /// Query shapes not remembered because of the cap.
    #[serde(default)]
    pub queries_dropped: u64,
}

impl ClientHistory {
    /// Active buckets learned.
    #[must_use]
    pub fn n(&self) -> u64 {
        self.metrics.get(&Metric::Queries).map_or(0, Hist::len)
    }

    fn fold(&mut self, bucket: i64, hour: u8, bucket_secs: i64, v: &Values) {
        if self.n() == 0 {
            self.first_bucket = bucket;
        }
        self.first_bucket = self.first_bucket.min(bucket);
        self.last_bucket = self.last_bucket.max(bucket);
        for m in Metric::ALL {
            let x = v.get(m.index()).copied().unwrap_or(0);
            self.metrics.entry(m).or_default().record(x);
            if bucket_secs <= 3600 {
                self.hourly
                    .entry(hour)
                    .or_default()
                    .entry(m)
                    .or_default()
                    .record(x);
            }
        }
    }
}

/// A bucket not yet closed when the state was saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingBucket {
    /// The client.
    pub key: ClientKey,
    /// Whether it was external.
    pub external: bool,
    /// Bucket start (Unix seconds).
    pub bucket: i64,
    /// Values so far, in [`Metric`] order.
    pub values: Values,
    /// Its first event so far (µs since the epoch; runs that judge only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_us: Option<i64>,
    /// Its last event so far (µs since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_us: Option<i64>,
    /// The heaviest queries so far, quoted, for the finding the run that closes it may raise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<PendingEvidence>,
}

/// One quoted query of a still-open bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingEvidence {
    /// The input it was read from.
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// The (redacted) excerpt.
    pub excerpt: String,
    /// How heavy the query was (result bytes + rows read + 1).
    pub weight: u64,
}

/// Where an incremental `chaudit pull` stopped reading one server table; opaque to the library.
///
/// Rows are read in half-open ranges `[since, until)` of `event_time`
/// (`event_time_microseconds` where the server has it) with whole-second bounds, so two pulls
/// never share a row and no row falls between them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullMark {
    /// The next pull reads rows at or after this instant, µs since the epoch (the last
    /// pull's `until`, a whole second).
    pub until_us: i64,
    /// Executions and logins the pulls so far have read.
    #[serde(default)]
    pub events: u64,
}

/// Where the shell stopped reading one source; opaque to the library.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceMark {
    /// Bytes consumed (always at a record boundary).
    pub offset: u64,
    /// Length of the prefix whose hash identifies the file.
    pub prefix_len: u64,
    /// FNV-1a hash of that prefix.
    pub prefix_hash: u64,
    /// Header lines to replay before resuming (formats with a header row).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub header: String,
    /// Lines consumed, so resumed evidence keeps true line numbers.
    #[serde(default)]
    pub lines: u64,
}

/// Everything a baseline remembers between runs; see the module docs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineState {
    /// Always [`STATE_FORMAT`].
    pub format: String,
    /// [`STATE_VERSION`] when written.
    pub version: u32,
    /// How clients were keyed.
    pub key: KeyMode,
    /// Bucket length in seconds.
    pub bucket_secs: i64,
    /// Start of the newest bucket seen (Unix seconds).
    pub newest_bucket: Option<i64>,
    /// Learned clients, by display key.
    pub clients: BTreeMap<String, ClientHistory>,
    /// Buckets still open at the last save.
    pub pending: Vec<PendingBucket>,
    /// Clients evicted because of `max_keys`, over the state's life.
    pub evicted: u64,
    /// Per-source high-water marks (kept by the shell).
    pub sources: BTreeMap<String, SourceMark>,
    /// The zone whose wall-clock hours key [`ClientHistory::hourly`] (version 1: always UTC).
    #[serde(default = "utc_name")]
    pub hour_zone: String,
    /// Per-server-table high-water marks of `chaudit pull` (kept by the shell).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pulls: BTreeMap<String, PullMark>,
}

fn utc_name() -> String {
    "UTC".to_owned()
}

/// The name a zone is recorded under: `UTC` for every spelling of UTC, else as configured.
fn zone_name(name: &str, zone: &Zone) -> String {
    if zone.is_utc() {
        utc_name()
    } else {
        name.trim().to_owned()
    }
}

impl BaselineState {
    /// An empty state for `config`.
    #[must_use]
    pub fn new(config: &BaselineConfig) -> Self {
        Self {
            format: STATE_FORMAT.to_owned(),
            version: STATE_VERSION,
            key: config.key,
            bucket_secs: config.bucket_secs.max(1),
            newest_bucket: None,
            clients: BTreeMap::new(),
            pending: Vec::new(),
            evicted: 0,
            sources: BTreeMap::new(),
            hour_zone: utc_name(),
            pulls: BTreeMap::new(),
        }
    }

    /// Checks a state read from disk against this build and `config`.
    ///
    /// Version 1 states are read as version 2: they lack only `hour_zone` (their hours were
    /// UTC, which is what the field defaults to), `pulls` and the evidence of pending buckets.
    ///
    /// # Errors
    /// Wrong format tag or version, or keyed/bucketed differently from `config`.
    pub fn check(&self, config: &BaselineConfig) -> Result<(), BaselineError> {
        if self.format != STATE_FORMAT {
            return Err(BaselineError::Format(self.format.clone()));
        }
        if !(STATE_VERSION_MIN..=STATE_VERSION).contains(&self.version) {
            return Err(BaselineError::Version(self.version));
        }
        if self.key != config.key || self.bucket_secs != config.bucket_secs.max(1) {
            return Err(BaselineError::Mismatch {
                state: format!("{:?}/{} s", self.key, self.bucket_secs),
                config: format!("{:?}/{} s", config.key, config.bucket_secs),
            });
        }
        Ok(())
    }

    /// Known users (under [`KeyMode::Address`] none are recorded).
    #[must_use]
    pub fn users(&self) -> BTreeSet<&str> {
        self.clients
            .values()
            .filter_map(|c| c.key.user.as_deref())
            .collect()
    }

    /// Known addresses (under [`KeyMode::User`] none are recorded).
    #[must_use]
    pub fn addresses(&self) -> BTreeSet<IpAddr> {
        self.clients
            .values()
            .filter_map(|c| c.key.address)
            .collect()
    }
}

/// A state that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BaselineError {
    /// Not a chaudit baseline.
    Format(String),
    /// Written by another version.
    Version(u32),
    /// Keyed or bucketed differently from the configuration.
    Mismatch {
        /// What the state says.
        state: String,
        /// What the configuration says.
        config: String,
    },
    /// The configured time zone is not understood.
    Zone(String),
}

impl fmt::Display for BaselineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format(t) => write!(f, "not a chaudit baseline (format {t:?})"),
            Self::Version(v) => write!(
                f,
                "baseline state version {v} is not supported (this build reads {STATE_VERSION_MIN} to {STATE_VERSION})"
            ),
            Self::Zone(z) => write!(f, "{z}"),
            Self::Mismatch { state, config } => write!(
                f,
                "baseline was learned with key/bucket {state} but the configuration says {config}"
            ),
        }
    }
}

impl std::error::Error for BaselineError {}

/// Which history a score was computed against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaselineSource {
    /// The client's own buckets at this hour of day.
    OwnHourOfDay,
    /// The client's own buckets.
    Own,
    /// Similar clients (same network class).
    Population,
    /// Fixed limits.
    Static,
}

impl BaselineSource {
    /// The kebab-case name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::OwnHourOfDay => "own-hour-of-day",
            Self::Own => "own",
            Self::Population => "population",
            Self::Static => "static",
        }
    }

    /// A numeric code for integer metrics: 1 own-hour-of-day, 2 own, 3 population, 4 static.
    #[must_use]
    pub fn code(self) -> u64 {
        match self {
            Self::OwnHourOfDay => 1,
            Self::Own => 2,
            Self::Population => 3,
            Self::Static => 4,
        }
    }
}

/// How one observed value compares with its baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Deviation {
    /// The metric.
    pub metric: Metric,
    /// Observed value in the bucket.
    pub observed: u64,
    /// Buckets of history behind the baseline (0 for static).
    pub n: u64,
    /// Baseline median (static: 0).
    pub p50: u64,
    /// Baseline 99th percentile (static: the limit).
    pub p99: u64,
    /// Baseline median absolute deviation.
    pub mad: u64,
    /// Robust Z, hundredths (negative clamped to 0).
    pub z_x100: u64,
    /// Quantile distance Q, hundredths (static: 100 · x / limit).
    pub q_x100: u64,
    /// (Z + Q) / 2, hundredths (static: Q).
    pub score_x100: u64,
    /// The floor the value had to reach.
    pub floor: u64,
    /// The history used.
    pub source: BaselineSource,
    /// Whether every condition held.
    pub anomalous: bool,
}

/// A profile to score against: N, p50, p99, MAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Profile {
    n: u64,
    p50: u64,
    p99: u64,
    mad: u64,
}

impl Profile {
    fn of(h: &Hist) -> Self {
        Self {
            n: h.len(),
            p50: h.percentile(50),
            p99: h.percentile(99),
            mad: h.mad(),
        }
    }
}

/// 1/Φ⁻¹(0.75) in ten-thousandths (14826), from statrs' standard normal.
#[must_use]
pub fn mad_scale_x10000() -> i128 {
    match Normal::new(0.0, 1.0) {
        // Rounded to 4 digits, so a last-bit difference between libms cannot change it.
        #[allow(clippy::cast_possible_truncation)]
        Ok(n) => (10_000.0 / n.inverse_cdf(0.75)).round() as i128,
        Err(_) => 14_826,
    }
}

/// Clients listed in [`Baseline::volumes`], heaviest first.
const MAX_VOLUME_CLIENTS: usize = 200;

/// One client's result bytes per bucket in a scan, beside its baseline: what a sparkline shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientVolume {
    /// The client.
    pub key: ClientKey,
    /// Whether it is external.
    pub external: bool,
    /// `(bucket start, result bytes)` for every active bucket of the scan, in time order.
    pub series: Vec<(Timestamp, u64)>,
    /// Result bytes in the scan.
    pub total: u64,
    /// Baseline median per bucket.
    pub p50: u64,
    /// Baseline 99th percentile per bucket (static: the limit).
    pub p99: u64,
    /// Which baseline.
    pub source: BaselineSource,
}

/// A baseline during one scan: the learned state plus the buckets of this scan.
#[derive(Debug)]
pub struct Baseline {
    config: BaselineConfig,
    state: BaselineState,
    scale: i128,
    /// This scan's buckets (pending ones from the state merged in).
    scan: BTreeMap<(ClientKey, i64), Values>,
    /// Network class per scanned client.
    external: BTreeMap<ClientKey, bool>,
    /// Tables read per scanned client.
    scan_tables: BTreeMap<ClientKey, BTreeSet<String>>,
    /// Result bytes per query shape per scanned client.
    scan_queries: BTreeMap<(ClientKey, u64), Hist>,
    /// Population profiles per (external, metric), computed on first use.
    population: BTreeMap<(bool, Metric), Option<(Profile, usize)>>,
    users: BTreeSet<String>,
    addresses: BTreeSet<IpAddr>,
    clients: BTreeMap<ClientKey, String>,
    /// The server's zone: hour of day is its wall-clock hour.
    zone: Zone,
    /// Distinct clients this scan keeps buckets for (pending ones included).
    max_clients: usize,
    /// Events of clients past `max_clients`, not baselined.
    untracked: u64,
}

impl Baseline {
    /// Wraps a (checked) state for a scan, with hours of day in UTC and no client cap.
    ///
    /// # Errors
    /// See [`BaselineState::check`].
    pub fn new(config: BaselineConfig, state: BaselineState) -> Result<Self, BaselineError> {
        Self::for_scan(config, state, "UTC", usize::MAX)
    }

    /// Wraps a (checked) state for a scan of logs written in `zone` (the configured
    /// `timezone`: hours of day are the server's wall-clock hours), keeping buckets for at most
    /// `max_clients` distinct clients (events of further clients are counted in
    /// [`Baseline::untracked`]).
    ///
    /// A state whose hours were keyed in another zone (every version 1 state is UTC) loses its
    /// hour-of-day histograms, which were filed under the wrong hours; seasonality is learned
    /// again (`seasonal_days`), and until then clients are judged against their whole history.
    ///
    /// # Errors
    /// See [`BaselineState::check`]; an unknown zone.
    pub fn for_scan(
        config: BaselineConfig,
        mut state: BaselineState,
        zone: &str,
        max_clients: usize,
    ) -> Result<Self, BaselineError> {
        state.check(&config)?;
        let zone_parsed = Zone::parse(zone).map_err(|e| BaselineError::Zone(e.to_string()))?;
        let name = zone_name(zone, &zone_parsed);
        if state.hour_zone != name {
            for c in state.clients.values_mut() {
                c.hourly.clear();
            }
            state.hour_zone = name;
        }
        state.version = STATE_VERSION;
        let mut scan = BTreeMap::new();
        let mut external = BTreeMap::new();
        for p in &state.pending {
            external.insert(p.key.clone(), p.external);
            scan.insert((p.key.clone(), p.bucket), p.values);
        }
        let users = state.users().into_iter().map(str::to_owned).collect();
        let addresses = state.addresses();
        let clients = state
            .clients
            .iter()
            .map(|(k, c)| (c.key.clone(), k.clone()))
            .collect();
        let mut b = Self {
            config,
            state,
            scale: mad_scale_x10000(),
            scan,
            external,
            scan_tables: BTreeMap::new(),
            scan_queries: BTreeMap::new(),
            population: BTreeMap::new(),
            users,
            addresses,
            clients,
            zone: zone_parsed,
            max_clients: max_clients.max(1),
            untracked: 0,
        };
        for e in [false, true] {
            for m in Metric::ALL {
                let p = b.compute_population(e, m);
                b.population.insert((e, m), p);
            }
        }
        Ok(b)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &BaselineConfig {
        &self.config
    }

    /// The learned state (as loaded, without this scan).
    #[must_use]
    pub fn state(&self) -> &BaselineState {
        &self.state
    }

    /// The key for `user` at `address`.
    #[must_use]
    pub fn key(&self, user: &str, address: Option<IpAddr>) -> ClientKey {
        ClientKey::new(self.config.key, user, address)
    }

    /// Whether this scan keeps buckets for `key`: a client already seen, or a new one while
    /// fewer than `max_clients` are; otherwise the event is counted as untracked.
    pub fn track(&mut self, key: &ClientKey, external: bool) -> bool {
        if let Some(e) = self.external.get_mut(key) {
            *e = external;
            return true;
        }
        if self.external.len() >= self.max_clients {
            self.untracked = self.untracked.saturating_add(1);
            return false;
        }
        self.external.insert(key.clone(), external);
        true
    }

    /// Events of clients past the scan's client cap, left out of the baseline.
    #[must_use]
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// The hour of day (0–23) of a bucket on the server's wall clock.
    #[must_use]
    pub fn hour_of(&self, bucket: i64) -> u8 {
        let local = bucket.saturating_add(self.zone.offset_at(Timestamp::from_secs(bucket)));
        u8::try_from(local.rem_euclid(86_400) / 3600).unwrap_or(0)
    }

    /// The newest bucket seen by this scan or an earlier one: still open, so it is kept
    /// pending rather than folded, and an updating scan does not judge it yet.
    #[must_use]
    pub fn newest_bucket(&self) -> Option<i64> {
        self.scan
            .keys()
            .map(|(_, b)| *b)
            .chain(self.state.newest_bucket)
            .max()
    }

    /// Adds one event's numbers to its client's bucket (a client past the cap is skipped:
    /// see [`Baseline::track`]).
    pub fn observe(&mut self, key: &ClientKey, external: bool, time: Timestamp, values: &Values) {
        if !self.track(key, external) {
            return;
        }
        let bucket = time.floor_to(self.state.bucket_secs).secs();
        let slot = self.scan.entry((key.clone(), bucket)).or_insert([0; 5]);
        for (s, v) in slot.iter_mut().zip(values) {
            *s = s.saturating_add(*v);
        }
    }

    /// Notes that `key` read `table` (clients past the cap are skipped).
    pub fn observe_table(&mut self, key: &ClientKey, table: &str) {
        if !self.external.contains_key(key) {
            return;
        }
        self.scan_tables
            .entry(key.clone())
            .or_default()
            .insert(table.to_owned());
    }

    /// Notes one query's result bytes under its shape (`shape`: a hash of normalized text).
    pub fn observe_query(&mut self, key: &ClientKey, shape: u64, result_bytes: u64) {
        if !self.external.contains_key(key) {
            return;
        }
        self.scan_queries
            .entry((key.clone(), shape))
            .or_default()
            .record(result_bytes);
    }

    /// Scores one query's result bytes against earlier runs of the same shape by the same
    /// client; `None` without `min_history` earlier runs (no fallback: shapes are personal).
    #[must_use]
    pub fn query_deviation(
        &self,
        key: &ClientKey,
        shape: u64,
        result_bytes: u64,
    ) -> Option<Deviation> {
        let h = self.history(key)?.queries.get(&shape_name(shape))?;
        if h.len() < self.config.min_history {
            return None;
        }
        let floor = self.config.floor.result_bytes;
        Some(self.score(
            Metric::ResultBytes,
            result_bytes,
            Profile::of(h),
            floor,
            BaselineSource::Own,
        ))
    }

    /// The learned state's entry for a client.
    #[must_use]
    pub fn history(&self, key: &ClientKey) -> Option<&ClientHistory> {
        self.clients
            .get(key)
            .and_then(|name| self.state.clients.get(name))
    }

    /// Whether the learned state has seen this user (always true when keyed by address).
    #[must_use]
    pub fn knows_user(&self, user: &str) -> bool {
        self.config.key == KeyMode::Address || self.users.contains(user)
    }

    /// Whether the learned state has seen this address (always true when keyed by user).
    #[must_use]
    pub fn knows_address(&self, address: Option<IpAddr>) -> bool {
        match address {
            _ if self.config.key == KeyMode::User => true,
            Some(a) => self.addresses.contains(&a),
            None => true,
        }
    }

    /// Whether nothing has been learned yet (a first run judges no novelty).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.state.clients.is_empty()
    }

    /// This scan's buckets, in key then time order.
    pub fn buckets(&self) -> impl Iterator<Item = (&ClientKey, i64, &Values)> {
        self.scan.iter().map(|((k, b), v)| (k, *b, v))
    }

    /// Whether a scanned client was external.
    #[must_use]
    pub fn is_external(&self, key: &ClientKey) -> bool {
        self.external.get(key).copied().unwrap_or(false)
    }

    /// Result bytes per bucket per scanned client, with its baseline; the heaviest clients.
    #[must_use]
    pub fn volumes(&self) -> Vec<ClientVolume> {
        let mut by_key: BTreeMap<&ClientKey, Vec<(Timestamp, u64)>> = BTreeMap::new();
        for ((k, b), v) in &self.scan {
            let x = v.get(Metric::ResultBytes.index()).copied().unwrap_or(0);
            by_key
                .entry(k)
                .or_default()
                .push((Timestamp::from_secs(*b), x));
        }
        let mut out: Vec<ClientVolume> = by_key
            .into_iter()
            .map(|(k, series)| {
                let last = series.last().map_or(0, |(t, _)| t.secs());
                let d = self.deviation(k, last, Metric::ResultBytes, 0);
                ClientVolume {
                    key: k.clone(),
                    external: self.is_external(k),
                    total: series.iter().map(|(_, v)| *v).fold(0, u64::saturating_add),
                    series,
                    p50: d.p50,
                    p99: d.p99,
                    source: d.source,
                }
            })
            .collect();
        out.sort_by(|a, b| b.total.cmp(&a.total).then(a.key.cmp(&b.key)));
        out.truncate(MAX_VOLUME_CLIENTS);
        out
    }

    fn compute_population(&self, external: bool, m: Metric) -> Option<(Profile, usize)> {
        let profiles: Vec<Profile> = self
            .state
            .clients
            .values()
            .filter(|c| c.external == external && c.n() >= self.config.min_history)
            .filter_map(|c| c.metrics.get(&m).map(Profile::of))
            .collect();
        if profiles.len() < self.config.min_population.max(1) {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let med = |f: fn(&Profile) -> u64| -> u64 {
            let d = Data::new(profiles.iter().map(|p| f(p) as f64).collect::<Vec<f64>>());
            // Medians of integers are integers or halves; round half up.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let r = d.median().max(0.0).round() as u64;
            r
        };
        Some((
            Profile {
                n: profiles.iter().map(|p| p.n).sum(),
                p50: med(|p| p.p50),
                p99: med(|p| p.p99),
                mad: med(|p| p.mad),
            },
            profiles.len(),
        ))
    }

    /// How many clients the population profile for this class pools (0 if none).
    #[must_use]
    pub fn population_size(&self, external: bool) -> usize {
        self.population
            .get(&(external, Metric::Queries))
            .and_then(|p| p.map(|(_, n)| n))
            .unwrap_or(0)
    }

    /// Scores `observed` for `metric` in `key`'s bucket starting at `bucket` (Unix seconds).
    #[must_use]
    pub fn deviation(
        &self,
        key: &ClientKey,
        bucket: i64,
        metric: Metric,
        observed: u64,
    ) -> Deviation {
        let floor = metric.of(&self.config.floor);
        let external = self.is_external(key);
        let hour = self.hour_of(bucket);
        let chosen = self.history(key).and_then(|h| {
            let span_days = (h.last_bucket - h.first_bucket) / 86_400;
            let seasonal = h
                .hourly
                .get(&hour)
                .and_then(|m| m.get(&metric))
                .filter(|s| {
                    span_days >= self.config.seasonal_days
                        && s.len() >= self.config.min_seasonal_history
                });
            if let Some(s) = seasonal {
                return Some((Profile::of(s), BaselineSource::OwnHourOfDay));
            }
            h.metrics
                .get(&metric)
                .filter(|s| s.len() >= self.config.min_history)
                .map(|s| (Profile::of(s), BaselineSource::Own))
        });
        let chosen = chosen.or_else(|| {
            self.population
                .get(&(external, metric))
                .copied()
                .flatten()
                .map(|(p, _)| (p, BaselineSource::Population))
        });
        match chosen {
            Some((p, source)) => self.score(metric, observed, p, floor, source),
            None => {
                let limit = metric.of(&self.config.static_limit).max(1);
                let q = ratio_x100(i128::from(observed), i128::from(limit));
                Deviation {
                    metric,
                    observed,
                    n: 0,
                    p50: 0,
                    p99: limit,
                    mad: 0,
                    z_x100: 0,
                    q_x100: q,
                    score_x100: q,
                    floor,
                    source: BaselineSource::Static,
                    anomalous: observed >= limit && observed >= floor,
                }
            }
        }
    }

    fn score(
        &self,
        metric: Metric,
        x: u64,
        p: Profile,
        floor: u64,
        source: BaselineSource,
    ) -> Deviation {
        let (xi, p50, p99, mad) = (
            i128::from(x),
            i128::from(p.p50),
            i128::from(p.p99),
            i128::from(p.mad),
        );
        // Spread floors of p50/8: a client that always reads almost exactly the same amount
        // has a MAD and a p99 − p50 near zero, and would otherwise alert on a 2 % wobble.
        let sigma_x10000 = (self.scale * mad).max(p50 * 10_000 / RELATIVE_SPREAD);
        let z = ratio_x100((xi - p50) * 10_000, sigma_x10000 + 10_000);
        let q = ratio_x100(xi - p99, (p99 - p50).max(p50 / RELATIVE_SPREAD) + 1);
        let c = &self.config;
        Deviation {
            metric,
            observed: x,
            n: p.n,
            p50: p.p50,
            p99: p.p99,
            mad: p.mad,
            z_x100: z,
            q_x100: q,
            score_x100: (z + q) / 2,
            floor,
            source,
            anomalous: i128::from(z) > i128::from(c.z_threshold_x100)
                && i128::from(q) > i128::from(c.q_threshold_x100)
                && x >= floor,
        }
    }

    /// Folds this scan into the state and returns it (the scan's last bucket stays pending),
    /// or returns the state untouched when `update` is false.
    #[must_use]
    pub fn into_state(self, update: bool) -> BaselineState {
        let newest = self.newest_bucket();
        let hours: BTreeMap<i64, u8> = self
            .scan
            .keys()
            .map(|(_, b)| (*b, self.hour_of(*b)))
            .collect();
        let mut state = self.state;
        if !update {
            return state;
        }
        state.newest_bucket = newest;
        let names: BTreeMap<ClientKey, String> = self.clients;
        let mut pending = Vec::new();
        let c = &self.config;
        for ((key, bucket), values) in self.scan {
            let external = self.external.get(&key).copied().unwrap_or(false);
            if Some(bucket) == newest {
                pending.push(PendingBucket {
                    key,
                    external,
                    bucket,
                    values,
                    first_us: None,
                    last_us: None,
                    evidence: Vec::new(),
                });
                continue;
            }
            let name = names.get(&key).cloned().unwrap_or_else(|| key.to_string());
            let h = state.clients.entry(name).or_insert_with(|| ClientHistory {
                key: key.clone(),
                ..ClientHistory::default()
            });
            h.external = external;
            let hour = hours.get(&bucket).copied().unwrap_or(0);
            h.fold(bucket, hour, state.bucket_secs, &values);
        }
        for ((key, shape), hist) in self.scan_queries {
            let name = names.get(&key).cloned().unwrap_or_else(|| key.to_string());
            let external = self.external.get(&key).copied().unwrap_or(false);
            let h = state.clients.entry(name).or_insert_with(|| ClientHistory {
                key: key.clone(),
                external,
                first_bucket: newest.unwrap_or(0),
                last_bucket: newest.unwrap_or(0),
                ..ClientHistory::default()
            });
            let shape = shape_name(shape);
            if let Some(q) = h.queries.get_mut(&shape) {
                q.merge(&hist);
            } else if h.queries.len() < c.max_queries_per_key {
                h.queries.insert(shape, hist);
            } else {
                h.queries_dropped += 1;
            }
        }
        for (key, tables) in self.scan_tables {
            let name = names.get(&key).cloned().unwrap_or_else(|| key.to_string());
            let external = self.external.get(&key).copied().unwrap_or(false);
            let h = state.clients.entry(name).or_insert_with(|| ClientHistory {
                key: key.clone(),
                external,
                first_bucket: newest.unwrap_or(0),
                last_bucket: newest.unwrap_or(0),
                ..ClientHistory::default()
            });
            for t in tables {
                if h.tables.contains(&t) {
                    continue;
                }
                if h.tables.len() < c.max_tables_per_key {
                    h.tables.insert(t);
                } else {
                    h.tables_dropped += 1;
                }
            }
        }
        // Clients only seen in the open bucket are still known (novelty is judged once).
        for p in &pending {
            let name = names
                .get(&p.key)
                .cloned()
                .unwrap_or_else(|| p.key.to_string());
            state.clients.entry(name).or_insert_with(|| ClientHistory {
                key: p.key.clone(),
                external: p.external,
                first_bucket: p.bucket,
                last_bucket: p.bucket,
                ..ClientHistory::default()
            });
        }
        state.pending = pending;
        evict(&mut state, c.max_keys);
        state
    }
}

/// How a query shape is named in the state: 16 hex digits.
fn shape_name(shape: u64) -> String {
    format!("{shape:016x}")
}

/// Drops the least recently active clients beyond `max_keys`.
fn evict(state: &mut BaselineState, max_keys: usize) {
    let excess = state.clients.len().saturating_sub(max_keys);
    if excess == 0 {
        return;
    }
    let mut by_age: Vec<(i64, String)> = state
        .clients
        .iter()
        .map(|(k, c)| (c.last_bucket, k.clone()))
        .collect();
    by_age.sort();
    for (_, k) in by_age.into_iter().take(excess) {
        state.clients.remove(&k);
        state.evicted += 1;
    }
}

/// 100 · a / b, rounded towards zero, negative clamped to 0, saturating.
fn ratio_x100(a: i128, b: i128) -> u64 {
    if b <= 0 || a <= 0 {
        return 0;
    }
    u64::try_from(a.saturating_mul(100) / b).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BaselineConfig {
        BaselineConfig::default()
    }

    fn key(u: &str) -> ClientKey {
        ClientKey::new(KeyMode::UserAddress, u, "10.0.0.1".parse().ok())
    }

    /// Learns `hours` buckets of `f(hour)` result bytes for `u`.
    fn learn(u: &str, hours: i64, f: impl Fn(i64) -> u64) -> BaselineState {
        let mut b = Baseline::new(cfg(), BaselineState::new(&cfg())).unwrap();
        for h in 0..=hours {
            let v = [10, 1000, 100, f(h), 0];
            b.observe(&key(u), false, Timestamp::from_secs(h * 3600), &v);
        }
        b.into_state(true)
    }

    #[test]
    fn ok_mad_scale_from_statrs() {
        assert_eq!(mad_scale_x10000(), 14_826);
    }

    #[test]
    fn ok_mad_and_quantiles() {
        let mut h = Hist::default();
        for v in [1, 2, 3, 4, 100] {
            h.record(v);
        }
        assert_eq!(h.percentile(50), 3);
        assert_eq!(h.percentile(100), 100);
        // HDR resolution: 12_345_678 is reported as the top of its 1 % bucket.
        let mut big = Hist::default();
        big.record(12_345_678);
        assert_eq!(big.percentile(50), 12_386_303);
        assert_eq!(quantize(12_386_303), 12_386_303);
        assert_eq!(h.mad(), 1);
        assert_eq!(h.len(), 5);
    }

    #[test]
    fn ok_spike_against_own_history_and_floor() {
        let state = learn("a", 48, |h| 20_000_000 + (h as u64 % 7) * 1_000_000);
        // The last bucket stays pending; 48 are folded.
        assert_eq!(state.pending.len(), 1);
        assert_eq!(state.clients["a@10.0.0.1"].n(), 48);
        let b = Baseline::new(cfg(), state).unwrap();
        let d = b.deviation(&key("a"), 49 * 3600, Metric::ResultBytes, 500_000_000);
        assert_eq!(d.source, BaselineSource::Own);
        assert!(d.anomalous, "{d:?}");
        assert!(d.z_x100 > 300 && d.q_x100 > 300);
        let normal = b.deviation(&key("a"), 49 * 3600, Metric::ResultBytes, 25_000_000);
        assert!(!normal.anomalous, "{normal:?}");
        // Far above a flat history, but under the absolute floor.
        let q = b.deviation(&key("a"), 49 * 3600, Metric::Queries, 100);
        assert!(q.z_x100 > 300 && !q.anomalous);
    }

    #[test]
    fn ok_fallbacks_population_then_static() {
        let mut state = BaselineState::new(&cfg());
        for u in ["a", "b", "c"] {
            let s = learn(u, 30, |_| 1_000_000);
            state.clients.extend(s.clients);
        }
        let b = Baseline::new(cfg(), state).unwrap();
        let d = b.deviation(&key("new"), 0, Metric::ResultBytes, 100_000_000);
        assert_eq!(d.source, BaselineSource::Population);
        assert!(d.anomalous);
        assert_eq!(b.population_size(false), 3);
        // No external clients learned: static limits.
        let mut b = b;
        let ext = ClientKey::new(KeyMode::UserAddress, "x", "203.0.113.9".parse().ok());
        b.observe(&ext, true, Timestamp::from_secs(0), &[1, 1, 1, 1, 0]);
        let d = b.deviation(&ext, 0, Metric::ResultBytes, 2 << 30);
        assert_eq!(d.source, BaselineSource::Static);
        assert!(d.anomalous);
        assert_eq!(d.score_x100, 200);
    }

    #[test]
    fn ok_seasonal_after_two_weeks() {
        // Busy 9-17, quiet otherwise, for 15 days.
        let state = learn("a", 15 * 24, |h| {
            if (9..17).contains(&(h % 24)) {
                500_000_000
            } else {
                20_000_000
            }
        });
        let b = Baseline::new(cfg(), state).unwrap();
        let night = 16 * 86_400 + 3 * 3600;
        let d = b.deviation(&key("a"), night, Metric::ResultBytes, 400_000_000);
        assert_eq!(d.source, BaselineSource::OwnHourOfDay);
        assert!(d.anomalous, "{d:?}");
        let day = 16 * 86_400 + 10 * 3600;
        let d = b.deviation(&key("a"), day, Metric::ResultBytes, 400_000_000);
        assert!(!d.anomalous);
    }

    #[test]
    fn ok_state_round_trips_and_is_checked() {
        let state = learn("a", 30, |h| h as u64 * 12_345);
        let json = serde_json::to_string(&state).unwrap();
        let back: BaselineState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        let mut other = cfg();
        other.bucket_secs = 600;
        assert!(matches!(
            back.check(&other),
            Err(BaselineError::Mismatch { .. })
        ));
        let mut old = back;
        old.version = 99;
        assert_eq!(old.check(&cfg()), Err(BaselineError::Version(99)));
    }

    #[test]
    fn ok_eviction_is_bounded_and_counted() {
        let mut c = cfg();
        c.max_keys = 2;
        let mut b = Baseline::new(c.clone(), BaselineState::new(&c)).unwrap();
        for (i, u) in ["a", "b", "c", "d"].iter().enumerate() {
            b.observe(
                &key(u),
                false,
                Timestamp::from_secs(i as i64 * 3600),
                &[1; 5],
            );
        }
        b.observe(&key("d"), false, Timestamp::from_secs(10 * 3600), &[1; 5]);
        let s = b.into_state(true);
        assert_eq!(s.clients.len(), 2);
        assert_eq!(s.evicted, 2);
        assert!(s.clients.contains_key("d@10.0.0.1"));
    }

    #[test]
    fn ok_split_runs_equal_one_run() {
        let events: Vec<(i64, u64)> = (0..200)
            .map(|i| (i * 997, (i as u64 * 7919) % 5000))
            .collect();
        let run = |state: BaselineState, ev: &[(i64, u64)]| {
            let mut b = Baseline::new(cfg(), state).unwrap();
            for (t, v) in ev {
                b.observe(
                    &key("a"),
                    false,
                    Timestamp::from_secs(*t),
                    &[1, *v, 0, *v, 0],
                );
            }
            b.into_state(true)
        };
        let full = run(BaselineState::new(&cfg()), &events);
        let (x, y) = events.split_at(120);
        let split = run(run(BaselineState::new(&cfg()), x), y);
        assert_eq!(full, split);
    }
}
