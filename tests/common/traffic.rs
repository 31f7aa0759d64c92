//! Deterministic generated query_log traffic (JSONEachRow) for baseline and cron tests.

#![allow(dead_code, unreachable_pub)]

use std::fmt::Write as _;

/// 2025-01-16 00:00:00 UTC: day 0 of the generated traffic.
pub const DAY0: i64 = 1_736_985_600;

/// xorshift64*: a tiny seeded generator, so traffic is the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `base` ± `pct` percent.
    pub fn jitter(&mut self, base: u64, pct: u64) -> u64 {
        let span = base * pct / 100;
        base - span + self.next() % (2 * span + 1)
    }
}

fn time(t: i64) -> String {
    let d = t.div_euclid(86_400);
    let s = t.rem_euclid(86_400);
    // Civil date for days after 1970 (Howard Hinnant's algorithm).
    let z = d + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// One QueryFinish row.
pub fn row(out: &mut String, t: i64, user: &str, ip: &str, query: &str, rows: u64, bytes: u64) {
    let _ = writeln!(
        out,
        r#"{{"type":"QueryFinish","event_time":"{}","user":"{user}","address":"::ffff:{ip}","query":"{query}","read_rows":{},"result_rows":{rows},"result_bytes":{bytes},"is_initial_query":1}}"#,
        time(t),
        rows * 3,
    );
}

/// One ordinary day (`day` counted from [`DAY0`]) of four internal clients.
pub fn ordinary_day(out: &mut String, day: i64, seed: u64) {
    let mut r = Rng::new(seed ^ (day as u64).wrapping_mul(7919));
    let base = DAY0 + day * 86_400;
    for hour in 0..24 {
        let h = base + hour * 3600;
        for q in 0..20 {
            let b = r.jitter(1_500_000, 20);
            row(
                out,
                h + 60 + q * 170,
                "etl",
                "10.0.0.5",
                "SELECT * FROM raw.events WHERE ts > now() - 3600",
                b / 100,
                b,
            );
        }
        let busy = (8..18).contains(&hour);
        for q in 0..(if busy { 10 } else { 1 }) {
            let b = r.jitter(if busy { 2_000_000 } else { 200_000 }, 25);
            row(
                out,
                h + 120 + q * 300,
                "bi",
                "10.0.0.6",
                "SELECT region, sum(amount) FROM sales.orders GROUP BY region",
                b / 50,
                b,
            );
        }
        for q in 0..50 {
            let b = r.jitter(100_000, 30);
            row(
                out,
                h + 30 + q * 70,
                "app",
                "10.0.0.7",
                "SELECT * FROM app.users WHERE id = 42",
                1,
                b,
            );
        }
        if (9..17).contains(&hour) {
            for q in 0..5 {
                let b = r.jitter(5_000_000, 30);
                let table = if q % 2 == 0 {
                    "sales.orders"
                } else {
                    "sales.items"
                };
                row(
                    out,
                    h + 200 + q * 600,
                    "analyst",
                    "10.0.0.8",
                    &format!("SELECT * FROM {table} LIMIT 100000"),
                    b / 80,
                    b,
                );
            }
        }
    }
}

/// `days` ordinary days from day 0.
pub fn history(days: i64, seed: u64) -> String {
    let mut s = String::new();
    for d in 0..days {
        ordinary_day(&mut s, d, seed);
    }
    s
}

/// Day `day` with a 2 GiB spike from `bi` at 03:00 and a new external client.
pub fn planted_day(day: i64, seed: u64) -> String {
    let mut s = String::new();
    ordinary_day(&mut s, day, seed);
    let base = DAY0 + day * 86_400;
    row(
        &mut s,
        base + 3 * 3600 + 1500,
        "bi",
        "10.0.0.6",
        "SELECT * FROM sales.orders",
        20_000_000,
        2 << 30,
    );
    row(
        &mut s,
        base + 14 * 3600 + 10,
        "default",
        "203.0.113.9",
        "SHOW TABLES",
        12,
        300,
    );
    row(
        &mut s,
        base + 14 * 3600 + 40,
        "default",
        "203.0.113.9",
        "SELECT * FROM default.log_stream",
        40_000,
        5_000_000,
    );
    s
}
