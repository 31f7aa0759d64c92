//! Detection: events in, explained findings out.
//!
//! The [`Detector`] is a push consumer: [`Detector::observe`] each event (in any order), then
//! [`Detector::finish`]. It keeps counters and capped evidence per client, rule and window —
//! never the events — so memory grows with clients and time, not with lines. It does not know
//! which format an event came from; its tests build events by hand.

pub mod baseline;
mod facts;
mod finding;
mod ledger;
mod policy;
pub mod rules;
pub mod timeline;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::rc::Rc;

use serde::Serialize;

pub use finding::{human_bytes, human_count, Evidence, Finding, RuleId, Severity};
pub(crate) use finding::{Excerpt, GroupKey, Groups, Hit, KeyRef, Pending, RawEvidence};
pub use ledger::{Channel, LedgerEntry};

use baseline::{Baseline, BaselineState, ClientVolume};
use facts::TextFacts;
use ledger::Ledger;
use policy::Policy;

use crate::config::{BaselineConfig, Config, Thresholds};
use crate::error::ConfigError;
use crate::event::{
    Event, HttpEvent, HttpOrigin, Interface, Location, LoginEvent, QueryEvent, QueryOutcome,
    TextHint, Volume,
};
use crate::memo::{keyed_hash, FastMap, FastSet};
use crate::net::{NetClass, Networks};
use crate::redact::{redact, redact_url};
use crate::sql::{QueryClass, StatementKind};
use crate::time::Timestamp;

/// Characters of query text quoted in evidence.
const EXCERPT_CHARS: usize = 240;
/// query_log executions remembered for cross-source de-duplication (16 bytes each).
const MAX_SEEN_QUERIES: usize = 4_000_000;
/// Distinct clients beyond the tracking cap counted exactly; past this many the counts of
/// [`EventStats::clients`] and [`EventStats::clients_untracked`] are lower bounds.
const MAX_UNTRACKED_COUNTED: usize = 1_000_000;
/// Text-log queries held back until the end so a query_log copy can win; past this they are
/// judged at once (and may then be counted twice if a query_log copy comes later).
const MAX_HELD_SERVER_QUERIES: usize = 200_000;
/// The same query_id from two sources counts once if their start times are this close.
const SAME_QUERY_SECS: i64 = 5;
/// A server `Request URI` line and a proxy log line with the same target are one request if
/// the proxy's time (the end of the request, in whole seconds) is at most this much after the
/// server's (its start)…
const SAME_REQUEST_AFTER_SECS: i64 = 3;
/// … or this much before it (clock skew, second-resolution proxy times).
const SAME_REQUEST_BEFORE_SECS: i64 = 2;

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
    timezone: String,
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
            timezone: config.timezone.clone(),
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
    /// What the query text says, from one memo lookup for all rules.
    facts: Rc<TextFacts>,
    kind: StatementKind,
}

impl<'e, 'a> Observation<'e, 'a> {
    fn new(
        event: &'e QueryEvent<'a>,
        client_class: NetClass,
        passwordless: bool,
        settings: &'e Settings,
        hint: TextHint,
    ) -> Self {
        let facts = facts::facts_of(&event.query, hint);
        let from_server = event
            .query_kind
            .as_deref()
            .and_then(StatementKind::from_query_kind);
        // The server's own `query_kind` is preferred, but only the text tells INSERT INTO
        // FUNCTION apart (query_kind says `Insert`), and only if it says FUNCTION.
        let kind = match from_server {
            Some(StatementKind::Insert) if !facts.mentions_function(&event.query) => {
                StatementKind::Insert
            }
            Some(StatementKind::Insert) | None => facts.class(&event.query).kind(),
            Some(k) => k,
        };
        Self {
            event,
            client_class,
            passwordless,
            settings,
            facts,
            kind,
        }
    }

    /// The lexical classification of the query text.
    pub(crate) fn class(&self) -> &QueryClass {
        self.facts.class(&self.event.query)
    }

    /// What the memo knows of the query text (ask it with `self.event.query`).
    pub(crate) fn facts(&self) -> &TextFacts {
        &self.facts
    }

    /// Whether the query text holds no secret (known from the memo lookup).
    pub(crate) fn secret_free(&self) -> bool {
        self.facts.secret_kinds(&self.event.query).is_empty()
    }

    /// Statement kind: the server's `query_kind` where it is logged and says enough, else
    /// the text's.
    pub(crate) fn kind(&self) -> StatementKind {
        self.kind
    }

    /// [`Self::tables`] one by one, without collecting them.
    pub(crate) fn each_table(&self) -> impl Iterator<Item = &str> {
        let (server, class) = match &self.event.tables {
            Some(t) if !t.is_empty() => (t.as_slice(), &[][..]),
            _ => (&[][..], self.class().tables.as_slice()),
        };
        server
            .iter()
            .map(|s| s.as_ref())
            .filter(|s: &&str| !s.starts_with("_table_function."))
            .chain(class.iter().map(String::as_str))
    }

    /// Tables read: the server's `tables` column where logged, else the classifier's.
    pub(crate) fn tables(&self) -> Cow<'_, [String]> {
        match &self.event.tables {
            // The server lists table functions as `_table_function.url`; those are not tables.
            Some(t) if !t.is_empty() => Cow::Owned(
                t.iter()
                    .filter(|s| !s.starts_with("_table_function."))
                    .map(|s| s.to_string())
                    .collect(),
            ),
            _ => Cow::Borrowed(&self.class().tables),
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

    pub(crate) fn key(&self, rule: RuleId) -> KeyRef<'e> {
        KeyRef {
            rule,
            window: self.window(),
            user: &self.event.user,
            client: self.event.client,
        }
    }

    pub(crate) fn evidence(&self, weight: u64) -> RawEvidence {
        self.pending(weight).write()
    }

    /// [`Self::evidence`], written only if a group keeps it.
    pub(crate) fn pending(&self, weight: u64) -> Pending<'e> {
        Pending {
            location: self.event.location,
            weight,
            excerpt: Excerpt::Query {
                text: &self.event.query,
                redact: self.settings.redact,
                clean: self.secret_free(),
            },
        }
    }
}

/// Evidence quoting an event's query, shortened and (with `redact`) with secrets masked.
pub(crate) fn evidence_of(
    event: &QueryEvent<'_>,
    redact_secrets: bool,
    weight: u64,
) -> RawEvidence {
    RawEvidence {
        location: event.location,
        excerpt: excerpt(&event.query, redact_secrets, false),
        weight,
    }
}

/// A query as evidence quotes it: its first [`EXCERPT_CHARS`] characters (and `…` if there
/// are more), control characters as blanks and, with `redact_secrets`, secrets masked.
/// `clean`: the caller knows `q` holds no secret, so an excerpt that is all of `q`, as it
/// is, needs no scan for them.
pub(crate) fn excerpt(q: &str, redact_secrets: bool, clean: bool) -> String {
    // Up to EXCERPT_CHARS bytes are at most as many characters.
    let cut = if q.len() <= EXCERPT_CHARS {
        q.len()
    } else {
        q.char_indices()
            .nth(EXCERPT_CHARS)
            .map_or(q.len(), |(i, _)| i)
    };
    let head = q.get(..cut).unwrap_or(q);
    // Control characters are C0, DEL and C1 (U+0080–U+009F, 0xC2 0x80–0x9F in UTF-8). A
    // fold with no early exit, which the compiler turns into vector compares.
    let plain = !head.bytes().fold(false, |seen, b| {
        seen | (b < 0x20) | (b == 0x7f) | (b == 0xc2)
    });
    let mut excerpt: String = if plain {
        head.to_owned()
    } else {
        head.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let whole = cut == q.len();
    if !whole {
        excerpt.push('…');
    }
    if redact_secrets && !(clean && plain && whole) {
        excerpt = redact(&excerpt).into_owned();
    }
    excerpt
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

/// A client of the client table and its series in the timeline.
#[derive(Debug)]
struct TrackedClient {
    summary: ClientSummary,
    timeline: u32,
    /// Whether the user is in the passwordless-users list (asked once per client).
    passwordless: bool,
}

impl TrackedClient {
    /// Adds one initial query that sent `sent` result bytes.
    fn count(&mut self, q: &QueryEvent<'_>, sent: u64) {
        let c = &mut self.summary;
        c.queries += 1;
        c.result_bytes = c.result_bytes.saturating_add(sent);
        c.read_rows = c.read_rows.saturating_add(q.volume.read_rows);
        c.first_seen = c.first_seen.min(q.start);
        c.last_seen = c.last_seen.max(q.end.unwrap_or(q.start));
    }
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
    /// Distinct clients (user, address) — a lower bound past a million clients beyond the
    /// tracking cap.
    pub clients: u64,
    /// Distinct clients beyond the tracking cap, counted but not itemized (the same bound),
    /// plus the login rule's clients beyond its cap.
    pub clients_untracked: u64,
    /// Matching events of clients beyond the findings cap, folded into one finding per rule
    /// and window under user `*`.
    pub findings_folded: u64,
    /// Events of clients past `max_tracked_clients` in the baseline's buckets, not baselined.
    pub baseline_untracked: u64,
    /// Records seen a second time through another source and counted once: text-log copies of
    /// an execution (same query_id), proxy lines of a server-logged execution, and server
    /// `Request URI` lines of a proxy-logged request.
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
    /// Queries and result bytes per client per window.
    pub timeline: timeline::Timeline,
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
    clients: FastMap<String, FastMap<Option<IpAddr>, TrackedClient>>,
    /// Clients itemized in `clients`.
    tracked: usize,
    /// Hashes of the clients beyond the cap, to count each once (at most
    /// [`MAX_UNTRACKED_COUNTED`]).
    untracked: FastSet<u64>,
    /// query_log executions by [`SameQuery::key`]: their start, location and
    /// [`SameQuery::check`].
    seen: FastMap<u64, Vec<(Timestamp, Location, u64)>>,
    seen_count: usize,
    /// Text-log executions waiting for the end (see [`Event::ServerLogQuery`]).
    held: Vec<QueryEvent<'static>>,
    /// HTTP executions from internal addresses (a proxy?), held until the end: query_log rows,
    /// and text-log executions no query_log row accounts for (`true`: no result volume logged).
    held_proxied: Vec<(QueryEvent<'static>, bool)>,
    /// Proxy access-log requests as executions, held until the end.
    held_requests: Vec<QueryEvent<'static>>,
    /// Server `Request URI` lines from internal addresses (a proxy?), held until the end.
    held_uris: Vec<HttpEvent<'static>>,
    /// Proxy access-log requests by target hash: time (seconds), location and a keyed check
    /// hash of the target, to recognise the server's `Request URI` line of the same request.
    proxy_targets: FastMap<u64, Vec<(i64, Location, u64)>>,
    proxy_target_count: usize,
    /// `auth_type`s of successful logins per (user, client), from session_log.
    login_types: BTreeMap<(String, Option<IpAddr>), BTreeSet<String>>,
    auth: rules::auth_failure_burst::State,
    baseline: Option<(Baseline, BaselineMode)>,
    volume: rules::volume_anomaly::Tracker,
    ledger: Ledger,
    range: (Option<Timestamp>, Option<Timestamp>),
    /// Executions may be joined across source kinds (see [`Detector::set_joins`]).
    joins: bool,
    timeline: timeline::TimelineBuilder,
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
            clients: FastMap::default(),
            tracked: 0,
            untracked: FastSet::default(),
            seen: FastMap::default(),
            seen_count: 0,
            held: Vec::new(),
            held_proxied: Vec::new(),
            held_requests: Vec::new(),
            held_uris: Vec::new(),
            proxy_targets: FastMap::default(),
            proxy_target_count: 0,
            login_types: BTreeMap::new(),
            auth: rules::auth_failure_burst::State::default(),
            baseline: None,
            volume: rules::volume_anomaly::Tracker::default(),
            ledger: Ledger::default(),
            range: (None, None),
            joins: true,
            timeline: timeline::TimelineBuilder::default(),
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
        self.volume.seed(&state.pending);
        let s = &self.settings;
        let b = Baseline::for_scan(s.baseline.clone(), state, &s.timezone, s.max_clients)
            .map_err(|e| ConfigError::Baseline(e.to_string()))?;
        self.baseline = Some((b, mode));
        Ok(())
    }

    /// Whether executions and requests are remembered and held for joins across source
    /// kinds — query_log, server text log, proxy access log (on by default); off when the
    /// scan holds one kind only.
    pub fn set_joins(&mut self, joins: bool) {
        self.joins = joins;
    }

    /// Only events starting at or after `since` and before `until` are observed.
    pub fn set_range(&mut self, since: Option<Timestamp>, until: Option<Timestamp>) {
        self.range = (since, until);
    }

    /// Observes one event.
    pub fn observe(&mut self, event: &Event<'_>) {
        match event {
            Event::Query(q) if !self.joins => self.observe_query(q),
            Event::Query(q) => {
                self.remember(q);
                if self.maybe_proxied(q) && self.held_proxied.len() < MAX_HELD_SERVER_QUERIES {
                    // Possibly a request relayed by a proxy whose log names the real client.
                    self.held_proxied.push((q.clone().into_owned(), false));
                } else {
                    self.observe_query(q);
                }
            }
            Event::ServerLogQuery(q) if !self.joins => self.observe_query(q),
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

    /// An initial HTTP execution from an internal address: perhaps a proxy relayed it.
    fn maybe_proxied(&self, q: &QueryEvent<'_>) -> bool {
        q.is_initial
            && q.interface == Some(Interface::Http)
            && self.settings.classify(q.client) == NetClass::Internal
    }

    /// Whether a query_log row of this text-log execution was observed.
    fn has_original(&self, q: &QueryEvent<'_>) -> bool {
        self.original_of(q).is_some()
    }

    /// Where the query_log row of this text-log execution is, if one was observed: same
    /// query_id and client (both hashes agree), started within [`SAME_QUERY_SECS`].
    fn original_of(&self, q: &QueryEvent<'_>) -> Option<Location> {
        if q.query_id.is_empty() {
            return None;
        }
        let same = same_query(q);
        self.seen.get(&same.key).and_then(|v| {
            v.iter()
                .find(|(t, _, check)| {
                    *check == same.check && (t.secs() - q.start.secs()).abs() <= SAME_QUERY_SECS
                })
                .map(|(_, l, _)| *l)
        })
    }

    /// Remembers a query_log execution so a text-log copy of it is not counted again.
    fn remember(&mut self, q: &QueryEvent<'_>) {
        if q.query_id.is_empty() || self.seen_count >= MAX_SEEN_QUERIES {
            return;
        }
        self.seen_count += 1;
        let same = same_query(q);
        self.seen
            .entry(same.key)
            .or_default()
            .push((q.start, q.location, same.check));
    }

    /// A text-log execution: evidence for its query_log copy if there is one, else an event.
    fn observe_server_query(&mut self, q: &QueryEvent<'_>) {
        let Some(original) = self.original_of(q) else {
            self.observe_query(q);
            return;
        };
        self.stats.duplicates += 1;
        self.attach(original, evidence_of(q, self.settings.redact, 0));
    }

    /// Lists `extra` as evidence of every finding-to-be that already cites `original`.
    fn attach(&mut self, original: Location, extra: RawEvidence) {
        // Each group on its own: the order they are visited in cannot matter.
        #[allow(clippy::iter_over_hash_type)]
        for group in self.groups.map.values_mut() {
            if group.evidence.iter().any(|e| e.location == original)
                && !group.evidence.iter().any(|e| e.location == extra.location)
            {
                group.evidence.push(extra.clone());
            }
        }
    }

    /// Pairs proxy requests with the server's record of them: the query_log row (from the
    /// proxy's address) is judged as coming from the client the proxy saw, once. Returns the
    /// proxy lines as evidence to attach to the server rows once every row is observed (an
    /// attachment made earlier could be pushed out by a heavier piece of evidence).
    fn join_proxied(&mut self) -> Vec<(Location, RawEvidence)> {
        let mut attachments = Vec::new();
        let held = std::mem::take(&mut self.held_proxied);
        let mut used = vec![false; held.len()];
        for r in std::mem::take(&mut self.held_requests) {
            let text = r.query.trim();
            let window = if text.is_empty() { 2 } else { 3 };
            let candidates: Vec<usize> = held
                .iter()
                .enumerate()
                .filter(|(i, (q, _))| {
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
            let Some((q, from_text_log)) = held.get(i) else {
                continue;
            };
            let mut moved = q.clone();
            moved.client = r.client;
            moved.volume.sent_bytes = r.volume.sent_bytes;
            if *from_text_log {
                // The text log has no result volume: what the proxy sent is the egress.
                moved.volume.result_bytes = r.volume.result_bytes;
                moved.http_user_agent = moved.http_user_agent.or(r.http_user_agent.clone());
            }
            self.stats.duplicates += 1;
            self.observe_query(&moved);
            // Text-log copies of the server row find it by its location, wherever it went.
            attachments.push((moved.location, evidence_of(&r, self.settings.redact, 0)));
        }
        for (i, (q, _)) in held.iter().enumerate() {
            if !used.get(i).copied().unwrap_or(false) {
                self.observe_query(q);
            }
        }
        attachments
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
        match h.origin {
            _ if !self.joins => {}
            // Perhaps the server's view of a proxied request: decided at the end.
            HttpOrigin::ServerLog
                if self.held_uris.len() < MAX_HELD_SERVER_QUERIES
                    && self.settings.classify(h.client) == NetClass::Internal =>
            {
                self.held_uris.push(h.clone().into_owned());
                return;
            }
            HttpOrigin::ProxyLog if self.proxy_target_count < MAX_SEEN_QUERIES => {
                self.proxy_target_count += 1;
                self.proxy_targets
                    .entry(hash_parts(&[h.target.as_bytes()]))
                    .or_default()
                    .push((
                        h.time.secs(),
                        h.location,
                        keyed_hash(&[h.target.as_bytes()]),
                    ));
            }
            _ => {}
        }
        self.judge_http(h);
    }

    /// Pairs the server's `Request URI` lines from a proxy's address with the proxy's line of
    /// the same request (same target, close in time): the server's line then only adds
    /// evidence to whatever the proxy's line is cited by (returned, to attach last).
    fn join_uris(&mut self) -> Vec<(Location, RawEvidence)> {
        let mut attachments = Vec::new();
        let mut held = std::mem::take(&mut self.held_uris);
        held.sort_by_key(|h| h.location);
        for h in held {
            let t = h.time.secs();
            let check = keyed_hash(&[h.target.as_bytes()]);
            let pair = self
                .proxy_targets
                .get_mut(&hash_parts(&[h.target.as_bytes()]))
                .and_then(|v| {
                    let best = v
                        .iter()
                        .enumerate()
                        .filter(|(_, (pt, _, c))| {
                            *c == check
                                && (-SAME_REQUEST_BEFORE_SECS..=SAME_REQUEST_AFTER_SECS)
                                    .contains(&(pt - t))
                        })
                        .min_by_key(|(_, (pt, l, _))| ((pt - t).abs(), *l))
                        .map(|(i, _)| i)?;
                    Some(v.swap_remove(best).1)
                });
            let Some(proxy_line) = pair else {
                self.judge_http(&h);
                continue;
            };
            self.stats.duplicates += 1;
            let method = if h.method.is_empty() { "?" } else { &h.method };
            let excerpt = format!("Request URI: {method} {}", redact_url(&h.target));
            attachments.push((
                proxy_line,
                RawEvidence {
                    location: h.location,
                    excerpt,
                    weight: 0,
                },
            ));
        }
        attachments
    }

    /// What the rules make of one HTTP request. The client's class is asked of the networks
    /// only when a rule needs it: most requests of a known client need none (the client
    /// table remembers it).
    fn judge_http(&mut self, h: &HttpEvent<'_>) {
        let settings = &self.settings;
        let known = std::cell::OnceCell::new();
        let class = || *known.get_or_init(|| settings.classify(h.client));
        if rules::recon::probes(h) {
            rules::recon::observe_http(h, class(), settings, &mut self.groups);
        }
        if rules::secret_in_query::url_password(h) {
            rules::secret_in_query::observe_http(h, class(), settings, &mut self.groups);
        }
        if let Some(status) = h.status {
            if matches!(status, 401 | 403) && h.origin == HttpOrigin::ProxyLog {
                self.auth.observe_http_refusal(h, class(), settings);
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
        // Borrowed from the request: only a held execution is copied (`into_owned`). Every
        // field borrows or is `None`, so there is nothing to drop (and no drop glue to run
        // per request).
        let q = std::mem::ManuallyDrop::new(QueryEvent {
            start: h.time,
            end: Some(h.time),
            user: Cow::Borrowed(h.user.as_deref().unwrap_or("default")),
            authenticated_user: None,
            client: h.client,
            query_id: Cow::Borrowed(""),
            query: Cow::Borrowed(h.query.as_deref().unwrap_or_default()),
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
                sent_bytes: h.bytes_sent.unwrap_or(0),
                ..Volume::default()
            },
            table_functions: None,
            tables: None,
            http_user_agent: h.user_agent.as_deref().map(Cow::Borrowed),
            location: h.location,
        });
        let class = known.get().copied();
        if self.joins && self.held_requests.len() < MAX_HELD_SERVER_QUERIES {
            self.held_requests
                .push(std::mem::ManuallyDrop::into_inner(q).into_owned());
        } else {
            // The hint names `h.query`, which is `q.query` only if there is one.
            let hint = if h.query.is_some() {
                h.query_hint
            } else {
                TextHint::NONE
            };
            self.observe_classified(&q, class, hint);
        }
    }

    fn observe_query(&mut self, q: &QueryEvent<'_>) {
        self.observe_classified(q, None, TextHint::NONE);
    }

    /// [`Self::observe_query`] with the client's class if the caller knows it already, and
    /// the parser's identity of the query text if it had one.
    fn observe_classified(&mut self, q: &QueryEvent<'_>, class: Option<NetClass>, hint: TextHint) {
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
        let (client_class, passwordless) = self.track_client(q, class);
        let obs = Observation::new(q, client_class, passwordless, &self.settings, hint);
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

    /// Counts the query for its client and returns the client's class and whether its user
    /// is passwordless: what the table remembers for a known client, else `class` or the
    /// configured networks' answer, and the passwordless-users list's.
    fn track_client(&mut self, q: &QueryEvent<'_>, class: Option<NetClass>) -> (NetClass, bool) {
        // For INSERT the server counts the inserted data as the "result": it came in, not out.
        let sent = if q.volume.written_rows == 0 {
            q.volume.result_bytes
        } else {
            0
        };
        let known = self
            .clients
            .get_mut(q.user.as_ref())
            .and_then(|by_ip| by_ip.get_mut(&q.client));
        if let Some(c) = known {
            c.count(q, sent);
            let id = c.timeline;
            self.timeline.observe(Some(id), q.start, sent);
            return (c.summary.client_class, c.passwordless);
        }
        let client_class = class.unwrap_or_else(|| self.settings.classify(q.client));
        let passwordless = self.settings.passwordless.contains(q.user.as_ref());
        if self.tracked >= self.settings.max_clients {
            // Counted once per distinct client, as long as the set of their hashes has room.
            let ip = match q.client {
                Some(IpAddr::V4(a)) => a.to_ipv6_mapped().octets(),
                Some(IpAddr::V6(a)) => a.octets(),
                None => [0; 16],
            };
            let key = hash_parts(&[q.user.as_bytes(), &ip]);
            if self.untracked.len() < MAX_UNTRACKED_COUNTED && self.untracked.insert(key) {
                self.stats.clients += 1;
                self.stats.clients_untracked += 1;
            }
            self.timeline.observe(None, q.start, sent);
            return (client_class, passwordless);
        }
        self.stats.clients += 1;
        self.tracked += 1;
        let id = self.timeline.new_client();
        self.timeline.observe(Some(id), q.start, sent);
        let mut c = TrackedClient {
            summary: ClientSummary {
                user: q.user.to_string(),
                client_ip: q.client,
                client_class,
                queries: 0,
                result_bytes: 0,
                read_rows: 0,
                first_seen: q.start,
                last_seen: q.start,
            },
            timeline: id,
            passwordless,
        };
        c.count(q, sent);
        self.clients
            .entry(q.user.to_string())
            .or_default()
            .insert(q.client, c);
        (client_class, passwordless)
    }

    /// Closes every group, applies each rule's final judgement and returns the findings.
    /// `paths` names the sources by [`crate::event::SourceId`] index.
    #[must_use]
    pub fn finish(mut self, paths: &[String]) -> Detection {
        self.stats.findings_folded = self.groups.folded;
        // A query in both clickhouse-server.log and .err.log (or two copies of one log)
        // counts once: the copy that names its user and has volumes wins.
        let mut held = std::mem::take(&mut self.held);
        // Keys computed once per execution: `same_query` writes out the client's address,
        // which per comparison was 60 % of a text-log scan. The order is `sort_by_key`'s.
        held.sort_by_cached_key(|q| {
            (
                q.query_id.is_empty(),
                same_query(q),
                q.start.secs() / SAME_QUERY_SECS,
                q.user.starts_with('('),
                std::cmp::Reverse(q.volume.read_rows),
                q.location,
            )
        });
        let mut kept: Option<(SameQuery, i64, Location)> = None;
        let mut copies = Vec::new();
        let mut copies_of_rows = Vec::new();
        for q in held {
            let key = same_query(&q);
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
            if self.has_original(&q) {
                // Only evidence for its query_log row: attached below.
                copies_of_rows.push(q);
            } else if self.maybe_proxied(&q) && self.held_proxied.len() < MAX_HELD_SERVER_QUERIES {
                // With no query_log row, the text log's HTTP execution from a proxy's address
                // is what a proxy log line may name the real client of.
                self.held_proxied.push((q, true));
            } else {
                self.observe_query(&q);
            }
        }
        // Every execution is observed before any evidence is attached, so no attachment is
        // pushed out of a group by a heavier piece that comes later.
        let proxied = self.join_proxied();
        let uris = self.join_uris();
        for (at, e) in proxied {
            self.attach(at, e);
        }
        for q in copies_of_rows {
            self.observe_server_query(&q);
        }
        for (at, e) in copies.into_iter().chain(uris) {
            // Wherever the cited line went (its own groups, its query_log row's, its proxy's).
            self.attach(at, e);
        }
        self.stats.clients_untracked += self.auth.untracked();
        let mut findings = self.auth.findings(&self.settings, paths);
        for (key, group) in self.groups.into_sorted() {
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
            let mut metrics = group.metrics();
            metrics.extend(v.extra_metrics);
            let mut evidence = group.evidence;
            evidence.sort_by_key(|e| e.location);
            evidence.dedup_by_key(|e| e.location);
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
                    mode == BaselineMode::ScanAndUpdate,
                ));
                volumes = b.volumes();
            }
            self.stats.baseline_untracked = b.untracked();
            let mut s = b.into_state(mode != BaselineMode::Scan);
            if mode != BaselineMode::Scan {
                self.volume.carry(&mut s, paths);
            }
            state = Some(s);
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
        let mut tracked: Vec<TrackedClient> = self
            .clients
            .into_values()
            .flat_map(FastMap::into_values)
            .collect();
        tracked.sort_by(|a, b| {
            let (a, b) = (&a.summary, &b.summary);
            b.result_bytes
                .cmp(&a.result_bytes)
                .then(b.queries.cmp(&a.queries))
                .then(a.user.cmp(&b.user))
                .then(a.client_ip.cmp(&b.client_ip))
        });
        let timeline_ids: Vec<u32> = tracked.iter().map(|c| c.timeline).collect();
        let clients: Vec<ClientSummary> = tracked.into_iter().map(|c| c.summary).collect();
        let (ledger, ledger_overflow_bytes) = self.ledger.finish();
        let timeline = self.timeline.finish(&clients, &timeline_ids, &findings);
        Detection {
            findings,
            stats: self.stats,
            clients,
            baseline: state,
            volumes,
            ledger,
            ledger_overflow_bytes,
            timeline,
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

/// What identifies one execution across sources: its query_id and client (the user is left
/// out: an 18.x error line does not name it), hashed twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SameQuery {
    /// FNV-1a: stable everywhere, so the order [`Detector::finish`] visits text-log
    /// executions in, and with it the report, never depends on the run.
    key: u64,
    /// Keyed with per-process randomness: a query_id crafted so that its FNV-1a hash equals
    /// another execution's (FNV is no defence against that) would otherwise pass for that
    /// execution's copy, and be counted only as evidence, never judged.
    check: u64,
}

fn same_query(q: &QueryEvent<'_>) -> SameQuery {
    let mut client = AddrText::default();
    if let Some(c) = q.client {
        // Cannot fail: the longest address text fits.
        let _ = write!(client, "{c}");
    }
    let parts = [q.query_id.as_bytes(), client.as_bytes()];
    SameQuery {
        key: hash_parts(&parts),
        check: keyed_hash(&parts),
    }
}

/// An address written out on the stack (`IpAddr`'s `Display`: at most 39 bytes), so
/// hashing one allocates nothing.
struct AddrText {
    buf: [u8; 48],
    len: usize,
}

impl Default for AddrText {
    fn default() -> Self {
        Self {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl AddrText {
    fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl std::fmt::Write for AddrText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// FNV-1a over the parts, each followed by a 0xff separator.
fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0xff)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Whether `text` contains `word` (lowercase ASCII), ignoring ASCII case: a cheap test
/// before the SQL classifier, which can only find what the text spells.
pub(crate) fn mentions(text: &str, word: &[u8]) -> bool {
    let (Some(&first), hay) = (word.first(), text.as_bytes()) else {
        return true;
    };
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), hay).any(|i| {
        hay.get(i..i + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    })
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
    // Past `max_tracked_clients` a client gets no buckets; novelty is still judged.
    let tracked = b.track(&key, obs.client_class == NetClass::External);
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
            .iter()
            .filter(|t| !is_system_table(t))
            .cloned()
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
        if tracked {
            volume.observe(obs, &key, b.state().bucket_secs);
            if let Some(d) = shape.and_then(|s| b.query_deviation(&key, s, result_bytes)) {
                if d.anomalous {
                    volume.observe_query(obs, &key, d);
                }
            }
        }
    }
    if !tracked {
        return;
    }
    if let Some(s) = shape {
        b.observe_query(&key, s, result_bytes);
    }
    let values = [1, v.read_rows, v.result_rows, result_bytes, v.sent_bytes];
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
    let starts = |prefix: &str| {
        name.as_bytes()
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    starts("system.") || starts("information_schema.")
}

#[cfg(test)]
pub(crate) mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::event::{Interface, Location, SourceId, Volume};

    /// [`excerpt`] as it was: character by character, then a redaction scan.
    fn reference_excerpt(q: &str, redact_secrets: bool) -> String {
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
        excerpt
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 4000,
            ..proptest::prelude::ProptestConfig::default()
        })]
        /// An address written on the stack is its `to_string()` (IPv4-mapped and the longest
        /// IPv6 form included), so `same_query` hashes what it hashed.
        #[test]
        fn ok_addr_text_is_to_string(v4 in proptest::prelude::any::<u32>(), v6 in proptest::prelude::any::<u128>(), mapped: bool) {
            let v6 = if mapped { 0xffff_0000_0000 | (v6 & 0xffff_ffff) } else { v6 };
            let longest = IpAddr::from(std::net::Ipv6Addr::from(u128::MAX));
            for ip in [IpAddr::from(std::net::Ipv4Addr::from(v4)), IpAddr::from(std::net::Ipv6Addr::from(v6)), longest] {
                let mut text = AddrText::default();
                let written = write!(text, "{ip}");
                proptest::prop_assert!(written.is_ok());
                let expected = ip.to_string();
                proptest::prop_assert_eq!(text.as_bytes(), expected.as_bytes());
            }
        }

        /// Around the cut, with control characters (C1 too) and secrets the cut or a blank
        /// makes or unmakes, the excerpt is what it was.
        #[test]
        fn ok_excerpt_matches_reference(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "SELECT ", "x", "é", "日本", "\u{85}", "\u{a0}", "\t", "\n", "\u{0}",
                    "\u{7f}", "password", "=", " = ", "pw", "'", "sk-", "0123456789abcdef",
                    "AKIA", "ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "''", "identified",
                    " by ", "://u:p@h",
                ]),
                0..120,
            ),
            pad in 0_usize..250,
        ) {
            let q = format!("{}{}", "a".repeat(pad), pieces.concat());
            let clean = crate::redact::secret_kinds(&q).is_empty();
            for redact_secrets in [false, true] {
                proptest::prop_assert_eq!(
                    excerpt(&q, redact_secrets, clean),
                    reference_excerpt(&q, redact_secrets),
                    "{:?}",
                    q
                );
            }
        }
    }

    #[test]
    fn ok_excerpt_redacts_what_the_cut_makes_a_secret() {
        // A token too long to be an AWS key id, cut to one that is; an empty password, cut
        // to one that is not.
        let key = format!("{} AKIA{}", "x".repeat(EXCERPT_CHARS - 20), "B".repeat(40));
        let pw = format!("{} password=''", "x".repeat(EXCERPT_CHARS - 11));
        for q in [key, pw] {
            assert!(crate::redact::secret_kinds(&q).is_empty(), "{q}");
            let e = excerpt(&q, true, true);
            assert!(e.contains(crate::redact::MASK), "{e}");
            assert_eq!(e, reference_excerpt(&q, true));
        }
    }

    #[test]
    fn ok_mentions_ignores_ascii_case_only() {
        assert!(mentions("SELECT * FROM FILE('x')", b"file"));
        assert!(mentions("insert into FuNcTiOn url('h')", b"function"));
        assert!(mentions("... INTO OUTFILE 'a'", b"file"));
        assert!(!mentions("SELECT fil FROM t", b"file"));
        assert!(!mentions("", b"file"));
        assert!(mentions("anything", b""));
        assert!(!mentions("FIL", b"file"), "no match past the end");
    }

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
    fn ok_a_text_log_copy_needs_both_hashes() {
        let mut d = Detector::new(Settings::new(&Config::default()).unwrap());
        let row = event("default", "198.51.100.7", "SELECT 1", 10);
        d.remember(&row);
        let mut copy = row.clone();
        copy.location.line = 9;
        assert_eq!(d.original_of(&copy), Some(row.location));
        // A query_id crafted so that its FNV-1a key equals the row's: simulated by filing the
        // row under the crafted execution's key. The keyed check still tells them apart.
        let mut crafted = row.clone();
        crafted.query_id = Cow::Borrowed("crafted");
        let entry = d.seen.remove(&same_query(&row).key).unwrap();
        d.seen.insert(same_query(&crafted).key, entry);
        assert_eq!(
            d.original_of(&crafted),
            None,
            "a stable-hash collision passed for a copy"
        );
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
