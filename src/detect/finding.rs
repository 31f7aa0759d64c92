//! Findings and the bookkeeping that turns many matching events into one finding per client,
//! rule and window.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

use crate::event::Location;
use crate::memo::FastMap;
use crate::net::NetClass;
use crate::time::Timestamp;

/// How bad a finding is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no action expected.
    Info,
    /// Unusual, probably benign.
    Low,
    /// Needs a look.
    Medium,
    /// Likely a security problem.
    High,
    /// Data is, or was, leaving without authentication or to an outsider.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Self; 5] = [
        Self::Info,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];

    /// The lower-case name used in output and on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown severity {s:?} (expected info, low, medium, high or critical)")
            })
    }
}

/// A rule's stable identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RuleId {
    /// See [`crate::detect::rules::unauthenticated_read`].
    UnauthenticatedRead,
    /// See [`crate::detect::rules::external_client_read`].
    ExternalClientRead,
    /// See [`crate::detect::rules::table_function_egress`].
    TableFunctionEgress,
    /// See [`crate::detect::rules::recon`].
    Recon,
    /// See [`crate::detect::rules::auth_failure_burst`].
    AuthFailureBurst,
    /// See [`crate::detect::rules::secret_in_query`].
    SecretInQuery,
    /// See [`crate::detect::rules::server_file_access`].
    ServerFileAccess,
    /// See [`crate::detect::rules::volume_anomaly`].
    VolumeAnomaly,
    /// See [`crate::detect::rules::first_seen_client`].
    FirstSeenClient,
    /// See [`crate::detect::rules::first_seen_table`].
    FirstSeenTable,
}

impl RuleId {
    /// Every rule.
    pub const ALL: [Self; 10] = [
        Self::UnauthenticatedRead,
        Self::ExternalClientRead,
        Self::TableFunctionEgress,
        Self::Recon,
        Self::AuthFailureBurst,
        Self::SecretInQuery,
        Self::ServerFileAccess,
        Self::VolumeAnomaly,
        Self::FirstSeenClient,
        Self::FirstSeenTable,
    ];

    /// The rule's name as printed (`unauthenticated-read`, …).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::UnauthenticatedRead => "unauthenticated-read",
            Self::ExternalClientRead => "external-client-read",
            Self::TableFunctionEgress => "table-function-egress",
            Self::Recon => "recon",
            Self::AuthFailureBurst => "auth-failure-burst",
            Self::SecretInQuery => "secret-in-query",
            Self::ServerFileAccess => "server-file-access",
            Self::VolumeAnomaly => "volume-anomaly",
            Self::FirstSeenClient => "first-seen-client",
            Self::FirstSeenTable => "first-seen-table",
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A line of a log that supports a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The input file (as named on the command line, or by the browser).
    pub path: String,
    /// 1-based line where the record starts.
    pub line: u64,
    /// The query or request, shortened and with secrets redacted (unless disabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

/// One explained finding: a rule, a client, a time span, the numbers and the evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Which rule fired.
    pub rule: RuleId,
    /// How severe.
    pub severity: Severity,
    /// Earliest matching event.
    pub first_seen: Timestamp,
    /// Latest matching event.
    pub last_seen: Timestamp,
    /// The user the queries ran as.
    pub user: String,
    /// The client's address, if logged.
    pub client_ip: Option<IpAddr>,
    /// Where the client sits.
    pub client_class: NetClass,
    /// Matching events folded into this finding.
    pub count: u64,
    /// One human sentence: what was observed, against what threshold or baseline.
    pub summary: String,
    /// Observed numbers (and the thresholds they were held against).
    pub metrics: BTreeMap<&'static str, u64>,
    /// Tables read, where known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    /// Where data went (table function → destination), where known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// What the finding takes for granted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assumptions: Vec<String>,
    /// Supporting log lines (the heaviest few, in line order).
    pub evidence: Vec<Evidence>,
}

/// Identity of an aggregated finding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GroupKey {
    pub(crate) rule: RuleId,
    pub(crate) window: Timestamp,
    pub(crate) user: String,
    pub(crate) client: Option<IpAddr>,
}

/// A [`GroupKey`] borrowing its user: how a hit names its group, so a hit on a group that
/// exists allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct KeyRef<'a> {
    pub(crate) rule: RuleId,
    pub(crate) window: Timestamp,
    pub(crate) user: &'a str,
    pub(crate) client: Option<IpAddr>,
}

impl KeyRef<'_> {
    fn to_owned(self) -> GroupKey {
        GroupKey {
            rule: self.rule,
            window: self.window,
            user: self.user.to_owned(),
            client: self.client,
        }
    }
}

/// What [`GroupKey`] and [`KeyRef`] have in common: the map of groups, keyed by the first,
/// is searched with the second through `Borrow<dyn AsKeyRef>`.
trait AsKeyRef {
    fn key_ref(&self) -> KeyRef<'_>;
}

impl AsKeyRef for GroupKey {
    fn key_ref(&self) -> KeyRef<'_> {
        KeyRef {
            rule: self.rule,
            window: self.window,
            user: &self.user,
            client: self.client,
        }
    }
}

impl AsKeyRef for KeyRef<'_> {
    fn key_ref(&self) -> KeyRef<'_> {
        *self
    }
}

impl<'a> Borrow<dyn AsKeyRef + 'a> for GroupKey {
    fn borrow(&self) -> &(dyn AsKeyRef + 'a) {
        self
    }
}

// Both sides hash and compare as their `KeyRef`, as `Borrow` requires.
impl Hash for GroupKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key_ref().hash(state);
    }
}

impl Hash for dyn AsKeyRef + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key_ref().hash(state);
    }
}

impl PartialEq for dyn AsKeyRef + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key_ref() == other.key_ref()
    }
}

impl Eq for dyn AsKeyRef + '_ {}

/// Evidence kept per finding.
const MAX_EVIDENCE: usize = 8;
/// Tables or targets listed per finding.
const MAX_NAMES: usize = 20;

/// A piece of evidence before paths are known.
#[derive(Clone, Debug)]
pub(crate) struct RawEvidence {
    pub(crate) location: Location,
    pub(crate) excerpt: String,
    pub(crate) weight: u64,
}

/// A finding under construction.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub(crate) severity: Severity,
    pub(crate) client_class: NetClass,
    pub(crate) first: Timestamp,
    pub(crate) last: Timestamp,
    pub(crate) count: u64,
    /// Few and always the same per rule: a list, searched by name.
    pub(crate) sums: Vec<(&'static str, u64)>,
    pub(crate) maxes: Vec<(&'static str, u64)>,
    pub(crate) tables: BTreeSet<String>,
    pub(crate) targets: BTreeSet<String>,
    pub(crate) evidence: Vec<RawEvidence>,
}

/// What one event contributes to a group.
#[derive(Debug)]
pub(crate) struct Hit<'a> {
    pub(crate) severity: Severity,
    pub(crate) time: Timestamp,
    pub(crate) client_class: NetClass,
    pub(crate) sums: &'a [(&'static str, u64)],
    pub(crate) maxes: &'a [(&'static str, u64)],
    pub(crate) tables: &'a [String],
    pub(crate) targets: &'a [String],
    pub(crate) evidence: Pending<'a>,
}

/// A piece of evidence not written yet: a group writes it only if it keeps it, and a busy
/// group keeps few of its hits (its [`MAX_EVIDENCE`] heaviest).
pub(crate) struct Pending<'a> {
    pub(crate) location: Location,
    pub(crate) weight: u64,
    pub(crate) excerpt: Excerpt<'a>,
}

/// How a [`Pending`] piece's excerpt is written.
pub(crate) enum Excerpt<'a> {
    /// The query text, shortened and, with `redact`, with its secrets masked (`clean`: the
    /// text is known to hold none).
    Query {
        text: &'a str,
        redact: bool,
        clean: bool,
    },
    /// What the function returns.
    With(&'a dyn Fn() -> String),
}

impl fmt::Debug for Pending<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("location", &self.location)
            .field("weight", &self.weight)
            .finish_non_exhaustive()
    }
}

impl Pending<'_> {
    /// The order in which pieces are kept: heaviest, then earliest.
    fn rank(&self) -> (u64, std::cmp::Reverse<Location>) {
        (self.weight, std::cmp::Reverse(self.location))
    }

    /// The piece, written.
    pub(crate) fn write(self) -> RawEvidence {
        RawEvidence {
            location: self.location,
            excerpt: match self.excerpt {
                Excerpt::Query {
                    text,
                    redact,
                    clean,
                } => super::excerpt(text, redact, clean),
                Excerpt::With(f) => f(),
            },
            weight: self.weight,
        }
    }
}

impl Group {
    fn new(hit: &Hit<'_>) -> Self {
        Self {
            severity: hit.severity,
            client_class: hit.client_class,
            first: hit.time,
            last: hit.time,
            count: 0,
            sums: Vec::new(),
            maxes: Vec::new(),
            tables: BTreeSet::new(),
            targets: BTreeSet::new(),
            evidence: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, hit: Hit<'_>) {
        self.severity = self.severity.max(hit.severity);
        self.first = self.first.min(hit.time);
        self.last = self.last.max(hit.time);
        self.count += 1;
        for (k, v) in hit.sums {
            update(&mut self.sums, k, |s| s.saturating_add(*v));
        }
        for (k, v) in hit.maxes {
            update(&mut self.maxes, k, |m| m.max(*v));
        }
        for t in hit.tables {
            insert_capped(&mut self.tables, t);
        }
        for t in hit.targets {
            insert_capped(&mut self.targets, t);
        }
        keep_evidence(&mut self.evidence, hit.evidence);
    }

    pub(crate) fn sum(&self, k: &str) -> u64 {
        value(&self.sums, k)
    }

    pub(crate) fn max(&self, k: &str) -> u64 {
        value(&self.maxes, k)
    }

    /// The sums and maxima by name (a maximum wins over a sum of the same name).
    pub(crate) fn metrics(&self) -> BTreeMap<&'static str, u64> {
        self.sums.iter().chain(&self.maxes).copied().collect()
    }
}

/// The value named `k` (0 if none).
fn value(list: &[(&'static str, u64)], k: &str) -> u64 {
    list.iter().find(|(n, _)| *n == k).map_or(0, |(_, v)| *v)
}

/// Sets the value named `k` to `f` of it (of 0 if there is none yet).
fn update(list: &mut Vec<(&'static str, u64)>, k: &'static str, f: impl FnOnce(u64) -> u64) {
    match list.iter_mut().find(|(n, _)| *n == k) {
        Some((_, v)) => *v = f(*v),
        None => list.push((k, f(0))),
    }
}

/// Keeps the [`MAX_NAMES`] smallest names: the same set whatever order names arrive in.
fn insert_capped(set: &mut BTreeSet<String>, name: &str) {
    if set.len() >= MAX_NAMES && set.last().is_some_and(|last| name >= last.as_str()) {
        return;
    }
    if !set.contains(name) {
        set.insert(name.to_owned());
        if set.len() > MAX_NAMES {
            set.pop_last();
        }
    }
}

/// Keeps the [`MAX_EVIDENCE`] heaviest pieces, the earliest on ties: a total order, so the
/// same pieces are kept whatever order events arrive in. A piece is written only if kept.
fn keep_evidence(kept: &mut Vec<RawEvidence>, e: Pending<'_>) {
    let rank = |e: &RawEvidence| (e.weight, std::cmp::Reverse(e.location));
    if kept.len() < MAX_EVIDENCE {
        kept.push(e.write());
    } else if let Some((i, min)) = kept.iter().enumerate().min_by_key(|(_, k)| rank(k)) {
        if e.rank() > rank(min) {
            if let Some(slot) = kept.get_mut(i) {
                *slot = e.write();
            }
        }
    }
}

/// All groups of a scan. A hash map (one probe per hit); whoever reads them all sorts them
/// by key first ([`Groups::into_sorted`]).
#[derive(Debug, Default)]
pub(crate) struct Groups {
    pub(crate) map: FastMap<GroupKey, Group>,
    /// Hits folded into an overflow group because the group cap was reached.
    pub(crate) folded: u64,
    /// Groups kept at most (0 is read as 1).
    pub(crate) cap: usize,
}

impl Groups {
    /// Folds the hit into its group; past `cap` groups, new clients go to an overflow group
    /// per rule and window (user `*`, no address).
    pub(crate) fn add(&mut self, key: KeyRef<'_>, hit: Hit<'_>) {
        if let Some(group) = self.map.get_mut(&key as &dyn AsKeyRef) {
            group.add(hit);
            return;
        }
        let key = if self.map.len() >= self.cap.max(1) {
            self.folded += 1;
            KeyRef {
                user: "*",
                client: None,
                ..key
            }
        } else {
            key
        };
        self.map
            .entry(key.to_owned())
            .or_insert_with(|| Group::new(&hit))
            .add(hit);
    }

    /// Every group, in key order.
    pub(crate) fn into_sorted(self) -> Vec<(GroupKey, Group)> {
        let mut all: Vec<(GroupKey, Group)> = self.map.into_iter().collect();
        all.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        all
    }
}

/// Formats a byte count for people: `11.0 MiB`.
#[must_use]
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    #[allow(clippy::cast_precision_loss)]
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS.get(u).copied().unwrap_or("B"))
    }
}

/// Formats an integer with thousands separators: `1,204,331`.
#[must_use]
pub fn human_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_human_numbers() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(11_500_000), "11.0 MiB");
        assert_eq!(human_count(1_204_331), "1,204,331");
        assert_eq!(human_count(12), "12");
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!(Severity::Critical > Severity::High);
    }
}
