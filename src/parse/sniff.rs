//! Telling formats apart from the first bytes of a file, never from its name.
//!
//! Server text logs by their `YYYY.MM.DD hh:mm:ss.ffffff [ tid ]` header, proxy access logs by
//! `addr ident user [dd/Mon/yyyy:…`, JSON lines by their keys (`logger_name` → server JSON log,
//! `remote_addr` + `uri` → access log, `auth_type` → session_log, else query_log). Table
//! exports are recognised by shape: a `Row 1:` block, a header line of known column names
//! (tab- or comma-separated, the latter quoted by ClickHouse; session_log names checked first),
//! a line of type names under it, or — failing all that — a tab-separated row to be read with
//! the default (or `--columns`) column order.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::access_log::{looks_like_text_line, AccessLogFields};
use super::common::unescape_tsv;
use super::query_log::{is_query_log_header, SCHEMA};
use super::session_log::{is_session_log_header, SCHEMA as SESSION_SCHEMA};
use super::table::{csv_fields, is_vertical_row_start, trim_eol, tsv_fields, Header, Schema};
use super::text_log;

/// Which system table a table export holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogTable {
    /// `system.query_log`.
    QueryLog,
    /// `system.session_log`.
    SessionLog,
}

impl LogTable {
    pub(crate) fn schema(self) -> &'static Schema {
        match self {
            Self::QueryLog => &SCHEMA,
            Self::SessionLog => &SESSION_SCHEMA,
        }
    }
}

/// A ClickHouse export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// `TabSeparated`: no header; column order from configuration.
    TabSeparated,
    /// `TSVWithNames`: a header line of column names.
    TsvWithNames,
    /// `TSVWithNamesAndTypes`: names, then types.
    TsvWithNamesAndTypes,
    /// `CSVWithNames`: a header of names; quoted fields may span lines.
    CsvWithNames,
    /// `JSONEachRow`: one object per line.
    JsonEachRow,
    /// `Vertical`: `Row N:` blocks of `name: value` lines (best effort).
    Vertical,
    /// `clickhouse-server.log` / `.err.log`, plain text.
    ServerLog,
    /// The server log written by the JSON logger (`<formatting><type>json</type>`).
    ServerJsonLog,
    /// An nginx/Apache access log, combined or common format.
    AccessLog,
    /// A JSON-lines access log (nginx `escape=json`, field names from the configuration).
    AccessLogJson,
}

impl InputFormat {
    /// The format's name as ClickHouse spells it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::TabSeparated => "TabSeparated",
            Self::TsvWithNames => "TSVWithNames",
            Self::TsvWithNamesAndTypes => "TSVWithNamesAndTypes",
            Self::CsvWithNames => "CSVWithNames",
            Self::JsonEachRow => "JSONEachRow",
            Self::Vertical => "Vertical",
            Self::ServerLog => "ServerLog",
            Self::ServerJsonLog => "ServerJSONLog",
            Self::AccessLog => "AccessLog",
            Self::AccessLogJson => "AccessLogJSON",
        }
    }
}

impl Serialize for InputFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for InputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "tabseparated" | "tsv" => Self::TabSeparated,
            "tsvwithnames" | "tabseparatedwithnames" => Self::TsvWithNames,
            "tsvwithnamesandtypes" | "tabseparatedwithnamesandtypes" => Self::TsvWithNamesAndTypes,
            "csvwithnames" | "csv" => Self::CsvWithNames,
            "jsoneachrow" | "jsonlines" | "ndjson" | "jsonl" => Self::JsonEachRow,
            "vertical" => Self::Vertical,
            "serverlog" | "textlog" | "server-log" => Self::ServerLog,
            "serverjsonlog" | "jsonlog" | "server-json-log" => Self::ServerJsonLog,
            "accesslog" | "combined" | "common" | "access-log" => Self::AccessLog,
            "accesslogjson" | "access-log-json" => Self::AccessLogJson,
            _ => return Err(s.to_owned()),
        })
    }
}

/// Strips a UTF-8 byte-order mark.
pub(crate) fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
}

/// Bytes to collect before sniffing when the first lines are very long: the sniffer never
/// looks further.
pub(crate) const SNIFF_BYTES: usize = 64 << 10;
/// Lines a Vertical export is searched for a session_log column.
const VERTICAL_LINES: usize = 40;

/// How much of a file's start the sniffer judges, once `buf` holds all of it: through the
/// line after the first non-blank one (a types line may follow a header), through line 40
/// when the first non-blank line opens a Vertical record, and never past [`SNIFF_BYTES`].
/// `None` while more bytes could still change the verdict.
///
/// The window depends only on the bytes, not on how they were chunked, so a file read in
/// one piece and the same file streamed in tiny pieces are sniffed alike.
pub(crate) fn window(buf: &[u8]) -> Option<usize> {
    let bom = buf.len() - strip_bom(buf).len();
    let capped = buf.get(..SNIFF_BYTES).unwrap_or(buf);
    let mut first: Option<bool> = None; // Some(is_vertical) once the first non-blank line ended
    let mut start = bom;
    let mut after_first = 0;
    for (n, nl) in memchr::memchr_iter(b'\n', capped).enumerate() {
        if nl < bom {
            continue;
        }
        let line = capped.get(start..=nl).unwrap_or_default();
        start = nl + 1;
        match first {
            None if line.trim_ascii().is_empty() => {}
            None => first = Some(is_vertical_row_start(line)),
            Some(_) => after_first += 1,
        }
        let done = match first {
            Some(true) => n + 1 >= VERTICAL_LINES,
            Some(false) => after_first >= 1,
            None => false,
        };
        if done {
            return Some(nl + 1);
        }
    }
    (buf.len() >= SNIFF_BYTES).then_some(SNIFF_BYTES)
}

/// Guesses the format and table of a file from its start, judging the same bytes whatever
/// else `head` holds (see [`window`]).
pub(crate) fn sniff_start(
    head: &[u8],
    fields: &AccessLogFields,
) -> Option<(InputFormat, LogTable)> {
    let end = window(head).unwrap_or(head.len());
    sniff(head.get(..end).unwrap_or(head), fields)
}

/// Guesses the format and table of a file from its first bytes (at least its first line,
/// ideally two).
pub(crate) fn sniff(head: &[u8], fields: &AccessLogFields) -> Option<(InputFormat, LogTable)> {
    let head = strip_bom(head);
    let first = head
        .split_inclusive(|b| *b == b'\n')
        .map(trim_eol)
        .find(|l| !l.trim_ascii().is_empty())?;
    if first.trim_ascii_start().starts_with(b"{") {
        return Some(sniff_json(first, fields));
    }
    if text_log::looks_like_plain(first) {
        return Some((InputFormat::ServerLog, LogTable::QueryLog));
    }
    if looks_like_text_line(first) {
        return Some((InputFormat::AccessLog, LogTable::QueryLog));
    }
    if is_vertical_row_start(first) {
        let session = head
            .split(|b| *b == b'\n')
            .take(VERTICAL_LINES)
            .any(|l| l.trim_ascii_start().starts_with(b"auth_type:"));
        let table = if session {
            LogTable::SessionLog
        } else {
            LogTable::QueryLog
        };
        return Some((InputFormat::Vertical, table));
    }
    for table in [LogTable::SessionLog, LogTable::QueryLog] {
        if let Some(f) = sniff_table(head, table) {
            return Some((f, table));
        }
    }
    None
}

/// Tells JSON lines apart by the keys of the first object.
fn sniff_json(first: &[u8], fields: &AccessLogFields) -> (InputFormat, LogTable) {
    let keys: Vec<String> =
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(first)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    if text_log::looks_like_json(&keys) {
        (InputFormat::ServerJsonLog, LogTable::QueryLog)
    } else if fields.matches(&keys) {
        (InputFormat::AccessLogJson, LogTable::QueryLog)
    } else if keys.contains(&"auth_type") || keys.contains(&"client_address") {
        (InputFormat::JsonEachRow, LogTable::SessionLog)
    } else {
        (InputFormat::JsonEachRow, LogTable::QueryLog)
    }
}

/// A TSV or CSV export of `table`, by its header.
fn sniff_table(head: &[u8], table: LogTable) -> Option<InputFormat> {
    let schema = table.schema();
    let is_header = |h: &Header| match table {
        LogTable::QueryLog => is_query_log_header(|s| h.has(s)),
        LogTable::SessionLog => is_session_log_header(|s| h.has(s)),
    };
    let mut lines = head
        .split_inclusive(|b| *b == b'\n')
        .map(trim_eol)
        .skip_while(|l| l.trim_ascii().is_empty());
    let first = lines.next()?;
    if first.contains(&b'\t') || !first.contains(&b',') {
        let names = Header::from_names(schema, tsv_fields(first).map(unescape_tsv));
        if is_header(&names) {
            let second = lines.next();
            return Some(if second.is_some_and(is_types_line) {
                InputFormat::TsvWithNamesAndTypes
            } else {
                InputFormat::TsvWithNames
            });
        }
        if first.contains(&b'\t') && table == LogTable::QueryLog {
            return Some(InputFormat::TabSeparated);
        }
        return None;
    }
    let fields = csv_fields(first).ok()?;
    let names = Header::from_names(schema, fields.into_iter().map(|(t, _)| Cow::Borrowed(t)));
    is_header(&names).then_some(InputFormat::CsvWithNames)
}

/// Whether a line lists ClickHouse type names (`UInt8`, `DateTime`, `Array(String)`, …).
fn is_types_line(line: &[u8]) -> bool {
    const TYPES: &[&str] = &[
        "UInt",
        "Int",
        "Float",
        "String",
        "FixedString",
        "Date",
        "DateTime",
        "Enum",
        "Array",
        "Map",
        "Tuple",
        "Nullable",
        "LowCardinality",
        "IPv4",
        "IPv6",
        "UUID",
        "Bool",
        "Decimal",
        "Nothing",
        "Object",
        "JSON",
        "Variant",
        "Dynamic",
    ];
    let mut any = false;
    for f in tsv_fields(line) {
        any = true;
        if !TYPES.iter().any(|t| f.starts_with(t.as_bytes())) {
            return false;
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff1(head: &[u8]) -> Option<InputFormat> {
        sniff(head, &AccessLogFields::default()).map(|s| s.0)
    }

    #[test]
    fn ok_sniffs_logs_and_tables() {
        let f = AccessLogFields::default();
        assert_eq!(
            sniff(
                b"[h] 2026.11.25 22:23:47.247520 [ 21 ] {} <Debug> X: y\n",
                &f
            ),
            Some((InputFormat::ServerLog, LogTable::QueryLog))
        );
        assert_eq!(
            sniff(
                b"{\"date_time\":\"1.2\",\"logger_name\":\"a\",\"message\":\"b\"}\n",
                &f
            ),
            Some((InputFormat::ServerJsonLog, LogTable::QueryLog))
        );
        assert_eq!(
            sniff(
                b"127.0.0.1 - - [25/Nov/2026:22:23:53 +0000] \"GET / HTTP/1.1\" 200 4\n",
                &f
            ),
            Some((InputFormat::AccessLog, LogTable::QueryLog))
        );
        assert_eq!(
            sniff(
                b"{\"time\":\"x\",\"remote_addr\":\"1.2.3.4\",\"uri\":\"/\"}\n",
                &f
            ),
            Some((InputFormat::AccessLogJson, LogTable::QueryLog))
        );
        assert_eq!(
            sniff(
                b"{\"type\":\"LoginSuccess\",\"auth_type\":\"NO_PASSWORD\"}\n",
                &f
            ),
            Some((InputFormat::JsonEachRow, LogTable::SessionLog))
        );
        assert_eq!(
            sniff(b"type\tevent_time\tuser\tauth_type\n", &f),
            Some((InputFormat::TsvWithNames, LogTable::SessionLog))
        );
        assert_eq!(
            sniff(b"\"type\",\"event_time\",\"client_address\"\n", &f),
            Some((InputFormat::CsvWithNames, LogTable::SessionLog))
        );
    }

    #[test]
    fn ok_sniffs_each_format() {
        assert_eq!(sniff1(b"{\"type\":2}\n"), Some(InputFormat::JsonEachRow));
        assert_eq!(
            sniff1("Row 1:\n──\n".as_bytes()),
            Some(InputFormat::Vertical)
        );
        assert_eq!(
            sniff1(b"type\tevent_time\tquery\n2\tx\ty\n"),
            Some(InputFormat::TsvWithNames)
        );
        assert_eq!(
            sniff1(b"type\tevent_time\tquery\nUInt8\tDateTime\tString\n"),
            Some(InputFormat::TsvWithNamesAndTypes)
        );
        assert_eq!(
            sniff1(b"\xEF\xBB\xBF\"type\",\"event_time\",\"query\"\n"),
            Some(InputFormat::CsvWithNames)
        );
        assert_eq!(
            sniff1(b"host\tQueryFinish\t2026-01-01\n"),
            Some(InputFormat::TabSeparated)
        );
        assert_eq!(sniff1(b"hello, world\n"), None);
        assert_eq!(sniff1(b""), None);
        assert_eq!("tsvwithnames".parse(), Ok(InputFormat::TsvWithNames));
    }
}
