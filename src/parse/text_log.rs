//! ClickHouse server text logs (`clickhouse-server.log`, `.err.log`, 18.x–26.x, plain or from
//! the JSON logger) → query, login and HTTP-request events.
//!
//! ```text
//! [host] 2026.11.25 22:25:29.616460 [ 76 ] {43e8b3a8-…} <Debug> executeQuery: (from 198.51.100.7:57708) SHOW TABLES
//! │      │                          │      │            │       │             └ message
//! │      │                          │      │            │       └ logger (may hold spaces: `ContextAccess (default)`)
//! │      │                          │      │            └ level
//! │      │                          │      └ query_id, empty outside a query (any client-chosen string)
//! │      │                          └ OS thread id: joins lines of one connection on old servers
//! │      └ server local time, no zone (converted with the configured zone)
//! └ optional: only when streamed through `clickhouse-client --send_logs_level`
//! ```
//!
//! A line that does not start with that header continues the previous record (stack traces,
//! `Query pipeline:` dumps) and is skipped with it. The JSON logger writes the same fields as
//! one object per line (`date_time` as epoch seconds, every value a string).
//!
//! What is extracted: `executeQuery` start lines (`user:` absent means `default`;
//! `initial_query_id`; `(stage: …)` and `using production parser` removed), `Read N rows, X MiB`
//! volumes and `<Error> executeQuery: Code: …` failures joined to their query by query_id;
//! `Request URI` lines (passwords masked at once); TCP and session logins; authentication
//! failures, whose address sits on an earlier line of the same thread on old servers.
//! See `shared/docs/clickhouse-formats.md` §4.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use super::access_log::http_event;
use super::common::{
    lossy, parse_datetime, parse_socket_address, parse_u64, text_log_time, unescape_json, DateMemo,
    LogTime,
};
use super::table::{fill_json, Raw, Row, Schema};
use crate::error::ParseErrorKind;
use crate::event::{
    Event, HttpOrigin, Interface, Location, LoginEvent, LoginOutcome, QueryEvent, QueryOutcome,
    SourceId, Volume,
};
use crate::memo::FastMap;
use crate::time::{Timestamp, Zone};

/// The user of a query known only from its error line, on a connection that never named one.
const UNKNOWN_USER: &str = "(unknown)";
/// Queries waiting for their volume or error line; past this the oldest is emitted as is.
const MAX_PENDING: usize = 10_000;
/// Threads remembered (address of the current connection); past this the map is cleared.
const MAX_THREADS: usize = 100_000;

const JSON_COLUMNS: &[&str] = &[
    "date_time",
    "date_time_utc",
    "thread_id",
    "level",
    "query_id",
    "logger_name",
    "message",
];
static JSON_SCHEMA: LazyLock<Schema> = LazyLock::new(|| Schema::new(JSON_COLUMNS));

/// One header-parsed line.
struct Line<'a> {
    time: Timestamp,
    thread: u64,
    query_id: Cow<'a, str>,
    logger: Cow<'a, str>,
    message: Cow<'a, str>,
}

/// What the reader remembers about one server thread (one connection at a time).
#[derive(Debug, Default, Clone)]
struct Thread {
    client: Option<IpAddr>,
    interface: Option<Interface>,
    method: String,
    /// User named by the connection (URL `user=`, TCP `user:`, session `Authenticating user`).
    user: Option<String>,
    /// An authentication failure was already reported for this connection.
    failure_reported: bool,
    /// The query this thread is running.
    query_id: Option<String>,
    /// A TCP `Connected … user:` line not yet confirmed: 18.x writes it *before* checking the
    /// password, so it is a login only if the thread's next line is not an authentication error.
    login: Option<LoginEvent<'static>>,
}

/// Reads one text log; see the module docs.
#[derive(Debug)]
pub(crate) struct TextLogReader {
    source: SourceId,
    zone: Zone,
    /// The date of the last line's time, remembered (lines come in runs of one date).
    dates: DateMemo,
    json: bool,
    seen_header: bool,
    threads: FastMap<u64, Thread>,
    pending: FastMap<String, QueryEvent<'static>>,
    order: VecDeque<String>,
}

type Fail = (usize, ParseErrorKind);

impl TextLogReader {
    pub(crate) fn new(source: SourceId, zone: Zone, json: bool) -> Self {
        Self {
            source,
            zone,
            dates: DateMemo::default(),
            json,
            seen_header: false,
            threads: FastMap::default(),
            pending: FastMap::default(),
            order: VecDeque::new(),
        }
    }

    /// Reads one physical line (without its terminator).
    pub(crate) fn line(
        &mut self,
        rec: &[u8],
        line: u64,
        out: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), Fail> {
        let parsed = if self.json {
            parse_json(rec)?
        } else {
            match parse_plain(rec, &self.zone, &self.dates) {
                Some(l) => l,
                None if self.seen_header => return Ok(()),
                None => {
                    return Err((
                        0,
                        ParseErrorKind::BadValue {
                            column: "text log",
                            expected: "a line `YYYY.MM.DD hh:mm:ss.ffffff [ tid ] {query_id} <Level> logger: message`",
                        },
                    ))
                }
            }
        };
        self.seen_header = true;
        let location = Location {
            source: self.source,
            line,
        };
        self.message(&parsed, location, out);
        Ok(())
    }

    /// Emits every query and login still waiting.
    pub(crate) fn finish(&mut self, out: &mut dyn FnMut(Event<'_>)) {
        let mut logins: Vec<_> = self
            .threads
            .values_mut()
            .filter_map(|t| t.login.take())
            .collect();
        logins.sort_by_key(|l| l.location);
        for l in logins {
            out(Event::Login(l));
        }
        for id in std::mem::take(&mut self.order) {
            if let Some(q) = self.pending.remove(&id) {
                out(Event::ServerLogQuery(q));
            }
        }
        // Anything left was never in `order` (cannot happen, but must not be lost): sorted.
        let mut rest: Vec<_> = self.pending.drain().map(|(_, q)| q).collect();
        rest.sort_by_key(|q| q.location);
        for q in rest {
            out(Event::ServerLogQuery(q));
        }
    }

    fn flush(&mut self, query_id: &str, out: &mut dyn FnMut(Event<'_>)) {
        if let Some(q) = self.pending.remove(query_id) {
            out(Event::ServerLogQuery(q));
        }
    }

    fn thread(&mut self, id: u64) -> &mut Thread {
        if self.threads.len() >= MAX_THREADS && !self.threads.contains_key(&id) {
            self.threads.clear();
        }
        self.threads.entry(id).or_default()
    }

    fn message(&mut self, l: &Line<'_>, location: Location, out: &mut dyn FnMut(Event<'_>)) {
        let msg = l.message.as_ref();
        let logger = l.logger.as_ref();
        if let Some(login) = self.threads.get_mut(&l.thread).and_then(|t| t.login.take()) {
            // An authentication error right after `Connected` means the password was wrong.
            if !is_auth_failure(msg) {
                out(Event::Login(login));
            }
        }
        if logger == "executeQuery" {
            if let Some(rest) = msg.strip_prefix("(from ") {
                self.query_start(l, rest, location, out);
                return;
            }
            if let Some(rest) = msg.strip_prefix("Read ") {
                self.read_volume(l, rest);
                return;
            }
            if msg.starts_with("Code: ") {
                self.query_error(l, msg, location, out);
                return;
            }
        }
        if msg.starts_with("Peak memory usage (for query)") && !l.query_id.is_empty() {
            self.flush(&l.query_id, out);
            return;
        }
        if let Some(rest) = msg.strip_prefix("HTTP Request for ") {
            let t = self.thread(l.thread);
            *t = Thread {
                client: field(rest, "Address: ").and_then(|a| parse_socket_address(a.as_bytes())),
                interface: Some(Interface::Http),
                method: field(rest, "Method: ").unwrap_or_default().to_owned(),
                ..Thread::default()
            };
            return;
        }
        if let Some(rest) = msg.strip_prefix("TCP Request. Address: ") {
            let t = self.thread(l.thread);
            *t = Thread {
                client: parse_socket_address(rest.trim().as_bytes()),
                interface: Some(Interface::Tcp),
                ..Thread::default()
            };
            return;
        }
        if let Some(uri) = msg.strip_prefix("Request URI: ") {
            let t = self.thread(l.thread).clone();
            let e = http_event(
                l.time,
                t.client,
                Cow::Owned(t.method.clone()),
                uri.trim_end(),
                HttpOrigin::ServerLog,
                location,
            );
            let user = e.user.as_deref().map(str::to_owned);
            out(Event::Http(e));
            self.thread(l.thread).user = user;
            return;
        }
        if let Some(rest) = msg.strip_prefix("Connected ") {
            if logger == "TCPHandler" {
                let user = rest
                    .rsplit_once("user: ")
                    .map_or("default", |(_, u)| u.trim_end_matches('.').trim());
                let t = self.thread(l.thread);
                t.login = Some(LoginEvent {
                    time: l.time,
                    user: Cow::Owned(user.to_owned()),
                    client: t.client,
                    outcome: LoginOutcome::Success,
                    interface: Some(Interface::Tcp),
                    auth_type: None,
                    reason: None,
                    location,
                });
                t.user = Some(user.to_owned());
                return;
            }
        }
        if contains(logger, &SESSION) {
            self.session(l, location, out);
            return;
        }
        if is_auth_failure(msg) {
            self.auth_failure(l, location, out);
            return;
        }
        if (msg.starts_with("Processed in") || msg.starts_with("Done processing query"))
            && l.query_id.is_empty()
        {
            if let Some(id) = self.thread(l.thread).query_id.take() {
                self.flush(&id, out);
            }
        }
    }

    fn query_start(
        &mut self,
        l: &Line<'_>,
        rest: &str,
        location: Location,
        out: &mut dyn FnMut(Event<'_>),
    ) {
        // `(from ADDR[, user: U][, initial_query_id: ID][, using production parser]) …`
        let (inside, after) = rest.split_once(')').unwrap_or((rest, ""));
        let mut parts = inside.split(", ");
        let addr = parts.next().unwrap_or_default();
        let mut user = "default";
        let mut initial = None;
        for p in parts {
            if let Some(u) = p.strip_prefix("user: ") {
                user = u;
            } else if let Some(i) = p.strip_prefix("initial_query_id: ") {
                initial = Some(i);
            }
        }
        let query = strip_query_noise(after);
        let t = self.thread(l.thread);
        let client = parse_socket_address(addr.as_bytes()).or(t.client);
        let interface = t.interface;
        if let Some(prev) = t.query_id.replace(l.query_id.to_string()) {
            if prev != l.query_id {
                self.flush(&prev, out);
            }
        }
        let event = QueryEvent {
            start: l.time,
            end: None,
            user: Cow::Owned(user.to_owned()),
            authenticated_user: None,
            client,
            query_id: Cow::Owned(l.query_id.to_string()),
            query: Cow::Owned(query.to_owned()),
            query_kind: None,
            outcome: QueryOutcome::Finished,
            exception_code: None,
            is_initial: initial.is_none_or(|i| i == l.query_id || i.is_empty()),
            interface,
            volume: Volume::default(),
            table_functions: None,
            tables: None,
            http_user_agent: None,
            location,
        };
        if l.query_id.is_empty() {
            out(Event::ServerLogQuery(event));
            return;
        }
        let id = l.query_id.to_string();
        if let Some(old) = self.pending.insert(id.clone(), event) {
            out(Event::ServerLogQuery(old));
        }
        self.order.push_back(id);
        while self.pending.len() > MAX_PENDING {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.flush(&oldest, out);
        }
        if self.order.len() > 2 * MAX_PENDING {
            let pending = &self.pending;
            self.order.retain(|id| pending.contains_key(id));
        }
    }

    fn read_volume(&mut self, l: &Line<'_>, rest: &str) {
        // `Read 100000 rows, 15.96 MiB in 0.039 sec., …`
        let Some(q) = self.pending.get_mut(l.query_id.as_ref()) else {
            return;
        };
        let Some(at) = find(rest, &ROWS) else {
            return;
        };
        let (rows, after) = (
            rest.get(..at).unwrap_or_default(),
            rest.get(at + 7..).unwrap_or_default(),
        );
        q.volume.read_rows = q
            .volume
            .read_rows
            .saturating_add(parse_u64(rows.as_bytes()).unwrap_or(0));
        let size = after.split(" in ").next().unwrap_or_default();
        q.volume.read_bytes = q.volume.read_bytes.saturating_add(readable_size(size));
        q.end = Some(l.time);
    }

    fn query_error(
        &mut self,
        l: &Line<'_>,
        msg: &str,
        location: Location,
        out: &mut dyn FnMut(Event<'_>),
    ) {
        let code = code_of(msg);
        if let Some(q) = self.pending.get_mut(l.query_id.as_ref()) {
            q.outcome = if q.volume.read_rows > 0 {
                QueryOutcome::FailedWhileProcessing
            } else {
                QueryOutcome::FailedBeforeStart
            };
            q.exception_code = code;
            q.end = Some(l.time);
            let id = l.query_id.to_string();
            self.flush(&id, out);
            return;
        }
        // Rejected before it started (syntax error, …): only the error line names the query.
        let Some(q_at) = msg.find("(in query: ") else {
            return;
        };
        let query = msg.get(q_at + 11..).unwrap_or_default();
        let query = query
            .strip_suffix(
                "), Stack trace (when copying this message, always include the lines below):",
            )
            .or_else(|| query.strip_suffix("), Stack trace:"))
            .or_else(|| query.strip_suffix(')'))
            .unwrap_or(query);
        let client = msg
            .find("(from ")
            .and_then(|p| msg.get(p + 6..))
            .and_then(|r| r.split_once(')'))
            .and_then(|(a, _)| parse_socket_address(a.split(", ").next().unwrap_or(a).as_bytes()));
        let user = msg
            .find("(from ")
            .and_then(|p| msg.get(p + 6..))
            .and_then(|r| r.split_once(')'))
            .and_then(|(inside, _)| inside.split(", ").find_map(|p| p.strip_prefix("user: ")))
            .map(str::to_owned);
        let t = self.thread(l.thread).clone();
        // Error lines never name the user; the connection may have (TCP `Connected … user:`).
        let user = user
            .or_else(|| t.user.clone())
            .unwrap_or_else(|| UNKNOWN_USER.to_owned());
        out(Event::ServerLogQuery(QueryEvent {
            start: l.time,
            end: Some(l.time),
            user: Cow::Owned(user),
            authenticated_user: None,
            client: client.or(t.client),
            query_id: Cow::Owned(l.query_id.to_string()),
            query: Cow::Owned(query.to_owned()),
            query_kind: None,
            outcome: QueryOutcome::FailedBeforeStart,
            exception_code: code,
            is_initial: true,
            interface: t.interface,
            volume: Volume::default(),
            table_functions: None,
            tables: None,
            http_user_agent: None,
            location,
        }));
    }

    fn session(&mut self, l: &Line<'_>, location: Location, out: &mut dyn FnMut(Event<'_>)) {
        let msg = l.message.as_ref();
        let interface = match l.logger.split('-').next() {
            Some("HTTP") => Some(Interface::Http),
            Some("TCP") => Some(Interface::Tcp),
            Some("LOCAL") => Some(Interface::Local),
            Some("MySQL") => Some(Interface::MySql),
            Some("PostgreSQL") => Some(Interface::PostgreSql),
            Some("gRPC") => Some(Interface::Grpc),
            _ => None,
        };
        if let Some(at) = find(msg, &AUTHENTICATING) {
            let rest = msg.get(at + 21..).unwrap_or_default();
            let (user, after) = rest.split_once('\'').unwrap_or((rest, ""));
            let client = after
                .trim()
                .strip_prefix("from ")
                .and_then(|a| parse_socket_address(a.as_bytes()));
            let t = self.thread(l.thread);
            t.user = Some(user.to_owned());
            t.client = client.or(t.client);
            t.interface = interface.or(t.interface);
            t.failure_reported = false;
            return;
        }
        let outcome = if contains(msg, &GLOBAL_CONTEXT) {
            LoginOutcome::Success
        } else if contains(msg, &AUTH_FAILED) {
            LoginOutcome::Failure
        } else if contains(msg, &LOGOUT) || msg.starts_with("Logout") {
            LoginOutcome::Logout
        } else {
            return;
        };
        let t = self.thread(l.thread);
        if outcome == LoginOutcome::Failure {
            if t.failure_reported {
                return;
            }
            t.failure_reported = true;
        }
        let user = t.user.clone().unwrap_or_else(|| "default".to_owned());
        let (client, interface) = (t.client, interface.or(t.interface));
        out(Event::Login(LoginEvent {
            time: l.time,
            user: Cow::Owned(user),
            client,
            outcome,
            interface,
            auth_type: None,
            reason: (outcome == LoginOutcome::Failure).then(|| Cow::Owned(failure_reason(msg))),
            location,
        }));
    }

    fn auth_failure(&mut self, l: &Line<'_>, location: Location, out: &mut dyn FnMut(Event<'_>)) {
        let msg = l.message.as_ref();
        let t = self.thread(l.thread).clone();
        if t.failure_reported {
            return;
        }
        // `from: 10.0.142.237, user: admin: Authentication failed` (22.x+)
        let client = msg
            .strip_prefix("from: ")
            .and_then(|r| r.split_once(", "))
            .and_then(|(a, _)| parse_socket_address(a.as_bytes()))
            .or(t.client);
        let user = failure_user(msg)
            .map(str::to_owned)
            .or(t.user)
            .unwrap_or_else(|| "default".to_owned());
        self.thread(l.thread).failure_reported = true;
        out(Event::Login(LoginEvent {
            time: l.time,
            user: Cow::Owned(user),
            client,
            outcome: LoginOutcome::Failure,
            interface: t.interface,
            auth_type: None,
            reason: Some(Cow::Owned(failure_reason(msg))),
            location,
        }));
    }
}

/// Authentication error codes: UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED.
const AUTH_CODES: [i32; 4] = [192, 193, 194, 516];

/// Substrings every line is searched for, their searchers built once (a `str::contains`
/// builds its searcher per call: most of what a line of no interest cost).
static AUTH_FAILED: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new("Authentication failed"));
static CODE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("Code: "));
static SESSION: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("-Session"));
static AUTHENTICATING: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new("Authenticating user '"));
static GLOBAL_CONTEXT: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new("Authenticated with global context"));
static LOGOUT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(" Logout"));
static ROWS: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(" rows, "));

fn find(hay: &str, finder: &Finder<'_>) -> Option<usize> {
    finder.find(hay.as_bytes())
}

fn contains(hay: &str, finder: &Finder<'_>) -> bool {
    find(hay, finder).is_some()
}

fn is_auth_failure(msg: &str) -> bool {
    contains(msg, &AUTH_FAILED)
        || (contains(msg, &CODE) && code_of(msg).is_some_and(|c| AUTH_CODES.contains(&c)))
}

/// The ClickHouse error code after the first `Code: `.
fn code_of(msg: &str) -> Option<i32> {
    let at = msg.find("Code: ")?;
    let rest = msg.get(at + 6..)?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest.get(..end)?.parse().ok()
}

/// The user an authentication failure names, in every wording since 18.x.
fn failure_user(msg: &str) -> Option<&str> {
    for pat in [
        "Wrong password for user ",
        "Unknown user ",
        "There is no user `",
    ] {
        if let Some(at) = msg.find(pat) {
            let rest = msg.get(at + pat.len()..)?;
            let end = rest.find([',', '`', ' ', '.']).unwrap_or(rest.len());
            return rest.get(..end).filter(|u| !u.is_empty());
        }
    }
    // `from: IP, user: U: Authentication failed` or `… DB::Exception: U: Authentication failed`
    let before = msg.get(..msg.find(": Authentication failed")?)?;
    if let Some(at) = before.rfind("user: ") {
        return before.get(at + 6..);
    }
    before.rsplit(": ").next().filter(|u| !u.contains(' '))
}

/// A short reason: the error name or code, never the message tail (which may quote input).
fn failure_reason(msg: &str) -> String {
    for name in [
        "WRONG_PASSWORD",
        "UNKNOWN_USER",
        "REQUIRED_PASSWORD",
        "AUTHENTICATION_FAILED",
        "IP_ADDRESS_NOT_ALLOWED",
    ] {
        if msg.contains(name) {
            return name.to_owned();
        }
    }
    match code_of(msg) {
        Some(192) => "UNKNOWN_USER (192)".to_owned(),
        Some(193) => "WRONG_PASSWORD (193)".to_owned(),
        Some(194) => "REQUIRED_PASSWORD (194)".to_owned(),
        Some(516) => "AUTHENTICATION_FAILED (516)".to_owned(),
        Some(c) => format!("code {c}"),
        None => "authentication failed".to_owned(),
    }
}

/// `Key: value, …` → value (up to the next `, `).
fn field<'m>(msg: &'m str, key: &str) -> Option<&'m str> {
    let at = msg.find(key)?;
    let rest = msg.get(at + key.len()..)?;
    Some(rest.split(", ").next().unwrap_or(rest).trim())
}

/// Removes the annotations between `(from …)` and the query, and the trailing `(stage: …)`.
fn strip_query_noise(after: &str) -> &str {
    let mut q = after.trim_start();
    while let Some(rest) = q.strip_prefix('(') {
        let known = ["TID: ", "comment: ", "query ", "internal)"]
            .iter()
            .any(|p| rest.starts_with(p));
        if !known {
            break;
        }
        match rest.find(") ") {
            Some(end) => q = rest.get(end + 2..).unwrap_or_default().trim_start(),
            None => break,
        }
    }
    if let Some(at) = q.rfind(" (stage: ") {
        if q.ends_with(')') {
            q = q.get(..at).unwrap_or(q);
        }
    }
    q
}

/// `15.96 MiB` → bytes (ClickHouse `ReadableSize`, binary units).
fn readable_size(s: &str) -> u64 {
    let (num, unit) = s.trim().split_once(' ').unwrap_or((s, "B"));
    let mult: u64 = match unit.trim() {
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "PiB" => 1 << 50,
        _ => 1,
    };
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    let whole = whole.parse::<u64>().unwrap_or(0);
    let digits = frac.get(..frac.len().min(6)).unwrap_or_default();
    let frac_val = digits.parse::<u64>().unwrap_or(0);
    let scale = 10u64.pow(u32::try_from(digits.len()).unwrap_or(0));
    whole
        .saturating_mul(mult)
        .saturating_add(frac_val.saturating_mul(mult) / scale.max(1))
}

/// Parses a plain header line; `None` when the line is not a header (a continuation).
fn parse_plain<'a>(rec: &'a [u8], zone: &Zone, dates: &DateMemo) -> Option<Line<'a>> {
    let mut i = rec;
    if i.first() == Some(&b'[') {
        let close = memchr::memchr(b']', i)?;
        if i.get(close + 1) != Some(&b' ') {
            return None;
        }
        i = i.get(close + 2..)?;
    }
    let (rest, civil) = match dates.text_log_time(i) {
        Some(fast) => fast,
        None => text_log_time(i).ok()?,
    };
    let rest = rest.strip_prefix(b" [ ")?;
    let sp = memchr::memchr(b' ', rest)?;
    let thread = parse_u64(rest.get(..sp)?)?;
    let rest = rest.get(sp..)?.strip_prefix(b" ] {")?;
    let close = memchr::memchr(b'}', rest)?;
    let query_id = rest.get(..close)?;
    let rest = rest.get(close + 1..)?.strip_prefix(b" <")?;
    let gt = memchr::memchr(b'>', rest)?;
    // The level (`Error`, `Debug` …) is not needed: messages say what they are.
    let rest = rest.get(gt + 1..)?.strip_prefix(b" ")?;
    let colon = memchr::memmem::find(rest, b": ");
    let (logger, message) = match colon {
        Some(c) => (rest.get(..c)?, rest.get(c + 2..)?),
        None => (rest, &b""[..]),
    };
    Some(Line {
        time: zone.to_utc(civil),
        thread,
        query_id: lossy(Cow::Borrowed(query_id)),
        logger: lossy(Cow::Borrowed(logger)),
        message: lossy(Cow::Borrowed(message.trim_ascii_end())),
    })
}

/// Parses a JSON-logger line.
fn parse_json(rec: &[u8]) -> Result<Line<'_>, Fail> {
    let mut row = Row::new();
    fill_json(rec, &JSON_SCHEMA, &mut row, |_| {})?;
    let text = |slot: usize| -> Cow<'_, str> {
        row.get(slot)
            .and_then(|r| match r {
                Raw::JsonString(b) => Some(lossy(unescape_json(b))),
                other => other.text(),
            })
            .unwrap_or_default()
    };
    let bad = |column, expected| (0, ParseErrorKind::BadValue { column, expected });
    let time = match parse_datetime(text(0).as_bytes()) {
        Some(LogTime::Utc(t)) => t,
        Some(LogTime::Civil(c)) => Timestamp(c.0),
        None => match parse_datetime(text(1).as_bytes()) {
            Some(LogTime::Utc(t)) => t,
            _ => return Err(bad("date_time", "epoch seconds such as 1795645834.227182")),
        },
    };
    let thread = parse_u64(text(2).as_bytes()).unwrap_or(0);
    let message = text(6);
    if row.get(6).is_none() {
        return Err(bad("message", "a message field"));
    }
    Ok(Line {
        time,
        thread,
        query_id: Cow::Owned(text(4).into_owned()),
        logger: Cow::Owned(text(5).into_owned()),
        message: Cow::Owned(message.into_owned()),
    })
}

/// Whether a line is a plain text-log header.
pub(crate) fn looks_like_plain(line: &[u8]) -> bool {
    parse_plain(line, &Zone::utc(), &DateMemo::default()).is_some()
}

/// Whether a JSON object line is from the JSON logger.
pub(crate) fn looks_like_json(keys: &[&str]) -> bool {
    keys.contains(&"logger_name") && keys.contains(&"message")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Credentials, HttpEvent};

    #[derive(Default)]
    struct Out {
        queries: Vec<QueryEvent<'static>>,
        logins: Vec<LoginEvent<'static>>,
        http: Vec<HttpEvent<'static>>,
    }

    fn run(text: &str, json: bool) -> (Out, Vec<(u64, Fail)>) {
        let mut r = TextLogReader::new(SourceId(0), Zone::utc(), json);
        let mut out = Out::default();
        let mut errors = Vec::new();
        let mut push = |e: Event<'_>| match e {
            Event::ServerLogQuery(q) | Event::Query(q) => out.queries.push(q.into_owned()),
            Event::Login(l) => out.logins.push(LoginEvent {
                user: Cow::Owned(l.user.into_owned()),
                auth_type: None,
                reason: l.reason.map(|r| Cow::Owned(r.into_owned())),
                ..l
            }),
            Event::Http(h) => out.http.push(HttpEvent {
                user: h.user.map(|u| Cow::Owned(u.into_owned())),
                method: Cow::Owned(h.method.into_owned()),
                path: Cow::Owned(h.path.into_owned()),
                target: Cow::Owned(h.target.into_owned()),
                query: h.query.map(|u| Cow::Owned(u.into_owned())),
                user_agent: None,
                ..h
            }),
        };
        for (n, l) in text.lines().enumerate() {
            if let Err(e) = r.line(l.as_bytes(), n as u64 + 1, &mut push) {
                errors.push((n as u64 + 1, e));
            }
        }
        r.finish(&mut push);
        (out, errors)
    }

    const LOG_18: &str = "\
2026.11.25 22:25:49.100000 [ 22 ] {} <Trace> HTTPHandler-factory: HTTP Request for HTTPHandler-factory. Method: GET, Address: 198.51.100.7:57688, User-Agent: Mozilla/5.0
2026.11.25 22:25:49.100100 [ 22 ] {} <Trace> HTTPHandler: Request URI: /?query=SELECT%20*%20FROM%20default.log_stream
2026.11.25 22:25:49.103627 [ 22 ] {3de6} <Debug> executeQuery: (from 198.51.100.7:57688) SELECT * FROM default.log_stream
2026.11.25 22:25:49.103773 [ 22 ] {3de6} <Debug> executeQuery: Query pipeline:
Expression
 Expression

2026.11.25 22:25:49.142404 [ 22 ] {3de6} <Information> executeQuery: Read 100000 rows, 15.96 MiB in 0.039 sec., 2563402 rows/sec., 409.24 MiB/sec.
2026.11.25 22:25:49.143394 [ 22 ] {3de6} <Debug> MemoryTracker: Peak memory usage (for query): 11.38 MiB.
2026.11.25 22:25:56.770171 [ 76 ] {} <Trace> HTTPHandler-factory: HTTP Request for HTTPHandler-factory. Method: GET, Address: [::ffff:198.51.100.7]:42600, User-Agent: python-requests/2.31.0
2026.11.25 22:25:56.770289 [ 76 ] {} <Trace> HTTPHandler: Request URI: /?user=alice&password=alice123&query=SELECT%201
2026.11.25 22:25:56.772428 [ 76 ] {} <Error> HTTPHandler: Code: 193, e.displayText() = DB::Exception: Wrong password for user alice, e.what() = DB::Exception, Stack trace:

0. /lib/x86_64-linux-gnu/libclickhouse.so.18.16(StackTrace::StackTrace()+0x16) [0x7f6f43b798a6]
2026.11.25 22:25:58.919216 [ 76 ] {} <Trace> TCPHandlerFactory: TCP Request. Address: 198.51.100.7:48476
2026.11.25 22:25:58.919350 [ 76 ] {} <Debug> TCPHandler: Connected ClickHouse client version 18.16.0, revision: 54412, user: default.
2026.11.25 22:25:58.921916 [ 76 ] {4ffd} <Debug> executeQuery: (from 198.51.100.7:48476, user: etl, initial_query_id: 4ffd, using production parser) (comment: x) SELECT 1 (stage: Complete)
2026.11.25 22:25:59.000000 [ 76 ] {9999} <Error> executeQuery: Code: 62, e.displayText() = DB::Exception: Syntax error, e.what() = DB::Exception (from [::ffff:10.1.2.3]:5) (in query: SELEC 1), Stack trace:
";

    #[test]
    fn ok_18x_lines_make_queries_logins_and_requests() {
        let (mut out, errors) = run(LOG_18, false);
        assert!(errors.is_empty(), "{errors:?}");
        out.queries.sort_by_key(|q| q.location.line);
        assert_eq!(out.queries.len(), 3);
        let q = &out.queries[0];
        assert_eq!(q.query, "SELECT * FROM default.log_stream");
        assert_eq!(q.user, "default");
        assert_eq!(q.client, "198.51.100.7".parse().ok());
        assert_eq!(q.volume.read_rows, 100_000);
        assert_eq!(q.volume.read_bytes, 16_735_272);
        assert_eq!(q.interface, Some(Interface::Http));
        let q = &out.queries[1];
        assert_eq!((q.user.as_ref(), q.query.as_ref()), ("etl", "SELECT 1"));
        assert!(q.is_initial);
        let q = &out.queries[2];
        assert_eq!(q.query, "SELEC 1");
        assert_eq!(q.exception_code, Some(62));
        assert_eq!(q.client, "10.1.2.3".parse().ok());
        assert_eq!(out.logins.len(), 2);
        assert_eq!(out.logins[0].outcome, LoginOutcome::Failure);
        assert_eq!(out.logins[0].user, "alice");
        assert_eq!(out.logins[0].client, "198.51.100.7".parse().ok());
        assert_eq!(
            out.logins[0].reason.as_deref(),
            Some("WRONG_PASSWORD (193)")
        );
        assert_eq!(out.logins[1].outcome, LoginOutcome::Success);
        assert_eq!(out.logins[1].user, "default");
        assert_eq!(out.http.len(), 2);
        assert_eq!(
            out.http[1].credentials,
            Credentials::UrlParams {
                password_given: true
            }
        );
        assert!(!format!("{:?}", out.http).contains("alice123"));
    }

    #[test]
    fn ok_18x_connected_then_wrong_password_is_no_login() {
        // 18.16 logs `Connected … user:` before it checks the password (genuine lines).
        let log = "\
2026.11.26 01:49:32.022696 [ 29 ] {} <Trace> TCPHandlerFactory: TCP Request. Address: 127.0.0.1:57274
2026.11.26 01:49:32.022836 [ 29 ] {} <Debug> TCPHandler: Connected ClickHouse client version 18.16.0, revision: 54412, user: alice.
2026.11.26 01:49:32.025255 [ 29 ] {} <Error> ServerErrorHandler: Code: 193, e.displayText() = DB::Exception: Wrong password for user alice, e.what() = DB::Exception, Stack trace:
2026.11.26 01:49:34.410300 [ 31 ] {} <Trace> TCPHandlerFactory: TCP Request. Address: 127.0.0.1:57280
2026.11.26 01:49:34.410454 [ 31 ] {} <Debug> TCPHandler: Connected ClickHouse client version 18.16.0, revision: 54412, user: alice.
";
        let (out, errors) = run(log, false);
        assert!(errors.is_empty(), "{errors:?}");
        let got: Vec<(LoginOutcome, u64)> = out
            .logins
            .iter()
            .map(|l| (l.outcome, l.location.line))
            .collect();
        // The second connection's login is kept though nothing follows it in the input.
        assert_eq!(
            got,
            [(LoginOutcome::Failure, 3), (LoginOutcome::Success, 5)]
        );
    }

    #[test]
    fn ok_sessions_and_json_logger() {
        let log = "\
[host-1] 2023.09.22 09:55:04.878072 [ 49 ] {} <Debug> HTTP-Session: e5a0 Authenticating user 'admin' from 10.0.142.237:58728
2023.09.22 09:55:04.878248 [ 49 ] {} <Error> Access(user directories): from: 10.0.142.237, user: admin: Authentication failed: Code: 193. DB::Exception: Invalid credentials. (WRONG_PASSWORD), Stack trace (when copying this message, always include the lines below):
2023.09.22 09:55:04.878300 [ 49 ] {} <Error> DynamicQueryHandler: Code: 516. DB::Exception: admin: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)
";
        let (out, errors) = run(log, false);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(out.logins.len(), 1, "one failure, logged twice");
        assert_eq!(out.logins[0].user, "admin");
        assert_eq!(out.logins[0].reason.as_deref(), Some("WRONG_PASSWORD"));
        let json = r#"{"date_time_utc":"2026-11-25T22:30:34Z","date_time":"1795645834.255878","thread_name":"","thread_id":"24961","level":"Debug","query_id":"5d3d","logger_name":"executeQuery","message":"(from 127.0.0.1:0) (query 1, line 1) SELECT \/* x *\/ 1 (stage: Complete)","source_line":"367"}"#;
        let (out, errors) = run(json, true);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(out.queries[0].query, "SELECT /* x */ 1");
        assert_eq!(out.queries[0].start, Timestamp(1_795_645_834_255_878));
    }

    #[test]
    fn err_leading_garbage_is_rejected_then_continuations_are_not() {
        let (_, errors) = run(
            "garbage\n2026.11.25 22:25:49.100000 [ 1 ] {} <Trace> X: y\nmore\n",
            false,
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 1);
    }

    #[test]
    fn ok_never_panics_on_prefixes() {
        for line in LOG_18.lines() {
            for n in 0..line.len() {
                if let Some(p) = line.get(..n) {
                    let _ = run(p, false);
                    let _ = run(p, true);
                }
            }
        }
    }
}
