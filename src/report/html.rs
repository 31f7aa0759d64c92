//! `--format html`: one self-contained page — summary, per-client table with
//! volume-vs-baseline sparklines (inline SVG), findings with their evidence, and the egress
//! ledger. No scripts, no external assets; every string from a log is HTML-escaped (query
//! excerpts are attacker-controlled and already secret-redacted by detection).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::filtered;
use crate::detect::baseline::ClientVolume;
use crate::detect::{human_bytes, human_count, Severity};
use crate::Analysis;

/// HTML rendering options.
#[derive(Clone, Debug)]
pub struct HtmlOptions {
    /// Findings below this are left out (the summary still counts them).
    pub min_level: Severity,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        Self {
            min_level: Severity::Info,
        }
    }
}

/// Escapes text for element content and quoted attributes.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums}\
.critical{background:#7a0010;color:#fff}.high{background:#d33;color:#fff}.medium{background:#f90}.low{background:#fd6}.info{background:#def}\
code{white-space:pre-wrap;word-break:break-all}details{margin:.3em 0}";

/// An inline SVG sparkline of a client's bucket volumes, with its baseline p50 and p99.
fn sparkline(v: &ClientVolume) -> String {
    const W: u64 = 160;
    const H: u64 = 32;
    let max = v
        .series
        .iter()
        .map(|(_, x)| *x)
        .chain([v.p99, 1])
        .max()
        .unwrap_or(1);
    let n = v.series.len().max(2) as u64 - 1;
    let y =
        |x: u64| -> u64 { H - 2 - (u128::from(x) * u128::from(H - 4) / u128::from(max)) as u64 };
    let mut points = String::new();
    for (i, (_, x)) in v.series.iter().enumerate() {
        let _ = write!(points, "{},{} ", i as u64 * W / n, y(*x));
    }
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\"><title>result bytes per bucket; dashed: baseline p99, dotted: p50 ({})</title>",
        v.source.name()
    );
    if v.p99 > 0 {
        let _ = write!(
            svg,
            "<line x1=\"0\" x2=\"{W}\" y1=\"{0}\" y2=\"{0}\" stroke=\"#c00\" stroke-dasharray=\"4 2\"/><line x1=\"0\" x2=\"{W}\" y1=\"{1}\" y2=\"{1}\" stroke=\"#888\" stroke-dasharray=\"1 2\"/>",
            y(v.p99),
            y(v.p50)
        );
    }
    let _ = write!(
        svg,
        "<polyline fill=\"none\" stroke=\"#036\" stroke-width=\"1.5\" points=\"{}\"/></svg>",
        points.trim_end()
    );
    svg
}

/// Writes the whole page.
///
/// # Errors
/// Whatever the writer returns.
pub fn render_html(analysis: &Analysis, opts: &HtmlOptions, out: &mut dyn Write) -> io::Result<()> {
    let s = &analysis.summary;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>chaudit report</title><style>{STYLE}</style></head><body><h1>chaudit report</h1>"
    );
    let span = match (s.first_event, s.last_event) {
        (Some(a), Some(b)) => format!("{a} – {b}"),
        _ => "no events".to_owned(),
    };
    let _ = write!(
        h,
        "<h2>Summary</h2><table><tr><th>events</th><td class=\"num\">{}</td></tr><tr><th>time span</th><td>{}</td></tr><tr><th>clients</th><td class=\"num\">{}</td></tr><tr><th>rejected records</th><td class=\"num\">{}</td></tr><tr><th>findings</th><td>",
        human_count(s.events),
        esc(&span),
        human_count(s.clients),
        human_count(s.rejected),
    );
    for (sev, n) in s.by_severity.iter().rev() {
        let _ = write!(
            h,
            "<span class=\"{0}\">&nbsp;{0}: {n}&nbsp;</span> ",
            sev.name()
        );
    }
    h.push_str("</td></tr></table>");

    h.push_str("<h2>Clients</h2><table><tr><th>user</th><th>address</th><th>class</th><th>queries</th><th>result bytes</th><th>rows read</th><th>volume vs baseline</th></tr>");
    for c in analysis.clients.iter().take(500) {
        let vol = analysis.volumes.iter().find(|v| {
            v.key.address == c.client_ip && v.key.user.as_ref().is_none_or(|u| *u == c.user)
        });
        let spark = vol.map_or_else(
            || "–".to_owned(),
            |v| {
                format!(
                    "{} <small>p50 {} · p99 {} ({})</small>",
                    sparkline(v),
                    human_bytes(v.p50),
                    human_bytes(v.p99),
                    v.source.name()
                )
            },
        );
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{spark}</td></tr>",
            esc(&c.user),
            c.client_ip.map(|i| i.to_string()).unwrap_or_default(),
            c.client_class,
            human_count(c.queries),
            human_bytes(c.result_bytes),
            human_count(c.read_rows),
        );
    }
    h.push_str("</table>");

    h.push_str("<h2>Findings</h2>");
    let mut any = false;
    for f in filtered(analysis, opts.min_level) {
        any = true;
        let _ = write!(
            h,
            "<details open><summary><span class=\"{0}\">&nbsp;{0}&nbsp;</span> <b>{1}</b> {2} – {3}: {4}</summary><table><tr><th>metrics</th><td>",
            f.severity.name(),
            f.rule.name(),
            f.first_seen,
            f.last_seen,
            esc(&f.summary)
        );
        let metrics: Vec<String> = f.metrics.iter().map(|(k, v)| format!("{k}={v}")).collect();
        h.push_str(&esc(&metrics.join(" ")));
        h.push_str("</td></tr>");
        for (label, list) in [
            ("tables", &f.tables),
            ("targets", &f.targets),
            ("assumptions", &f.assumptions),
        ] {
            if !list.is_empty() {
                let _ = write!(
                    h,
                    "<tr><th>{label}</th><td>{}</td></tr>",
                    esc(&list.join(", "))
                );
            }
        }
        for e in &f.evidence {
            let _ = write!(
                h,
                "<tr><th>{}:{}</th><td><code>{}</code></td></tr>",
                esc(&e.path),
                e.line,
                esc(e.excerpt.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table></details>");
    }
    if !any {
        h.push_str("<p>No findings at or above the chosen level.</p>");
    }

    h.push_str("<h2>Egress ledger</h2>");
    if analysis.ledger.is_empty() {
        h.push_str("<p>Nothing left through external clients or table functions.</p>");
    } else {
        h.push_str("<table><tr><th>day (UTC)</th><th>channel</th><th>user</th><th>client</th><th>destination</th><th>queries</th><th>rows</th><th>bytes</th></tr>");
        for e in &analysis.ledger {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&e.day),
                e.channel.name(),
                esc(&e.user),
                e.client_ip.map(|i| i.to_string()).unwrap_or_default(),
                esc(&e.destination),
                human_count(e.queries),
                human_count(e.rows),
                human_bytes(e.bytes)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    out.write_all(h.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{analyze, Config};

    #[test]
    fn ok_self_contained_and_escaped() {
        let log = "type\tevent_time\tuser\taddress\tquery\tresult_bytes\n\
                   QueryFinish\t2025-01-29 10:11:12\tdefault\t198.51.100.7\tSELECT '<script>x</script>' FROM t\t5000000\n";
        let a = analyze(Config::default(), &[("q.tsv", log.as_bytes())]).unwrap();
        let mut out = Vec::new();
        render_html(&a, &HtmlOptions::default(), &mut out).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("src=") && !html.contains("href="));
        assert!(html.contains("Egress ledger") && html.contains("4.8 MiB"));
    }

    #[test]
    fn ok_sparkline_scales_to_baseline() {
        let v = ClientVolume {
            key: crate::detect::baseline::ClientKey::default(),
            external: false,
            series: vec![(crate::Timestamp(0), 10), (crate::Timestamp(1), 100)],
            total: 110,
            p50: 10,
            p99: 50,
            source: crate::detect::baseline::BaselineSource::Own,
        };
        let svg = sparkline(&v);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("points=\"0,28 160,2\""), "{svg}");
    }
}
