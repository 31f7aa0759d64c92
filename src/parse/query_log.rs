//! `system.query_log` rows → [`QueryEvent`]s, one per execution.
//!
//! ClickHouse logs a query as two rows (QueryStart, then QueryFinish or
//! ExceptionWhileProcessing) or as one (ExceptionBeforeStart). The end row carries everything
//! the start row does plus the volumes, so an end row becomes an event at once; a start row
//! waits (owned, in a bounded table) for its end and becomes an *unfinished* event if none
//! comes. Rows are paired on (query_id, start time, user): query ids are client-controlled
//! and repeat across a long log.
//!
//! Columns are found by name only; any column but a time may be missing, and 18.x values
//! (numeric `type`, raw 16-byte `address`, no `exception_code`) are read as well as 26.x ones.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, LazyLock};

use super::common::{parse_address, parse_datetime, plain_ipv4, DateMemo, LogTime};
use super::table::{backslash_flags, FieldError, Raw, Row, RowReader, Schema, TsvFill};
use crate::error::ParseErrorKind;
use crate::event::{Event, Interface, Location, QueryEvent, QueryOutcome, Volume};
use crate::time::{Timestamp, Zone};

/// Columns of query_log this parser reads; a slot is the index in this list (a pull selects
/// those the server has).
pub(crate) const COLUMNS: &[&str] = &[
    "type",
    "event_time",
    "event_time_microseconds",
    "query_start_time",
    "query_start_time_microseconds",
    "read_rows",
    "read_bytes",
    "written_rows",
    "written_bytes",
    "result_rows",
    "result_bytes",
    "query",
    "query_kind",
    "exception_code",
    "exception",
    "is_initial_query",
    "user",
    "authenticated_user",
    "query_id",
    "address",
    "interface",
    "http_user_agent",
    "tables",
    "used_table_functions",
    "is_internal",
];

const TYPE: usize = 0;
const EVENT_TIME: usize = 1;
const EVENT_TIME_US: usize = 2;
const START_TIME: usize = 3;
const START_TIME_US: usize = 4;
const READ_ROWS: usize = 5;
const READ_BYTES: usize = 6;
const WRITTEN_ROWS: usize = 7;
const WRITTEN_BYTES: usize = 8;
const RESULT_ROWS: usize = 9;
const RESULT_BYTES: usize = 10;
const QUERY: usize = 11;
const QUERY_KIND: usize = 12;
const EXCEPTION_CODE: usize = 13;
const EXCEPTION: usize = 14;
const IS_INITIAL: usize = 15;
const USER: usize = 16;
const AUTH_USER: usize = 17;
const QUERY_ID: usize = 18;
const ADDRESS: usize = 19;
const INTERFACE: usize = 20;
const USER_AGENT: usize = 21;
const TABLES: usize = 22;
const TABLE_FUNCTIONS: usize = 23;
const IS_INTERNAL: usize = 24;

/// The schema of the query_log columns we read.
pub(crate) static SCHEMA: LazyLock<Schema> = LazyLock::new(|| Schema::new(COLUMNS));

/// Column order of a headerless `SELECT * FROM system.query_log` on ClickHouse 26.9 (read
/// off a real 26.9.2.1 engine: `clickhouse_version` and `system_processor` come third).
pub const DEFAULT_COLUMNS: &[&str] = &[
    "hostname",
    "clickhouse_version",
    "system_processor",
    "type",
    "event_date",
    "event_time",
    "event_time_microseconds",
    "query_start_time",
    "query_start_time_microseconds",
    "query_duration_ms",
    "read_rows",
    "read_bytes",
    "written_rows",
    "written_bytes",
    "result_rows",
    "result_bytes",
    "memory_usage",
    "current_database",
    "query",
    "formatted_query",
    "normalized_query_hash",
    "query_kind",
    "databases",
    "tables",
    "columns",
    "partitions",
    "projections",
    "views",
    "exception_code",
    "exception",
    "stack_trace",
    "is_initial_query",
    "connection_address",
    "connection_port",
    "user",
    "query_id",
    "address",
    "port",
    "initial_user",
    "initial_query_id",
    "initial_address",
    "initial_port",
    "initial_query_start_time",
    "initial_query_start_time_microseconds",
    "authenticated_user",
    "interface",
    "is_secure",
    "os_user",
    "client_hostname",
    "client_name",
    "client_agent",
    "client_revision",
    "client_version_major",
    "client_version_minor",
    "client_version_patch",
    "script_query_number",
    "script_line_number",
    "http_method",
    "http_user_agent",
    "http_referer",
    "forwarded_for",
    "quota_key",
    "distributed_depth",
    "revision",
    "http_handler_name",
    "http_request_url",
    "log_comment",
    "thread_ids",
    "peak_threads_usage",
    "ProfileEvents",
    "Settings",
    "used_aggregate_functions",
    "used_aggregate_function_combinators",
    "used_database_engines",
    "used_data_type_families",
    "used_dictionaries",
    "used_formats",
    "used_functions",
    "used_storages",
    "used_table_functions",
    "used_executable_user_defined_functions",
    "used_sql_user_defined_functions",
    "used_row_policies",
    "used_privileges",
    "missing_privileges",
    "transaction_id",
    "query_cache_usage",
    "asynchronous_read_counters",
    "is_internal",
];

/// Whether a header of these slots is a query_log header.
pub(crate) fn is_query_log_header(has: impl Fn(usize) -> bool) -> bool {
    has(QUERY) || (has(TYPE) && (has(EVENT_TIME) || has(EVENT_TIME_US)))
}

/// Checks that a header can yield events at all.
pub(crate) fn check_header(has: impl Fn(usize) -> bool) -> Result<(), ParseErrorKind> {
    if [EVENT_TIME, EVENT_TIME_US, START_TIME, START_TIME_US]
        .into_iter()
        .any(&has)
    {
        Ok(())
    } else {
        Err(ParseErrorKind::MissingColumn("event_time"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowType {
    Start,
    Finish,
    BeforeStart,
    WhileProcessing,
}

fn row_type(raw: &Raw<'_>) -> Option<RowType> {
    // The names as 26.x writes them in TSV, compared before anything is decoded.
    if let Raw::Tsv(b) = raw {
        match *b {
            b"QueryStart" => return Some(RowType::Start),
            b"QueryFinish" => return Some(RowType::Finish),
            _ => {}
        }
    }
    match raw.verbatim() {
        Some(b"QueryStart" | b"1") => return Some(RowType::Start),
        Some(b"QueryFinish" | b"2") => return Some(RowType::Finish),
        _ => {}
    }
    if let Some(n) = raw.u64() {
        return match n {
            1 => Some(RowType::Start),
            2 => Some(RowType::Finish),
            3 => Some(RowType::BeforeStart),
            4 => Some(RowType::WhileProcessing),
            _ => None,
        };
    }
    match &*raw.text()? {
        "QueryStart" => Some(RowType::Start),
        "QueryFinish" => Some(RowType::Finish),
        "ExceptionBeforeStart" => Some(RowType::BeforeStart),
        "ExceptionWhileProcessing" => Some(RowType::WhileProcessing),
        _ => None,
    }
}

/// `Code: 60, e.displayText() = …` (≤21.x) or `Code: 60. DB::Exception: …` → 60.
fn code_from_exception(text: &str) -> Option<i32> {
    let rest = text.trim_start().strip_prefix("Code: ")?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest.get(..end)?.parse().ok()
}

fn bad(column: &'static str, expected: &'static str) -> ParseErrorKind {
    ParseErrorKind::BadValue { column, expected }
}

/// A TSV address in the shape query_log writes (`::ffff:a.b.c.d`, canonical), read as
/// written: it holds no escape, so decoding could not change it, and [`parse_address`] reads
/// it as this IPv4 address.
fn mapped_ipv4(raw: &Raw<'_>) -> Option<Ipv4Addr> {
    match raw {
        Raw::Tsv(b) => plain_ipv4(b.strip_prefix(b"::ffff:")?),
        _ => None,
    }
}

/// What kind of row this is.
fn kind_of(row: &Row<'_>) -> Result<RowType, ParseErrorKind> {
    match row.get(TYPE) {
        Some(raw) => row_type(raw).ok_or(bad(
            "type",
            "QueryStart, QueryFinish, ExceptionBeforeStart, ExceptionWhileProcessing or 1-4",
        )),
        // An export filtered to finished queries may leave `type` out: each row is then one execution.
        None => Ok(RowType::Finish),
    }
}

/// The time in one column, if present.
fn time_at(
    row: &Row<'_>,
    zone: &Zone,
    dates: &DateMemo,
    slot: usize,
    name: &'static str,
) -> Result<Option<Timestamp>, ParseErrorKind> {
    let Some(raw) = row.get(slot) else {
        return Ok(None);
    };
    // The default shapes, read as written: they hold no escape and are not NULL, so
    // decoding could not change them.
    if let Raw::Tsv(b) = raw {
        if let Some(c) = dates.civil(b) {
            return Ok(Some(zone.to_utc(c)));
        }
    }
    match raw.bytes() {
        None => Ok(None),
        Some(b) => match parse_datetime(&b) {
            Some(LogTime::Civil(c)) => Ok(Some(zone.to_utc(c))),
            Some(LogTime::Utc(t)) => Ok(Some(t)),
            None => Err(bad(name, "a date-time such as 2025-01-29 10:11:12")),
        },
    }
}

fn event_time(
    row: &Row<'_>,
    zone: &Zone,
    dates: &DateMemo,
) -> Result<Option<Timestamp>, ParseErrorKind> {
    match time_at(row, zone, dates, EVENT_TIME_US, "event_time_microseconds")? {
        Some(t) => Ok(Some(t)),
        None => time_at(row, zone, dates, EVENT_TIME, "event_time"),
    }
}

/// The start of the execution; falls back to the event time.
fn start_time(
    row: &Row<'_>,
    zone: &Zone,
    dates: &DateMemo,
    event_time: impl FnOnce() -> Result<Option<Timestamp>, ParseErrorKind>,
) -> Result<Timestamp, ParseErrorKind> {
    let start = match time_at(
        row,
        zone,
        dates,
        START_TIME_US,
        "query_start_time_microseconds",
    )? {
        Some(t) => Some(t),
        None => time_at(row, zone, dates, START_TIME, "query_start_time")?,
    };
    match start {
        Some(t) => Ok(t),
        None => event_time()?.ok_or(ParseErrorKind::MissingColumn("event_time")),
    }
}

/// (event time, start time) of a row; the start falls back to the event time.
fn times(
    row: &Row<'_>,
    zone: &Zone,
    dates: &DateMemo,
) -> Result<(Option<Timestamp>, Timestamp), ParseErrorKind> {
    let event = event_time(row, zone, dates)?;
    let start = start_time(row, zone, dates, || Ok(event))?;
    Ok((event, start))
}

/// Converts one row into an event and tells what kind of row it was.
fn row_event<'a>(
    row: &Row<'a>,
    zone: &Zone,
    dates: &DateMemo,
    location: Location,
) -> Result<(RowType, QueryEvent<'a>), ParseErrorKind> {
    let kind = kind_of(row)?;
    kind_event(kind, row, zone, dates, location).map(|e| (kind, e))
}

/// [`row_event`] of a row whose kind is known.
fn kind_event<'a>(
    kind: RowType,
    row: &Row<'a>,
    zone: &Zone,
    dates: &DateMemo,
    location: Location,
) -> Result<QueryEvent<'a>, ParseErrorKind> {
    let (event_time, start) = times(row, zone, dates)?;
    let num = |slot: usize, name: &'static str| -> Result<u64, ParseErrorKind> {
        match row.get(slot) {
            None => Ok(0),
            Some(raw) => raw.u64().ok_or(bad(name, "an unsigned integer")),
        }
    };
    let volume = Volume {
        read_rows: num(READ_ROWS, "read_rows")?,
        read_bytes: num(READ_BYTES, "read_bytes")?,
        written_rows: num(WRITTEN_ROWS, "written_rows")?,
        written_bytes: num(WRITTEN_BYTES, "written_bytes")?,
        result_rows: num(RESULT_ROWS, "result_rows")?,
        result_bytes: num(RESULT_BYTES, "result_bytes")?,
        sent_bytes: 0,
    };
    let span = row.text_span(&[QUERY, QUERY_KIND, USER, QUERY_ID, AUTH_USER, USER_AGENT]);
    let text = |slot: usize| match &span {
        Some(span) => span.text(row.get(slot)),
        None => row.get(slot).and_then(Raw::text),
    };
    let list = |slot: usize| match &span {
        Some(span) => span.list(row.get(slot)),
        None => row.get(slot).and_then(Raw::list),
    };
    let exception_code = match row.get(EXCEPTION_CODE) {
        // No exception, as most rows have it.
        Some(Raw::Tsv(b"0")) => None,
        Some(raw) => raw
            .i64()
            .and_then(|c| i32::try_from(c).ok())
            .filter(|c| *c != 0),
        None => text(EXCEPTION).as_deref().and_then(code_from_exception),
    };
    let interface = row.get(INTERFACE).and_then(|raw| {
        // The names most rows have, as written: no number, no escape, so their text.
        match raw {
            Raw::Tsv(b"HTTP") => return Interface::from_name("HTTP"),
            Raw::Tsv(b"TCP") => return Interface::from_name("TCP"),
            _ => {}
        }
        match raw.u64() {
            Some(n) => u8::try_from(n).ok().map(Interface::from_code),
            None => raw.text().as_deref().and_then(Interface::from_name),
        }
    });
    let client = match row.get(ADDRESS).map(|raw| (raw, mapped_ipv4(raw))) {
        None => None,
        Some((_, Some(ip))) => Some(IpAddr::V4(ip)),
        Some((raw, None)) => match raw.bytes() {
            None => None,
            Some(b) if b.is_empty() => None,
            Some(b) => Some(parse_address(&b).ok_or(bad("address", "an IP address"))?),
        },
    };
    let outcome = match kind {
        RowType::Start => QueryOutcome::Unfinished,
        RowType::Finish => QueryOutcome::Finished,
        RowType::BeforeStart => QueryOutcome::FailedBeforeStart,
        RowType::WhileProcessing => QueryOutcome::FailedWhileProcessing,
    };
    let event = QueryEvent {
        start,
        end: if kind == RowType::Start {
            None
        } else {
            event_time
        },
        user: text(USER)
            .filter(|u| !u.is_empty())
            .unwrap_or(Cow::Borrowed("default")),
        authenticated_user: text(AUTH_USER).filter(|u| !u.is_empty()),
        client,
        query_id: text(QUERY_ID).unwrap_or_default(),
        query: text(QUERY).unwrap_or_default(),
        query_kind: text(QUERY_KIND).filter(|k| !k.is_empty()),
        outcome,
        exception_code,
        // 26.x runs SHOW TABLES & co. through an internal query logged beside the user's own
        // (`is_internal = 1`); judging both would double every read.
        is_initial: row
            .get(IS_INITIAL)
            .and_then(Raw::u64)
            .is_none_or(|v| v != 0)
            && row
                .get(IS_INTERNAL)
                .and_then(Raw::u64)
                .is_none_or(|v| v == 0),
        interface,
        volume,
        table_functions: list(TABLE_FUNCTIONS).map(lower_all),
        tables: list(TABLES),
        http_user_agent: text(USER_AGENT).filter(|u| !u.is_empty()),
        location,
    };
    Ok(event)
}

/// The elements in ASCII lower case (table functions are matched by lower-case name); the
/// list as it is when none has an upper-case letter, as most have not.
fn lower_all(v: Vec<Cow<'_, str>>) -> Vec<Cow<'_, str>> {
    let upper = |s: &str| s.bytes().any(|b| b.is_ascii_uppercase());
    if !v.iter().any(|s| upper(s)) {
        return v;
    }
    v.into_iter()
        .map(|s| {
            if upper(&s) {
                Cow::Owned(s.to_ascii_lowercase())
            } else {
                s
            }
        })
        .collect()
}

/// A stable hash of the parts (the same on every platform, so pairing behaves the same
/// everywhere), eight bytes a step; FNV-1a's byte loop cost four times as many instructions.
/// Each step (xor, odd multiply, rotate) is one-to-one, and a part ends with its length.
fn key_hash(parts: &[&[u8]]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let step = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(31);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        let mut words = p.chunks_exact(8);
        for w in &mut words {
            h = step(
                h,
                u64::from_le_bytes(<[u8; 8]>::try_from(w).unwrap_or_default()),
            );
        }
        h = step(h, tail_word(p));
        h = step(h, p.len() as u64);
    }
    h ^ (h >> 29)
}

/// The bytes of `p` after its last whole eight, zero-padded to a word (little-endian), with
/// no copy through memory: the last eight bytes shifted down when `p` has them (a `memcpy`
/// call each, as a byte-wise copy into an array compiled to).
#[inline]
fn tail_word(p: &[u8]) -> u64 {
    let rem = p.len() % 8;
    if rem == 0 {
        return 0;
    }
    match p.len().checked_sub(8).and_then(|at| p.get(at..)) {
        Some(last) => {
            let last = u64::from_le_bytes(<[u8; 8]>::try_from(last).unwrap_or_default());
            last >> (8 * (8 - rem))
        }
        None => p.iter().rev().fold(0, |w, c| (w << 8) | u64::from(*c)),
    }
}

fn pair_key(e: &QueryEvent<'_>) -> u64 {
    key_of(&e.query_id, e.start, &e.user)
}

fn key_of(query_id: &str, start: Timestamp, user: &str) -> u64 {
    key_of_bytes(query_id.as_bytes(), start, user.as_bytes())
}

fn key_of_bytes(query_id: &[u8], start: Timestamp, user: &[u8]) -> u64 {
    key_hash(&[query_id, &start.secs().to_le_bytes(), user])
}

/// The pairing key of a row, computed from the few fields it needs (as [`pair_key`] would
/// on the row's event), so a QueryStart row need not be turned into an event at all.
fn row_key(
    row: &Row<'_>,
    zone: &Zone,
    dates: &DateMemo,
) -> Result<(Timestamp, u64), ParseErrorKind> {
    let start = start_time(row, zone, dates, || event_time(row, zone, dates))?;
    // `user` and `query_id` as query_log writes them, ASCII without an escape: their text
    // is their bytes, so they are hashed as written, with no UTF-8 check or decoding.
    if let (Some(Raw::Tsv(user)), Some(Raw::Tsv(query_id))) = (row.get(USER), row.get(QUERY_ID)) {
        if plain_ascii(user) && plain_ascii(query_id) {
            let user: &[u8] = if user.is_empty() { b"default" } else { user };
            return Ok((start, key_of_bytes(query_id, start, user)));
        }
    }
    Ok((start, text_key(row, start)))
}

/// The key of [`row_key`] from the fields' decoded text: the general way.
fn text_key(row: &Row<'_>, start: Timestamp) -> u64 {
    let span = row.text_span(&[USER, QUERY_ID]);
    let text = |slot: usize| match &span {
        Some(span) => span.text(row.get(slot)),
        None => row.get(slot).and_then(Raw::text),
    };
    let user = text(USER).filter(|u| !u.is_empty());
    let query_id = text(QUERY_ID).unwrap_or_default();
    key_of(&query_id, start, user.as_deref().unwrap_or("default"))
}

/// Whether `b` is ASCII without a backslash (so a TSV field's text is `b` as written),
/// eight bytes a step.
fn plain_ascii(b: &[u8]) -> bool {
    // The high bit of a byte that is not ASCII, or a backslash's flag.
    let bad = |w: u64| (w & 0x8080_8080_8080_8080) | backslash_flags(w) != 0;
    let word = |c: &[u8]| u64::from_le_bytes(<[u8; 8]>::try_from(c).unwrap_or_default());
    if b.len() < 8 {
        // Zero bytes pad the word: neither high nor a backslash.
        let mut w = 0u64;
        for (i, c) in b.iter().enumerate() {
            w |= u64::from(*c) << (8 * i);
        }
        return !bad(w);
    }
    let mut words = b.chunks_exact(8);
    if words.by_ref().any(|c| bad(word(c))) {
        return false;
    }
    // The last eight bytes, overlapping the words before: covers the remainder.
    !bad(word(b.get(b.len() - 8..).unwrap_or_default()))
}

/// Pairing keys are hashes already: a multiply spreads them over the table, no SipHash.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
}

type KeyMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<KeyHasher>>;
type KeySet = HashSet<u64, std::hash::BuildHasherDefault<KeyHasher>>;

/// A QueryStart row waiting for its end: its record, copied as read, and split and parsed
/// again only if no end comes (the common case, an end row, needs only `start`).
#[derive(Debug)]
struct Pending {
    start: Timestamp,
    rec: Vec<u8>,
    location: Location,
}

impl Pending {
    /// The event of a start row that never saw its end.
    fn event(
        &self,
        reader: Option<&RowReader>,
        zone: &Zone,
    ) -> Result<QueryEvent<'_>, ParseErrorKind> {
        let Some(reader) = reader else {
            return Err(ParseErrorKind::UnknownFormat);
        };
        let mut row = Row::new();
        // The record was split once already, when it was read: this does not fail.
        reader.fill(&self.rec, &mut row).map_err(|(_, kind)| kind)?;
        row_event(&row, zone, &DateMemo::default(), self.location).map(|(_, e)| e)
    }
}

/// The slots a QueryStart row is paired by (see [`row_key`]).
const START_SLOTS: [usize; 6] = [
    EVENT_TIME,
    EVENT_TIME_US,
    START_TIME,
    START_TIME_US,
    USER,
    QUERY_ID,
];

/// How the TabSeparated records of one reader are filled: the wanted fields up to `type`,
/// then either the few a QueryStart row is paired by (the row waits as its record, and is
/// filled whole only if it never ends) or all the rest.
#[derive(Debug)]
struct TsvPlans {
    /// The reader these plans split the header of.
    reader: Arc<RowReader>,
    head: Vec<(usize, u8)>,
    start_rest: Vec<(usize, u8)>,
    rest: Vec<(usize, u8)>,
    /// Whether `start_rest` or `rest` leaves out a column that is read only when a
    /// microsecond time is NULL (see [`TsvPlans::new`]).
    pruned: bool,
}

impl TsvPlans {
    /// `None` unless the reader is TabSeparated with one `type` column.
    fn new(reader: &Arc<RowReader>) -> Option<Self> {
        let RowReader::Tsv(header) = &**reader else {
            return None;
        };
        let wanted = header.wanted();
        let is_type = |(_, slot): &&(usize, u8)| usize::from(*slot) == TYPE;
        let [(type_pos, _)] = wanted.iter().filter(is_type).collect::<Vec<_>>()[..] else {
            return None;
        };
        let (head, rest): (Vec<_>, Vec<_>) = wanted.iter().partition(|(pos, _)| pos <= type_pos);
        // Columns the rest of a row is never read for while another column is there: the
        // times to the second beside the times to the microsecond (read when those are NULL,
        // and a row with a NULL one is then filled whole), the exception text beside its
        // code; and for a start row, which is paired by its start, the event time beside
        // the start to the microsecond. Each left out saves placing a field.
        let has = |slot: usize| header.has(slot);
        let unread = |slot: usize| {
            (slot == EVENT_TIME && has(EVENT_TIME_US))
                || (slot == START_TIME && has(START_TIME_US))
                || (slot == EXCEPTION && has(EXCEPTION_CODE))
        };
        let unread_at_start =
            |slot: usize| unread(slot) || (slot == EVENT_TIME_US && has(START_TIME_US));
        let start_rest: Vec<_> = rest
            .iter()
            .filter(|(_, slot)| START_SLOTS.contains(&usize::from(*slot)))
            .filter(|(_, slot)| !unread_at_start(usize::from(*slot)))
            .copied()
            .collect();
        let start_all = rest
            .iter()
            .filter(|(_, slot)| START_SLOTS.contains(&usize::from(*slot)))
            .count();
        let all = rest.len();
        let rest: Vec<_> = rest
            .into_iter()
            .filter(|(_, slot)| !unread(usize::from(*slot)))
            .collect();
        Some(Self {
            reader: Arc::clone(reader),
            head,
            pruned: start_rest.len() < start_all || rest.len() < all,
            start_rest,
            rest,
        })
    }
}

/// Start rows waiting for their end row, bounded.
#[derive(Debug, Default)]
pub(crate) struct Pairer {
    pending: KeyMap<Pending>,
    order: VecDeque<u64>,
    /// Keys of executions already emitted from an end row, so a start row that follows its
    /// end (an export sorted by type, say) is not reported a second time as unfinished.
    done: KeySet,
    done_order: VecDeque<u64>,
    /// The zone of the rows, for start rows parsed late.
    zone: Option<Zone>,
    /// How the rows were split, for start rows parsed late.
    reader: Option<Arc<RowReader>>,
    /// Start rows that failed to parse when they were found unfinished: (line, why).
    late_errors: Vec<(u64, ParseErrorKind)>,
    /// Buffers of paired start rows, reused so pairing does not allocate per row.
    spare: Vec<Vec<u8>>,
    /// Keys of the first end rows that found no start row in this input: when a file is read
    /// in parts, their start may sit in the previous part (see [`Carry`]).
    orphans: Vec<u64>,
    /// The date of the last date-time read.
    dates: DateMemo,
    /// How the reader's TabSeparated records are filled, once worked out.
    plans: Option<TsvPlans>,
}

/// What a part of a file leaves for its neighbours: start rows without an end, and the keys
/// of end rows without a start. Carries of all parts of one file are merged and then
/// flushed, which pairs across part boundaries exactly as one pass over the file would.
#[derive(Debug, Default)]
pub(crate) struct Carry {
    pending: Vec<(u64, Pending)>,
    orphans: KeySet,
    zone: Option<Zone>,
    reader: Option<Arc<RowReader>>,
}

impl Carry {
    /// Adds the carry of another part of the same file.
    pub(crate) fn merge(&mut self, other: Carry) {
        self.pending.extend(other.pending);
        self.orphans.extend(other.orphans);
        if self.zone.is_none() {
            self.zone = other.zone;
        }
        if self.reader.is_none() {
            self.reader = other.reader;
        }
    }

    /// Moves every line number up by `lines` (a part numbered from line 1).
    pub(crate) fn shift_lines(&mut self, lines: u64) {
        for (_, p) in &mut self.pending {
            p.location.line = p.location.line.saturating_add(lines);
        }
    }

    /// Moves every location to another source (after analyses are merged).
    pub(crate) fn set_source(&mut self, source: crate::event::SourceId) {
        for (_, p) in &mut self.pending {
            p.location.source = source;
        }
    }

    /// Emits the start rows no part saw the end of, as unfinished events, in line order.
    /// Returns the rows that failed to parse.
    pub(crate) fn flush(mut self, out: &mut dyn FnMut(Event<'_>)) -> Vec<(u64, ParseErrorKind)> {
        let zone = self.zone.unwrap_or_else(Zone::utc);
        self.pending.sort_by_key(|(_, p)| p.location);
        let mut errors = Vec::new();
        for (key, p) in &self.pending {
            if self.orphans.contains(key) {
                continue;
            }
            match p.event(self.reader.as_deref(), &zone) {
                Ok(e) => out(Event::Query(e)),
                Err(kind) => errors.push((p.location.line, kind)),
            }
        }
        errors
    }
}

/// Spare record buffers kept.
const MAX_SPARE: usize = 64;
/// Larger record buffers are not kept as spares (a huge record should not pin its memory).
const MAX_SPARE_BYTES: usize = 64 << 10;

const MAX_PENDING: usize = 100_000;
const MAX_DONE: usize = 65_536;

impl Pairer {
    /// Fills a row from the record `rec` with `reader` and feeds it (see
    /// [`record_kind`](Self::record_kind)). A TabSeparated QueryStart row is filled only with
    /// the fields it is paired by.
    pub(crate) fn record(
        &mut self,
        rec: &[u8],
        reader: &Arc<RowReader>,
        zone: &Zone,
        location: Location,
        out: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), FieldError> {
        if !self
            .plans
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(&p.reader, reader))
        {
            self.plans = TsvPlans::new(reader);
        }
        let mut row = Row::new();
        // A wrong field count is reported before a bad `type`, as when the row is filled whole.
        let kind = match (&**reader, &self.plans) {
            (RowReader::Tsv(header), Some(plans)) => {
                let mut fill = TsvFill::new(rec, header, &mut row);
                let kind = fill.place_then(&plans.head, &mut row, |row| {
                    let kind = kind_of(row);
                    let rest = if kind == Ok(RowType::Start) {
                        &plans.start_rest
                    } else {
                        &plans.rest
                    };
                    (kind, rest.as_slice())
                })?;
                fill.finish()?;
                let null = |slot| matches!(row.get(slot), Some(Raw::Tsv(b"\\N")));
                if plans.pruned && (null(EVENT_TIME_US) || null(START_TIME_US)) {
                    // A NULL microsecond time falls back on a column the plans left out:
                    // the row is filled whole, as the general path fills it.
                    row = Row::new();
                    reader.fill(rec, &mut row)?;
                }
                kind
            }
            _ => {
                reader.fill(rec, &mut row)?;
                kind_of(&row)
            }
        };
        kind.and_then(|kind| self.record_kind(kind, &row, rec, reader, zone, location, out))
            .map_err(|kind| (0, kind))
    }

    /// Feeds one row of kind `kind`, split by `reader` from the record `rec` (which a
    /// waiting start row keeps, to be split again by `reader` if it never ends); emits zero,
    /// one or two events.
    #[allow(clippy::too_many_arguments)]
    fn record_kind<'a>(
        &mut self,
        kind: RowType,
        row: &Row<'a>,
        rec: &'a [u8],
        reader: &Arc<RowReader>,
        zone: &Zone,
        location: Location,
        out: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), ParseErrorKind> {
        if self.zone.is_none() {
            self.zone = Some(zone.clone());
        }
        if self.reader.is_none() {
            self.reader = Some(Arc::clone(reader));
        }
        if kind == RowType::Start {
            let (start, key) = row_key(row, zone, &self.dates)?;
            if self.done.contains(&key) {
                return Ok(());
            }
            let mut kept = self.spare.pop().unwrap_or_default();
            kept.clear();
            kept.extend_from_slice(rec);
            let pending = Pending {
                start,
                rec: kept,
                location,
            };
            if let Some(older) = self.pending.insert(key, pending) {
                // The same id started twice with no end in between: the first never ended.
                self.emit(&older, out);
            } else {
                self.order.push_back(key);
            }
            while self.pending.len() > MAX_PENDING {
                self.evict_oldest(out);
            }
            return Ok(());
        }
        let mut event = kind_event(kind, row, zone, &self.dates, location)?;
        match kind {
            RowType::BeforeStart => out(Event::Query(event)),
            _ => {
                let key = pair_key(&event);
                if let Some(start) = self.pending.remove(&key) {
                    // The start row knows the start to the microsecond even on servers whose
                    // end row has only `query_start_time`.
                    event.start = start.start;
                    if self.spare.len() < MAX_SPARE && start.rec.capacity() <= MAX_SPARE_BYTES {
                        self.spare.push(start.rec);
                    }
                } else {
                    if self.orphans.len() < MAX_DONE {
                        self.orphans.push(key);
                    }
                    self.done.insert(key);
                    self.done_order.push_back(key);
                    if self.done_order.len() > MAX_DONE {
                        if let Some(old) = self.done_order.pop_front() {
                            self.done.remove(&old);
                        }
                    }
                }
                out(Event::Query(event));
            }
        }
        Ok(())
    }

    /// Parses a start row that never saw its end and emits it as an unfinished event.
    fn emit(&mut self, p: &Pending, out: &mut dyn FnMut(Event<'_>)) {
        let zone = self.zone.clone().unwrap_or_else(Zone::utc);
        match p.event(self.reader.as_deref(), &zone) {
            Ok(e) => out(Event::Query(e)),
            Err(kind) => self.late_errors.push((p.location.line, kind)),
        }
    }

    fn evict_oldest(&mut self, out: &mut dyn FnMut(Event<'_>)) {
        while let Some(key) = self.order.pop_front() {
            if let Some(p) = self.pending.remove(&key) {
                self.emit(&p, out);
                return;
            }
        }
    }

    /// Start rows found unfinished whose fields did not parse, since the last call.
    pub(crate) fn take_late_errors(&mut self) -> Vec<(u64, ParseErrorKind)> {
        std::mem::take(&mut self.late_errors)
    }

    /// Ends a part of a file: instead of emitting the starts that saw no end, hands them
    /// over (with the ends that saw no start) to be paired with the other parts.
    pub(crate) fn finish_part(&mut self) -> Carry {
        let mut pending: Vec<(u64, Pending)> = Vec::with_capacity(self.pending.len());
        while let Some(key) = self.order.pop_front() {
            if let Some(p) = self.pending.remove(&key) {
                pending.push((key, p));
            }
        }
        let carry = Carry {
            pending,
            orphans: self.orphans.drain(..).collect(),
            zone: self.zone.clone(),
            reader: self.reader.clone(),
        };
        self.finish(&mut |_| {});
        carry
    }

    /// Emits every start that never saw its end, in the order they started.
    pub(crate) fn finish(&mut self, out: &mut dyn FnMut(Event<'_>)) {
        while !self.pending.is_empty() {
            self.evict_oldest(out);
        }
        self.order.clear();
        self.done.clear();
        self.done_order.clear();
        self.orphans.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::table::Header;

    fn header(names: &str) -> Header {
        Header::from_names(
            &SCHEMA,
            names.split('\t').map(|n| Cow::Borrowed(n.as_bytes())),
        )
    }

    fn feed(
        p: &mut Pairer,
        names: &str,
        rec: &str,
        location: Location,
        out: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), ParseErrorKind> {
        // As a file is read: QueryStart rows filled with only what they are paired by.
        let reader = Arc::new(RowReader::Tsv(header(names)));
        p.record(rec.as_bytes(), &reader, &Zone::utc(), location, out)
            .map_err(|(_, kind)| kind)
    }

    fn run(names: &str, rows: &[&str]) -> Vec<QueryEvent<'static>> {
        let reader = Arc::new(RowReader::Tsv(header(names)));
        run_records(&reader, rows.iter().map(|r| r.as_bytes()))
    }

    /// The events of `records`, read by `reader` as lines 2, 3, … of one file.
    fn run_records<'r>(
        reader: &Arc<RowReader>,
        records: impl IntoIterator<Item = &'r [u8]>,
    ) -> Vec<QueryEvent<'static>> {
        let mut p = Pairer::default();
        let mut out = Vec::new();
        for (i, r) in records.into_iter().enumerate() {
            let loc = Location {
                line: i as u64 + 2,
                ..Location::default()
            };
            p.record(r, reader, &Zone::utc(), loc, &mut |e| {
                if let Event::Query(e) = e {
                    out.push(e.into_owned());
                }
            })
            .unwrap();
        }
        p.finish(&mut |e| {
            if let Event::Query(e) = e {
                out.push(e.into_owned());
            }
        });
        out
    }

    const NAMES: &str = "type\tevent_time\tquery_start_time\tresult_bytes\tquery\tuser\tquery_id\taddress\texception";

    #[test]
    fn ok_start_and_finish_make_one_event() {
        let ev = run(
            NAMES,
            &[
                "1\t2026-11-25 19:32:28\t2026-11-25 19:32:28\t0\tSELECT 1\tdefault\tq1\t::ffff:198.51.100.7\t",
                "2\t2026-11-25 19:32:29\t2026-11-25 19:32:28\t42\tSELECT 1\tdefault\tq1\t::ffff:198.51.100.7\t",
            ],
        );
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].outcome, QueryOutcome::Finished);
        assert_eq!(ev[0].volume.result_bytes, 42);
        assert_eq!(ev[0].client, Some("198.51.100.7".parse().unwrap()));
        assert_eq!(ev[0].location.line, 3);
    }

    #[test]
    fn ok_reused_query_id_and_unfinished() {
        let ev = run(
            NAMES,
            &[
                "1\t2026-11-25 19:00:00\t2026-11-25 19:00:00\t0\tSELECT 1\talice\tsame\t127.0.0.1\t",
                "2\t2026-11-25 19:00:01\t2026-11-25 19:00:00\t1\tSELECT 1\talice\tsame\t127.0.0.1\t",
                "1\t2026-11-25 20:00:00\t2026-11-25 20:00:00\t0\tSELECT 2\talice\tsame\t127.0.0.1\t",
                "3\t2026-11-25 20:00:05\t2026-11-25 20:00:05\t0\tSELEC\talice\tother\t127.0.0.1\tCode: 62, e.displayText() = DB::Exception: Syntax error",
            ],
        );
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[0].outcome, QueryOutcome::Finished);
        assert_eq!(ev[1].outcome, QueryOutcome::FailedBeforeStart);
        assert_eq!(ev[1].exception_code, Some(62));
        assert_eq!(ev[2].outcome, QueryOutcome::Unfinished);
        assert_eq!(ev[2].query, "SELECT 2");
    }

    /// A start row is kept as read and split again only when it never ends: the event it
    /// becomes then is the event its record gives (escapes, arrays, the microsecond start),
    /// whether it is emitted on a duplicate id, at the end, or from a part's carry.
    #[test]
    fn ok_unfinished_start_is_read_again_from_its_record() {
        const COLS: &str = "type\tevent_time\tquery_start_time_microseconds\tquery\tuser\tquery_id\ttables\taddress";
        let start = "QueryStart\t2026-11-25 19:00:00\t2026-11-25 19:00:00.123456\tSELECT \\'a\\tb\\'\tbob\tq1\t['db.t','db.u']\t::ffff:198.51.100.7\n";
        let twice = run(COLS, &[start, start]);
        assert_eq!(twice.len(), 2);
        for e in &twice {
            assert_eq!(e.outcome, QueryOutcome::Unfinished);
            assert_eq!(e.query, "SELECT 'a\tb'");
            assert_eq!(e.user, "bob");
            assert_eq!(e.start.0 % 1_000_000, 123_456);
            assert_eq!(e.tables.as_deref().unwrap(), ["db.t", "db.u"]);
            assert_eq!(e.client, Some("198.51.100.7".parse().unwrap()));
        }
        assert_eq!((twice[0].location.line, twice[1].location.line), (2, 3));
        let mut p = Pairer::default();
        feed(&mut p, COLS, start, Location::default(), &mut |_| panic!()).unwrap();
        let mut from_carry = Vec::new();
        let errors = p.finish_part().flush(&mut |e| {
            if let Event::Query(e) = e {
                from_carry.push(e.into_owned());
            }
        });
        assert!(errors.is_empty());
        assert_eq!(from_carry.len(), 1);
        assert_eq!(from_carry[0].query, twice[0].query);
        assert_eq!(from_carry[0].start, twice[0].start);
    }

    /// The TSV plans leave out `event_time` and `query_start_time` beside their
    /// microsecond columns, and `exception` beside `exception_code`: a row whose microsecond
    /// time is NULL is filled whole and falls back on the second-precision one, as CSV (read
    /// whole, without plans) does.
    #[test]
    fn ok_null_microsecond_times_fall_back_as_without_plans() {
        const COLS: &str = "type\tevent_time\tevent_time_microseconds\tquery_start_time\tquery_start_time_microseconds\tquery\tuser\tquery_id\texception_code\texception";
        let rows = [
            // Paired; the end's microsecond event time is NULL.
            "QueryStart\t2026-11-25 19:00:00\t2026-11-25 19:00:00.250000\t2026-11-25 19:00:00\t2026-11-25 19:00:00.250000\tSELECT 1\tbob\tq1\t0\t",
            "QueryFinish\t2026-11-25 19:00:05\t\\N\t2026-11-25 19:00:00\t2026-11-25 19:00:00.250000\tSELECT 1\tbob\tq1\t0\t",
            // A start whose microsecond start is NULL, paired by its second-precision start.
            "QueryStart\t2026-11-25 19:01:00\t2026-11-25 19:01:00.500000\t2026-11-25 19:01:00\t\\N\tSELECT 2\tbob\tq2\t0\t",
            "ExceptionWhileProcessing\t2026-11-25 19:01:09\t2026-11-25 19:01:09.000001\t2026-11-25 19:01:00\t\\N\tSELECT 2\tbob\tq2\t241\tCode: 60. DB::Exception: x",
            // Never ends: its start is the event time (both starts NULL).
            "QueryStart\t2026-11-25 19:02:00\t2026-11-25 19:02:00.750000\t\\N\t\\N\tSELECT 3\tbob\tq3\t0\t",
        ];
        let tsv = run(COLS, &rows);
        assert_eq!(tsv.len(), 3);
        assert_eq!(
            tsv[0].end,
            Some(Timestamp::from_secs(tsv[0].start.secs() + 5))
        );
        assert_eq!(tsv[0].start.0 % 1_000_000, 250_000);
        assert_eq!(tsv[1].outcome, QueryOutcome::FailedWhileProcessing);
        assert_eq!(tsv[1].exception_code, Some(241));
        assert_eq!(tsv[1].start.0 % 1_000_000, 0);
        assert_eq!(tsv[2].outcome, QueryOutcome::Unfinished);
        assert_eq!(tsv[2].start.0 % 1_000_000, 750_000);
        // The same rows as CSV, which is filled whole.
        let csv_header = Header::from_names(
            &SCHEMA,
            COLS.split('\t').map(|n| Cow::Borrowed(n.as_bytes())),
        );
        let reader = Arc::new(RowReader::Csv(csv_header));
        let records: Vec<String> = rows.iter().map(|r| r.replace('\t', ",")).collect();
        let csv = run_records(&reader, records.iter().map(|r| r.as_bytes()));
        let key = |e: &QueryEvent<'_>| {
            (
                e.start,
                e.end,
                e.outcome,
                e.exception_code,
                e.query.to_string(),
            )
        };
        assert_eq!(
            tsv.iter().map(key).collect::<Vec<_>>(),
            csv.iter().map(key).collect::<Vec<_>>()
        );
    }

    #[test]
    fn ok_end_before_start_is_not_doubled() {
        let ev = run(
            NAMES,
            &[
                "2\t2026-11-25 19:00:01\t2026-11-25 19:00:00\t1\tSELECT 1\talice\tq\t127.0.0.1\t",
                "1\t2026-11-25 19:00:00\t2026-11-25 19:00:00\t0\tSELECT 1\talice\tq\t127.0.0.1\t",
            ],
        );
        assert_eq!(ev.len(), 1);
    }

    proptest::proptest! {
        /// Different executions get different pairing keys (a byte anywhere in a part,
        /// a boundary moved between parts, a second), the same execution the same key.
        #[test]
        fn ok_pairing_keys_tell_executions_apart(
            id in "[a-c0-9-]{0,40}",
            user in "[a-c]{0,12}",
            secs in 0i64..3,
            at in 0usize..64,
            other in "[a-c0-9-]",
        ) {
            let t = Timestamp::from_secs(secs);
            let key = key_of(&id, t, &user);
            proptest::prop_assert_eq!(key, key_of(&id.clone(), t, &user.clone()));
            let mut changed = id.clone();
            let at = at.min(id.len());
            changed.replace_range(at..(at + 1).min(id.len()), &other);
            proptest::prop_assert_eq!(key == key_of(&changed, t, &user), changed == id);
            let moved = format!("{id}{user}");
            let cut = at.min(moved.len());
            let (a, b) = moved.split_at(cut);
            proptest::prop_assert_eq!(key == key_of(a, t, b), a == id);
            proptest::prop_assert_ne!(key, key_of(&id, Timestamp::from_secs(secs + 1), &user));
        }
    }

    proptest::proptest! {
        /// The key of a row whose `user` and `query_id` are hashed as written equals the key
        /// of their decoded text, whatever the bytes (escapes, `\N`, empty, not ASCII, not
        /// UTF-8), and `plain_ascii` answers as a byte loop does.
        #[test]
        fn ok_row_key_as_written_agrees_with_text_key(
            user in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => proptest::sample::select(b"abz09-_.@".to_vec()),
                    1 => proptest::sample::select(b"\\N\t\x7f\x80\xc3\xa9\xff\x00".to_vec()),
                ],
                0..20,
            ),
            query_id in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => proptest::sample::select(b"0123456789abcdef-".to_vec()),
                    1 => proptest::sample::select(b"\\N\x7f\x80\xc3\xa9\xff\x00".to_vec()),
                ],
                0..45,
            ),
        ) {
            let mut row = Row::new();
            row.slots[USER] = Some(Raw::Tsv(&user));
            row.slots[QUERY_ID] = Some(Raw::Tsv(&query_id));
            row.slots[START_TIME] = Some(Raw::Tsv(b"1970-01-01 00:00:00"));
            let row_start = Timestamp::from_secs(0);
            let (t, key) = row_key(&row, &Zone::utc(), &DateMemo::default()).unwrap();
            proptest::prop_assert_eq!(t, row_start);
            proptest::prop_assert_eq!(key, text_key(&row, row_start));
            for b in [&user, &query_id] {
                proptest::prop_assert_eq!(
                    plain_ascii(b),
                    b.iter().all(|c| c.is_ascii() && *c != b'\\')
                );
            }
        }
    }

    proptest::proptest! {
        /// `tail_word` is the zero-padded copy of the bytes after the last whole eight.
        #[test]
        fn ok_tail_word_is_the_padded_remainder(p in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let mut tail = [0u8; 8];
            for (t, b) in tail.iter_mut().zip(p.chunks_exact(8).remainder()) {
                *t = *b;
            }
            proptest::prop_assert_eq!(tail_word(&p), u64::from_le_bytes(tail));
        }
    }

    proptest::proptest! {
        /// `lower_all` gives every element in lower case, whether or not it returns the list
        /// as it is.
        #[test]
        fn ok_lower_all_lowers_every_element(v in proptest::collection::vec("[a-cA-C_0-9é]{0,6}", 0..4)) {
            let want: Vec<String> = v.iter().map(|s| s.to_ascii_lowercase()).collect();
            let got = lower_all(v.iter().map(|s| Cow::Borrowed(s.as_str())).collect());
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn err_bad_values_name_the_column() {
        let err = feed(
            &mut Pairer::default(),
            NAMES,
            "2\tyesterday\t\t0\tq\tu\ti\t\t",
            Location::default(),
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`event_time`: expected a date-time such as 2025-01-29 10:11:12"
        );
        assert!(feed(
            &mut Pairer::default(),
            NAMES,
            "9\t2026-11-25 19:00:00\t\t0\tq\tu\ti\t\t",
            Location::default(),
            &mut |_| {}
        )
        .is_err());
    }
}
