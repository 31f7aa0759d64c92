//! The human report: a summary a DBA can read at 3 a.m., then findings by severity and time.

use std::io::{self, Write};

use crate::detect::{human_bytes, human_count, Finding, Severity};
use crate::net::NetClass;
use crate::Analysis;

/// Options of the text report.
#[derive(Clone, Copy, Debug)]
pub struct TextOptions {
    /// Findings below this are not listed (they are still counted).
    pub min_level: Severity,
    /// Use ANSI colours.
    pub color: bool,
    /// Clients listed in the top-clients table.
    pub top_clients: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        Self {
            min_level: Severity::Info,
            color: false,
            top_clients: 10,
        }
    }
}

struct Paint(bool);

impl Paint {
    fn sev(&self, s: Severity) -> String {
        let label = format!("{:<8}", s.name().to_ascii_uppercase());
        if !self.0 {
            return label;
        }
        let code = match s {
            Severity::Critical => "1;97;41",
            Severity::High => "1;31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        format!("\x1b[{code}m{label}\x1b[0m")
    }

    fn dim(&self, s: &str) -> String {
        if self.0 {
            format!("\x1b[2m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    fn bold(&self, s: &str) -> String {
        if self.0 {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
}

/// Writes the text report.
///
/// # Errors
/// Whatever the writer returns.
pub fn render_text(a: &Analysis, opts: &TextOptions, out: &mut dyn Write) -> io::Result<()> {
    let p = Paint(opts.color);
    let s = &a.summary;
    let files = s.sources.len();
    writeln!(
        out,
        "{} {} file{}, {} events ({} failed, {} unfinished, {} sub-queries), {} rejected records",
        p.bold("chaudit:"),
        files,
        if files == 1 { "" } else { "s" },
        human_count(s.events),
        human_count(s.failed),
        human_count(s.unfinished),
        human_count(s.subqueries),
        human_count(s.rejected),
    )?;
    for src in &s.sources {
        let fmt = src.format.map_or("unrecognised format", |f| f.name());
        writeln!(
            out,
            "  {}  {fmt}, {}, {} events, {} rejected",
            src.path,
            human_bytes(src.bytes),
            human_count(src.events),
            human_count(src.rejected)
        )?;
    }
    match (s.first_event, s.last_event) {
        (Some(f), Some(l)) => writeln!(out, "time range   {f} … {l}")?,
        _ => writeln!(out, "time range   (no events)")?,
    }
    let external = a
        .clients
        .iter()
        .filter(|c| c.client_class == NetClass::External)
        .count();
    writeln!(
        out,
        "clients      {} ({external} external)",
        human_count(s.clients)
    )?;
    if s.clients_untracked + s.baseline_untracked + s.findings_folded > 0 {
        writeln!(
            out,
            "caps         {} events of clients past max_tracked_clients untracked, {} not baselined; {} folded past max_findings",
            human_count(s.clients_untracked),
            human_count(s.baseline_untracked),
            human_count(s.findings_folded),
        )?;
    }
    let sev: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .map(|v| {
            format!(
                "{} {}",
                s.by_severity.get(v).copied().unwrap_or(0),
                v.name()
            )
        })
        .collect();
    writeln!(out, "findings     {} ({})", s.findings, sev.join(", "))?;

    if !a.rejected.is_empty() {
        writeln!(out, "\n{}", p.bold("rejected records (first few)"))?;
        for r in a.rejected.iter().take(5) {
            writeln!(out, "  {r}")?;
        }
        if s.rejected > 5 {
            writeln!(out, "  … {} more", human_count(s.rejected - 5))?;
        }
    }

    if !a.clients.is_empty() {
        writeln!(out, "\n{}", p.bold("top clients by result volume"))?;
        writeln!(
            out,
            "  {:<16} {:<40} {:<9} {:>9} {:>11}",
            "user", "address", "class", "queries", "result"
        )?;
        for c in a.clients.iter().take(opts.top_clients) {
            let ip = c
                .client_ip
                .map_or_else(|| "-".to_owned(), |ip| ip.to_string());
            writeln!(
                out,
                "  {:<16} {:<40} {:<9} {:>9} {:>11}",
                c.user,
                ip,
                c.client_class.to_string(),
                human_count(c.queries),
                human_bytes(c.result_bytes)
            )?;
        }
    }

    let shown: Vec<&Finding> = super::filtered(a, opts.min_level).collect();
    if shown.is_empty() {
        let note = if a.findings.is_empty() {
            "no findings".to_owned()
        } else {
            format!("no findings at or above {}", opts.min_level)
        };
        writeln!(out, "\n{note}")?;
        return Ok(());
    }
    writeln!(out)?;
    for f in shown {
        let client = match f.client_ip {
            Some(ip) => format!("{} @ {ip} ({})", f.user, f.client_class),
            None => format!("{} @ ? ({})", f.user, f.client_class),
        };
        writeln!(
            out,
            "{} {}  {}  {} … {}  ×{}",
            p.sev(f.severity),
            p.bold(f.rule.name()),
            client,
            f.first_seen,
            f.last_seen,
            human_count(f.count)
        )?;
        writeln!(out, "  {}", f.summary)?;
        let metrics: Vec<String> = f.metrics.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(out, "  {} {}", p.dim("observed:"), metrics.join(" "))?;
        for a in &f.assumptions {
            writeln!(out, "  {} {a}", p.dim("assumed: "))?;
        }
        for e in &f.evidence {
            let loc = format!("{}:{}", e.path, e.line);
            match &e.excerpt {
                Some(x) => writeln!(out, "  {} {loc}  {x}", p.dim("evidence:"))?,
                None => writeln!(out, "  {} {loc}", p.dim("evidence:"))?,
            }
        }
        writeln!(out)?;
    }
    Ok(())
}
