//! The egress ledger as text: per day, who received or pushed out how much, through which
//! channel, to where. (JSON carries it as `ledger`; HTML as a section.)

use std::io::{self, Write};

use crate::detect::{human_bytes, human_count};
use crate::Analysis;

/// Writes the ledger as an aligned table with per-day totals.
///
/// # Errors
/// Whatever the writer returns.
pub fn render_ledger_text(analysis: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "Egress ledger (bytes that left, per client and day, UTC)"
    )?;
    if analysis.ledger.is_empty() {
        writeln!(
            out,
            "  nothing left through external clients or table functions"
        )?;
        return Ok(());
    }
    let mut day = "";
    let mut total = 0u64;
    for e in &analysis.ledger {
        if e.day != day {
            if !day.is_empty() {
                writeln!(out, "  {:>12}  total", human_bytes(total))?;
            }
            day = &e.day;
            total = 0;
            writeln!(out, "{day}")?;
        }
        total = total.saturating_add(e.bytes);
        let who = match e.client_ip {
            Some(ip) => format!("{}@{ip}", e.user),
            None => e.user.clone(),
        };
        writeln!(
            out,
            "  {:>12}  {:<15} {:<40} → {}  ({} quer{}, {} rows, {}–{})",
            human_bytes(e.bytes),
            e.channel.name(),
            who,
            e.destination,
            human_count(e.queries),
            if e.queries == 1 { "y" } else { "ies" },
            human_count(e.rows),
            e.first_seen,
            e.last_seen
        )?;
    }
    writeln!(out, "  {:>12}  total", human_bytes(total))
}
