//! Telling formats apart from the first bytes of a file, never from its name.
//!
//! Exports are recognised by shape: a JSON object per line, a `Row 1:` block, a header line
//! of known column names (tab- or comma-separated, the latter quoted by ClickHouse), a line of
//! type names under it, or — failing all that — a tab-separated row to be read with the
//! default (or `--columns`) column order.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::common::unescape_tsv;
use super::query_log::{is_query_log_header, SCHEMA};
use super::table::{csv_fields, is_vertical_row_start, trim_eol, tsv_fields, Header};

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
            _ => return Err(s.to_owned()),
        })
    }
}

/// Strips a UTF-8 byte-order mark.
pub(crate) fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
}

/// Guesses the format of a file from its first bytes (at least its first line, ideally two).
pub(crate) fn sniff(head: &[u8]) -> Option<InputFormat> {
    let head = strip_bom(head);
    let mut lines = head
        .split_inclusive(|b| *b == b'\n')
        .map(trim_eol)
        .skip_while(|l| l.trim_ascii().is_empty());
    let first = lines.next()?;
    let trimmed = first.trim_ascii_start();
    if trimmed.starts_with(b"{") {
        return Some(InputFormat::JsonEachRow);
    }
    if is_vertical_row_start(first) {
        return Some(InputFormat::Vertical);
    }
    if first.contains(&b'\t') || !first.contains(&b',') {
        let names = Header::from_names(&SCHEMA, tsv_fields(first).map(unescape_tsv));
        if is_query_log_header(|s| names.has(s)) {
            let second = lines.next();
            return Some(if second.is_some_and(is_types_line) {
                InputFormat::TsvWithNamesAndTypes
            } else {
                InputFormat::TsvWithNames
            });
        }
        if first.contains(&b'\t') {
            return Some(InputFormat::TabSeparated);
        }
        return None;
    }
    let fields = csv_fields(first).ok()?;
    let names = Header::from_names(&SCHEMA, fields.into_iter().map(|(t, _)| Cow::Borrowed(t)));
    is_query_log_header(|s| names.has(s)).then_some(InputFormat::CsvWithNames)
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

    #[test]
    fn ok_sniffs_each_format() {
        assert_eq!(sniff(b"{\"type\":2}\n"), Some(InputFormat::JsonEachRow));
        assert_eq!(
            sniff("Row 1:\n──\n".as_bytes()),
            Some(InputFormat::Vertical)
        );
        assert_eq!(
            sniff(b"type\tevent_time\tquery\n2\tx\ty\n"),
            Some(InputFormat::TsvWithNames)
        );
        assert_eq!(
            sniff(b"type\tevent_time\tquery\nUInt8\tDateTime\tString\n"),
            Some(InputFormat::TsvWithNamesAndTypes)
        );
        assert_eq!(
            sniff(b"\xEF\xBB\xBF\"type\",\"event_time\",\"query\"\n"),
            Some(InputFormat::CsvWithNames)
        );
        assert_eq!(
            sniff(b"host\tQueryFinish\t2026-01-01\n"),
            Some(InputFormat::TabSeparated)
        );
        assert_eq!(sniff(b"hello, world\n"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!("tsvwithnames".parse(), Ok(InputFormat::TsvWithNames));
    }
}
