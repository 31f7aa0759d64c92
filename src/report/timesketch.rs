//! `--format timesketch`: one JSON object per finding per line, with the three fields
//! Timesketch's JSONL importer requires (`datetime`, `timestamp_desc`, `message`) and the
//! finding's fields beside them, so a finding lands on the timeline with its numbers.

use std::io::{self, Write};

use serde::Serialize;

use super::filtered;
use crate::detect::Severity;
use crate::Analysis;

#[derive(Serialize)]
struct Line<'a> {
    datetime: String,
    timestamp_desc: &'static str,
    message: String,
    rule: &'static str,
    severity: &'static str,
    user: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ip: Option<String>,
    client_class: String,
    count: u64,
    last_seen: String,
    metrics: &'a std::collections::BTreeMap<&'static str, u64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tables: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    targets: &'a [String],
    evidence: Vec<String>,
    data_type: &'static str,
}

/// Writes findings at or above `min` as Timesketch JSONL, in time order.
///
/// # Errors
/// Whatever the writer returns.
pub fn render_timesketch(
    analysis: &Analysis,
    min: Severity,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut rows: Vec<_> = filtered(analysis, min).collect();
    rows.sort_by(|a, b| a.first_seen.cmp(&b.first_seen).then(a.rule.cmp(&b.rule)));
    for f in rows {
        let line = Line {
            datetime: f.first_seen.to_string(),
            timestamp_desc: "First Seen",
            message: format!("[{}] {}: {}", f.severity, f.rule, f.summary),
            rule: f.rule.name(),
            severity: f.severity.name(),
            user: &f.user,
            client_ip: f.client_ip.map(|i| i.to_string()),
            client_class: f.client_class.to_string(),
            count: f.count,
            last_seen: f.last_seen.to_string(),
            metrics: &f.metrics,
            tables: &f.tables,
            targets: &f.targets,
            evidence: f
                .evidence
                .iter()
                .map(|e| match &e.excerpt {
                    Some(x) => format!("{}:{}: {x}", e.path, e.line),
                    None => format!("{}:{}", e.path, e.line),
                })
                .collect(),
            data_type: "chaudit:finding",
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
