//! The contract between parsing and detection: normalized events, data only.
//!
//! A parser turns one record of some log into an [`Event`]; detection never sees the format
//! the event came from. Strings borrow the input where no unescaping was needed
//! ([`Cow::Borrowed`]) so a scan does not copy the bulk of a multi-gigabyte export.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::time::Timestamp;

/// Identifies one input (file) of a scan; an index into the analysis' source list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct SourceId(pub u32);

/// Where an event came from: the source and the 1-based line its record starts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Location {
    /// The input the record was read from.
    pub source: SourceId,
    /// 1-based line number of the record's first line.
    pub line: u64,
}

/// Anything a log told us that detection may act on.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// One execution of one query.
    Query(QueryEvent<'a>),
    /// One execution of one query as the server's text log told it: the same query may also
    /// be in a query_log export (same `query_id`), and the text log lacks result volumes, so
    /// detection prefers the query_log copy and lists this one as further evidence.
    ServerLogQuery(QueryEvent<'a>),
    /// A login attempt, its success, or a logout (session_log, server text log).
    Login(LoginEvent<'a>),
    /// One HTTP request (proxy access log, or the server's own `Request URI` line).
    Http(HttpEvent<'a>),
}

impl Event<'_> {
    /// Where the event was read.
    pub fn location_mut(&mut self) -> &mut Location {
        match self {
            Event::Query(q) | Event::ServerLogQuery(q) => &mut q.location,
            Event::Login(l) => &mut l.location,
            Event::Http(h) => &mut h.location,
        }
    }

    /// The same event, owning its text.
    #[must_use]
    pub fn into_owned(self) -> Event<'static> {
        match self {
            Event::Query(q) => Event::Query(q.into_owned()),
            Event::ServerLogQuery(q) => Event::ServerLogQuery(q.into_owned()),
            Event::Login(l) => Event::Login(l.into_owned()),
            Event::Http(h) => Event::Http(h.into_owned()),
        }
    }
}

/// How a query execution ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryOutcome {
    /// It ran to completion (`QueryFinish`).
    Finished,
    /// It started and then failed (`ExceptionWhileProcessing`).
    FailedWhileProcessing,
    /// It was rejected before running: syntax, unknown table, access denied (`ExceptionBeforeStart`).
    FailedBeforeStart,
    /// Its start was logged but no end was seen in the input.
    Unfinished,
}

/// The ClickHouse interface a query arrived on (`ClientInfo::Interface`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[non_exhaustive]
pub enum Interface {
    /// Native protocol (port 9000).
    Tcp,
    /// HTTP (port 8123).
    Http,
    /// gRPC.
    Grpc,
    /// MySQL wire protocol.
    MySql,
    /// PostgreSQL wire protocol.
    PostgreSql,
    /// In-process (clickhouse-local, chDB).
    Local,
    /// Between servers of a cluster.
    TcpInterserver,
    /// Prometheus protocol.
    Prometheus,
    /// Background work of the server itself.
    Background,
    /// Arrow Flight.
    ArrowFlight,
    /// A code this version does not know.
    Other(u8),
}

impl Interface {
    /// From the numeric code (query_log up to late 2026).
    #[must_use]
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => Self::Tcp,
            2 => Self::Http,
            3 => Self::Grpc,
            4 => Self::MySql,
            5 => Self::PostgreSql,
            6 => Self::Local,
            7 => Self::TcpInterserver,
            8 => Self::Prometheus,
            9 => Self::Background,
            10 => Self::ArrowFlight,
            n => Self::Other(n),
        }
    }

    /// From the Enum8 name (session_log; query_log after ClickHouse PR #118136).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "TCP" => Self::Tcp,
            "HTTP" => Self::Http,
            "gRPC" => Self::Grpc,
            "MySQL" => Self::MySql,
            "PostgreSQL" => Self::PostgreSql,
            "Local" => Self::Local,
            "TCP_Interserver" => Self::TcpInterserver,
            "Prometheus" => Self::Prometheus,
            "Background" => Self::Background,
            "ArrowFlight" => Self::ArrowFlight,
            _ => return None,
        })
    }
}

/// Row and byte counts of one query, as ClickHouse accounted them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Volume {
    /// Rows read from tables.
    pub read_rows: u64,
    /// Bytes read from tables.
    pub read_bytes: u64,
    /// Rows written (INSERT).
    pub written_rows: u64,
    /// Bytes written.
    pub written_bytes: u64,
    /// Rows in the result sent to the client.
    pub result_rows: u64,
    /// Bytes in the result sent to the client.
    pub result_bytes: u64,
    /// Bytes an HTTP front end (a proxy) sent for this request, from its access log; 0 when
    /// no access log told.
    pub sent_bytes: u64,
}

/// One execution of one query, whatever log it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryEvent<'a> {
    /// When the query started.
    pub start: Timestamp,
    /// When it ended, if an end was logged.
    pub end: Option<Timestamp>,
    /// The user the query ran as (`user`; `default` where a log leaves it implicit).
    pub user: Cow<'a, str>,
    /// The user who authenticated, where it differs (`authenticated_user`, `EXECUTE AS`).
    pub authenticated_user: Option<Cow<'a, str>>,
    /// The client's address, IPv4-mapped addresses already turned into IPv4.
    pub client: Option<IpAddr>,
    /// The query id; client-controlled, and not unique across a whole log.
    pub query_id: Cow<'a, str>,
    /// The query text as logged (possibly truncated by the server).
    pub query: Cow<'a, str>,
    /// The server's own statement kind (`query_kind`), where logged.
    pub query_kind: Option<Cow<'a, str>>,
    /// How the execution ended.
    pub outcome: QueryOutcome,
    /// ClickHouse error code of a failed query (0 or absent on success).
    pub exception_code: Option<i32>,
    /// False for sub-queries spawned by another query (distributed, remote).
    pub is_initial: bool,
    /// The interface the query arrived on.
    pub interface: Option<Interface>,
    /// Row and byte counts (zero for unfinished queries).
    pub volume: Volume,
    /// Table functions the server resolved (`used_table_functions`), lower-cased;
    /// `None` when the log has no such column.
    pub table_functions: Option<Vec<Cow<'a, str>>>,
    /// Tables the server says were touched (`tables`, as `db.table`); `None` when not logged.
    pub tables: Option<Vec<Cow<'a, str>>>,
    /// HTTP User-Agent of the request, where logged.
    pub http_user_agent: Option<Cow<'a, str>>,
    /// Where the record (its end row, for a start/end pair) was read.
    pub location: Location,
}

impl QueryEvent<'_> {
    /// Copies every borrowed string so the event can outlive its input buffer.
    #[must_use]
    pub fn into_owned(self) -> QueryEvent<'static> {
        fn own(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        fn own_list(v: Option<Vec<Cow<'_, str>>>) -> Option<Vec<Cow<'static, str>>> {
            v.map(|v| v.into_iter().map(own).collect())
        }
        QueryEvent {
            start: self.start,
            end: self.end,
            user: own(self.user),
            authenticated_user: self.authenticated_user.map(own),
            client: self.client,
            query_id: own(self.query_id),
            query: own(self.query),
            query_kind: self.query_kind.map(own),
            outcome: self.outcome,
            exception_code: self.exception_code,
            is_initial: self.is_initial,
            interface: self.interface,
            volume: self.volume,
            table_functions: own_list(self.table_functions),
            tables: own_list(self.tables),
            http_user_agent: self.http_user_agent.map(own),
            location: self.location,
        }
    }
}

/// What became of a login attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginOutcome {
    /// The server accepted the credentials.
    Success,
    /// The server refused them (wrong password, unknown user, not allowed from this address).
    Failure,
    /// The session ended.
    Logout,
}

/// One login attempt (or logout).
#[derive(Clone, Debug, PartialEq)]
pub struct LoginEvent<'a> {
    /// When.
    pub time: Timestamp,
    /// The user name the client gave (`default` where the log leaves it implicit).
    pub user: Cow<'a, str>,
    /// The client's address.
    pub client: Option<IpAddr>,
    /// Success, failure or logout.
    pub outcome: LoginOutcome,
    /// The interface, where logged.
    pub interface: Option<Interface>,
    /// How the user authenticated (`auth_type`: `PLAINTEXT_PASSWORD`, `NO_PASSWORD`, …) as
    /// logged. session_log writes `NO_PASSWORD` on every `LoginFailure`, so it is dropped there.
    pub auth_type: Option<Cow<'a, str>>,
    /// Why it failed (error code name or message, secrets never included).
    pub reason: Option<Cow<'a, str>>,
    /// Where the record was read.
    pub location: Location,
}

impl LoginEvent<'_> {
    /// The same event, owning its text.
    #[must_use]
    pub fn into_owned(self) -> LoginEvent<'static> {
        LoginEvent {
            time: self.time,
            user: Cow::Owned(self.user.into_owned()),
            client: self.client,
            outcome: self.outcome,
            interface: self.interface,
            auth_type: self.auth_type.map(|t| Cow::Owned(t.into_owned())),
            reason: self.reason.map(|r| Cow::Owned(r.into_owned())),
            location: self.location,
        }
    }
}

/// How an HTTP request carried credentials. Passwords themselves are never kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Credentials {
    /// None that the log shows: ClickHouse then logs the request in as `default`.
    None,
    /// `?user=…&password=…` in the URL; `password_given` is false for `password=` (empty)
    /// or no password parameter.
    UrlParams {
        /// A non-empty `password=` was in the URL (and so in every log that keeps URLs).
        password_given: bool,
    },
    /// HTTP Basic (`$remote_user`).
    Basic,
    /// `X-ClickHouse-User` header (where the proxy logs it).
    Header,
}

/// Which kind of log an HTTP request came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpOrigin {
    /// A proxy's access log (nginx, Apache, JSON lines): the client is the real peer.
    ProxyLog,
    /// The ClickHouse server's own text log (`HTTPHandler: Request URI`): the client is the
    /// TCP peer, which is the proxy when there is one.
    ServerLog,
}

/// A parser's note on an event's query text: events whose hints hold the same id have the
/// same `query`, byte for byte, so detection may answer what it asks of the text by the id
/// alone, without hashing or comparing the text.
///
/// An id is drawn from one process-wide counter (never reused: 2^64 draws) each time a
/// parser's cache takes a new text (the access-log reader's request slots, when a slot is
/// refilled), and given only to events whose query is that text. So the invariant holds
/// across readers, threads and files of a scan, and for events parsed on one thread and
/// judged on another. Only the crate draws ids; whoever changes an event's `query` must
/// clear its hint ([`TextHint::NONE`]).
///
/// Equality ignores the hint: two events that say the same things are equal whatever their
/// parsers noted. So does `Debug` (it prints `TextHint` alone): an id depends on how many
/// texts the process drew before, so printing it would make equal events print differently
/// from run to run, from chunking to chunking.
#[derive(Clone, Copy, Default)]
pub struct TextHint(Option<u64>);

impl TextHint {
    /// No identity: the text is answered by its bytes.
    pub const NONE: Self = Self(None);

    /// An id never handed out before in this process.
    pub(crate) fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self(Some(NEXT.fetch_add(1, Ordering::Relaxed)))
    }

    /// The id, if there is one.
    pub(crate) fn id(self) -> Option<u64> {
        self.0
    }

    /// A hint with the given id, for tests that need ids to collide.
    #[cfg(test)]
    pub(crate) fn with_id(id: u64) -> Self {
        Self(Some(id))
    }
}

impl PartialEq for TextHint {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for TextHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TextHint")
    }
}

/// One HTTP request to ClickHouse's HTTP interface.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpEvent<'a> {
    /// When (the proxy's time: end of request for nginx).
    pub time: Timestamp,
    /// The peer address.
    pub client: Option<IpAddr>,
    /// The user the request names (URL `user=`, header, Basic); `None` when it names none,
    /// in which case ClickHouse uses `default`.
    pub user: Option<Cow<'a, str>>,
    /// How credentials travelled.
    pub credentials: Credentials,
    /// `GET`, `POST`, … (empty when not logged).
    pub method: Cow<'a, str>,
    /// The path without its query string (`/`, `/play`, `/ping`).
    pub path: Cow<'a, str>,
    /// The request target as logged, with every `password=` value replaced by `[REDACTED]`
    /// whatever the redaction setting: a URL password is never stored.
    pub target: Cow<'a, str>,
    /// The decoded `query=` parameter (`%XX` and `+` decoded).
    pub query: Option<Cow<'a, str>>,
    /// The parser's identity for `query`, if it has one (see [`TextHint`]); clear it when
    /// changing `query`.
    pub query_hint: TextHint,
    /// The response status, where logged.
    pub status: Option<u16>,
    /// Response body bytes sent to the client, where logged: the egress volume.
    pub bytes_sent: Option<u64>,
    /// The User-Agent, where logged.
    pub user_agent: Option<Cow<'a, str>>,
    /// Proxy log or server log.
    pub origin: HttpOrigin,
    /// Where the record was read.
    pub location: Location,
}

impl HttpEvent<'_> {
    /// Copies every borrowed string so the event can outlive its input buffer.
    #[must_use]
    pub fn into_owned(self) -> HttpEvent<'static> {
        fn own(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        HttpEvent {
            time: self.time,
            client: self.client,
            user: self.user.map(own),
            credentials: self.credentials,
            method: own(self.method),
            path: own(self.path),
            target: own(self.target),
            query: self.query.map(own),
            query_hint: self.query_hint,
            status: self.status,
            bytes_sent: self.bytes_sent,
            user_agent: self.user_agent.map(own),
            origin: self.origin,
            location: self.location,
        }
    }
}
