//! Errors: why a record was rejected, and why a configuration was refused.
//!
//! Positions are 1-based: `line` counts lines of the input file (a CSV record that spans
//! lines reports the line it starts on), `column` counts bytes from the start of that line.
//! Byte columns, not characters: query text is not always valid UTF-8.

use std::fmt;

use crate::net::BadCidr;
use crate::time::UnknownZone;

/// A record that could not be turned into an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line of the input on which the problem was found.
    pub line: u64,
    /// 1-based byte column within that line.
    pub column: u64,
    /// What was wrong.
    pub kind: ParseErrorKind,
}

/// What was wrong with a rejected record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input matched no format this tool reads.
    UnknownFormat,
    /// A column needed to make sense of the record is missing from the header.
    MissingColumn(&'static str),
    /// A header line lists no column this tool understands.
    NoKnownColumns,
    /// The record has a different number of fields than the header.
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in this record.
        found: usize,
    },
    /// A field did not hold what its column promises.
    BadValue {
        /// The column's name.
        column: &'static str,
        /// What was expected there.
        expected: &'static str,
    },
    /// A quoted field never ended.
    UnterminatedQuote,
    /// The JSON object is malformed.
    BadJson {
        /// What the scanner expected at the column.
        expected: &'static str,
    },
    /// The record is longer than the configured limit and was skipped.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownFormat => {
                f.write_str(
                    "not a format chaudit reads (expected a query_log or session_log export, a server log or an access log)",
                )
            }
            Self::MissingColumn(c) => write!(f, "missing column `{c}`"),
            Self::NoKnownColumns => f.write_str("header names no known query_log column"),
            Self::FieldCount { expected, found } => {
                write!(
                    f,
                    "expected {expected} fields as in the header, found {found}"
                )
            }
            Self::BadValue { column, expected } => write!(f, "`{column}`: expected {expected}"),
            Self::UnterminatedQuote => f.write_str("quoted field never ends"),
            Self::BadJson { expected } => write!(f, "malformed JSON: expected {expected}"),
            Self::TooLong { limit } => write!(f, "record longer than {limit} bytes skipped"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} column {}: {}",
            self.line, self.column, self.kind
        )
    }
}

impl std::error::Error for ParseError {}

/// A configuration that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A network is not an address or CIDR.
    Network(BadCidr),
    /// The time zone is unknown.
    Zone(UnknownZone),
    /// A named input format does not exist.
    InputFormat(String),
    /// A column list names no known column.
    Columns(String),
    /// A rule setting names an unknown rule or severity.
    Rule(String),
    /// A baseline state does not fit this build or configuration.
    Baseline(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(e) => e.fmt(f),
            Self::Zone(e) => e.fmt(f),
            Self::InputFormat(s) => write!(
                f,
                "unknown input format {s:?} (expected TabSeparated, TSVWithNames, TSVWithNamesAndTypes, CSVWithNames, JSONEachRow or Vertical)"
            ),
            Self::Columns(s) => write!(f, "bad column list: {s}"),
            Self::Rule(s) => write!(f, "bad rule setting: {s}"),
            Self::Baseline(s) => write!(f, "unusable baseline: {s}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<BadCidr> for ConfigError {
    fn from(e: BadCidr) -> Self {
        Self::Network(e)
    }
}

impl From<UnknownZone> for ConfigError {
    fn from(e: UnknownZone) -> Self {
        Self::Zone(e)
    }
}
