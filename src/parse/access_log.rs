//! Proxy access logs in front of ClickHouse's HTTP port → [`HttpEvent`]s, one per request.
//!
//! Three shapes, told apart by [`super::sniff`]:
//!
//! ```text
//! 198.51.100.7 - default [25/Nov/2026:22:26:08 +0000] "POST /?add_http_cors_header=1 HTTP/1.1" 200 210 "http://h/play?user=default" "Mozilla/5.0"
//! │            │ │        │                            │                                         │   │   │                           └ $http_user_agent
//! │            │ │        │                            │                                         │   │   └ $http_referer (combined only)
//! │            │ │        │                            │                                         │   └ $body_bytes_sent: the egress volume
//! │            │ │        │                            │                                         └ $status
//! │            │ │        │                            └ $request, percent-encoding as received
//! │            │ │        └ $time_local
//! │            │ └ $remote_user: the HTTP Basic user, filled although nginx does no auth
//! │            └ ident (always `-`)
//! └ $remote_addr: the real client
//! ```
//!
//! nginx/Apache *combined* (as above) and *common* (without the two last fields), and JSON
//! lines (nginx `escape=json`, or any JSON-lines log) whose field names come from
//! [`AccessLogFields`]. `?query=` is URL-decoded (`%XX`, `+` as space); `user=` names the user;
//! a `password=` value is replaced by `[REDACTED]` before anything is stored.

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::ops::Range;

use serde_json::Value;
use wide::u8x16;

use super::common::{find, find2, target_params, Ipv4Memo, LogTime, TargetParams};
use super::common::{lossy, mask_url_secrets, needs_decoding, parse_address, parse_datetime};
use super::common::{percent_decode, percent_decode_into};
pub use crate::config::AccessLogFields;
use crate::error::ParseErrorKind;
use crate::event::{Credentials, HttpEvent, HttpOrigin, Location, TextHint};
use crate::time::{CivilTime, Timestamp, MICROS_PER_SEC};

impl AccessLogFields {
    /// Whether a JSON object's keys look like an access log under this map.
    pub(crate) fn matches(&self, keys: &[&str]) -> bool {
        let has = |names: &[&str]| names.iter().any(|n| keys.contains(n));
        has(&[
            self.remote_addr.as_str(),
            "remote_addr",
            "client_ip",
            "remote_ip",
        ]) && has(&[
            self.uri.as_str(),
            self.request.as_str(),
            "request_uri",
            "uri",
            "request",
        ])
    }
}

/// What the text reader keeps from line to line, so that a line costs no allocation and a
/// repeated request line, user or user agent no second reading.
#[derive(Debug, Default)]
pub(crate) struct QueryScratch {
    requests: RequestSlots,
    users: TextSlots,
    agents: TextSlots,
    day: DayMemo,
    clients: Ipv4Memo,
}

/// Short fields that repeat from line to line (the Basic user, the user agent), kept as
/// checked text: a field met before costs a compare where a UTF-8 check costs a hundred
/// instructions or so, whatever its length (`from_utf8` walks to an aligned word first).
///
/// A slot is picked by the length and a few bytes of the field (collisions only cost a
/// check), holds the last field that picked it, and answers only for bytes equal to what it
/// holds, which were checked to be UTF-8 and free of backslashes when they were stored: so
/// [`TextSlots::text`] is `from_utf8` of an input without backslashes, as a slice of the
/// slot, and a hit also says the field has no escape to undo. At most [`TextSlots::SLOTS`] ×
/// [`TextSlots::MAX_LEN`] bytes (128 KiB) each.
#[derive(Debug, Default)]
struct TextSlots {
    slots: Vec<String>,
}

impl TextSlots {
    /// Slots (a power of two).
    const SLOTS: usize = 512;
    /// Longest field kept.
    const MAX_LEN: usize = 256;

    /// `b` as text if it is UTF-8 and holds no backslash (no CLF escape), through the slots.
    fn text<'a>(&'a mut self, b: &'a [u8]) -> Option<&'a str> {
        if b.len() > Self::MAX_LEN {
            return Self::check(b);
        }
        if self.slots.is_empty() {
            self.slots.resize_with(Self::SLOTS, String::new);
        }
        let Some(slot) = self.slots.get_mut(Self::pick(b)) else {
            return Self::check(b);
        };
        if slot.as_bytes() != b {
            let s = Self::check(b)?;
            slot.clear();
            slot.push_str(s);
        }
        Some(slot.as_str())
    }

    /// `b` as text if it is UTF-8 and holds no backslash, without the slots.
    fn check(b: &[u8]) -> Option<&str> {
        std::str::from_utf8(b)
            .ok()
            .filter(|_| find(b'\\', b).is_none())
    }

    /// The slot of `b`: its length and the bytes at its end, middle and thirds, mixed.
    fn pick(b: &[u8]) -> usize {
        let n = b.len();
        let at = |i: usize| u64::from(b.get(i).copied().unwrap_or(0));
        let mix = (n as u64)
            | at(n.wrapping_sub(1)) << 8
            | at(n.wrapping_sub(2)) << 16
            | at(n / 2) << 24
            | at(n / 3) << 32
            | at(n - n / 3) << 40
            | at(n / 4) << 48;
        let h = mix.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        usize::try_from(h >> 32).unwrap_or_default() & (Self::SLOTS - 1)
    }
}

/// The request lines of [`QueryScratch`]: a repeated request line costs neither a second
/// reading nor decoding.
///
/// Logs repeat their requests (a dashboard, a loader: two in three of the generated lines
/// repeat an earlier one), and checking a request line is UTF-8, splitting it, reading the
/// target's parameters, looking for userinfo, decoding `%XX` and checking the result cost
/// some 1.5 k instructions on a 140-byte line. What an event takes from each unescaped
/// request line up to [`RequestSlots::MAX_RAW`] bytes (where its method and target are, the
/// target's [`TargetShape`] and the decoded query) is kept in a slot picked by the hash of
/// the line (direct-mapped: a slot holds the last line that hashed to it), so a repeat costs
/// one hash and one compare. Everything kept is a function of the line's bytes alone; a
/// slot's line is emptied before the slot is refilled, and empty lines, lines that are not
/// UTF-8, targets with userinfo to mask and queries that are not UTF-8 once decoded are not
/// kept, so a slot never answers for a line it was not made from. At most
/// [`RequestSlots::SLOTS`] × 2 × `MAX_RAW` bytes (4 MiB) per reader.
#[derive(Debug, Default)]
struct RequestSlots {
    slots: Vec<Slot>,
    /// Where the query of a request line that is not kept is decoded.
    buf: Vec<u8>,
    /// Fixed, not keyed per process: which lines share a slot is then the same from run to
    /// run (so are the timings), and a crafted collision costs what a line never seen before
    /// costs, which anyone writing to the log can have by sending new lines anyway.
    hasher: foldhash::fast::FixedState,
}

/// One request line: as logged (checked to be UTF-8), where its method and target are,
/// and what the event takes from the target, worked out when the slot was filled.
#[derive(Debug, Default)]
struct Slot {
    request: String,
    method: Range<usize>,
    target: Range<usize>,
    /// Where the path ends, as an offset into `request`.
    path_end: usize,
    /// The `user=` parameter, decoded as the event holds it.
    user: Option<String>,
    /// `password_given` of the URL credentials, if the target names a user or a password.
    url_params: Option<bool>,
    /// The target with its password-like values masked, if it has any.
    masked: Option<String>,
    /// Where the raw query is in `request`, if the target has one.
    query: Option<Range<usize>>,
    /// The decoded query, if the query has anything to decode.
    decoded: Option<String>,
    /// The identity of the event's query text, drawn afresh whenever the slot is refilled
    /// (so events with the same id read the same line: see [`TextHint`]).
    hint: TextHint,
}

impl Slot {
    /// Fills the slot from the unescaped request line `body`: `false`, and the slot left
    /// empty, for a line that is not UTF-8, a target with userinfo to mask, or a query that
    /// is not UTF-8 once decoded.
    fn fill(&mut self, body: &[u8]) -> bool {
        self.request.clear();
        let Ok(r) = std::str::from_utf8(body) else {
            return false;
        };
        let (m, t) = split_request(r);
        if matches!(mask_userinfo(t), Cow::Owned(_)) {
            return false;
        }
        let params = target_params(t.as_bytes());
        if let Some(q) = params.query.filter(|q| needs_decoding(q, true)) {
            let mut v = std::mem::take(&mut self.decoded)
                .unwrap_or_default()
                .into_bytes();
            let len = percent_decode_into(q, true, &mut v).len();
            v.truncate(len);
            match String::from_utf8(v) {
                Ok(text) => self.decoded = Some(text),
                Err(_) => return false,
            }
        } else {
            self.decoded = None;
        }
        // Every piece is a slice of `r`.
        let at = |v: &[u8]| {
            let start = v.as_ptr().addr().saturating_sub(r.as_ptr().addr());
            start..start + v.len()
        };
        self.method = at(m.as_bytes());
        self.target = at(t.as_bytes());
        self.path_end = self.target.start + params.path_end;
        self.query = params.query.map(at);
        self.user = params
            .user
            .map(|u| lossy(percent_decode(u, true)).into_owned());
        self.url_params = (params.user.is_some() || params.password.is_some())
            .then(|| params.password.unwrap_or(false));
        self.masked = params.secrets.then(|| mask_url_secrets(t).into_owned());
        self.request.push_str(r);
        self.hint = TextHint::fresh();
        true
    }

    fn method(&self) -> &str {
        self.request.get(self.method.clone()).unwrap_or_default()
    }

    /// The target, its password-like values masked.
    fn target(&self) -> &str {
        match &self.masked {
            Some(t) => t,
            None => self.request.get(self.target.clone()).unwrap_or_default(),
        }
    }

    /// The path, as [`shaped_event`] cuts it from the target.
    fn path(&self) -> &str {
        self.request
            .get(self.target.start..self.path_end)
            .or_else(|| self.request.get(self.target.clone()))
            .unwrap_or_default()
    }

    fn user(&self) -> Option<Cow<'_, str>> {
        self.user.as_deref().map(Cow::Borrowed)
    }

    fn credentials(&self) -> Credentials {
        match self.url_params {
            Some(password_given) => Credentials::UrlParams { password_given },
            None => Credentials::None,
        }
    }

    /// The decoded query: kept, or the raw one where there was nothing to decode.
    fn query(&self) -> Option<Cow<'_, str>> {
        let q = self.query.clone()?;
        Some(match (&self.decoded, self.request.get(q.clone())) {
            (Some(text), _) => Cow::Borrowed(text.as_str()),
            (None, Some(raw)) => Cow::Borrowed(raw),
            (None, None) => lossy(percent_decode(
                self.request.as_bytes().get(q).unwrap_or_default(),
                true,
            )),
        })
    }

    /// The identity of [`Slot::query`]'s text, if the target has a query.
    fn query_hint(&self) -> TextHint {
        if self.query.is_some() {
            self.hint
        } else {
            TextHint::NONE
        }
    }

    /// The event of a line whose request line the slot holds: the request line as
    /// [`unkept_event`] reads it, with what the rest of the line says (`rest`) as
    /// [`Request::into_event`] adds it.
    fn event<'a>(
        &'a self,
        time: Timestamp,
        client: Option<IpAddr>,
        rest: LineRest<'a>,
    ) -> HttpEvent<'a> {
        let (user, credentials) =
            line_user(self.user(), self.credentials(), None, rest.remote_user);
        HttpEvent {
            time,
            client,
            user,
            credentials,
            method: Cow::Borrowed(self.method()),
            path: Cow::Borrowed(self.path()),
            target: Cow::Borrowed(self.target()),
            query: self.query(),
            query_hint: self.query_hint(),
            status: rest.status,
            bytes_sent: rest.bytes_sent,
            user_agent: logged(rest.user_agent),
            origin: HttpOrigin::ProxyLog,
            location: rest.location,
        }
    }
}

/// What a text line says besides its request line, for [`Slot::event`].
#[derive(Debug, Default)]
struct LineRest<'a> {
    remote_user: Option<Cow<'a, str>>,
    status: Option<u16>,
    bytes_sent: Option<u64>,
    user_agent: Option<Cow<'a, str>>,
    location: Location,
}

/// What an event takes from [`TargetParams`], as offsets into the target.
#[derive(Debug, Default, Clone)]
struct TargetShape {
    path_end: usize,
    user: Option<Range<usize>>,
    password: Option<bool>,
    secrets: bool,
}

impl TargetShape {
    fn of(params: &TargetParams<'_>, target: &[u8]) -> Self {
        // Every value is a slice of `target`.
        let at = |v: &[u8]| {
            let start = v.as_ptr().addr().saturating_sub(target.as_ptr().addr());
            start..start + v.len()
        };
        TargetShape {
            path_end: params.path_end,
            user: params.user.map(at),
            password: params.password,
            secrets: params.secrets,
        }
    }
}

impl RequestSlots {
    /// Slots (a power of two).
    const SLOTS: usize = 2048;
    /// Longest request line kept.
    const MAX_RAW: usize = 1024;

    /// The decoded text of `raw`, a query with something to decode, in the scratch buffer.
    fn decode(&mut self, raw: &[u8]) -> Cow<'_, str> {
        let v = percent_decode_into(raw, true, &mut self.buf);
        std::str::from_utf8(v).map_or_else(
            |_| Cow::Owned(String::from_utf8_lossy(v).into_owned()),
            Cow::Borrowed,
        )
    }

    /// The slot holding the unescaped request line `body`, filled from it if it held
    /// another; `None` for a line no slot keeps: empty, longer than [`Self::MAX_RAW`], or
    /// refused by [`Slot::fill`].
    fn slot(&mut self, body: &[u8]) -> Option<usize> {
        // An empty line would match a slot emptied for refilling.
        if body.is_empty() || body.len() > Self::MAX_RAW {
            return None;
        }
        if self.slots.is_empty() {
            self.slots.resize_with(Self::SLOTS, Slot::default);
        }
        let at =
            usize::try_from(self.hasher.hash_one(body)).unwrap_or_default() & (Self::SLOTS - 1);
        let slot = self.slots.get_mut(at)?;
        if slot.request.as_bytes() != body && !slot.fill(body) {
            return None;
        }
        Some(at)
    }

    /// The event of an unescaped request line no slot keeps ([`RequestSlots::slot`] gave
    /// `None`), read afresh.
    fn unkept<'a>(
        &'a mut self,
        body: &'a [u8],
        time: Timestamp,
        client: Option<IpAddr>,
        location: Location,
    ) -> HttpEvent<'a> {
        match std::str::from_utf8(body) {
            Ok(r) => {
                let (m, t) = split_request(r);
                let head = EventHead {
                    time,
                    client,
                    method: Cow::Borrowed(m),
                    origin: HttpOrigin::ProxyLog,
                };
                unkept_event(head, t, location, Some(self))
            }
            Err(_) => owned_request_event(body, time, client, location),
        }
    }
}

/// The event of a request line that is not UTF-8: read from a lossy copy, owning its text.
fn owned_request_event(
    body: &[u8],
    time: Timestamp,
    client: Option<IpAddr>,
    location: Location,
) -> HttpEvent<'static> {
    let r = unescape_clf(body);
    let (m, t) = split_request(&r);
    http_event(
        time,
        client,
        Cow::Owned(m.to_owned()),
        t,
        HttpOrigin::ProxyLog,
        location,
    )
}

/// The parts of an event that do not come from the target.
struct EventHead<'a> {
    time: Timestamp,
    client: Option<IpAddr>,
    method: Cow<'a, str>,
    origin: HttpOrigin,
}

/// Builds the event common to every shape from the pieces of one request.
struct Request<'a> {
    time: Timestamp,
    client: Option<IpAddr>,
    remote_user: Option<Cow<'a, str>>,
    header_user: Option<Cow<'a, str>>,
    method: Cow<'a, str>,
    target: Cow<'a, str>,
    /// The request line as logged, unescaped, to be read in place of `method` and `target`;
    /// with a scratch, a line its slots did not keep.
    request: Option<&'a [u8]>,
    status: Option<u16>,
    bytes_sent: Option<u64>,
    user_agent: Option<Cow<'a, str>>,
}

/// An absolute-form target (`http://user:password@host/…`, as a forward proxy logs it) with
/// the userinfo password replaced by `[REDACTED]`: like a `password=` value, it is never
/// stored, whatever the redaction setting.
fn mask_userinfo(target: &str) -> Cow<'_, str> {
    let t = target.as_bytes();
    // Cheaper than `memmem::find`, which sets up a searcher per call, for a `:` so rare.
    let mut colon = find(b':', t);
    let scheme_end = loop {
        match colon {
            None => return Cow::Borrowed(target),
            Some(c) if t.get(c + 1..c + 3) == Some(b"//") => break c,
            Some(c) => colon = find(b':', t.get(c + 1..).unwrap_or_default()).map(|n| c + 1 + n),
        }
    };
    let start = scheme_end + 3;
    let rest = target.get(start..).unwrap_or_default();
    let authority = rest
        .find(['/', '?', '#'])
        .map_or(rest, |e| rest.get(..e).unwrap_or(rest));
    let Some(at) = authority.rfind('@') else {
        return Cow::Borrowed(target);
    };
    let Some(colon) = authority.get(..at).and_then(|u| u.find(':')) else {
        return Cow::Borrowed(target);
    };
    let (Some(before), Some(after)) = (target.get(..start + colon + 1), target.get(start + at..))
    else {
        return Cow::Borrowed(target);
    };
    Cow::Owned(format!("{before}{}{after}", crate::redact::MASK))
}

/// Turns a request target into the event's user, credentials, path and decoded query.
pub(crate) fn http_event<'a>(
    time: Timestamp,
    client: Option<IpAddr>,
    method: Cow<'a, str>,
    target: &str,
    origin: HttpOrigin,
    location: Location,
) -> HttpEvent<'a> {
    let e = borrowed_http_event(time, client, method, target, origin, location, None);
    e.into_owned()
}

/// [`http_event`] borrowing from `target`: path, target and an undecoded query are slices
/// of it, and a decoded query is one of `scratch` if there is one, so a request costs no
/// allocation unless something needs masking.
fn borrowed_http_event<'a>(
    time: Timestamp,
    client: Option<IpAddr>,
    method: Cow<'a, str>,
    target: &'a str,
    origin: HttpOrigin,
    location: Location,
    scratch: Option<&'a mut RequestSlots>,
) -> HttpEvent<'a> {
    let head = EventHead {
        time,
        client,
        method,
        origin,
    };
    unkept_event(head, target, location, scratch)
}

/// [`borrowed_http_event`] read afresh; a decoded query goes to `scratch` if there is one.
fn unkept_event<'a>(
    head: EventHead<'a>,
    target: &'a str,
    location: Location,
    scratch: Option<&'a mut RequestSlots>,
) -> HttpEvent<'a> {
    match mask_userinfo(target) {
        Cow::Borrowed(t) => target_event(head, t, location, scratch),
        Cow::Owned(t) => target_event(head, &t, location, None).into_owned(),
    }
}

/// The event of a target whose userinfo password is already masked.
fn target_event<'a>(
    head: EventHead<'a>,
    target: &'a str,
    location: Location,
    scratch: Option<&'a mut RequestSlots>,
) -> HttpEvent<'a> {
    let params = target_params(target.as_bytes());
    let query = params.query.map(|v| match scratch {
        Some(scratch) if needs_decoding(v, true) => scratch.decode(v),
        _ => lossy(percent_decode(v, true)),
    });
    let shape = TargetShape::of(&params, target.as_bytes());
    shaped_event(&shape, query, head, target, location)
}

/// The event of a target whose userinfo password is already masked, given what it takes
/// from the target and the decoded query.
fn shaped_event<'a>(
    shape: &TargetShape,
    query: Option<Cow<'a, str>>,
    head: EventHead<'a>,
    target: &'a str,
    location: Location,
) -> HttpEvent<'a> {
    let part = |r: &Range<usize>| target.as_bytes().get(r.clone()).unwrap_or_default();
    let url_user = shape
        .user
        .as_ref()
        .map(|r| lossy(percent_decode(part(r), true)));
    let credentials = if shape.user.is_some() || shape.password.is_some() {
        Credentials::UrlParams {
            password_given: shape.password.unwrap_or(false),
        }
    } else {
        Credentials::None
    };
    HttpEvent {
        time: head.time,
        client: head.client,
        user: url_user,
        credentials,
        method: head.method,
        path: Cow::Borrowed(target.get(..shape.path_end).unwrap_or(target)),
        target: if shape.secrets {
            mask_url_secrets(target)
        } else {
            Cow::Borrowed(target)
        },
        query,
        query_hint: TextHint::NONE,
        status: None,
        bytes_sent: None,
        user_agent: None,
        origin: head.origin,
        location,
    }
}

impl<'a> Request<'a> {
    /// The event; `scratch`, if given, holds the decoded query (see [`borrowed_http_event`]).
    fn into_event(
        self,
        location: Location,
        scratch: Option<&'a mut RequestSlots>,
    ) -> HttpEvent<'a> {
        let mut e = match (self.request, scratch) {
            (Some(body), Some(scratch)) => scratch.unkept(body, self.time, self.client, location),
            (Some(body), None) => owned_request_event(body, self.time, self.client, location),
            (None, scratch) => match self.target {
                Cow::Borrowed(t) => borrowed_http_event(
                    self.time,
                    self.client,
                    self.method,
                    t,
                    HttpOrigin::ProxyLog,
                    location,
                    scratch,
                ),
                Cow::Owned(t) => http_event(
                    self.time,
                    self.client,
                    self.method,
                    &t,
                    HttpOrigin::ProxyLog,
                    location,
                ),
            },
        };
        (e.user, e.credentials) =
            line_user(e.user, e.credentials, self.header_user, self.remote_user);
        e.status = self.status;
        e.bytes_sent = self.bytes_sent;
        e.user_agent = logged(self.user_agent);
        e
    }
}

/// A field the log filled in: neither absent, empty nor nginx's `-`.
#[inline]
fn logged(field: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    field.filter(|f| !f.is_empty() && f != "-")
}

/// The user of a request and how it was given: the request's own (`user`, with
/// `credentials`: URL parameters, or none) if it names one, else the proxy's header user,
/// else the log's HTTP Basic user. Always inlined: a call of its own cost 31 instructions a
/// line on the hot path, where the caller's constants (no header user) fold it away.
#[inline(always)]
fn line_user<'a>(
    user: Option<Cow<'a, str>>,
    credentials: Credentials,
    header_user: Option<Cow<'a, str>>,
    remote_user: Option<Cow<'a, str>>,
) -> (Option<Cow<'a, str>>, Credentials) {
    if user.is_some() {
        return (user, credentials);
    }
    if let Some(u) = logged(header_user) {
        return (Some(u), Credentials::Header);
    }
    match logged(remote_user) {
        Some(u) => (Some(u), Credentials::Basic),
        None => (None, credentials),
    }
}

type Fail = (usize, ParseErrorKind);

fn expected(at: usize, what: &'static str) -> Fail {
    (
        at,
        ParseErrorKind::BadValue {
            column: "access log",
            expected: what,
        },
    )
}

/// Reads one combined/common line. Errors carry a 0-based byte offset. A decoded query is
/// written to `scratch`, which the caller keeps from line to line so that a line costs no
/// allocation.
pub(crate) fn parse_text_line<'a>(
    line: &'a [u8],
    location: Location,
    scratch: &'a mut QueryScratch,
) -> Result<HttpEvent<'a>, Fail> {
    let QueryScratch {
        requests,
        users,
        agents,
        day,
        clients,
    } = scratch;
    let line = Line::new(line);
    // Address, ident and user from the spaces of the line's first 64 bytes where they end
    // there, as nearly always; word by word otherwise.
    let (addr, user_at, user, mut i) = match line.head() {
        Some(head) => head,
        None => {
            let mut i = 0;
            let addr = line.word(&mut i);
            let _ident = line.word(&mut i);
            let user_at = i;
            let user = line.word(&mut i);
            (addr, user_at, user, i)
        }
    };
    let addr = line.bytes(addr);
    // Nearly every proxy logs a plain IPv4 address, which the general reader takes far longer
    // to read.
    let client = match clients
        .read(addr)
        .map(IpAddr::V4)
        .or_else(|| parse_address(addr))
    {
        Some(ip) => Some(ip),
        None if addr == b"-" => None,
        None => return Err(expected(0, "a client address")),
    };
    if user.is_empty() {
        return Err(expected(user_at, "a user or `-`"));
    }
    if line.byte(i) != Some(b'[') {
        return Err(expected(i, "`[` and the request time"));
    }
    // nginx and Apache write the time 26 bytes wide, and a time that `fast_clf_time` reads
    // holds no `]`: when one closes it there, that is the first `]`, found without a search.
    let fixed = line.byte(i + 27) == Some(b']');
    let clock = fixed.then(|| {
        let b = line.bytes(i + 1..i + 27);
        day.time(b).or_else(|| fast_clf_time(b))
    });
    let (t_end, time) = match clock {
        Some(Some(time)) => (i + 27, time),
        _ => {
            let t_end = memchr::memchr(b']', line.bytes(i..line.len()))
                .map(|p| i + p)
                .ok_or_else(|| expected(i, "`]`"))?;
            let time = parse_clf_time(line.bytes(i + 1..t_end))
                .ok_or_else(|| expected(i + 1, "a time such as 25/Nov/2026:22:23:53 +0000"))?;
            (t_end, time)
        }
    };
    i = line.skip_spaces(t_end + 1);
    let request = line
        .quoted(i)
        .ok_or_else(|| expected(i, "a quoted request"))?;
    i = request.next;
    let status_at = i;
    let status = match line.status(i) {
        Some((status, next)) => {
            i = next;
            status
        }
        None => {
            let status = line.word(&mut i);
            parse_status(line.bytes(status)).ok_or_else(|| expected(status_at, "a status code"))?
        }
    };
    let bytes_at = i;
    let bytes_sent = match line.count(i) {
        Some((n, next)) => {
            i = next;
            Some(n)
        }
        None => {
            let bytes = line.bytes(line.word(&mut i));
            if bytes == b"-" {
                Some(0)
            } else {
                Some(
                    parse_byte_count(bytes)
                        .ok_or_else(|| expected(bytes_at, "a byte count or `-`"))?,
                )
            }
        }
    };
    // Combined adds referer and user agent; anything after them (nginx custom formats) is ignored.
    let mut user_agent = None;
    if line.byte(i) == Some(b'"') {
        // The referer is never read, and mostly `"-"`.
        i = if line.bytes(i..i + 3) == b"\"-\"" {
            line.skip_spaces(i + 3)
        } else {
            line.quoted(i)
                .ok_or_else(|| expected(i, "a quoted referer"))?
                .next
        };
        if line.byte(i) == Some(b'"') {
            let ua = line
                .quoted(i)
                .ok_or_else(|| expected(i, "a quoted user agent"))?;
            // Checked through the slots unless it has escapes; what is not UTF-8 is read
            // lossily, as `Line::text` reads it.
            let b = line.bytes(ua.body.clone());
            user_agent = Some(match (ua.escaped, agents.text(b)) {
                (false, Some(s)) => Cow::Borrowed(s),
                _ => line.text(ua.body, ua.escaped),
            });
        }
    }
    // The slots answer for a user without escapes, which `Line::text` would borrow as is.
    let user_bytes = line.bytes(user.clone());
    let remote_user = (user_bytes != b"-").then(|| match users.text(user_bytes) {
        Some(s) => Cow::Borrowed(s),
        None => {
            let escaped = find(b'\\', user_bytes).is_some();
            line.text(user, escaped)
        }
    });
    // An unescaped request line is read through the slots, which remember lines they have
    // read (and checked to be UTF-8) before; the event is then built from what its slot
    // keeps.
    let kept = if request.escaped {
        None
    } else {
        requests.slot(line.bytes(request.body.clone()))
    };
    Ok(match kept {
        Some(at) => match requests.slots.get(at) {
            Some(slot) => slot.event(
                time,
                client,
                LineRest {
                    remote_user,
                    status: Some(status),
                    bytes_sent,
                    user_agent,
                    location,
                },
            ),
            None => Request {
                time,
                client,
                remote_user,
                header_user: None,
                method: Cow::Borrowed(""),
                target: Cow::Borrowed(""),
                request: Some(line.bytes(request.body)),
                status: Some(status),
                bytes_sent,
                user_agent,
            }
            .into_event(location, None),
        },
        None => {
            let (method, target, body) = if request.escaped {
                match line.text(request.body, request.escaped) {
                    Cow::Borrowed(r) => {
                        let (m, t) = split_request(r);
                        (Cow::Borrowed(m), Cow::Borrowed(t), None)
                    }
                    Cow::Owned(r) => {
                        let (m, t) = split_request(&r);
                        (Cow::Owned(m.to_owned()), Cow::Owned(t.to_owned()), None)
                    }
                }
            } else {
                (
                    Cow::Borrowed(""),
                    Cow::Borrowed(""),
                    Some(line.bytes(request.body)),
                )
            };
            Request {
                time,
                client,
                remote_user,
                header_user: None,
                method,
                target,
                request: body,
                status: Some(status),
                bytes_sent,
                user_agent,
            }
            .into_event(location, Some(requests))
        }
    })
}

/// A text line, whose fields are checked for UTF-8 as they are taken as text: the request
/// line, the longest, is mostly not checked at all ([`RequestSlots`] has seen it before).
struct Line<'a> {
    bytes: &'a [u8],
}

/// Where a `"…"` field is.
struct Quoted {
    /// Between the quotes.
    body: Range<usize>,
    /// Whether the body holds a backslash escape.
    escaped: bool,
    /// After the closing quote and the spaces that follow it.
    next: usize,
}

impl<'a> Line<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Line { bytes }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    fn byte(&self, i: usize) -> Option<u8> {
        self.bytes.get(i).copied()
    }

    /// The bytes at `range`; empty where it is out of the line.
    fn bytes(&self, range: Range<usize>) -> &'a [u8] {
        self.bytes.get(range).unwrap_or_default()
    }

    /// The field at `range` as text, CLF escapes undone: a slice of the line unless it has
    /// escapes or the line is not UTF-8.
    fn text(&self, range: Range<usize>, escaped: bool) -> Cow<'a, str> {
        let b = self.bytes(range);
        if !escaped {
            if let Ok(s) = std::str::from_utf8(b) {
                return Cow::Borrowed(s);
            }
        }
        unescape_clf(b)
    }

    /// Where the address ends, where the user starts, the user and where the field after it
    /// starts, as three [`Line::word`]s from the start find them; `None` unless all of that
    /// lies in the first 64 bytes, whose spaces one mask holds.
    fn head(&self) -> Option<(Range<usize>, usize, Range<usize>, usize)> {
        let head = self.bytes.get(..64)?;
        let space = u8x16::splat(b' ');
        let mut spaces = 0u64;
        for (k, block) in head.chunks_exact(16).enumerate() {
            let v = u8x16::new(block.try_into().unwrap_or_default());
            spaces |= u64::from(v.simd_eq(space).to_bitmask()) << (16 * k);
        }
        // The first space, or the first non-space, from `from` on (64 or more if none).
        let bit = |bits: u64, from: usize| {
            from + bits.checked_shr(from as u32).unwrap_or(0).trailing_zeros() as usize
        };
        let addr_end = bit(spaces, 0);
        let ident = bit(!spaces, addr_end);
        let user = bit(!spaces, bit(spaces, ident));
        let user_end = bit(spaces, user);
        let next = bit(!spaces, user_end);
        (next < 64).then_some((0..addr_end, user, user..user_end, next))
    }

    /// A three-digit status and the space after it at `i`, read by position: the status and
    /// where the next field starts, as [`Line::word`] and [`parse_status`] would find them.
    fn status(&self, i: usize) -> Option<(u16, usize)> {
        let [h, t, u, b' '] = *self.bytes.get(i..i + 4)? else {
            return None;
        };
        let digit = |c: u8| Some(u16::from(c.wrapping_sub(b'0'))).filter(|d| *d < 10);
        let status = digit(h)? * 100 + digit(t)? * 10 + digit(u)?;
        Some((status, self.skip_spaces(i + 4)))
    }

    /// One to 19 digits at `i` ending the line or followed by a space: their value and where
    /// the next field starts, as [`Line::word`] and [`parse_byte_count`] would find them.
    fn count(&self, i: usize) -> Option<(u64, usize)> {
        let rest = self.bytes.get(i..)?;
        let mut n = 0u64;
        let mut k = 0;
        while let Some(&c) = rest.get(k) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            if k == 19 {
                return None;
            }
            n = n * 10 + u64::from(d);
            k += 1;
        }
        if k == 0 || rest.get(k).is_some_and(|&c| c != b' ') {
            return None;
        }
        Some((n, self.skip_spaces(i + k)))
    }

    /// The first offset from `i` on that holds no space.
    fn skip_spaces(&self, mut i: usize) -> usize {
        while self.byte(i) == Some(b' ') {
            i += 1;
        }
        i
    }

    /// The run of non-spaces at `*i` (empty if there is none); moves `*i` past it and the
    /// spaces after it.
    fn word(&self, i: &mut usize) -> Range<usize> {
        let start = *i;
        let rest = self.bytes(start..self.len());
        let end = start + rest.iter().position(|&c| c == b' ').unwrap_or(rest.len());
        *i = self.skip_spaces(end);
        start..end
    }

    /// The `"…"` field starting at `i`, backslash escapes skipped over; `None` if there is
    /// no quote at `i` or no closing one.
    fn quoted(&self, i: usize) -> Option<Quoted> {
        if self.byte(i) != Some(b'"') {
            return None;
        }
        let mut escaped = false;
        let mut j = i + 1;
        let close = loop {
            let k = j + find2(b'"', b'\\', self.bytes.get(j..)?)?;
            if self.byte(k) == Some(b'"') {
                break k;
            }
            escaped = true;
            j = k + 2;
        };
        Some(Quoted {
            body: i + 1..close,
            escaped,
            next: self.skip_spaces(close + 1),
        })
    }
}

/// A three-digit status read directly; anything else as `u16::from_str` reads it.
fn parse_status(b: &[u8]) -> Option<u16> {
    match *b {
        [h, t, u] if b.iter().all(u8::is_ascii_digit) => {
            Some(u16::from(h - b'0') * 100 + u16::from(t - b'0') * 10 + u16::from(u - b'0'))
        }
        _ => std::str::from_utf8(b).ok()?.parse().ok(),
    }
}

/// Up to 19 digits (short of `u64` overflow) read directly; anything else as
/// [`parse_u64`](super::common::parse_u64) reads it.
fn parse_byte_count(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return super::common::parse_u64(b);
    }
    Some(b.iter().fold(0, |n, &c| n * 10 + u64::from(c - b'0')))
}

/// `METHOD target …` → method and target; a TLS handshake or garbage where a request line
/// should be is kept whole as the target, with no method.
fn split_request(request: &str) -> (&str, &str) {
    let b = request.as_bytes();
    // The method is all capitals, so it ends at the first byte that is not one: a space, or
    // this is no method. Checked byte by byte, as a method is too short for `memchr`.
    let sp = b
        .iter()
        .position(|c| !c.is_ascii_uppercase())
        .unwrap_or(b.len());
    if sp == 0 || b.get(sp) != Some(&b' ') {
        return ("", request);
    }
    let rest = b.get(sp + 1..).unwrap_or_default();
    let end = find(b' ', rest).map_or(b.len(), |e| sp + 1 + e);
    // Both cuts are at ASCII spaces, so they are character boundaries.
    match (request.get(..sp), request.get(sp + 1..end)) {
        (Some(m), Some(t)) => (m, t),
        _ => ("", request),
    }
}

/// Undoes nginx `\xHH` and Apache `\"`/`\\` escapes.
fn unescape_clf(b: &[u8]) -> Cow<'_, str> {
    if memchr::memchr(b'\\', b).is_none() {
        // `from_utf8` validates much faster than the lossy decoder walks.
        return match std::str::from_utf8(b) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(b),
        };
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\\' {
            if b.get(i + 1) == Some(&b'x') {
                if let Some(v) = b.get(i + 2..i + 4).and_then(|h| {
                    std::str::from_utf8(h)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                }) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
            if let Some(&n) = b.get(i + 1) {
                out.push(n);
                i += 2;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `25/Nov/2026:22:23:53 +0000` → instant.
fn parse_clf_time(b: &[u8]) -> Option<Timestamp> {
    fast_clf_time(b).or_else(|| slow_clf_time(b))
}

/// The fixed-width shape nginx and Apache write (two-digit day, four-digit year, `±hhmm`),
/// read without splitting; `None` for anything else, which the general reader then tries.
fn fast_clf_time(b: &[u8]) -> Option<Timestamp> {
    if b.len() != 26
        || b.get(2) != Some(&b'/')
        || b.get(6) != Some(&b'/')
        || b.get(11) != Some(&b':')
        || b.get(14) != Some(&b':')
        || b.get(17) != Some(&b':')
        || b.get(20) != Some(&b' ')
    {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (hour, min, sec) = (digits(12..14)?, digits(15..17)?, digits(18..20)?);
    // Same bounds as `CivilTime::from_parts`, which folds a leap second :60 into :59.
    if hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let time_of_day = i64::from(hour * 3600 + min * 60 + sec.min(59)) * MICROS_PER_SEC;
    // Consecutive lines nearly always share the day and the offset: their midnight is
    // worked out once.
    let mut key = [0u8; 17];
    let (day, offset) = key.split_at_mut(11);
    day.copy_from_slice(b.get(..11)?);
    offset.copy_from_slice(b.get(20..)?);
    if let Some((k, midnight)) = LAST_DAY.get() {
        if k == key {
            return Some(Timestamp(midnight + time_of_day));
        }
    }
    let mon = b.get(3..6)?;
    let month = MONTHS
        .iter()
        .position(|x| x.as_bytes().eq_ignore_ascii_case(mon))? as u32
        + 1;
    let civil = CivilTime::from_parts(i64::from(digits(7..11)?), month, digits(0..2)?, 0, 0, 0, 0)?;
    let off = crate::time::parse_offset(std::str::from_utf8(b.get(21..)?).ok()?)?;
    let midnight = civil.0 - off * MICROS_PER_SEC;
    LAST_DAY.set(Some((key, midnight)));
    Some(Timestamp(midnight + time_of_day))
}

/// The day and offset of the last time [`DayMemo::time`] read, and their midnight.
#[derive(Debug, Default)]
struct DayMemo {
    /// Bytes 0..8, 3..11 and 20..26 of the time (`dd/Mon/yyyy` and ` ±hhmm`).
    key: Option<(u64, u64, u64)>,
    midnight: i64,
}

impl DayMemo {
    /// [`fast_clf_time`] of `b`, or `None` where it would give `None`, or where the clock is
    /// not two-digit `hh:mm:ss` at bytes 11..20 (the caller then asks `fast_clf_time`). The
    /// clock is read as one word; a day and offset met on the line before cost one compare.
    fn time(&mut self, b: &[u8]) -> Option<Timestamp> {
        let b: &[u8; 26] = b.try_into().ok()?;
        let word = |at: usize| {
            b.get(at..at + 8)
                .and_then(|w| w.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        // `hh:mm:ss`, byte 12 lowest: colons at bytes 2 and 5 of the word, digits elsewhere.
        const COLONS: u64 = 0x0000_ff00_00ff_0000;
        const HIGH: u64 = 0xf0f0_00f0_f000_f0f0;
        const ZEROS: u64 = 0x3030_0030_3000_3030;
        let clock = word(12);
        let digits = clock & !COLONS;
        // Every digit byte is 0x3_, and stays so with 6 added (no carry out of a 0x3_ byte).
        if b.get(11) != Some(&b':')
            || clock & COLONS != 0x0000_3a00_003a_0000
            || digits & HIGH != ZEROS
            || (digits + 0x0606_0006_0600_0606) & HIGH != ZEROS
        {
            return None;
        }
        let d = |k: u32| ((digits >> (8 * k)) & 0x0f) as u32;
        let (hour, min, sec) = (d(0) * 10 + d(1), d(3) * 10 + d(4), d(6) * 10 + d(7));
        // Same bounds as `fast_clf_time`.
        if hour > 23 || min > 59 || sec > 60 {
            return None;
        }
        let time_of_day = i64::from(hour * 3600 + min * 60 + sec.min(59)) * MICROS_PER_SEC;
        let key = Some((word(0), word(3), word(18) >> 16));
        if self.key != key {
            // The day and offset are read as `fast_clf_time` reads them, and only kept if it
            // accepts them.
            let t = fast_clf_time(b)?;
            self.key = key;
            self.midnight = t.0 - time_of_day;
        }
        Some(Timestamp(self.midnight + time_of_day))
    }
}

thread_local! {
    /// The last `dd/Mon/yyyy` and ` ±hhmm` read by [`fast_clf_time`], and their midnight.
    static LAST_DAY: std::cell::Cell<Option<([u8; 17], i64)>> = const { std::cell::Cell::new(None) };
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn slow_clf_time(b: &[u8]) -> Option<Timestamp> {
    let s = std::str::from_utf8(b).ok()?;
    let (dt, off) = s.split_once(' ')?;
    let mut it = dt.splitn(3, '/');
    let day: u32 = it.next()?.parse().ok()?;
    let mon = it.next()?;
    let rest = it.next()?;
    let (year, hms) = rest.split_once(':')?;
    let mut hms = hms.splitn(3, ':');
    let (h, m, sec): (u32, u32, u32) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
    );
    let month = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let civil = CivilTime::from_parts(year.parse().ok()?, month, day, h, m, sec, 0)?;
    let off = crate::time::parse_offset(off)?;
    Some(Timestamp(civil.0 - off * MICROS_PER_SEC))
}

/// Reads one JSON-lines access-log record.
pub(crate) fn parse_json_line<'a>(
    line: &'a [u8],
    fields: &AccessLogFields,
    location: Location,
) -> Result<HttpEvent<'a>, Fail> {
    let v: serde_json::Map<String, Value> = serde_json::from_slice(line).map_err(|e| {
        (
            e.column().saturating_sub(1),
            ParseErrorKind::BadJson {
                expected: "one JSON object per line",
            },
        )
    })?;
    let get = |names: &[&str]| -> Option<String> {
        names.iter().find_map(|n| match v.get(*n)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let time_s = get(&[
        fields.time.as_str(),
        "time",
        "time_iso8601",
        "timestamp",
        "@timestamp",
        "time_local",
    ])
    .ok_or_else(|| expected(0, "a time field"))?;
    let time = match parse_datetime(time_s.as_bytes()) {
        Some(LogTime::Utc(t)) => t,
        // A zone-less time in an access log is taken as UTC.
        Some(LogTime::Civil(c)) => Timestamp(c.0),
        None => parse_clf_time(time_s.as_bytes())
            .ok_or_else(|| expected(0, "a time such as 2026-11-25T22:23:53+00:00"))?,
    };
    let addr = get(&[
        fields.remote_addr.as_str(),
        "remote_addr",
        "client_ip",
        "remote_ip",
    ]);
    let client = match addr.as_deref() {
        None | Some("" | "-") => None,
        Some(a) => Some(
            super::common::parse_socket_address(a.as_bytes())
                .ok_or_else(|| expected(0, "a client address"))?,
        ),
    };
    let (method, target) = match get(&[fields.uri.as_str(), "request_uri", "uri"]) {
        Some(uri) => (
            get(&[fields.method.as_str(), "method", "request_method"]).unwrap_or_default(),
            uri,
        ),
        None => {
            let req = get(&[fields.request.as_str(), "request"])
                .ok_or_else(|| expected(0, "a uri or request field"))?;
            let mut parts = req.splitn(3, ' ');
            match (parts.next(), parts.next()) {
                (Some(m), Some(t)) => (m.to_owned(), t.to_owned()),
                _ => (String::new(), req.clone()),
            }
        }
    };
    let status = get(&[fields.status.as_str(), "status"])
        .map(|s| {
            s.parse::<u16>()
                .map_err(|_| expected(0, "a numeric status"))
        })
        .transpose()?;
    let bytes_sent = get(&[fields.bytes_sent.as_str(), "body_bytes_sent", "bytes_sent"])
        .filter(|b| b != "-")
        .map(|b| {
            b.parse::<u64>()
                .map_err(|_| expected(0, "a numeric byte count"))
        })
        .transpose()?;
    Ok(Request {
        time,
        client,
        remote_user: get(&[fields.remote_user.as_str(), "remote_user"]).map(Cow::Owned),
        header_user: get(&[fields.clickhouse_user.as_str(), "ch_user"]).map(Cow::Owned),
        method: Cow::Owned(method),
        target: Cow::Owned(target),
        request: None,
        status,
        bytes_sent,
        user_agent: get(&[
            fields.user_agent.as_str(),
            "ua",
            "http_user_agent",
            "user_agent",
        ])
        .map(Cow::Owned),
    }
    .into_event(location, None))
}

/// Whether a line has the shape of a combined/common access-log line.
pub(crate) fn looks_like_text_line(line: &[u8]) -> bool {
    let mut it = line.splitn(4, |c| *c == b' ');
    let (Some(addr), Some(_), Some(_), Some(rest)) = (it.next(), it.next(), it.next(), it.next())
    else {
        return false;
    };
    (addr == b"-" || parse_address(addr).is_some())
        && rest.first() == Some(&b'[')
        && rest
            .get(1..12)
            .and_then(|d| parse_clf_time_prefix(d).then_some(()))
            .is_some()
}

fn parse_clf_time_prefix(d: &[u8]) -> bool {
    // dd/Mon/yyyy
    d.len() == 11 && d.get(2) == Some(&b'/') && d.get(6) == Some(&b'/')
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;

    /// CLF lines, mostly well-formed, now and then with a malformed, escaped or non-UTF-8
    /// piece, or cut short anywhere. Targets are built from parameters, so that `user=`,
    /// `query=` and password-like values with every kind of escape come up often.
    fn clf_line() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        use proptest::sample::select;
        type Piece = &'static [u8];
        // Good pieces four times in five, bad ones the rest.
        let pick = |good: &[Piece], bad: &[Piece]| prop_oneof![4 => select(good.to_vec()), 1 => select(bad.to_vec())];
        let addr = pick(
            &[
                b"198.51.100.7",
                b"10.0.0.1",
                b"-",
                b"::1",
                b"::ffff:1.2.3.4",
            ],
            &[b"1.2.3", b"010.1.1.1", b"256.1.1.1", b"[::1]:80", b"x", b""],
        );
        let user = pick(
            &[b"-", b"alice"],
            &[b"a\\x41b\\", b"\\-", b"\xc3\xbc", b"\xff", b""],
        );
        let time = pick(
            &[
                b"[25/Nov/2026:22:26:07 +0000]",
                b"[01/jan/2025:00:00:00 -0130]",
            ],
            &[
                b"[5/Nov/2026:2:26:07 +0000]",
                b"[25/Nov/2026:22:26:07 +0000",
                b"[bad]",
                b"x",
            ],
        );
        let method = pick(
            &[b"GET ", b"POST "],
            &[b"get ", b"", b" ", b"\\x16\\x03", b"G\\\"T "],
        );
        let start = pick(
            &[b"/", b"/play"],
            &[
                b"",
                b"http://u:p@h:8123/",
                b"http://h/a@b:c",
                b"/a#f",
                b"/\xff",
            ],
        );
        let name = pick(
            &[
                b"user",
                b"query",
                b"password",
                b"pwd",
                b"passwd",
                b"token",
                b"x",
            ],
            &[b"PassWord", b"USER", b"Query", b"", b"user#", b"us%65r"],
        );
        let value = proptest::collection::vec(
            pick(
                &[
                    b"SELECT",
                    b"%20",
                    b"+",
                    b"a",
                    b"1",
                    b"%2B",
                    b"%e2%82%ac",
                    b"%3D",
                ],
                &[
                    b"%",
                    b"%4",
                    b"%zz",
                    b"%C3",
                    b"=",
                    b"?",
                    b"#",
                    b":",
                    b"//",
                    b"@",
                    b"u:p@",
                    b"a:b",
                    b"url('http://u:p@h/')",
                    b" ",
                    b"\\x41",
                    b"\\\"",
                    b"\\\\",
                    b"\xff",
                    b"\xc3\xa9",
                ],
            ),
            0..40,
        );
        let param = (name, pick(&[b"="], &[b"", b"=="]), value);
        let params = proptest::collection::vec(param, 0..4);
        let sep = pick(&[b"&"], &[b"&&", b"#", b"&#", b"?"]);
        let target = (start, pick(&[b"?"], &[b"", b"#?"]), params, sep).prop_map(
            |(start, q, params, sep)| {
                let mut t = [start, q].concat();
                for (k, (name, eq, value)) in params.into_iter().enumerate() {
                    if k > 0 {
                        t.extend_from_slice(sep);
                    }
                    t.extend_from_slice(name);
                    t.extend_from_slice(eq);
                    value.iter().for_each(|v| t.extend_from_slice(v));
                }
                t
            },
        );
        let status = pick(
            &[b"200", b"404"],
            &[b"+20", b"2000", b"99999", b"OK", b"20x", b""],
        );
        let bytes = pick(
            &[b"12", b"-", b"0"],
            &[b"18446744073709551616", b"9999999999999999999", b"1x", b""],
        );
        let tail = pick(
            &[
                b"",
                b" \"-\" \"Mozilla/5.0\"",
                b" \"http://r/?a=b\" \"curl/8\" extra",
            ],
            &[
                b" \"-\" \"\\x41\\xff\xff\"",
                b" \"-\"",
                b" \"-",
                b" \"-\" \"ua",
                b" \"a\\\"b\" \"\\",
                b" \"-\" \"a\" \"b\"",
            ],
        );
        // Each gap on its own: one missing or doubled space, not all of them.
        let gaps = proptest::collection::vec(pick(&[b" "], &[b"  ", b""]), 5);
        (
            (addr, user, time, method, target),
            (status, bytes, tail, gaps, any::<proptest::sample::Index>()),
        )
            .prop_map(
                |((addr, user, time, method, target), (status, bytes, tail, gap, cut))| {
                    let gap = |k: usize| gap.get(k).copied().unwrap_or(b" ");
                    let mut line = [
                        addr,
                        gap(3),
                        b"-",
                        gap(4),
                        user,
                        gap(0),
                        time,
                        gap(1),
                        b"\"",
                        method,
                    ]
                    .concat();
                    line.extend_from_slice(&target);
                    line.extend_from_slice(
                        &[b" HTTP/1.1\" ", status, gap(2), bytes, tail].concat(),
                    );
                    if cut.index(8) == 0 {
                        line.truncate(cut.index(line.len() + 1));
                    }
                    line
                },
            )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        /// The direct byte-count reader agrees with the general one, up to and past overflow.
        #[test]
        fn ok_byte_count_matches_parse_u64(b in "[0-9]{0,22}|[0-9 +x\t]{0,6}") {
            proptest::prop_assert_eq!(
                parse_byte_count(b.as_bytes()),
                crate::parse::common::parse_u64(b.as_bytes())
            );
        }

        /// The fast reader gives what the plain one gives, event or error, on any line, also
        /// when its scratch buffer still holds an earlier line's query, or the same one.
        #[test]
        fn ok_text_line_matches_the_plain_reader(lines in proptest::collection::vec(clf_line(), 1..4)) {
            let mut scratch = QueryScratch::default();
            for line in lines.iter().chain(&lines) {
                let fast = parse_text_line(line, Location::default(), &mut scratch)
                    .map(HttpEvent::into_owned);
                let plain = reference::parse_text_line(line);
                proptest::prop_assert_eq!(fast, plain, "{}", String::from_utf8_lossy(line));
            }
        }
    }

    /// Short fields from pieces that are UTF-8 or not, with backslashes and spaces.
    fn slot_field() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let piece = proptest::sample::select(vec![
            b"a".as_slice(),
            b"b",
            "\u{e9}".as_bytes(),
            b"\\",
            b"\xff",
            b"\xc3",
            b"-",
            b" ",
        ]);
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// The text slots answer `from_utf8` of a field without backslashes, also when the
        /// slot holds another field of the same length and sampled bytes (a byte changed
        /// among the first four, which `pick` mostly does not read), and past the longest kept.
        #[test]
        fn ok_text_slots_answer_like_from_utf8(
            base in proptest::collection::vec(slot_field(), 1..6),
            flips in proptest::collection::vec(
                (0usize..6, 0usize..4, proptest::sample::select(vec![b'a', b'b', b'\\', 0xff, 0xc3])),
                0..12,
            ),
            long in 0usize..3,
        ) {
            let mut fields = base.clone();
            for (i, at, c) in flips {
                let mut f = base.get(i % base.len()).cloned().unwrap_or_default();
                if let Some(x) = f.get_mut(at) {
                    *x = c;
                }
                fields.push(f);
            }
            if long > 0 {
                fields.push(vec![b'x'; TextSlots::MAX_LEN + long - 1]);
            }
            let mut slots = TextSlots::default();
            for f in fields.iter().chain(fields.iter().rev()) {
                let want = std::str::from_utf8(f).ok().filter(|_| !f.contains(&b'\\'));
                proptest::prop_assert_eq!(slots.text(f), want, "{:?}", String::from_utf8_lossy(f));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// The fixed-width reader (and its remembered midnight) agrees with the general one.
        #[test]
        fn ok_fast_clf_time_matches_the_general_reader(
            times in proptest::collection::vec(
                (0u32..33, 0usize..12, 1969i64..2101, 0u32..25, 0u32..61, 0u32..62, 0usize..4),
                1..6,
            )
        ) {
            for (d, m, y, h, mi, s, o) in times {
                let off = ["+0000", "-0800", "+0530", "+1400"][o];
                let t = format!("{d:02}/{}/{y} {h:02}:{mi:02}:{s:02} {off}", MONTHS[m]);
                let t = t.replacen(' ', ":", 1);
                proptest::prop_assert_eq!(fast_clf_time(t.as_bytes()), slow_clf_time(t.as_bytes()), "{}", t);
            }
        }
    }
    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// The head read from one space mask is what three words read from the start give,
        /// whatever the runs of spaces and however long the line.
        #[test]
        fn ok_head_matches_three_words(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![b"a".as_slice(), b" ", b"  ", b"-", b"10.0.0.1", b"user_12", b"["]),
                0..40,
            )
        ) {
            let bytes = pieces.concat();
            let line = Line::new(&bytes);
            let mut i = 0;
            let addr = line.word(&mut i);
            let _ident = line.word(&mut i);
            let user_at = i;
            let user = line.word(&mut i);
            if let Some(head) = line.head() {
                proptest::prop_assert_eq!(head, (addr, user_at, user, i));
            } else {
                proptest::prop_assert!(bytes.len() < 64 || i >= 64);
            }
        }

        /// Status and byte count read by position agree with a word and its general reader.
        #[test]
        fn ok_status_and_count_match_word_readers(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![b"2".as_slice(), b"0", b"9", b" ", b"-", b"x", b"+", b"99999999999"]),
                0..12,
            )
        ) {
            let bytes = pieces.concat();
            let line = Line::new(&bytes);
            let mut i = 0;
            let word = line.bytes(line.word(&mut i));
            if let Some((status, next)) = line.status(0) {
                proptest::prop_assert_eq!((Some(status), next), (parse_status(word), i));
            }
            if let Some((n, next)) = line.count(0) {
                proptest::prop_assert_eq!((Some(n), next), (parse_byte_count(word), i));
            }
        }

        /// The per-reader day memo gives what `fast_clf_time` gives, through runs of times
        /// that share a day and offset or not, with clocks that are not two-digit fields.
        #[test]
        fn ok_day_memo_matches_fast_clf_time(
            times in proptest::collection::vec(
                (0u32..3, 0usize..2, 0u32..25, 0u32..61, 0u32..62, 0usize..3, 0usize..8),
                1..12,
            )
        ) {
            let mut memo = DayMemo::default();
            for (d, m, h, mi, s, o, bad) in times {
                let off = ["+0000", "-0800", "+0530"][o];
                let mut t = format!("{:02}/{}/2026:{h:02}:{mi:02}:{s:02} {off}", d + 27, MONTHS[m]).into_bytes();
                // Now and then a byte of the clock that is no digit or colon.
                if let (Some(at), Some(c)) = (bad.checked_sub(2).map(|k| 11 + k), [b'/', b'a', b':', b'0', b'\xff', b';'].get(bad % 6)) {
                    if let Some(x) = t.get_mut(at) {
                        *x = *c;
                    }
                }
                let fast = fast_clf_time(&t);
                let got = memo.time(&t);
                proptest::prop_assert!(got.is_none() || got == fast, "{}", String::from_utf8_lossy(&t));
                if fast.is_some() && t.get(11..20).is_some_and(|c| c.iter().all(|c| c.is_ascii_digit() || *c == b':')) {
                    proptest::prop_assert_eq!(got, fast, "{}", String::from_utf8_lossy(&t));
                }
            }
        }
    }

    use crate::event::SourceId;

    /// [`parse_text_line`] with a scratch buffer of its own.
    fn parse(line: &[u8]) -> Result<HttpEvent<'static>, Fail> {
        parse_text_line(line, loc(), &mut QueryScratch::default()).map(HttpEvent::into_owned)
    }

    fn loc() -> Location {
        Location {
            source: SourceId(0),
            line: 1,
        }
    }

    #[test]
    fn ok_query_scratch_answers_each_request_for_itself() {
        // More distinct request lines than slots, so that slots are refilled: some with a
        // query that is not UTF-8 once decoded, userinfo to mask, a password, a user, no
        // query, no method, bytes that are not UTF-8, past the longest kept, or empty; each
        // read twice, in two orders, through one scratch, and each time as a reader without
        // one reads it.
        let requests: Vec<Vec<u8>> = (0..5000)
            .map(|n| {
                let target = match n % 10 {
                    0 => format!("/?query=%FF{n}"),
                    1 => format!("/?query=a%20{}", "x".repeat(RequestSlots::MAX_RAW + n % 3)),
                    2 => format!("http://u:p{n}@h/?query=SELECT%20{n}"),
                    3 => format!("/?user=u%20{n}&password=p&query=SELECT+{n}"),
                    4 => format!("/play?n={n}#f"),
                    5 => return Vec::new(),
                    6 => return format!("\x16\x03{n}").into_bytes(),
                    7 => {
                        return [
                            b"GET /?query=\xff".as_slice(),
                            &[0xff],
                            n.to_string().as_bytes(),
                        ]
                        .concat()
                    }
                    8 => format!("/?query=SELECT+{n}&token=t"),
                    _ => format!("/?query=SELECT%20{n}+%2B"),
                };
                format!("GET {target} HTTP/1.1").into_bytes()
            })
            .collect();
        let mut scratch = RequestSlots::default();
        // As `parse_text_line` reads a request line: through its slot, else afresh.
        let through_slots = |scratch: &mut RequestSlots, r: &[u8]| -> HttpEvent<'static> {
            match scratch.slot(r) {
                Some(at) => scratch.slots[at]
                    .event(
                        Timestamp(0),
                        None,
                        LineRest {
                            location: loc(),
                            ..LineRest::default()
                        },
                    )
                    .into_owned(),
                None => scratch.unkept(r, Timestamp(0), None, loc()).into_owned(),
            }
        };
        // Each query identity and the text it was first given with.
        let mut texts = std::collections::HashMap::new();
        let mut repeats = 0;
        for r in requests.iter().chain(requests.iter().rev()) {
            let want = owned_request_event(r, Timestamp(0), None, loc());
            let got = through_slots(&mut scratch, r);
            if let Some(id) = got.query_hint.id() {
                let first = texts.entry(id).or_insert_with(|| got.query.clone());
                assert_eq!(first, &got.query);
                repeats += 1;
            }
            assert_eq!(got, want, "{}", String::from_utf8_lossy(r));
        }
        // Kept queries have identities (three kinds in ten, 3,000 events), and the reversed
        // pass meets the slots' last lines again under the same identities.
        repeats -= texts.len();
        assert!(
            texts.len() >= 1500 && repeats > 100,
            "{} {repeats}",
            texts.len()
        );
    }

    #[test]
    fn ok_userinfo_password_is_masked() {
        let line = br#"198.51.100.7 - - [25/Nov/2026:22:26:07 +0000] "GET http://admin:pw:x@203.0.113.5:8123/play?q=1 HTTP/1.1" 200 12 "-" "-""#;
        let e = parse(line).unwrap();
        assert_eq!(
            e.target,
            "http://admin:[REDACTED]@203.0.113.5:8123/play?q=1"
        );
        assert_eq!(e.path, "http://admin:[REDACTED]@203.0.113.5:8123/play");
        assert_eq!(mask_userinfo("http://h/a@b:c"), "http://h/a@b:c");
        assert_eq!(mask_userinfo("http://user@h/"), "http://user@h/");
    }

    #[test]
    fn ok_combined_line_decodes_query_and_masks_password() {
        let line = br#"198.51.100.7 - - [25/Nov/2026:22:26:07 +0000] "GET /?user=default&password=s3cr%20t&query=SELECT+1%2B1 HTTP/1.1" 200 12 "-" "Mozilla/5.0""#;
        let e = parse(line).unwrap();
        assert_eq!(e.client, "198.51.100.7".parse().ok());
        assert_eq!(e.user.as_deref(), Some("default"));
        assert_eq!(
            e.credentials,
            Credentials::UrlParams {
                password_given: true
            }
        );
        assert_eq!(e.query.as_deref(), Some("SELECT 1+1"));
        assert_eq!(e.path, "/");
        assert_eq!(
            e.target,
            "/?user=default&password=[REDACTED]&query=SELECT+1%2B1"
        );
        assert!(!format!("{e:?}").contains("s3cr"));
        assert_eq!(e.status, Some(200));
        assert_eq!(e.bytes_sent, Some(12));
        assert_eq!(e.time, Timestamp::from_secs(1_795_645_567));
    }

    #[test]
    fn ok_common_basic_user_and_garbage_request() {
        let e = parse(b"10.0.0.1 - alice [25/Nov/2026:22:26:07 +0100] \"POST / HTTP/1.1\" 200 -")
            .unwrap();
        assert_eq!(e.user.as_deref(), Some("alice"));
        assert_eq!(e.credentials, Credentials::Basic);
        assert_eq!(e.bytes_sent, Some(0));
        let e = parse(
            br#"203.0.113.1 - - [25/Nov/2026:22:26:07 +0000] "\x16\x03\x01\x00" 400 157 "-" "-""#,
        )
        .unwrap();
        assert_eq!(e.method, "");
        assert_eq!(e.status, Some(400));
        assert_eq!(e.user_agent, None);
    }

    #[test]
    fn err_positions_name_the_field() {
        let e = parse(b"1.2.3.4 - - [bad] \"GET / HTTP/1.1\" 200 1").unwrap_err();
        assert_eq!(e.0, 13);
        let e =
            parse(b"1.2.3.4 - - [25/Nov/2026:22:26:07 +0000] \"GET / HTTP/1.1\" OK 1").unwrap_err();
        assert_eq!(e.0, 58);
    }

    #[test]
    fn ok_json_with_custom_field_names() {
        let fields = AccessLogFields {
            remote_addr: "client".to_owned(),
            bytes_sent: "sent".to_owned(),
            ..AccessLogFields::default()
        };
        let line = br#"{"time":"2026-11-25T22:26:11+00:00","client":"198.51.100.7","uri":"/?query=SELECT%20*%20FROM%20t","status":"200","sent":4225143,"ch_user":"etl"}"#;
        let e = parse_json_line(line, &fields, loc()).unwrap();
        assert_eq!(e.client, "198.51.100.7".parse().ok());
        assert_eq!(e.bytes_sent, Some(4_225_143));
        assert_eq!(e.query.as_deref(), Some("SELECT * FROM t"));
        assert_eq!(e.credentials, Credentials::Header);
        assert!(parse_json_line(b"{\"time\":1", &fields, loc()).is_err());
    }

    #[test]
    fn ok_fast_clf_time_agrees_with_the_general_reader() {
        for t in [
            "25/Nov/2026:22:23:53 +0000",
            "01/jan/2025:00:00:00 -0130",
            "29/Feb/2024:23:59:59 +1400",
            "29/Feb/2025:23:59:59 +0000",
            "31/Dec/9999:23:59:60 +0000",
            "25/Xyz/2026:22:23:53 +0000",
            "25/Nov/2026:22:23:53 +00:0",
            "2a/Nov/2026:22:23:53 +0000",
        ] {
            let fast = fast_clf_time(t.as_bytes());
            assert!(fast.is_none() || fast == slow_clf_time(t.as_bytes()), "{t}");
            assert_eq!(
                parse_clf_time(t.as_bytes()),
                slow_clf_time(t.as_bytes()),
                "{t}"
            );
        }
    }

    #[test]
    fn ok_never_panics_on_prefixes() {
        let line = br#"198.51.100.7 - x [25/Nov/2026:22:26:07 +0000] "GET /?query=%E2%82 HTTP/1.1" 200 12 "-" "\x22a""#;
        for n in 0..line.len() {
            let _ = parse(line.get(..n).unwrap());
            let _ = looks_like_text_line(line.get(..n).unwrap());
        }
        assert!(looks_like_text_line(line));
    }
}
