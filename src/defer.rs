//! The events a [`PartAnalyzer`](crate::PartAnalyzer) keeps until it is merged.
//!
//! A part analyzer parses on one thread and the analyzer it is merged into judges its events
//! on another, so the events must outlive the part's input buffer. Kept one by one
//! ([`Event::into_owned`]), a query cost up to eight allocations on the parsing thread and as
//! many frees on the merging one, and glibc's arenas then spent a sixth of a two-thread scan
//! consolidating chunks freed across threads (perf, 1 GiB query_log). Here the text of all of
//! a part's queries and HTTP requests goes to one growing buffer; an event keeps its other
//! fields and the ranges of its text, and is lent back borrowing that buffer at the merge.

use std::borrow::Cow;
use std::ops::Range;

use crate::event::{Event, HttpEvent, Location, QueryEvent};

/// A part's events in the order they were parsed.
#[derive(Debug, Default)]
pub(crate) struct Deferred {
    /// The text of every packed event, back to back.
    text: String,
    /// The elements of packed lists (`tables`, `table_functions`): ranges in `text`.
    items: Vec<Range<usize>>,
    kept: Vec<Kept>,
}

#[derive(Debug)]
enum Kept {
    /// A query ([`Event::Query`], or [`Event::ServerLogQuery`] when `server_log`): its fields
    /// other than text in `shell` (text fields empty or `None`), its text in `text`.
    Query {
        server_log: bool,
        shell: QueryEvent<'static>,
        text: QueryText,
    },
    /// An HTTP request, the same way.
    Http {
        shell: HttpEvent<'static>,
        text: HttpText,
    },
    /// Anything else, owned (logins are few).
    Owned(Event<'static>),
}

/// Where a query's text lies in [`Deferred::text`] (lists: in [`Deferred::items`]).
#[derive(Debug)]
struct QueryText {
    user: Range<usize>,
    authenticated_user: Option<Range<usize>>,
    query_id: Range<usize>,
    query: Range<usize>,
    query_kind: Option<Range<usize>>,
    table_functions: Option<Range<usize>>,
    tables: Option<Range<usize>>,
    http_user_agent: Option<Range<usize>>,
}

/// Where a request's text lies in [`Deferred::text`].
#[derive(Debug)]
struct HttpText {
    user: Option<Range<usize>>,
    method: Range<usize>,
    path: Range<usize>,
    target: Range<usize>,
    query: Option<Range<usize>>,
    user_agent: Option<Range<usize>>,
}

impl Deferred {
    /// Keeps `event`.
    pub(crate) fn push(&mut self, event: Event<'_>) {
        let kept = match event {
            Event::Query(q) => self.pack_query(&q, false),
            Event::ServerLogQuery(q) => self.pack_query(&q, true),
            Event::Http(h) => self.pack_http(&h),
            other @ Event::Login(_) => Kept::Owned(other.into_owned()),
        };
        self.kept.push(kept);
    }

    /// Where each kept event was read, to move.
    pub(crate) fn locations_mut(&mut self) -> impl Iterator<Item = &mut Location> {
        self.kept.iter_mut().map(|k| match k {
            Kept::Query { shell, .. } => &mut shell.location,
            Kept::Http { shell, .. } => &mut shell.location,
            Kept::Owned(e) => e.location_mut(),
        })
    }

    /// The kept events in order, borrowing their text from here.
    pub(crate) fn events(&self) -> impl Iterator<Item = Event<'_>> {
        self.kept.iter().map(|k| match k {
            Kept::Query {
                server_log,
                shell,
                text,
            } => {
                let q = self.unpack_query(shell, text);
                if *server_log {
                    Event::ServerLogQuery(q)
                } else {
                    Event::Query(q)
                }
            }
            Kept::Http { shell, text } => Event::Http(self.unpack_http(shell, text)),
            Kept::Owned(e) => e.clone(),
        })
    }

    fn put(&mut self, s: &str) -> Range<usize> {
        let at = self.text.len();
        self.text.push_str(s);
        at..self.text.len()
    }

    fn put_opt(&mut self, s: Option<&Cow<'_, str>>) -> Option<Range<usize>> {
        s.map(|s| self.put(s))
    }

    fn put_list(&mut self, list: Option<&Vec<Cow<'_, str>>>) -> Option<Range<usize>> {
        let list = list?;
        let at = self.items.len();
        for s in list {
            let r = self.put(s);
            self.items.push(r);
        }
        Some(at..self.items.len())
    }

    fn get(&self, r: &Range<usize>) -> Cow<'_, str> {
        Cow::Borrowed(self.text.get(r.clone()).unwrap_or_default())
    }

    fn get_opt(&self, r: Option<&Range<usize>>) -> Option<Cow<'_, str>> {
        r.map(|r| self.get(r))
    }

    fn get_list(&self, r: Option<&Range<usize>>) -> Option<Vec<Cow<'_, str>>> {
        let items = self.items.get(r?.clone()).unwrap_or_default();
        Some(items.iter().map(|r| self.get(r)).collect())
    }

    fn pack_query(&mut self, q: &QueryEvent<'_>, server_log: bool) -> Kept {
        let text = QueryText {
            user: self.put(&q.user),
            authenticated_user: self.put_opt(q.authenticated_user.as_ref()),
            query_id: self.put(&q.query_id),
            query: self.put(&q.query),
            query_kind: self.put_opt(q.query_kind.as_ref()),
            table_functions: self.put_list(q.table_functions.as_ref()),
            tables: self.put_list(q.tables.as_ref()),
            http_user_agent: self.put_opt(q.http_user_agent.as_ref()),
        };
        let shell = QueryEvent {
            start: q.start,
            end: q.end,
            user: Cow::Borrowed(""),
            authenticated_user: None,
            client: q.client,
            query_id: Cow::Borrowed(""),
            query: Cow::Borrowed(""),
            query_kind: None,
            outcome: q.outcome,
            exception_code: q.exception_code,
            is_initial: q.is_initial,
            interface: q.interface,
            volume: q.volume,
            table_functions: None,
            tables: None,
            http_user_agent: None,
            location: q.location,
        };
        Kept::Query {
            server_log,
            shell,
            text,
        }
    }

    fn unpack_query(&self, shell: &QueryEvent<'static>, t: &QueryText) -> QueryEvent<'_> {
        QueryEvent {
            user: self.get(&t.user),
            authenticated_user: self.get_opt(t.authenticated_user.as_ref()),
            query_id: self.get(&t.query_id),
            query: self.get(&t.query),
            query_kind: self.get_opt(t.query_kind.as_ref()),
            table_functions: self.get_list(t.table_functions.as_ref()),
            tables: self.get_list(t.tables.as_ref()),
            http_user_agent: self.get_opt(t.http_user_agent.as_ref()),
            ..shell.clone()
        }
    }

    fn pack_http(&mut self, h: &HttpEvent<'_>) -> Kept {
        let text = HttpText {
            user: self.put_opt(h.user.as_ref()),
            method: self.put(&h.method),
            path: self.put(&h.path),
            target: self.put(&h.target),
            query: self.put_opt(h.query.as_ref()),
            user_agent: self.put_opt(h.user_agent.as_ref()),
        };
        let shell = HttpEvent {
            time: h.time,
            client: h.client,
            user: None,
            credentials: h.credentials,
            method: Cow::Borrowed(""),
            path: Cow::Borrowed(""),
            target: Cow::Borrowed(""),
            query: None,
            query_hint: h.query_hint,
            status: h.status,
            bytes_sent: h.bytes_sent,
            user_agent: None,
            origin: h.origin,
            location: h.location,
        };
        Kept::Http { shell, text }
    }

    fn unpack_http(&self, shell: &HttpEvent<'static>, t: &HttpText) -> HttpEvent<'_> {
        HttpEvent {
            user: self.get_opt(t.user.as_ref()),
            method: self.get(&t.method),
            path: self.get(&t.path),
            target: self.get(&t.target),
            query: self.get_opt(t.query.as_ref()),
            user_agent: self.get_opt(t.user_agent.as_ref()),
            ..shell.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{
        Credentials, HttpOrigin, Interface, LoginEvent, LoginOutcome, QueryOutcome, SourceId,
        TextHint, Volume,
    };
    use crate::time::Timestamp;

    fn location(line: u64) -> Location {
        Location {
            source: SourceId(3),
            line,
        }
    }

    fn query(full: bool, line: u64) -> QueryEvent<'static> {
        let opt = |s: &'static str| full.then_some(Cow::Borrowed(s));
        QueryEvent {
            start: Timestamp(1_738_000_000_000_000),
            end: full.then_some(Timestamp(1_738_000_001_000_000)),
            user: Cow::Owned("etl".to_owned()),
            authenticated_user: opt("admin"),
            client: "203.0.113.7".parse().ok(),
            query_id: Cow::Borrowed("5f1c-ä"),
            query: Cow::Borrowed("SELECT * FROM url('http://x/', CSV)"),
            query_kind: opt("Select"),
            outcome: QueryOutcome::Finished,
            exception_code: full.then_some(60),
            is_initial: full,
            interface: full.then_some(Interface::Http),
            volume: Volume {
                result_bytes: 42,
                ..Volume::default()
            },
            table_functions: full.then(|| vec![Cow::Borrowed("url"), Cow::Borrowed("")]),
            tables: full.then(Vec::new),
            http_user_agent: opt("curl/8"),
            location: location(line),
        }
    }

    fn http(full: bool, line: u64) -> HttpEvent<'static> {
        let opt = |s: &'static str| full.then_some(Cow::Borrowed(s));
        HttpEvent {
            time: Timestamp(1_738_000_000_000_000),
            client: None,
            user: opt("reader"),
            credentials: Credentials::Basic,
            method: Cow::Borrowed("POST"),
            path: Cow::Borrowed("/"),
            target: Cow::Borrowed("/?query=SELECT%201"),
            query: opt("SELECT 1"),
            query_hint: if full {
                TextHint::fresh()
            } else {
                TextHint::NONE
            },
            status: Some(200),
            bytes_sent: full.then_some(9),
            user_agent: opt(""),
            origin: HttpOrigin::ProxyLog,
            location: location(line),
        }
    }

    #[test]
    fn ok_events_come_back_as_they_went_in() {
        let login = Event::Login(LoginEvent {
            time: Timestamp(0),
            user: Cow::Borrowed("default"),
            client: None,
            outcome: LoginOutcome::Failure,
            interface: None,
            auth_type: None,
            reason: Some(Cow::Borrowed("AUTHENTICATION_FAILED")),
            location: location(9),
        });
        let events = vec![
            Event::Query(query(true, 1)),
            Event::Query(query(false, 2)),
            Event::ServerLogQuery(query(true, 3)),
            Event::Http(http(true, 4)),
            Event::Http(http(false, 5)),
            login,
        ];
        let mut d = Deferred::default();
        for e in &events {
            d.push(e.clone());
        }
        assert_eq!(d.events().collect::<Vec<_>>(), events);
        // Equality ignores the hints: they must come back too.
        let hints = |e: &Event<'_>| match e {
            Event::Http(h) => h.query_hint.id(),
            _ => None,
        };
        let back: Vec<_> = d.events().map(|e| hints(&e)).collect();
        assert_eq!(back, events.iter().map(hints).collect::<Vec<_>>());
        assert!(back.iter().flatten().count() == 1);
        for l in d.locations_mut() {
            l.line += 100;
        }
        let lines: Vec<u64> = d.events().map(|mut e| e.location_mut().line).collect();
        assert_eq!(lines, [101, 102, 103, 104, 105, 109]);
    }
}
