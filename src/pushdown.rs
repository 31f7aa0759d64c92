//! The SQL that `chaudit pull` and `chaudit sql` send to a live ClickHouse server, and the
//! parsing of what comes back from the probes and from the pushed-down aggregates.
//!
//! Pure functions over strings: this module opens no connection (the CLI owns the HTTP
//! client). A pull first probes the server ([`PROBE_VERSION`], [`PROBE_COLUMNS`],
//! [`PROBE_FEATURES`] → [`ServerInfo`]), then asks for only the query_log columns the parser
//! reads, in `TSVWithNames`, converting an 18.x `FixedString(16)` address to text.
//!
//! Pushdown splits the work: the server returns the *candidate rows* — every row that can
//! contribute to a rule (passwordless principals, table functions, external clients in a
//! window whose volume can cross a threshold) — and per-(user, address, window)
//! [`Bucket`]s of counts and volumes. Each candidate condition is a superset of what its rule
//! keeps, and rules only ever sum rows they keep, so the findings equal those of a full pull;
//! [`apply_buckets`] then puts the server's totals into the summary and client table.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::config::Config;
use crate::detect::{ClientSummary, Settings};
use crate::net::{normalize, DEFAULT_INTERNAL};
use crate::parse::{DEFAULT_COLUMNS, QUERY_LOG_COLUMNS};
use crate::sql::EGRESS_FUNCTIONS;
use crate::time::{Timestamp, MICROS_PER_SEC};
use crate::Analysis;

/// Asks the server's version and the time zone it renders `DateTime`s in.
pub const PROBE_VERSION: &str = "SELECT version(), timezone() FORMAT TabSeparated";

/// Asks the server's clock (Unix seconds): an incremental pull reads up to a moment the
/// server chose, never the client's clock.
pub const PROBE_NOW: &str = "SELECT toUnixTimestamp(now()) FORMAT TabSeparated";

/// Reads the answer to [`PROBE_NOW`].
///
/// # Errors
/// Anything but one integer.
pub fn parse_now(text: &str) -> Result<Timestamp, PullError> {
    text.trim()
        .parse::<i64>()
        .map(Timestamp::from_secs)
        .map_err(|_| PullError::BadProbe(format!("now(): {:?}", text.trim())))
}

/// Asks the columns (and types) of `system.query_log` and `system.session_log`.
pub const PROBE_COLUMNS: &str = "SELECT table, name, type FROM system.columns \
     WHERE database = 'system' AND table IN ('query_log', 'session_log') FORMAT TabSeparated";

/// Asks whether `isIPAddressInRange` and `clusterAllReplicas` exist (18.x has neither).
pub const PROBE_FEATURES: &str =
    "SELECT name FROM system.functions WHERE name = 'isIPAddressInRange' \
     UNION ALL SELECT name FROM system.table_functions WHERE name = 'clusterAllReplicas' \
     FORMAT TabSeparated";

/// session_log columns worth reading; a pull selects those the server has.
const SESSION_LOG_COLUMNS: &[&str] = &[
    "type",
    "auth_id",
    "session_id",
    "event_time",
    "event_time_microseconds",
    "user",
    "auth_type",
    "client_address",
    "client_port",
    "interface",
    "http_user_agent",
    "client_name",
    "failure_reason",
];

/// What went wrong building or reading pull SQL.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullError {
    /// A probe's answer did not have the expected shape.
    BadProbe(String),
    /// The server has no `system.query_log` (it needs `<query_log>` in its configuration).
    NoQueryLog,
    /// `--since`/`--until` is neither a duration (`90m`, `1h`, `7d`) nor an RFC 3339 time.
    BadTime(String),
    /// A network is not an address or CIDR.
    BadCidr(String),
    /// A cluster name that is empty or holds a control character.
    BadCluster(String),
    /// An aggregate row (1-based line) that does not parse.
    BadBucket {
        /// 1-based line of the aggregates answer.
        line: u64,
        /// What was wrong.
        reason: String,
    },
}

impl fmt::Display for PullError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadProbe(s) => write!(f, "unexpected answer from the server: {s}"),
            Self::NoQueryLog => f.write_str(
                "the server has no system.query_log (enable <query_log> in its config.xml)",
            ),
            Self::BadTime(s) => write!(
                f,
                "bad time `{s}`: expected a duration such as 90m, 1h, 7d or an RFC 3339 time such as 2025-01-29T10:00:00Z"
            ),
            Self::BadCidr(s) => write!(f, "bad network `{s}`: expected an address or CIDR"),
            Self::BadCluster(s) => write!(f, "bad cluster name `{}`", s.escape_debug()),
            Self::BadBucket { line, reason } => {
                write!(f, "aggregates line {line}: {reason}")
            }
        }
    }
}

impl std::error::Error for PullError {}

/// What the probes told about a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    /// `version()`, e.g. `18.16.1` or `26.9.2.1`.
    pub version: String,
    /// `timezone()`: the zone its text formats render `DateTime` in.
    pub timezone: String,
    /// query_log column → type.
    pub query_log: BTreeMap<String, String>,
    /// session_log column → type (empty when the table does not exist).
    pub session_log: BTreeMap<String, String>,
    /// `isIPAddressInRange` exists (≈21.4+).
    pub ip_in_range: bool,
    /// `clusterAllReplicas` exists (≈20.x+).
    pub cluster_all_replicas: bool,
}

impl ServerInfo {
    /// Reads the answers to [`PROBE_VERSION`], [`PROBE_COLUMNS`] and [`PROBE_FEATURES`]
    /// (all `TabSeparated`).
    ///
    /// # Errors
    /// An answer of the wrong shape, or no `system.query_log`.
    pub fn from_probes(version: &str, columns: &str, features: &str) -> Result<Self, PullError> {
        let line = version.lines().next().unwrap_or_default();
        let (version, timezone) = line
            .split_once('\t')
            .ok_or_else(|| PullError::BadProbe(format!("version probe said `{line}`")))?;
        let mut info = Self {
            version: version.trim().to_owned(),
            timezone: timezone.trim().to_owned(),
            query_log: BTreeMap::new(),
            session_log: BTreeMap::new(),
            ip_in_range: false,
            cluster_all_replicas: false,
        };
        for line in columns.lines().filter(|l| !l.is_empty()) {
            let mut f = line.splitn(3, '\t');
            let (Some(table), Some(name), Some(ty)) = (f.next(), f.next(), f.next()) else {
                return Err(PullError::BadProbe(format!("column probe said `{line}`")));
            };
            let map = match table {
                "query_log" => &mut info.query_log,
                "session_log" => &mut info.session_log,
                _ => continue,
            };
            map.insert(unescape_tsv(name), unescape_tsv(ty));
        }
        for name in features.lines().map(str::trim) {
            match name {
                "isIPAddressInRange" => info.ip_in_range = true,
                "clusterAllReplicas" => info.cluster_all_replicas = true,
                _ => {}
            }
        }
        if info.query_log.is_empty() {
            return Err(PullError::NoQueryLog);
        }
        Ok(info)
    }

    /// What `chaudit sql` assumes without a server to ask: a current (26.x) server in UTC.
    #[must_use]
    pub fn modern() -> Self {
        let typed = |name: &str| {
            let ty = match name {
                "address" | "initial_address" | "connection_address" => "IPv6",
                _ => "String",
            };
            (name.to_owned(), ty.to_owned())
        };
        Self {
            version: "26.9".to_owned(),
            timezone: "UTC".to_owned(),
            query_log: DEFAULT_COLUMNS.iter().map(|c| typed(c)).collect(),
            // 26.x session_log has no http_user_agent (the master source has).
            session_log: SESSION_LOG_COLUMNS
                .iter()
                .filter(|c| **c != "http_user_agent")
                .map(|c| typed(c))
                .collect(),
            ip_in_range: true,
            cluster_all_replicas: true,
        }
    }

    fn has(&self, column: &str) -> bool {
        self.query_log.contains_key(column)
    }

    /// The address column as text (`::ffff:198.51.100.7`), whatever its type.
    fn address_text(&self) -> &'static str {
        if self.raw_address() {
            "IPv6NumToString(address)"
        } else {
            "toString(address)"
        }
    }

    /// Whether the address is logged as raw `FixedString(16)` (18.x) rather than `IPv6`.
    #[must_use]
    pub fn raw_address(&self) -> bool {
        self.query_log
            .get("address")
            .is_some_and(|t| t.starts_with("FixedString"))
    }
}

/// One end of a time range: `Ago` is relative to the server's `now()`, so the client's clock
/// never matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBound {
    /// This many seconds before the server's `now()`.
    Ago(u64),
    /// An instant.
    At(Timestamp),
}

impl FromStr for TimeBound {
    type Err = PullError;

    /// `90s`, `15m`, `1h`, `7d`, `2w`, or RFC 3339 (`2025-01-29T10:00:00Z`,
    /// `2025-01-29T10:00:00.123456+01:00`; a space for `T` and no offset mean UTC).
    fn from_str(s: &str) -> Result<Self, PullError> {
        let bad = || PullError::BadTime(s.to_owned());
        let t = s.trim();
        if let Some(unit) = t.chars().last().filter(char::is_ascii_alphabetic) {
            if let Ok(n) = t.get(..t.len() - 1).unwrap_or_default().parse::<u64>() {
                let mult: u64 = match unit {
                    's' => 1,
                    'm' => 60,
                    'h' => 3600,
                    'd' => 86_400,
                    'w' => 604_800,
                    _ => return Err(bad()),
                };
                return n.checked_mul(mult).map(TimeBound::Ago).ok_or_else(bad);
            }
        }
        let norm = t.replacen(' ', "T", 1);
        if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(&norm) {
            return Ok(Self::At(Timestamp(dt.timestamp_micros())));
        }
        let naive = chrono::NaiveDateTime::parse_from_str(&norm, "%Y-%m-%dT%H:%M:%S%.f")
            .map_err(|_| bad())?;
        Ok(Self::At(Timestamp(naive.and_utc().timestamp_micros())))
    }
}

/// What to pull and from where.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullSpec {
    /// Read every replica of this cluster (`clusterAllReplicas`, or `cluster` on old servers).
    pub cluster: Option<String>,
    /// Rows at or after this time.
    pub since: Option<TimeBound>,
    /// Rows before this time.
    pub until: Option<TimeBound>,
    /// Only rows that end an execution (`QueryFinish`, `ExceptionBeforeStart`,
    /// `ExceptionWhileProcessing`), as an incremental pull reads: each execution then lies in
    /// exactly one `[since, until)` range, by the time it ended, whole (the end row carries
    /// all the start row does). A query still running at `until` is read by the pull after it
    /// ends; one whose server died before it ended is never read.
    pub finished_only: bool,
}

/// The three statements of a pushdown pull.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushdownSql {
    /// Rows the rules need, `TSVWithNames`, for the ordinary parser.
    pub candidates: String,
    /// Per-(user, address, window) totals, `TabSeparated`, read by [`parse_buckets`].
    pub aggregates: String,
}

/// A ClickHouse string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn unescape_tsv(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// `2025-01-29 10:11:12.123456` (UTC) for `toDateTime64(…, 6, 'UTC')`.
fn sql_time(t: Timestamp, micros: bool) -> String {
    let s = Timestamp(t.0 - t.0.rem_euclid(MICROS_PER_SEC)).to_string();
    let secs = s.trim_end_matches('Z').replacen('T', " ", 1);
    if micros {
        format!("{secs}.{:06}", t.0.rem_euclid(MICROS_PER_SEC))
    } else {
        secs
    }
}

impl PullSpec {
    fn source(&self, info: &ServerInfo, table: &str) -> Result<String, PullError> {
        match &self.cluster {
            None => Ok(format!("system.{table}")),
            Some(name) if name.is_empty() || name.chars().any(char::is_control) => {
                Err(PullError::BadCluster(name.clone()))
            }
            Some(name) => {
                let f = if info.cluster_all_replicas {
                    "clusterAllReplicas"
                } else {
                    "cluster"
                };
                Ok(format!("{f}({}, system.{table})", quote(name)))
            }
        }
    }

    /// The time condition on a log table with `event_date`, `event_time` and maybe
    /// `event_time_microseconds`.
    fn time_filter(&self, has_micros: bool) -> String {
        let mut conds = Vec::new();
        let mut bound = |b: TimeBound, op: &str| match b {
            TimeBound::Ago(secs) => {
                if op == ">=" {
                    // event_date is the server's local date: one day of slack covers any zone.
                    conds.push(format!("event_date >= toDate(now() - {secs}) - 1"));
                }
                conds.push(format!("event_time {op} now() - {secs}"));
            }
            TimeBound::At(t) => {
                if op == ">=" {
                    conds.push(format!(
                        "event_date >= toDate(toDateTime({}, 'UTC')) - 1",
                        quote(&sql_time(t, false))
                    ));
                }
                if has_micros {
                    conds.push(format!(
                        "event_time_microseconds {op} toDateTime64({}, 6, 'UTC')",
                        quote(&sql_time(t, true))
                    ));
                } else {
                    // Second precision only: a resumed pull may re-read rows of the boundary second.
                    conds.push(format!(
                        "event_time {op} toDateTime({}, 'UTC')",
                        quote(&sql_time(t, false))
                    ));
                }
            }
        };
        if let Some(b) = self.since {
            bound(b, ">=");
        }
        if let Some(b) = self.until {
            bound(b, "<");
        }
        if conds.is_empty() {
            "1".to_owned()
        } else {
            conds.join(" AND ")
        }
    }

    /// The query_log columns the parser reads, as select expressions.
    fn select_list(info: &ServerInfo) -> String {
        QUERY_LOG_COLUMNS
            .iter()
            .filter(|c| info.has(c))
            .map(|&c| {
                if c == "address" && info.raw_address() {
                    "IPv6NumToString(address) AS address".to_owned()
                } else {
                    c.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A full pull: every query_log row in range, oldest first (a QueryStart before its end,
    /// which is what the row pairing expects), in `TSVWithNames`.
    ///
    /// # Errors
    /// A bad cluster name.
    pub fn query_log_sql(&self, info: &ServerInfo) -> Result<String, PullError> {
        Ok(format!(
            "SELECT {} FROM {} WHERE {}{} ORDER BY event_time, type FORMAT TSVWithNames",
            Self::select_list(info),
            self.source(info, "query_log")?,
            self.time_filter(info.has("event_time_microseconds")),
            match (self.finished_only, info.query_log.get("type")) {
                (false, _) => "",
                // 18.x logs `type` as a plain UInt8 (1 = QueryStart).
                (true, Some(t)) if t.starts_with("UInt") => " AND type != 1",
                (true, _) => " AND type != 'QueryStart'",
            },
        ))
    }

    /// session_log rows in range, or `None` when the server has no session_log.
    ///
    /// # Errors
    /// A bad cluster name.
    pub fn session_log_sql(&self, info: &ServerInfo) -> Result<Option<String>, PullError> {
        if info.session_log.is_empty() {
            return Ok(None);
        }
        let cols: Vec<&str> = SESSION_LOG_COLUMNS
            .iter()
            .copied()
            .filter(|c| info.session_log.contains_key(*c))
            .collect();
        if cols.is_empty() || !info.session_log.contains_key("event_time") {
            return Ok(None);
        }
        Ok(Some(format!(
            "SELECT {} FROM {} WHERE {} ORDER BY event_time FORMAT TSVWithNames",
            cols.join(", "),
            self.source(info, "session_log")?,
            self.time_filter(info.session_log.contains_key("event_time_microseconds")),
        )))
    }

    /// The pushdown statements for this configuration (networks, passwordless users and
    /// thresholds decide the candidate conditions).
    ///
    /// # Errors
    /// A bad cluster name or network.
    pub fn pushdown_sql(
        &self,
        info: &ServerInfo,
        config: &Config,
    ) -> Result<PushdownSql, PullError> {
        let src = self.source(info, "query_log")?;
        let time = self.time_filter(info.has("event_time_microseconds"));
        let w = config.thresholds.window_secs.max(1);
        let window = format!("intDiv(toUInt32(query_start_time), {w}) * {w}");
        let initial = if info.has("is_internal") {
            "is_initial_query != 0 AND is_internal = 0"
        } else {
            "is_initial_query != 0"
        };

        // Rule unauthenticated-read: every row of a passwordless principal.
        let users: Vec<String> = config.passwordless.iter().map(|u| quote(u)).collect();
        let passwordless = if users.is_empty() {
            "0".to_owned()
        } else {
            format!("user IN ({})", users.join(", "))
        };

        // Rule table-function-egress: the server's list where logged, the text always (18.x
        // has no list, and the rule reads the text for the destination).
        let names: Vec<String> = EGRESS_FUNCTIONS.iter().map(|f| quote(f)).collect();
        let regex = format!("(?i)\\b({})\\s*\\(", EGRESS_FUNCTIONS.join("|"));
        let mut table_fn = format!("match(query, {})", quote(&regex));
        if info.has("used_table_functions") {
            table_fn = format!(
                "({table_fn} OR arrayExists(f -> lower(f) IN ({}), used_table_functions))",
                names.join(", ")
            );
        }

        // Rule external-client-read: results to a client outside the internal ranges, in a
        // window whose volume can reach a threshold (over a superset of the rule's rows).
        let external = self.external_condition(info, config)?;
        let t = &config.thresholds;
        let per_window = t.critical_bytes.min(t.external_read_bytes_per_window);
        let global = if self.cluster.is_some() {
            "GLOBAL "
        } else {
            ""
        };
        let addr = info.address_text();
        let external_rows = format!(
            "({external} AND result_bytes > 0 AND (user, {addr}, {window}) {global}IN (\
             SELECT user, {addr}, {window} FROM {src} WHERE {time} AND {initial} AND {external} \
             AND result_bytes > 0 GROUP BY user, {addr}, {window} \
             HAVING sum(result_bytes) >= {per_window} OR max(result_bytes) >= {}))",
            t.external_read_bytes
        );

        // The filter runs in an inner query on raw columns: an outer `… AS address` alias
        // would otherwise replace `address` inside the conditions.
        let raw: Vec<&str> = QUERY_LOG_COLUMNS
            .iter()
            .copied()
            .filter(|c| info.has(c))
            .collect();
        let candidates = format!(
            "SELECT {} FROM (SELECT {} FROM {src} WHERE {time} AND {initial} AND \
             ({passwordless} OR {table_fn} OR {external_rows})) \
             ORDER BY event_time, type FORMAT TSVWithNames",
            Self::select_list(info),
            raw.join(", "),
        );

        let micros = |col: &str, fallback: &str| {
            if info.has(col) {
                format!("toUnixTimestamp64Micro({col})")
            } else {
                format!("toUInt64(toUInt32({fallback})) * 1000000")
            }
        };
        let start_us = micros("query_start_time_microseconds", "query_start_time");
        let end_us = micros("event_time_microseconds", "event_time");
        // Aliases avoid column names and keywords (`window`, `rows`): ClickHouse resolves an
        // alias equal to a column name inside its own aggregate.
        let aggregates = format!(
            "SELECT user, {addr} AS client, {window} AS win, ({initial}) AS top_level, \
             count() AS row_count, \
             countIf(toUInt8(type) = 1) AS starts, \
             countIf(toUInt8(type) IN (2, 4)) AS ends_after_start, \
             countIf(toUInt8(type) != 1) AS ends, \
             countIf(toUInt8(type) IN (3, 4)) AS failures, \
             sumIf(result_bytes, written_rows = 0) AS sum_result_bytes, \
             sum(read_rows) AS sum_read_rows, \
             min({start_us}) AS first_start_us, \
             max({end_us}) AS last_end_us \
             FROM {src} WHERE {time} \
             GROUP BY user, client, win, top_level \
             ORDER BY user, client, win, top_level FORMAT TabSeparated"
        );
        Ok(PushdownSql {
            candidates,
            aggregates,
        })
    }

    /// True for every address the detector could call external: outside all internal ranges
    /// (loopback, private, `::` and `--internal`) or inside an `--external` one.
    fn external_condition(&self, info: &ServerInfo, config: &Config) -> Result<String, PullError> {
        let mut internal: Vec<(u128, u8)> = vec![
            (0, 128),                                                  // `::` (in-process queries)
            (u128::from(Ipv4Addr::UNSPECIFIED.to_ipv6_mapped()), 128), // 0.0.0.0
        ];
        for s in DEFAULT_INTERNAL
            .iter()
            .copied()
            .chain(config.internal.iter().map(String::as_str))
        {
            internal.push(parse_cidr(s)?);
        }
        let external = config
            .external
            .iter()
            .map(|s| parse_cidr(s))
            .collect::<Result<Vec<_>, _>>()?;
        let test = |(bits, len): (u128, u8)| -> String {
            if info.ip_in_range {
                let ip = normalize_text(bits);
                format!("isIPAddressInRange({}, '{ip}/{len}')", info.address_text())
            } else {
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(len))
                };
                let lo = bits & mask;
                let hi = lo | !mask;
                let hex = if info.raw_address() {
                    "hex(address)".to_owned()
                } else {
                    format!("hex(IPv6StringToNum({}))", info.address_text())
                };
                format!("{hex} BETWEEN '{lo:032X}' AND '{hi:032X}'")
            }
        };
        let inside: Vec<String> = internal.into_iter().map(test).collect();
        let mut cond = format!("NOT ({})", inside.join(" OR "));
        if !external.is_empty() {
            let out: Vec<String> = external.into_iter().map(test).collect();
            cond = format!("({cond} OR {})", out.join(" OR "));
        }
        Ok(cond)
    }
}

/// An address in the IPv6 space, written as ClickHouse writes it (`::ffff:10.0.0.0`).
fn normalize_text(bits: u128) -> String {
    let v6 = Ipv6Addr::from(bits);
    match v6.to_ipv4_mapped() {
        Some(v4) => format!("::ffff:{v4}"),
        None => v6.to_string(),
    }
}

/// `10.0.0.0/8` → (IPv4-mapped bits, 104); a bare address is a host route.
fn parse_cidr(s: &str) -> Result<(u128, u8), PullError> {
    let bad = || PullError::BadCidr(s.to_owned());
    let (addr, len) = match s.trim().split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
        None => (s.trim(), None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    let (bits, len) = match normalize(ip) {
        IpAddr::V4(v4) => {
            let len = len.unwrap_or(32);
            if len > 32 {
                return Err(bad());
            }
            (u128::from(v4.to_ipv6_mapped()), len + 96)
        }
        IpAddr::V6(v6) => {
            let len = len.unwrap_or(128);
            if len > 128 {
                return Err(bad());
            }
            (u128::from(v6), len)
        }
    };
    Ok((bits, len))
}

/// Server-side totals for one (user, address, window, initial-or-not) group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// The user.
    pub user: String,
    /// The client address (`None` when the server logged none).
    pub client: Option<IpAddr>,
    /// Window start.
    pub window: Timestamp,
    /// Top-level queries (`false`: sub-queries and internal helper queries).
    pub initial: bool,
    /// Query executions: end rows plus starts that never ended.
    pub executions: u64,
    /// Starts that never ended.
    pub unfinished: u64,
    /// Executions that failed.
    pub failed: u64,
    /// Result bytes of non-insert executions.
    pub result_bytes: u64,
    /// Rows read.
    pub read_rows: u64,
    /// Earliest start.
    pub first_start: Timestamp,
    /// Latest end (or start).
    pub last_end: Timestamp,
}

/// Reads the `TabSeparated` answer to [`PushdownSql::aggregates`].
///
/// # Errors
/// The first line that does not have the expected 13 fields.
pub fn parse_buckets(text: &str) -> Result<Vec<Bucket>, PullError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let line_no = i as u64 + 1;
        let bad = |reason: &str| PullError::BadBucket {
            line: line_no,
            reason: reason.to_owned(),
        };
        let f: Vec<&str> = line.split('\t').collect();
        let [user, client, window, initial, _rows, starts, ends_after_start, ends, failed, result_bytes, read_rows, first, last] =
            f.as_slice()
        else {
            return Err(bad("expected 13 tab-separated fields"));
        };
        let num = |s: &str, what: &str| s.parse::<u64>().map_err(|_| bad(what));
        let client = unescape_tsv(client);
        let client = if client.is_empty() {
            None
        } else {
            Some(normalize(
                client.parse::<IpAddr>().map_err(|_| bad("bad address"))?,
            ))
        };
        let starts = num(starts, "bad starts")?;
        let ends = num(ends, "bad ends")?;
        let unfinished = starts.saturating_sub(num(ends_after_start, "bad ends")?);
        let micros = |s: &str| -> Result<Timestamp, PullError> {
            Ok(Timestamp(
                i64::try_from(num(s, "bad time")?).map_err(|_| bad("bad time"))?,
            ))
        };
        out.push(Bucket {
            user: unescape_tsv(user),
            client,
            window: Timestamp::from_secs(
                i64::try_from(num(window, "bad window")?).map_err(|_| bad("bad window"))?,
            ),
            initial: num(initial, "bad initial flag")? != 0,
            executions: ends + unfinished,
            unfinished,
            failed: num(failed, "bad failed")?,
            result_bytes: num(result_bytes, "bad result_bytes")?,
            read_rows: num(read_rows, "bad read_rows")?,
            first_start: micros(first)?,
            last_end: micros(last)?,
        });
    }
    Ok(out)
}

/// Replaces the counts of a pushdown analysis (which saw only candidate rows) with the
/// server's totals: events, failures, sub-queries, time span and the client table. Findings
/// are left as they are.
pub fn apply_buckets(analysis: &mut Analysis, buckets: &[Bucket], settings: &Settings) {
    let s = &mut analysis.summary;
    s.events = buckets.iter().map(|b| b.executions).sum();
    s.failed = buckets.iter().map(|b| b.failed).sum();
    s.unfinished = buckets.iter().map(|b| b.unfinished).sum();
    s.subqueries = buckets
        .iter()
        .filter(|b| !b.initial)
        .map(|b| b.executions)
        .sum();
    s.first_event = buckets.iter().map(|b| b.first_start).min();
    s.last_event = buckets.iter().map(|b| b.last_end).max();
    let mut clients: BTreeMap<(String, Option<IpAddr>), ClientSummary> = BTreeMap::new();
    for b in buckets.iter().filter(|b| b.initial && b.executions > 0) {
        let c = clients
            .entry((b.user.clone(), b.client))
            .or_insert_with(|| ClientSummary {
                user: b.user.clone(),
                client_ip: b.client,
                client_class: settings.classify(b.client),
                queries: 0,
                result_bytes: 0,
                read_rows: 0,
                first_seen: b.first_start,
                last_seen: b.last_end,
            });
        c.queries += b.executions;
        c.result_bytes = c.result_bytes.saturating_add(b.result_bytes);
        c.read_rows = c.read_rows.saturating_add(b.read_rows);
        c.first_seen = c.first_seen.min(b.first_start);
        c.last_seen = c.last_seen.max(b.last_end);
    }
    s.clients = clients.len() as u64;
    let mut list: Vec<ClientSummary> = clients.into_values().collect();
    list.sort_by(|a, b| {
        b.result_bytes
            .cmp(&a.result_bytes)
            .then(b.queries.cmp(&a.queries))
            .then(a.user.cmp(&b.user))
            .then(a.client_ip.cmp(&b.client_ip))
    });
    analysis.clients = list;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old() -> ServerInfo {
        let cols = "query_log\ttype\tUInt8\nquery_log\tevent_date\tDate\nquery_log\tevent_time\tDateTime\n\
                    query_log\tquery_start_time\tDateTime\nquery_log\tquery\tString\nquery_log\tuser\tString\n\
                    query_log\taddress\tFixedString(16)\nquery_log\tresult_bytes\tUInt64\n\
                    query_log\tis_initial_query\tUInt8\nquery_log\tthread_numbers\tArray(UInt32)\n";
        ServerInfo::from_probes("18.16.1\tUTC\n", cols, "").unwrap()
    }

    #[test]
    fn ok_probes() {
        let i = old();
        assert_eq!(i.version, "18.16.1");
        assert!(i.raw_address() && !i.ip_in_range && i.session_log.is_empty());
        assert_eq!(
            ServerInfo::from_probes("1\tUTC", "session_log\ttype\tEnum8", ""),
            Err(PullError::NoQueryLog)
        );
    }

    #[test]
    fn ok_old_server_sql() {
        let spec = PullSpec {
            cluster: Some("prod".into()),
            since: Some(TimeBound::Ago(3600)),
            until: None,
            finished_only: false,
        };
        let sql = spec.query_log_sql(&old()).unwrap();
        assert_eq!(
            sql,
            "SELECT type, event_time, query_start_time, result_bytes, query, is_initial_query, user, \
             IPv6NumToString(address) AS address FROM cluster('prod', system.query_log) WHERE \
             event_date >= toDate(now() - 3600) - 1 AND event_time >= now() - 3600 \
             ORDER BY event_time, type FORMAT TSVWithNames"
        );
        let p = spec.pushdown_sql(&old(), &Config::default()).unwrap();
        assert!(p.candidates.contains("hex(address) BETWEEN '00000000000000000000FFFF0A000000' AND '00000000000000000000FFFF0AFFFFFF'"), "{}", p.candidates);
        assert!(p.candidates.contains("GLOBAL IN"));
        assert!(!p.candidates.contains("used_table_functions"));
    }

    #[test]
    fn ok_modern_sql() {
        let spec = PullSpec {
            since: Some("2025-01-29T10:00:00.5Z".parse().unwrap()),
            ..PullSpec::default()
        };
        let m = ServerInfo::modern();
        let sql = spec.query_log_sql(&m).unwrap();
        assert!(
            sql.contains(
                "event_time_microseconds >= toDateTime64('2025-01-29 10:00:00.500000', 6, 'UTC')"
            ),
            "{sql}"
        );
        assert!(sql.contains(", address,"));
        let c = Config {
            external: vec!["10.9.0.0/16".into()],
            ..Config::default()
        };
        let p = spec.pushdown_sql(&m, &c).unwrap();
        assert!(p
            .candidates
            .contains("isIPAddressInRange(toString(address), '::ffff:10.0.0.0/104')"));
        assert!(p
            .candidates
            .contains("isIPAddressInRange(toString(address), '::ffff:10.9.0.0/112')"));
        assert!(p.candidates.contains("arrayExists(f -> lower(f) IN ('url'"));
        assert!(p
            .aggregates
            .contains("toUnixTimestamp64Micro(event_time_microseconds)"));
        assert!(spec.session_log_sql(&m).unwrap().is_some());
    }

    #[test]
    fn ok_incremental_ranges_are_half_open_end_rows() {
        let spec = PullSpec {
            since: Some(TimeBound::At(Timestamp::from_secs(1_738_144_800))),
            until: Some(TimeBound::At(Timestamp::from_secs(1_738_148_400))),
            finished_only: true,
            ..PullSpec::default()
        };
        let sql = spec.query_log_sql(&old()).unwrap();
        assert!(
            sql.contains(
                "event_time >= toDateTime('2025-01-29 10:00:00', 'UTC') AND event_time < toDateTime('2025-01-29 11:00:00', 'UTC') AND type != 1"
            ),
            "{sql}"
        );
        let sql = spec.query_log_sql(&ServerInfo::modern()).unwrap();
        assert!(
            sql.contains("event_time_microseconds >= toDateTime64('2025-01-29 10:00:00.000000', 6, 'UTC') AND event_time_microseconds < toDateTime64('2025-01-29 11:00:00.000000', 6, 'UTC')"),
            "{sql}"
        );
        assert_eq!(
            parse_now("1738148400\n"),
            Ok(Timestamp::from_secs(1_738_148_400))
        );
        assert!(parse_now("x").is_err());
    }

    #[test]
    fn err_bad_inputs() {
        assert!(matches!(
            "yesterday".parse::<TimeBound>(),
            Err(PullError::BadTime(_))
        ));
        assert_eq!("2h".parse::<TimeBound>(), Ok(TimeBound::Ago(7200)));
        assert_eq!(
            "2025-01-29 10:00:00".parse::<TimeBound>(),
            Ok(TimeBound::At(Timestamp::from_secs(1_738_144_800)))
        );
        let spec = PullSpec {
            cluster: Some("a\nb".into()),
            ..PullSpec::default()
        };
        assert!(spec.query_log_sql(&old()).is_err());
        let c = Config {
            internal: vec!["10.0.0.0/99".into()],
            ..Config::default()
        };
        assert!(PullSpec::default().pushdown_sql(&old(), &c).is_err());
    }

    #[test]
    fn ok_quote_escapes() {
        assert_eq!(quote("a'b\\c"), r"'a\'b\\c'");
    }

    #[test]
    fn ok_buckets() {
        let text = "default\t::ffff:198.51.100.7\t1738144800\t1\t4\t2\t2\t2\t0\t10\t20\t1738144800000000\t1738144801000000\n\
                    default\t::ffff:198.51.100.7\t1738144800\t0\t1\t0\t0\t1\t0\t0\t0\t1738144800000000\t1738144801000000\n";
        let b = parse_buckets(text).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].client, "198.51.100.7".parse().ok());
        assert_eq!(
            (b[0].executions, b[1].executions, b[1].initial),
            (2, 1, false)
        );
        assert!(parse_buckets("x\ty\n").is_err());
        let mut a = crate::analyze(Config::default(), &[]).unwrap();
        apply_buckets(&mut a, &b, &Settings::new(&Config::default()).unwrap());
        assert_eq!(
            (a.summary.events, a.summary.subqueries, a.summary.clients),
            (3, 1, 1)
        );
        assert_eq!(a.clients[0].result_bytes, 10);
    }
}
