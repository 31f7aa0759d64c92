//! Reports: an [`Analysis`] rendered to a writer the caller owns.
//!
//! Renderers never print and never decide where output goes; the CLI hands them stdout or a
//! file, the browser module a buffer. JSON shapes are the public contract documented in the
//! README: `json` is one object `{"summary", "findings", "clients", "rejected"}`, `jsonl` one
//! finding per line.

mod csv;
mod html;
mod ledger;
mod text;
mod timesketch;

use std::io::{self, Write};

pub use csv::render_csv;
pub use html::{render_html, HtmlOptions};
pub use ledger::render_ledger_text;
pub use text::{render_text, TextOptions};
pub use timesketch::render_timesketch;

use crate::detect::{Finding, Severity};
use crate::Analysis;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Human-readable summary and findings.
    Text,
    /// One JSON object.
    Json,
    /// One JSON object per finding, one per line.
    Jsonl,
    /// Findings timeline, one row per finding.
    Csv,
    /// One self-contained HTML page.
    Html,
    /// JSONL for Timesketch import.
    Timesketch,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            "jsonl" | "ndjson" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            "html" => Ok(Self::Html),
            "timesketch" => Ok(Self::Timesketch),
            _ => Err(format!(
                "unknown format {s:?} (expected text, json, jsonl, csv, html or timesketch)"
            )),
        }
    }
}

/// Writes the analysis in `format` as `chaudit scan --format FORMAT --min-level MIN
/// --color never` does, so every front end (CLI, browser) renders through one place.
///
/// # Errors
/// Whatever the writer returns.
pub fn render(
    analysis: &Analysis,
    format: Format,
    min: Severity,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Text => render_text(
            analysis,
            &TextOptions {
                min_level: min,
                ..TextOptions::default()
            },
            out,
        ),
        Format::Json => render_json(analysis, min, out),
        Format::Jsonl => render_jsonl(analysis, min, out),
        Format::Csv => render_csv(analysis, min, out),
        Format::Html => render_html(analysis, &HtmlOptions { min_level: min }, out),
        Format::Timesketch => render_timesketch(analysis, min, out),
    }
}

/// Findings at or above `min`.
pub fn filtered(analysis: &Analysis, min: Severity) -> impl Iterator<Item = &Finding> {
    analysis.findings.iter().filter(move |f| f.severity >= min)
}

/// Writes the analysis as one JSON object (findings below `min` left out; the summary still
/// counts them).
///
/// # Errors
/// Whatever the writer returns.
pub fn render_json(analysis: &Analysis, min: Severity, out: &mut dyn Write) -> io::Result<()> {
    #[derive(serde::Serialize)]
    struct View<'a> {
        summary: &'a crate::Summary,
        findings: Vec<&'a Finding>,
        clients: &'a [crate::ClientSummary],
        rejected: &'a [crate::Rejected],
        ledger: &'a [crate::LedgerEntry],
        timeline: &'a crate::Timeline,
    }
    let view = View {
        summary: &analysis.summary,
        findings: filtered(analysis, min).collect(),
        clients: &analysis.clients,
        rejected: &analysis.rejected,
        ledger: &analysis.ledger,
        timeline: &analysis.timeline,
    };
    // Buffered here too, so that serde_json's many small writes are inlined rather than
    // calls through `dyn Write`.
    let mut buffered = io::BufWriter::with_capacity(1 << 16, &mut *out);
    let mut ser = serde_json::Serializer::with_formatter(&mut buffered, Pretty::default());
    serde::Serialize::serialize(&view, &mut ser)?;
    buffered.write_all(b"\n")?;
    buffered.flush()
}

/// A line break with a comma before it and the indentation of 64 levels after it.
const BREAK: &[u8; 130] = b",\n                                                                                                                                ";

/// serde_json's `PrettyFormatter` (two spaces a level) writing each line break and the
/// indentation after it as one piece, where serde_json writes the break and then the two
/// spaces of each level one at a time: most of a report's writes were indentation, each a
/// call through the `dyn Write`.
#[derive(Debug, Default)]
struct Pretty {
    depth: usize,
    has_value: bool,
}

impl Pretty {
    /// A line break (after a comma if `comma`) and the indentation of the current depth.
    fn line<W: ?Sized + Write>(&self, w: &mut W, comma: bool) -> io::Result<()> {
        let start = usize::from(!comma);
        if let Some(piece) = BREAK.get(start..2 + 2 * self.depth) {
            return w.write_all(piece);
        }
        w.write_all(if comma { b",\n" } else { b"\n" })?;
        for _ in 0..self.depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    /// Opens an array or object with `bracket`.
    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    /// Closes an array or object with `bracket`, on a line of its own unless it was empty.
    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            self.line(w, false)?;
        }
        w.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for Pretty {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.line(w, !first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.line(w, !first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Writes one finding per line.
///
/// # Errors
/// Whatever the writer returns.
pub fn render_jsonl(analysis: &Analysis, min: Severity, out: &mut dyn Write) -> io::Result<()> {
    for f in filtered(analysis, min) {
        serde_json::to_writer(&mut *out, f)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// JSON values nested up to past the 64 levels `BREAK` holds, with empty and one-element
    /// arrays and objects, and strings that need escaping.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a\"\\\\ \n\u{e9}]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(70, 200, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(("[ab\"]{0,2}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// `value` nested `depth` times in one-element arrays and objects.
    fn deep(value: Value, depth: usize) -> Value {
        (0..depth).fold(value, |v, d| {
            if d % 2 == 0 {
                Value::Array(vec![v])
            } else {
                Value::Object([("k".to_owned(), v)].into_iter().collect())
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// `Pretty` writes what serde_json's own pretty printer writes.
        #[test]
        fn ok_pretty_matches_serde_json(v in value(), depth in prop_oneof![0usize..4, 60usize..70]) {
            let v = deep(v, depth);
            let mut ours = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(&mut ours, Pretty::default());
            serde::Serialize::serialize(&v, &mut ser).unwrap();
            prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string_pretty(&v).unwrap());
        }
    }
}
