//! Detection: events in, explained findings out.
//!
//! The [`Detector`] is a push consumer: [`Detector::observe`] each event (in any order), then
//! [`Detector::finish`]. It keeps counters and capped evidence per client, rule and window —
//! never the events — so memory grows with clients and time, not with lines. It does not know
//! which format an event came from; its tests build events by hand.

mod finding;
pub mod rules;

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

pub use finding::{human_bytes, human_count, Evidence, Finding, RuleId, Severity};
pub(crate) use finding::{GroupKey, Groups, Hit, RawEvidence};

use crate::config::{Config, Thresholds};
use crate::error::ConfigError;
use crate::event::{Event, QueryEvent, QueryOutcome};
use crate::net::{NetClass, Networks};
use crate::redact::redact;
use crate::sql::{classify, QueryClass, StatementKind};
use crate::time::Timestamp;

/// Characters of query text quoted in evidence.
const EXCERPT_CHARS: usize = 240;
/// Distinct clients tracked for the summary table; past this, new clients are counted only.
const MAX_CLIENTS: usize = 100_000;

/// The configuration compiled into lookup structures.
#[derive(Debug, Clone)]
pub struct Settings {
    networks: Networks,
    passwordless: BTreeSet<String>,
    thresholds: Thresholds,
    redact: bool,
}

impl Settings {
    /// Compiles a configuration.
    ///
    /// # Errors
    /// A network that is not an address or CIDR.
    pub fn new(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            networks: Networks::new(&config.internal, &config.external)?,
            passwordless: config.passwordless.iter().cloned().collect(),
            thresholds: config.thresholds.clone(),
            redact: config.redact,
        })
    }

    /// Classifies an address against the configured networks.
    #[must_use]
    pub fn classify(&self, ip: Option<IpAddr>) -> NetClass {
        self.networks.classify(ip)
    }
}

/// One event as the rules see it: the event plus what enrichment added.
#[derive(Debug)]
pub(crate) struct Observation<'e, 'a> {
    pub(crate) event: &'e QueryEvent<'a>,
    pub(crate) client_class: NetClass,
    pub(crate) passwordless: bool,
    pub(crate) settings: &'e Settings,
    class: OnceCell<QueryClass>,
}

impl Observation<'_, '_> {
    /// The lexical classification of the query text, computed on first use.
    pub(crate) fn class(&self) -> &QueryClass {
        self.class.get_or_init(|| classify(&self.event.query))
    }

    /// Statement kind: the text decides INSERT INTO FUNCTION (query_kind says only
    /// `Insert`); otherwise the server's own `query_kind` is preferred.
    pub(crate) fn kind(&self) -> StatementKind {
        let from_server = self
            .event
            .query_kind
            .as_deref()
            .and_then(StatementKind::from_query_kind);
        match from_server {
            Some(StatementKind::Insert) | None => self.class().kind(),
            Some(k) => k,
        }
    }

    /// Tables read: the server's `tables` column where logged, else the classifier's.
    pub(crate) fn tables(&self) -> Vec<String> {
        match &self.event.tables {
            Some(t) if !t.is_empty() => t.iter().map(|s| s.to_string()).collect(),
            _ => self.class().tables.clone(),
        }
    }

    pub(crate) fn window(&self) -> Timestamp {
        self.event
            .start
            .floor_to(self.settings.thresholds.window_secs)
    }

    pub(crate) fn thresholds(&self) -> &Thresholds {
        &self.settings.thresholds
    }

    pub(crate) fn key(&self, rule: RuleId) -> GroupKey {
        GroupKey {
            rule,
            window: self.window(),
            user: self.event.user.to_string(),
            client: self.event.client,
        }
    }

    pub(crate) fn evidence(&self, weight: u64) -> RawEvidence {
        let q = self.event.query.as_ref();
        let mut excerpt: String = q
            .chars()
            .take(EXCERPT_CHARS)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if q.chars().nth(EXCERPT_CHARS).is_some() {
            excerpt.push('…');
        }
        if self.settings.redact {
            excerpt = redact(&excerpt).into_owned();
        }
        RawEvidence {
            location: self.event.location,
            excerpt,
            weight,
        }
    }
}

/// Totals for one client (user at address) over the whole scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientSummary {
    /// The user.
    pub user: String,
    /// The address, if logged.
    pub client_ip: Option<IpAddr>,
    /// Where the address sits.
    pub client_class: NetClass,
    /// Query executions.
    pub queries: u64,
    /// Result bytes sent to the client.
    pub result_bytes: u64,
    /// Rows read on its behalf.
    pub read_rows: u64,
    /// First query.
    pub first_seen: Timestamp,
    /// Last query.
    pub last_seen: Timestamp,
}

/// Counts over every event observed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventStats {
    /// Events observed (one per query execution).
    pub events: u64,
    /// Executions that failed, before or while running.
    pub failed: u64,
    /// Executions whose end was not in the input.
    pub unfinished: u64,
    /// Sub-queries of another query (not initial), counted but not judged: their parent is.
    pub subqueries: u64,
    /// Earliest event.
    pub first_event: Option<Timestamp>,
    /// Latest event.
    pub last_event: Option<Timestamp>,
    /// Distinct clients (user, address).
    pub clients: u64,
    /// Clients beyond the tracking cap, counted but not itemized.
    pub clients_untracked: u64,
}

/// What [`Detector::finish`] returns.
#[derive(Debug)]
pub struct Detection {
    /// Findings, most severe first, then by time.
    pub findings: Vec<Finding>,
    /// Event counters.
    pub stats: EventStats,
    /// Per-client totals, heaviest result volume first.
    pub clients: Vec<ClientSummary>,
}

/// Runs every rule over a stream of events; see the module docs.
#[derive(Debug)]
pub struct Detector {
    settings: Settings,
    groups: Groups,
    stats: EventStats,
    /// Per user, per address: looked up by `&str`, so a known client costs no allocation.
    clients: BTreeMap<String, BTreeMap<Option<IpAddr>, ClientSummary>>,
    /// Clients itemized in `clients`.
    tracked: usize,
}

impl Detector {
    /// A detector with compiled settings.
    #[must_use]
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            groups: Groups::default(),
            stats: EventStats::default(),
            clients: BTreeMap::new(),
            tracked: 0,
        }
    }

    /// Observes one event.
    pub fn observe(&mut self, event: &Event<'_>) {
        match event {
            Event::Query(q) => self.observe_query(q),
        }
    }

    fn observe_query(&mut self, q: &QueryEvent<'_>) {
        let s = &mut self.stats;
        s.events += 1;
        match q.outcome {
            QueryOutcome::FailedBeforeStart | QueryOutcome::FailedWhileProcessing => s.failed += 1,
            QueryOutcome::Unfinished => s.unfinished += 1,
            QueryOutcome::Finished => {}
        }
        s.first_event = Some(s.first_event.map_or(q.start, |t| t.min(q.start)));
        let end = q.end.unwrap_or(q.start);
        s.last_event = Some(s.last_event.map_or(end, |t| t.max(end)));
        if !q.is_initial {
            s.subqueries += 1;
            return;
        }
        let client_class = self.settings.classify(q.client);
        self.track_client(q, client_class);
        let obs = Observation {
            event: q,
            client_class,
            passwordless: self.settings.passwordless.contains(q.user.as_ref()),
            settings: &self.settings,
            class: OnceCell::new(),
        };
        rules::unauthenticated_read::observe(&obs, &mut self.groups);
        rules::external_client_read::observe(&obs, &mut self.groups);
        rules::table_function_egress::observe(&obs, &mut self.groups);
    }

    fn track_client(&mut self, q: &QueryEvent<'_>, client_class: NetClass) {
        let known = self
            .clients
            .get(q.user.as_ref())
            .is_some_and(|by_ip| by_ip.contains_key(&q.client));
        if !known {
            self.stats.clients += 1;
            if self.tracked >= MAX_CLIENTS {
                self.stats.clients_untracked += 1;
                return;
            }
            self.tracked += 1;
        }
        let by_ip = match self.clients.get_mut(q.user.as_ref()) {
            Some(m) => m,
            None => self.clients.entry(q.user.to_string()).or_default(),
        };
        let c = by_ip.entry(q.client).or_insert_with(|| ClientSummary {
            user: q.user.to_string(),
            client_ip: q.client,
            client_class,
            queries: 0,
            result_bytes: 0,
            read_rows: 0,
            first_seen: q.start,
            last_seen: q.start,
        });
        c.queries += 1;
        c.result_bytes = c.result_bytes.saturating_add(q.volume.result_bytes);
        c.read_rows = c.read_rows.saturating_add(q.volume.read_rows);
        c.first_seen = c.first_seen.min(q.start);
        c.last_seen = c.last_seen.max(q.end.unwrap_or(q.start));
    }

    /// Folds in a detector that observed other events — the inputs after this one's, whose
    /// source ids are renumbered by `source_offset`. The result is what one detector
    /// observing both event streams would hold: counters add, times take min/max, capped
    /// sets and evidence keep the same elements under a total order. Settings must match.
    /// (Past 100,000 distinct clients, which clients get itemized, and so the
    /// `clients_untracked` count, can differ from one pass.)
    pub fn merge(&mut self, other: Detector, source_offset: u32) {
        let (a, b) = (&mut self.stats, other.stats);
        a.events += b.events;
        a.failed += b.failed;
        a.unfinished += b.unfinished;
        a.subqueries += b.subqueries;
        a.first_event = match (a.first_event, b.first_event) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        a.last_event = a.last_event.max(b.last_event);
        a.clients_untracked += b.clients_untracked;
        a.clients += b.clients;
        for (user, by_ip) in other.clients {
            let mine = match self.clients.get_mut(&user) {
                Some(m) => m,
                None => self.clients.entry(user).or_default(),
            };
            for (ip, c) in by_ip {
                match mine.get_mut(&ip) {
                    Some(m) => {
                        // Counted by both sides: once in one pass.
                        self.stats.clients -= 1;
                        m.queries += c.queries;
                        m.result_bytes = m.result_bytes.saturating_add(c.result_bytes);
                        m.read_rows = m.read_rows.saturating_add(c.read_rows);
                        m.first_seen = m.first_seen.min(c.first_seen);
                        m.last_seen = m.last_seen.max(c.last_seen);
                    }
                    None if self.tracked < MAX_CLIENTS => {
                        self.tracked += 1;
                        mine.insert(ip, c);
                    }
                    None => self.stats.clients_untracked += 1,
                }
            }
        }
        self.clients.retain(|_, m| !m.is_empty());
        let mut groups = other.groups;
        groups.shift_sources(source_offset);
        self.groups.merge(groups);
    }

    /// Closes every group, applies each rule's final judgement and returns the findings.
    /// `paths` names the sources by [`crate::event::SourceId`] index.
    #[must_use]
    pub fn finish(self, paths: &[String]) -> Detection {
        let mut findings = Vec::new();
        for (key, group) in self.groups.map {
            let verdict = match key.rule {
                RuleId::UnauthenticatedRead => {
                    rules::unauthenticated_read::judge(&key, &group, &self.settings)
                }
                RuleId::ExternalClientRead => {
                    rules::external_client_read::judge(&key, &group, &self.settings)
                }
                RuleId::TableFunctionEgress => {
                    rules::table_function_egress::judge(&key, &group, &self.settings)
                }
            };
            let Some(v) = verdict else { continue };
            let mut evidence = group.evidence;
            evidence.sort_by_key(|e| e.location);
            let mut metrics = group.sums;
            metrics.extend(group.maxes);
            metrics.extend(v.extra_metrics);
            metrics.insert("queries", group.count);
            findings.push(Finding {
                rule: key.rule,
                severity: v.severity,
                first_seen: group.first,
                last_seen: group.last,
                user: key.user,
                client_ip: key.client,
                client_class: group.client_class,
                count: group.count,
                summary: v.summary,
                metrics,
                tables: group.tables.into_iter().collect(),
                targets: group.targets.into_iter().collect(),
                assumptions: v.assumptions,
                evidence: evidence
                    .into_iter()
                    .map(|e| Evidence {
                        path: paths
                            .get(e.location.source.0 as usize)
                            .cloned()
                            .unwrap_or_default(),
                        line: e.location.line,
                        excerpt: Some(e.excerpt).filter(|s| !s.is_empty()),
                    })
                    .collect(),
            });
        }
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.first_seen.cmp(&b.first_seen))
                .then(a.rule.cmp(&b.rule))
                .then(a.user.cmp(&b.user))
                .then(a.client_ip.cmp(&b.client_ip))
        });
        let mut clients: Vec<ClientSummary> = self
            .clients
            .into_values()
            .flat_map(BTreeMap::into_values)
            .collect();
        clients.sort_by(|a, b| {
            b.result_bytes
                .cmp(&a.result_bytes)
                .then(b.queries.cmp(&a.queries))
                .then(a.user.cmp(&b.user))
                .then(a.client_ip.cmp(&b.client_ip))
        });
        Detection {
            findings,
            stats: self.stats,
            clients,
        }
    }
}

/// A rule's final word on one group.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub(crate) severity: Severity,
    pub(crate) summary: String,
    pub(crate) assumptions: Vec<String>,
    pub(crate) extra_metrics: Vec<(&'static str, u64)>,
}

/// "`alice` at external 198.51.100.7" — how summaries name a client.
pub(crate) fn describe_client(key: &GroupKey, class: NetClass) -> String {
    match key.client {
        Some(ip) => format!("`{}` from {class} {ip}", key.user),
        None => format!("`{}` (address not logged)", key.user),
    }
}

/// Whether a `db.table` name is ClickHouse's own metadata.
pub(crate) fn is_system_table(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("system.") || lower.starts_with("information_schema.")
}

#[cfg(test)]
pub(crate) mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::event::{Interface, Location, SourceId, Volume};

    /// An event for rule tests: a finished SELECT at 2025-01-29 10:00:00 UTC.
    pub(crate) fn event(
        user: &'static str,
        ip: &str,
        query: &'static str,
        result_bytes: u64,
    ) -> QueryEvent<'static> {
        QueryEvent {
            start: Timestamp::from_secs(1_738_144_800),
            end: Some(Timestamp::from_secs(1_738_144_801)),
            user: Cow::Borrowed(user),
            authenticated_user: None,
            client: ip.parse().ok(),
            query_id: Cow::Borrowed("q"),
            query: Cow::Borrowed(query),
            query_kind: None,
            outcome: QueryOutcome::Finished,
            exception_code: None,
            is_initial: true,
            interface: Some(Interface::Http),
            volume: Volume {
                result_bytes,
                result_rows: result_bytes / 100,
                read_rows: result_bytes / 100,
                ..Volume::default()
            },
            table_functions: None,
            tables: None,
            http_user_agent: None,
            location: Location {
                source: SourceId(0),
                line: 2,
            },
        }
    }

    pub(crate) fn run(events: &[QueryEvent<'static>]) -> Vec<Finding> {
        let mut d = Detector::new(Settings::new(&Config::default()).unwrap());
        for e in events {
            d.observe(&Event::Query(e.clone()));
        }
        d.finish(&["log.tsv".to_owned()]).findings
    }

    #[test]
    fn ok_subqueries_are_not_judged() {
        let mut e = event("default", "198.51.100.7", "SELECT * FROM t", 10);
        e.is_initial = false;
        assert!(run(&[e]).is_empty());
    }

    #[test]
    fn ok_one_finding_per_client_rule_window() {
        let a = event("default", "198.51.100.7", "SHOW TABLES", 10);
        let mut b = event("default", "198.51.100.7", "SELECT * FROM log_stream", 10);
        b.location.line = 3;
        let f = run(&[a, b]);
        let unauth: Vec<_> = f
            .iter()
            .filter(|f| f.rule == RuleId::UnauthenticatedRead)
            .collect();
        assert_eq!(unauth.len(), 1);
        assert_eq!(unauth[0].count, 2);
        assert_eq!(
            unauth[0]
                .evidence
                .iter()
                .map(|e| e.line)
                .collect::<Vec<_>>(),
            [2, 3]
        );
    }
}
