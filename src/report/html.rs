//! `--format html`: one self-contained page — summary, a timeline of every client's traffic
//! with the findings marked on it, per-client table with volume-vs-baseline sparklines (all
//! inline SVG), findings with their evidence, and the egress ledger. No scripts, no external assets; every string from a log is HTML-escaped (query
//! excerpts are attacker-controlled and already secret-redacted by detection).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::filtered;
use crate::detect::baseline::ClientVolume;
use crate::detect::timeline::{Timeline, Window};
use crate::detect::{human_bytes, human_count, Finding, Severity};
use crate::{Analysis, Timestamp};

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

/// A window width in words: "5 min", "1 h", "2 days".
fn human_secs(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{} day{}", s / 86_400, if s == 86_400 { "" } else { "s" }),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// A tick of the timeline's axis: "2026-11-25 22:28:37" with the date, "22:29:06" without
/// (UTC, as every time in the report).
fn axis_label(secs: i64, with_date: bool) -> String {
    let full = Timestamp::from_secs(secs).to_string();
    let (date, time) = full.split_once('T').unwrap_or(("", &full));
    let time = time.trim_end_matches('Z');
    if with_date {
        format!("{date} {time}")
    } else {
        time.to_owned()
    }
}

/// The fill of a finding's mark on the timeline.
fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#7a0010",
        Severity::High => "#d33",
        Severity::Medium => "#f90",
        Severity::Low => "#db0",
        Severity::Info => "#69c",
    }
}

/// The timeline as an inline SVG: one lane per client series and one for every other client,
/// a bar per active window (height: result bytes, scaled to the lane's own peak, so a quiet
/// client's burst shows as plainly as a busy one's; a window with queries but no bytes gets a
/// thin mark), and each finding marked where it was first seen in its client's lane. Every
/// bar and mark has a tooltip with its numbers. `None` when no query was seen.
fn timeline_svg(tl: &Timeline, findings: &[&Finding]) -> Option<String> {
    const W: i64 = 960;
    const LEFT: i64 = 210;
    const RIGHT: i64 = 12;
    const LANE: i64 = 20;
    const AXIS: i64 = 22;
    let lanes: Vec<(String, &[Window])> = tl
        .series
        .iter()
        .map(|c| {
            let who = match c.client_ip {
                Some(ip) => format!("{}@{ip}", c.user),
                None => c.user.clone(),
            };
            (who, c.windows.as_slice())
        })
        .chain(
            (!tl.other.is_empty()).then(|| ("every other client".to_owned(), tl.other.as_slice())),
        )
        .collect();
    let starts = lanes.iter().flat_map(|(_, w)| w.iter().map(|w| w.0.secs()));
    let (t0, last) = starts.fold(None, |acc: Option<(i64, i64)>, t| {
        Some(acc.map_or((t, t), |(a, b)| (a.min(t), b.max(t))))
    })?;
    let win = tl.window_secs.max(1);
    let span = (last - t0).saturating_add(win).max(1);
    let plot = W - LEFT - RIGHT;
    let x = |t: i64| LEFT + ((i128::from(t - t0) * i128::from(plot)) / i128::from(span)) as i64;
    let bar_w = ((i128::from(win) * i128::from(plot)) / i128::from(span)).max(1) as i64;
    let height = lanes.len() as i64 * LANE + AXIS;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" role=\"img\" font-size=\"11\"><title>result bytes per {} window per client; marks: findings, where first seen</title>",
        human_secs(win)
    );
    for (i, (who, windows)) in lanes.iter().enumerate() {
        let top = i as i64 * LANE;
        let base = top + LANE - 2;
        let label: String = if who.chars().count() > 32 {
            who.chars().take(31).chain(['…']).collect()
        } else {
            who.clone()
        };
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{}\"><title>{}</title>{}</text><line x1=\"{LEFT}\" x2=\"{}\" y1=\"{base}.5\" y2=\"{base}.5\" stroke=\"#ccc\"/>",
            base - 4,
            esc(who),
            esc(&label),
            W - RIGHT
        );
        let peak = windows.iter().map(|w| w.2).max().unwrap_or(0).max(1);
        for w in windows.iter() {
            let h = if w.2 == 0 {
                1
            } else {
                ((u128::from(w.2) * (LANE as u128 - 4)) / u128::from(peak)).max(2) as i64
            };
            let _ = write!(
                svg,
                "<rect x=\"{}\" y=\"{}\" width=\"{bar_w}\" height=\"{h}\" fill=\"#036\"><title>{}: {} quer{}, {}</title></rect>",
                x(w.0.secs()),
                base - h,
                w.0,
                human_count(w.1),
                if w.1 == 1 { "y" } else { "ies" },
                human_bytes(w.2)
            );
        }
    }
    for f in findings {
        let lane = tl
            .series
            .iter()
            .position(|c| c.user == f.user && c.client_ip == f.client_ip)
            .or_else(|| (!tl.other.is_empty()).then_some(lanes.len() - 1));
        let Some(lane) = lane else { continue };
        let top = lane as i64 * LANE + 1;
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{top}\" width=\"3\" height=\"{}\" fill=\"{}\"><title>{} {} at {}: {}</title></rect>",
            x(f.first_seen.secs()).clamp(LEFT, W - RIGHT - 3),
            LANE - 3,
            severity_colour(f.severity),
            f.severity.name(),
            f.rule.name(),
            f.first_seen,
            esc(&f.summary)
        );
    }
    let axis = lanes.len() as i64 * LANE;
    for k in 0..=4 {
        let t = t0 + span * k / 4;
        let anchor = match k {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            "<line x1=\"{0}\" x2=\"{0}\" y1=\"0\" y2=\"{1}\" stroke=\"#eee\"/><text x=\"{0}\" y=\"{2}\" text-anchor=\"{anchor}\">{3}</text>",
            x(t).min(W - RIGHT),
            axis + 4,
            axis + 16,
            axis_label(t, k == 0 || span > 86_400)
        );
    }
    svg.push_str("</svg>");
    Some(svg)
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

    let shown: Vec<&Finding> = filtered(analysis, opts.min_level).collect();
    if let Some(svg) = timeline_svg(&analysis.timeline, &shown) {
        let _ = write!(
            h,
            "<h2>Timeline</h2><p><small>result bytes per {} window, each client's lane scaled to its own peak; coloured marks: findings where first seen (hover for numbers)</small></p>{svg}",
            human_secs(analysis.timeline.window_secs)
        );
    }

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
    for f in shown {
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
    fn ok_timeline_has_a_bar_per_window_and_marks_findings() {
        // Two clients over three minutes; the external passwordless one reads a lot.
        let mut log = String::from("type\tevent_time\tuser\taddress\tquery\tresult_bytes\n");
        for (t, user, ip, bytes) in [
            ("10:00:05", "<etl>", "10.0.0.2", 10),
            ("10:01:05", "<etl>", "10.0.0.2", 0),
            ("10:02:05", "<etl>", "10.0.0.2", 30),
            ("10:02:06", "default", "198.51.100.7", 50_000_000),
        ] {
            log.push_str(&format!(
                "QueryFinish\t2025-01-29 {t}\t{user}\t{ip}\tSELECT * FROM t\t{bytes}\n"
            ));
        }
        let a = analyze(Config::default(), &[("q.tsv", log.as_bytes())]).unwrap();
        let windows: usize = a.timeline.series.iter().map(|c| c.windows.len()).sum();
        assert!(windows >= 4, "{:?}", a.timeline);
        let critical = a
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Critical)
            .count();
        assert!(critical >= 1, "{:?}", a.findings);

        let mut out = Vec::new();
        render_html(&a, &HtmlOptions::default(), &mut out).unwrap();
        let html = String::from_utf8(out).unwrap();
        let tl =
            &html[html.find("<h2>Timeline</h2>").unwrap()..html.find("<h2>Clients</h2>").unwrap()];
        assert_eq!(tl.matches("fill=\"#036\"").count(), windows, "{tl}");
        assert_eq!(tl.matches("fill=\"#7a0010\"").count(), critical, "{tl}");
        assert!(
            tl.contains("critical unauthenticated-read at 2025-01-29T10:02:06Z"),
            "{tl}"
        );
        assert!(
            tl.contains("&lt;etl&gt;@10.0.0.2") && !tl.contains("<etl>"),
            "{tl}"
        );
        assert!(
            tl.contains("2025-01-29 10:00:05") && tl.contains("per 5 s window"),
            "{tl}"
        );
        // The window with queries and no bytes still shows, one pixel high.
        assert!(
            tl.contains("height=\"1\" fill=\"#036\"><title>2025-01-29T10:01:05Z: 1 query, 0 B"),
            "{tl}"
        );

        // A finding from before the first window (a login burst, say) is marked at the left
        // edge of the plot, not over the lane labels.
        let mut early = a.findings[0].clone();
        early.first_seen = Timestamp::from_secs(0);
        let svg = timeline_svg(&a.timeline, &[&early]).unwrap();
        let mark = format!("fill=\"{}\"><title>", severity_colour(early.severity));
        let at = svg.find(&mark).unwrap();
        let rect = &svg[svg[..at].rfind("<rect").unwrap()..at];
        assert!(rect.starts_with("<rect x=\"210\" "), "{rect}");

        // No queries, no chart.
        let a = analyze(Config::default(), &[("q.tsv", &b"type\tevent_time\n"[..])]).unwrap();
        let mut out = Vec::new();
        render_html(&a, &HtmlOptions::default(), &mut out).unwrap();
        assert!(!String::from_utf8(out)
            .unwrap()
            .contains("<h2>Timeline</h2>"));
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
