//! Detection: events in, explained findings out.
//!
//! The [`Detector`] is a push consumer: [`Detector::observe`] each event (in any order), then
//! [`Detector::finish`]. It keeps counters and capped evidence per client, rule and window —
//! never the events — so memory grows with clients and time, not with lines. It does not know
//! which format an event came from; its tests build events by hand.

pub mod baseline;
mod finding;
mod ledger;
mod policy;
pub mod rules;

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use serde::Serialize;

pub use finding::{human_bytes, human_count, Evidence, Finding, RuleId, Severity};
pub(crate) use finding::{GroupKey, Groups, Hit, RawEvidence};
pub use ledger::{Channel, LedgerEntry};

use baseline::{Baseline, BaselineState, ClientVolume};
use ledger::Ledger;
use policy::Policy;

use crate::config::{BaselineConfig, Config, Thresholds};
use crate::error::ConfigError;
use crate::event::{
    Event, HttpEvent, HttpOrigin, Interface, Location, LoginEvent, QueryEvent, QueryOutcome, Volume,
};
use crate::net::{NetClass, Networks};
use crate::redact::redact;
use crate::sql::{classify, QueryClass, StatementKind};
use crate::time::Timestamp;

/// Characters of query text quoted in evidence.
const EXCERPT_CHARS: usize = 240;
/// query_log executions remembered for cross-source de-duplication (16 bytes each).
const MAX_SEEN_QUERIES: usize = 4_000_000;
/// Text-log queries held back until the end so a query_log copy can win; past this they are
/// judged at once (and may then be counted twice if a query_log copy comes later).
const MAX_HELD_SERVER_QUERIES: usize = 200_000;
/// The same query_id from two sources counts once if their start times are this close.
const SAME_QUERY_SECS: i64 = 5;

/// The configuration compiled into lookup structures.
#[derive(Debug, Clone)]
pub struct Settings {
    networks: Networks,
    passwordless: BTreeSet<String>,
    thresholds: Thresholds,
    redact: bool,
    max_clients: usize,
    max_groups: usize,
    baseline: BaselineConfig,
    policy: Policy,
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
            max_clients: config.max_tracked_clients,
            max_groups: config.max_findings.max(1),
            baseline: config.baseline.clone(),
            policy: Policy::new(config)?,
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
            // The server lists table functions as `_table_function.url`; those are not tables.
            Some(t) if !t.is_empty() => t
                .iter()
                .filter(|s| !s.starts_with("_table_function."))
                .map(|s| s.to_string())
                .collect(),
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
        evidence_of(self.event, self.settings.redact, weight)
    }
}

/// Evidence quoting an event's query, shortened and (with `redact`) with secrets masked.
pub(crate) fn evidence_of(
    event: &QueryEvent<'_>,
    redact_secrets: bool,
    weight: u64,
) -> RawEvidence {
    {
        let q = event.query.as_ref();
        let mut excerpt: String = q
            .chars()
            .take(EXCERPT_CHARS)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if q.chars().nth(EXCERPT_CHARS).is_some() {
            excerpt.push('…');
        }
        if redact_secrets {
            excerpt = redact(&excerpt).into_owned();
        }
        RawEvidence {
            location: event.location,
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
    /// Matching events of clients beyond the findings cap, folded into one finding per rule
    /// and window under user `*`.
    pub findings_folded: u64,
    /// Executions seen a second time through another source (text log and query_log, same
    /// query_id) and counted once.
    pub duplicates: u64,
    /// Login attempts (session_log, text log) observed.
    pub logins: u64,
    /// HTTP requests (access logs, server `Request URI` lines) observed.
    pub http_requests: u64,
    /// Events outside the `since`/`until` range, skipped before anything else.
    pub out_of_range: u64,
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
    /// The baseline state after the scan (updated unless the mode was [`BaselineMode::Scan`]).
    pub baseline: Option<BaselineState>,
    /// Per-client volume per bucket against the baseline (scans with a baseline only).
    pub volumes: Vec<ClientVolume>,
    /// The egress ledger, by day then bytes.
    pub ledger: Vec<LedgerEntry>,
    /// Bytes booked past the ledger's size cap.
    pub ledger_overflow_bytes: u64,
}

/// What a detector does with an attached baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaselineMode {
    /// Learn only: fold every bucket into the state, judge nothing against it.
    Learn,
    /// Judge against the state, leave it as it was.
    Scan,
    /// Judge against the state, then fold this scan into it.
    ScanAndUpdate,
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
    /// query_log executions by (query_id, user, client) hash: their start and location.
    seen: HashMap<u64, Vec<(Timestamp, Location)>>,
    seen_count: usize,
    /// Text-log executions waiting for the end (see [`Event::ServerLogQuery`]).
    held: Vec<QueryEvent<'static>>,
    /// query_log HTTP executions from internal addresses (a proxy?), held until the end.
    held_proxied: Vec<QueryEvent<'static>>,
    /// Proxy access-log requests as executions, held until the end.
    held_requests: Vec<QueryEvent<'static>>,
    /// `auth_type`s of successful logins per (user, client), from session_log.
    login_types: BTreeMap<(String, Option<IpAddr>), BTreeSet<String>>,
    auth: rules::auth_failure_burst::State,
    baseline: Option<(Baseline, BaselineMode)>,
    volume: rules::volume_anomaly::Tracker,
    ledger: Ledger,
    range: (Option<Timestamp>, Option<Timestamp>),
}

impl Detector {
    /// A detector with compiled settings.
    #[must_use]
    pub fn new(settings: Settings) -> Self {
        let groups = Groups {
            cap: settings.max_groups,
            ..Groups::default()
        };
        Self {
            settings,
            groups,
            stats: EventStats::default(),
            clients: BTreeMap::new(),
            tracked: 0,
            seen: HashMap::new(),
            seen_count: 0,
            held: Vec::new(),
            held_proxied: Vec::new(),
            held_requests: Vec::new(),
            login_types: BTreeMap::new(),
            auth: rules::auth_failure_burst::State::default(),
            baseline: None,
            volume: rules::volume_anomaly::Tracker::default(),
            ledger: Ledger::default(),
            range: (None, None),
        }
    }

    /// Judges (and, by `mode`, learns) against a baseline state.
    ///
    /// # Errors
    /// The state was written by another version or keyed/bucketed differently.
    pub fn attach_baseline(
        &mut self,
        state: BaselineState,
        mode: BaselineMode,
    ) -> Result<(), ConfigError> {
        let b = Baseline::new(self.settings.baseline.clone(), state)
            .map_err(|e| ConfigError::Baseline(e.to_string()))?;
        self.baseline = Some((b, mode));
        Ok(())
    }

    /// Only events starting at or after `since` and before `until` are observed.
    pub fn set_range(&mut self, since: Option<Timestamp>, until: Option<Timestamp>) {
        self.range = (since, until);
    }

    /// Observes one event.
    pub fn observe(&mut self, event: &Event<'_>) {
        match event {
            Event::Query(q) => {
                self.remember(q);
                let proxied = q.is_initial
                    && q.interface == Some(Interface::Http)
                    && self.settings.classify(q.client) == NetClass::Internal;
                if proxied && self.held_proxied.len() < MAX_HELD_SERVER_QUERIES {
                    // Possibly a request relayed by a proxy whose log names the real client.
                    self.held_proxied.push(q.clone().into_owned());
                } else {
                    self.observe_query(q);
                }
            }
            Event::ServerLogQuery(q) => {
                if self.held.len() < MAX_HELD_SERVER_QUERIES {
                    self.held.push(q.clone().into_owned());
                } else {
                    self.observe_server_query(q);
                }
            }
            Event::Login(l) => self.observe_login(l),
            Event::Http(h) => self.observe_http(h),
        }
    }

    /// Remembers a query_log execution so a text-log copy of it is not counted again.
    fn remember(&mut self, q: &QueryEvent<'_>) {
        if q.query_id.is_empty() || self.seen_count >= MAX_SEEN_QUERIES {
            return;
        }
        self.seen_count += 1;
        self.seen
            .entry(same_query_key(q))
            .or_default()
            .push((q.start, q.location));
    }

    /// A text-log execution: evidence for its query_log copy if there is one, else an event.
    fn observe_server_query(&mut self, q: &QueryEvent<'_>) {
        let original = if q.query_id.is_empty() {
            None
        } else {
            self.seen.get(&same_query_key(q)).and_then(|v| {
                v.iter()
                    .find(|(t, _)| (t.secs() - q.start.secs()).abs() <= SAME_QUERY_SECS)
                    .map(|(_, l)| *l)
            })
        };
        let Some(original) = original else {
            self.observe_query(q);
            return;
        };
        self.stats.duplicates += 1;
        self.attach(original, evidence_of(q, self.settings.redact, 0));
    }

    /// Lists `extra` as evidence of every finding-to-be that already cites `original`.
    fn attach(&mut self, original: Location, extra: RawEvidence) {
        for group in self.groups.map.values_mut() {
            if group.evidence.iter().any(|e| e.location == original)
                && !group.evidence.iter().any(|e| e.location == extra.location)
            {
                group.evidence.push(extra.clone());
            }
        }
    }

    /// Pairs proxy requests with the server's record of them: the query_log row (from the
    /// proxy's address) is judged as coming from the client the proxy saw, once.
    fn join_proxied(&mut self) {
        let held = std::mem::take(&mut self.held_proxied);
        let mut used = vec![false; held.len()];
        for r in std::mem::take(&mut self.held_requests) {
            let text = r.query.trim();
            let window = if text.is_empty() { 2 } else { 3 };
            let candidates: Vec<usize> = held
                .iter()
                .enumerate()
                .filter(|(i, q)| {
                    !used.get(*i).copied().unwrap_or(true)
                        && q.user == r.user
                        && (q.start.secs() - r.start.secs()).abs() <= window
                        && if text.is_empty() {
                            true
                        } else {
                            q.query.trim() == text
                        }
                })
                .map(|(i, _)| i)
                .collect();
            // A POST hides its SQL from the proxy: pair it only when the choice is unique.
            let pick = match candidates.as_slice() {
                [one] => Some(*one),
                [first, ..] if !text.is_empty() => Some(*first),
                _ => None,
            };
            let Some(i) = pick else {
                self.observe_query(&r);
                continue;
            };
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
            let Some(q) = held.get(i) else { continue };
            let mut moved = q.clone();
            moved.client = r.client;
            self.stats.duplicates += 1;
            self.observe_query(&moved);
            // Text-log copies of the server row find it by its location, wherever it went.
            self.attach(moved.location, evidence_of(&r, self.settings.redact, 0));
        }
        for (i, q) in held.iter().enumerate() {
            if !used.get(i).copied().unwrap_or(false) {
                self.observe_query(q);
            }
        }
    }

    fn observe_login(&mut self, l: &LoginEvent<'_>) {
        self.stats.logins += 1;
        let class = self.settings.classify(l.client);
        self.auth.observe(l, class, &self.settings);
        if l.outcome == crate::event::LoginOutcome::Success
            && self.login_types.len() < self.settings.max_clients
        {
            if let Some(t) = &l.auth_type {
                self.login_types
                    .entry((l.user.to_string(), l.client))
                    .or_default()
                    .insert(t.to_string());
            }
        }
    }

    fn observe_http(&mut self, h: &HttpEvent<'_>) {
        self.stats.http_requests += 1;
        let class = self.settings.classify(h.client);
        rules::recon::observe_http(h, class, &self.settings, &mut self.groups);
        rules::secret_in_query::observe_http(h, class, &self.settings, &mut self.groups);
        if let Some(status) = h.status {
            if matches!(status, 401 | 403) && h.origin == HttpOrigin::ProxyLog {
                self.auth.observe_http_refusal(h, class, &self.settings);
            }
        }
        // The server's own `Request URI` line is followed by an executeQuery line for the
        // same request: only a proxy's request becomes a query execution here.
        // A bare `GET /` is a probe ("Ok."), not a query.
        let carries_query = h.query.is_some() || h.method.eq_ignore_ascii_case("POST");
        if h.origin != HttpOrigin::ProxyLog
            || !rules::recon::is_query_handler(&h.path)
            || !carries_query
        {
            return;
        }
        let failed = h.status.is_some_and(|s| s >= 400);
        let q = QueryEvent {
            start: h.time,
            end: Some(h.time),
            user: h
                .user
                .clone()
                .unwrap_or(std::borrow::Cow::Borrowed("default")),
            authenticated_user: None,
            client: h.client,
            query_id: std::borrow::Cow::Borrowed(""),
            query: h.query.clone().unwrap_or_default(),
            query_kind: None,
            outcome: if failed {
                QueryOutcome::FailedBeforeStart
            } else {
                QueryOutcome::Finished
            },
            exception_code: None,
            is_initial: true,
            interface: Some(Interface::Http),
            volume: Volume {
                result_bytes: if failed { 0 } else { h.bytes_sent.unwrap_or(0) },
                ..Volume::default()
            },
            table_functions: None,
            tables: None,
            http_user_agent: h.user_agent.clone(),
            location: h.location,
        };
        if self.held_requests.len() < MAX_HELD_SERVER_QUERIES {
            self.held_requests.push(q.into_owned());
        } else {
            self.observe_query(&q);
        }
    }

    fn observe_query(&mut self, q: &QueryEvent<'_>) {
        if self.range.0.is_some_and(|t| q.start < t) || self.range.1.is_some_and(|t| q.start >= t) {
            self.stats.out_of_range += 1;
            return;
        }
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
        rules::recon::observe(&obs, &mut self.groups);
        rules::secret_in_query::observe(&obs, &mut self.groups);
        rules::server_file_access::observe(&obs, &mut self.groups);
        self.ledger.observe(&obs);
        if let Some((b, mode)) = &mut self.baseline {
            observe_baseline(&obs, b, *mode, &mut self.groups, &mut self.volume);
        }
    }

    fn track_client(&mut self, q: &QueryEvent<'_>, client_class: NetClass) {
        let known = self
            .clients
            .get(q.user.as_ref())
            .is_some_and(|by_ip| by_ip.contains_key(&q.client));
        if !known {
            self.stats.clients += 1;
            if self.tracked >= self.settings.max_clients {
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
        // For INSERT the server counts the inserted data as the "result": it came in, not out.
        if q.volume.written_rows == 0 {
            c.result_bytes = c.result_bytes.saturating_add(q.volume.result_bytes);
        }
        c.read_rows = c.read_rows.saturating_add(q.volume.read_rows);
        c.first_seen = c.first_seen.min(q.start);
        c.last_seen = c.last_seen.max(q.end.unwrap_or(q.start));
    }

    /// Closes every group, applies each rule's final judgement and returns the findings.
    /// `paths` names the sources by [`crate::event::SourceId`] index.
    #[must_use]
    pub fn finish(mut self, paths: &[String]) -> Detection {
        self.stats.findings_folded = self.groups.folded;
        self.join_proxied();
        // A query in both clickhouse-server.log and .err.log (or two copies of one log)
        // counts once: the copy that names its user and has volumes wins.
        let mut held = std::mem::take(&mut self.held);
        held.sort_by_key(|q| {
            (
                q.query_id.is_empty(),
                same_query_key(q),
                q.start.secs() / SAME_QUERY_SECS,
                q.user.starts_with('('),
                std::cmp::Reverse(q.volume.read_rows),
                q.location,
            )
        });
        let mut kept: Option<(u64, i64, Location)> = None;
        let mut copies = Vec::new();
        for q in held {
            let key = same_query_key(&q);
            if let Some((k, t, at)) = kept {
                if !q.query_id.is_empty()
                    && k == key
                    && (t - q.start.secs()).abs() <= SAME_QUERY_SECS
                {
                    self.stats.duplicates += 1;
                    copies.push((at, evidence_of(&q, self.settings.redact, 0)));
                    continue;
                }
            }
            kept = Some((key, q.start.secs(), q.location));
            self.observe_server_query(&q);
        }
        for (at, e) in copies {
            // Wherever the kept copy is cited (its own groups, or its query_log row's).
            self.attach(at, e);
        }
        let mut findings = self.auth.findings(&self.settings, paths);
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
                RuleId::Recon => rules::recon::judge(&key, &group, &self.settings),
                RuleId::SecretInQuery => {
                    rules::secret_in_query::judge(&key, &group, &self.settings)
                }
                RuleId::ServerFileAccess => {
                    rules::server_file_access::judge(&key, &group, &self.settings)
                }
                // Judged from its own state above.
                RuleId::AuthFailureBurst => None,
                RuleId::FirstSeenClient => self
                    .baseline
                    .as_ref()
                    .and_then(|(b, _)| rules::first_seen_client::judge(&key, &group, b)),
                RuleId::FirstSeenTable => self
                    .baseline
                    .as_ref()
                    .and_then(|(b, _)| rules::first_seen_table::judge(&key, &group, b)),
                // Judged per bucket below, never grouped.
                RuleId::VolumeAnomaly => None,
            };
            let Some(v) = verdict else { continue };
            let mut evidence = group.evidence;
            evidence.sort_by_key(|e| e.location);
            evidence.dedup_by_key(|e| e.location);
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
                evidence: resolve_evidence(evidence, paths),
            });
        }
        for f in &mut findings {
            if f.rule == RuleId::UnauthenticatedRead {
                let key = (f.user.clone(), f.client_ip);
                // Any address of the user if this client's logins were not logged.
                let types = self.login_types.get(&key).cloned().or_else(|| {
                    let any: BTreeSet<String> = self
                        .login_types
                        .iter()
                        .filter(|((u, _), _)| *u == f.user)
                        .flat_map(|(_, t)| t.iter().cloned())
                        .collect();
                    (!any.is_empty()).then_some(any)
                });
                if let Some(types) = types {
                    f.assumptions.push(login_type_note(&f.user, &types));
                }
            }
        }
        let mut volumes = Vec::new();
        let mut state = None;
        if let Some((b, mode)) = self.baseline {
            if mode != BaselineMode::Learn {
                findings.extend(rules::volume_anomaly::judge_all(
                    &b,
                    &self.volume,
                    &self.settings,
                    paths,
                ));
                volumes = b.volumes();
            }
            state = Some(b.into_state(mode != BaselineMode::Scan));
        }
        let mut findings = self.settings.policy.apply(findings);
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
        let (ledger, ledger_overflow_bytes) = self.ledger.finish();
        Detection {
            findings,
            stats: self.stats,
            clients,
            baseline: state,
            volumes,
            ledger,
            ledger_overflow_bytes,
        }
    }
}

/// What session_log's `auth_type` does and does not prove about a passwordless user.
fn login_type_note(user: &str, types: &BTreeSet<String>) -> String {
    let list: Vec<&str> = types.iter().map(String::as_str).collect();
    if types.iter().all(|t| t == "NO_PASSWORD") {
        format!("session_log confirms `{user}` logged in with auth_type NO_PASSWORD")
    } else {
        format!(
            "session_log shows `{user}` logging in with auth_type {}: a users.xml user with an empty <password> is reported as PLAINTEXT_PASSWORD, so this neither proves nor refutes a password; the passwordless-users list decides",
            list.join(", ")
        )
    }
}

/// Hashes what identifies one execution across sources (FNV-1a: stable everywhere). The user
/// is left out: an 18.x error line does not name it.
fn same_query_key(q: &QueryEvent<'_>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let client = q.client.map(|c| c.to_string()).unwrap_or_default();
    for part in [q.query_id.as_bytes(), client.as_bytes()] {
        for b in part.iter().chain(std::iter::once(&0xff)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Turns raw evidence into printable evidence, naming the file.
pub(crate) fn resolve_evidence(raw: Vec<RawEvidence>, paths: &[String]) -> Vec<Evidence> {
    raw.into_iter()
        .map(|e| Evidence {
            path: paths
                .get(e.location.source.0 as usize)
                .cloned()
                .unwrap_or_default(),
            line: e.location.line,
            excerpt: Some(e.excerpt).filter(|s| !s.is_empty()),
        })
        .collect()
}

/// Feeds one event to the baseline and, when judging, to the baseline rules.
fn observe_baseline(
    obs: &Observation<'_, '_>,
    b: &mut Baseline,
    mode: BaselineMode,
    groups: &mut Groups,
    volume: &mut rules::volume_anomaly::Tracker,
) {
    let q = obs.event;
    // A start without its end yet: the next run sees the whole query (incremental runs).
    if q.outcome == QueryOutcome::Unfinished {
        return;
    }
    let key = b.key(&q.user, q.client);
    let kind = obs.kind();
    let v = q.volume;
    // For INSERT, result_bytes counts data sent *to* the server.
    let result_bytes = if matches!(
        kind,
        StatementKind::Insert | StatementKind::InsertIntoFunction
    ) {
        0
    } else {
        v.result_bytes
    };
    let tables: Vec<String> = if kind.is_read() {
        obs.tables()
            .into_iter()
            .filter(|t| !is_system_table(t))
            .collect()
    } else {
        Vec::new()
    };
    let shape = kind
        .is_read()
        .then(|| rules::volume_anomaly::query_shape(&q.query));
    if mode != BaselineMode::Learn {
        rules::first_seen_client::observe(obs, b, groups);
        rules::first_seen_table::observe(obs, b, &tables, groups);
        volume.observe(obs, &key, b.state().bucket_secs);
        if let Some(d) = shape.and_then(|s| b.query_deviation(&key, s, result_bytes)) {
            if d.anomalous {
                volume.observe_query(obs, &key, d);
            }
        }
    }
    if let Some(s) = shape {
        b.observe_query(&key, s, result_bytes);
    }
    let values = [1, v.read_rows, v.result_rows, result_bytes, 0];
    b.observe(
        &key,
        obs.client_class == NetClass::External,
        q.start,
        &values,
    );
    for t in &tables {
        b.observe_table(&key, t);
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
        run_with(&Config::default(), events)
    }

    pub(crate) fn run_with(config: &Config, events: &[QueryEvent<'static>]) -> Vec<Finding> {
        let mut d = Detector::new(Settings::new(config).unwrap());
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

    #[test]
    fn ok_session_log_auth_type_is_reported_as_what_it_is() {
        use crate::event::{LoginEvent, LoginOutcome};
        let mut d = Detector::new(Settings::new(&Config::default()).unwrap());
        d.observe(&Event::Login(LoginEvent {
            time: Timestamp::from_secs(1_738_144_790),
            user: Cow::Borrowed("default"),
            client: "198.51.100.7".parse().ok(),
            outcome: LoginOutcome::Success,
            interface: Some(Interface::Http),
            auth_type: Some(Cow::Borrowed("PLAINTEXT_PASSWORD")),
            reason: None,
            location: Location::default(),
        }));
        d.observe(&Event::Query(event(
            "default",
            "198.51.100.7",
            "SELECT * FROM t",
            10,
        )));
        let f = d.finish(&["a".to_owned()]).findings;
        let unauth = f
            .iter()
            .find(|f| f.rule == RuleId::UnauthenticatedRead)
            .unwrap();
        assert!(
            unauth
                .assumptions
                .iter()
                .any(|a| a.contains("PLAINTEXT_PASSWORD") && a.contains("neither proves")),
            "{:?}",
            unauth.assumptions
        );
    }

    #[test]
    fn ok_text_log_copy_counts_once_whichever_comes_first() {
        let mut q = event(
            "default",
            "198.51.100.7",
            "SELECT * FROM log_stream",
            16 << 20,
        );
        q.query_id = Cow::Borrowed("abc");
        let mut t = q.clone();
        t.volume = Volume::default();
        t.location = Location {
            source: SourceId(1),
            line: 9,
        };
        for order in [[true, false], [false, true]] {
            let mut d = Detector::new(Settings::new(&Config::default()).unwrap());
            for from_query_log in order {
                if from_query_log {
                    d.observe(&Event::Query(q.clone()));
                } else {
                    d.observe(&Event::ServerLogQuery(t.clone()));
                }
            }
            let det = d.finish(&["q.tsv".to_owned(), "server.log".to_owned()]);
            let ext = det
                .findings
                .iter()
                .find(|f| f.rule == RuleId::ExternalClientRead)
                .unwrap();
            assert_eq!(ext.count, 1);
            assert_eq!(ext.metrics["result_bytes"], 16 << 20);
            assert_eq!(
                ext.evidence
                    .iter()
                    .map(|e| e.path.as_str())
                    .collect::<Vec<_>>(),
                ["q.tsv", "server.log"]
            );
            assert_eq!(det.stats.duplicates, 1);
        }
    }
}
