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
    serde_json::to_writer_pretty(&mut *out, &view)?;
    out.write_all(b"\n")
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
