//! `--format csv`: the findings timeline, one row per finding in time order, RFC 4180
//! quoting. Cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR)
//! are prefixed with `'`: query excerpts are attacker-controlled.

use std::io::{self, Write};

use super::filtered;
use crate::detect::{Finding, Severity};
use crate::Analysis;

const HEADER: &[&str] = &[
    "first_seen",
    "last_seen",
    "severity",
    "rule",
    "user",
    "client_ip",
    "client_class",
    "count",
    "observed",
    "baseline_n",
    "p50",
    "p99",
    "mad",
    "score",
    "summary",
    "tables",
    "targets",
    "evidence",
];

/// One CSV cell, quoted when needed and defused against formula injection.
fn cell(s: &str) -> String {
    let mut s = s.to_owned();
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        s.insert(0, '\'');
    }
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn metric(f: &Finding, k: &str) -> String {
    f.metrics.get(k).map(u64::to_string).unwrap_or_default()
}

/// Writes findings at or above `min`, earliest first.
///
/// # Errors
/// Whatever the writer returns.
pub fn render_csv(analysis: &Analysis, min: Severity, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", HEADER.join(","))?;
    let mut rows: Vec<&Finding> = filtered(analysis, min).collect();
    rows.sort_by(|a, b| {
        a.first_seen
            .cmp(&b.first_seen)
            .then(b.severity.cmp(&a.severity))
            .then(a.rule.cmp(&b.rule))
    });
    for f in rows {
        let score = f
            .metrics
            .get("score_x100")
            .map(|s| format!("{}.{:02}", s / 100, s % 100))
            .unwrap_or_default();
        let evidence: Vec<String> = f
            .evidence
            .iter()
            .map(|e| match &e.excerpt {
                Some(x) => format!("{}:{}: {x}", e.path, e.line),
                None => format!("{}:{}", e.path, e.line),
            })
            .collect();
        let cells = [
            f.first_seen.to_string(),
            f.last_seen.to_string(),
            f.severity.name().to_owned(),
            f.rule.name().to_owned(),
            f.user.clone(),
            f.client_ip.map(|i| i.to_string()).unwrap_or_default(),
            f.client_class.to_string(),
            f.count.to_string(),
            metric(f, "observed"),
            metric(f, "baseline_n"),
            metric(f, "p50"),
            metric(f, "p99"),
            metric(f, "mad"),
            score,
            f.summary.clone(),
            f.tables.join(" "),
            f.targets.join(" "),
            evidence.join(" | "),
        ];
        let line: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        writeln!(out, "{}", line.join(","))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_quoting_and_formula_defusing() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("-1,2"), "\"'-1,2\"");
    }
}
