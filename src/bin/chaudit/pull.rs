//! `chaudit pull` and `chaudit sql`: the HTTP side of reading a live ClickHouse server.
//!
//! The SQL comes from the library ([`chaudit::pushdown`]); this file only talks HTTP (ureq,
//! rustls for https), streams each answer chunk by chunk into the [`Analyzer`] and writes
//! the report. The password comes from `CHAUDIT_PASSWORD` or `--password-file`, travels in
//! the `X-ClickHouse-Key` header and is masked in every message that could echo it.

use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use ureq::Agent;

use crate::args::{NetArgs, ReportArgs};
use chaudit::detect::baseline::PullMark;
use chaudit::pushdown::{apply_buckets, parse_buckets, PullSpec, ServerInfo, TimeBound};
use chaudit::{Analyzer, BaselineMode, BaselineState, Settings, Timestamp};

/// The environment variable holding the password of `--user`.
pub(crate) const PASSWORD_ENV: &str = "CHAUDIT_PASSWORD";
/// Bytes read from the socket per chunk.
const CHUNK: usize = 256 << 10;
/// Largest probe or aggregates answer read into memory.
const MAX_TEXT: u64 = 256 << 20;

fn time_bound(s: &str) -> Result<TimeBound, String> {
    s.parse()
        .map_err(|e: chaudit::pushdown::PullError| e.to_string())
}

/// How to reach the server.
#[derive(Debug, Args)]
pub(crate) struct ConnArgs {
    /// User to log in as. Its password is read from the CHAUDIT_PASSWORD environment
    /// variable or --password-file, never from the command line.
    #[arg(long, short = 'u', value_name = "USER", default_value = "default")]
    pub(crate) user: String,

    /// Read the password from the first line of FILE (instead of CHAUDIT_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,

    /// Seconds to wait for a connection, for the first answer byte (the server sorts the
    /// log before it answers) and between two reads.
    #[arg(long, value_name = "SECS", default_value = "120")]
    pub(crate) timeout: u64,
}

/// What to read.
#[derive(Debug, Args)]
pub(crate) struct RangeArgs {
    /// Read every replica of cluster NAME (clusterAllReplicas; cluster() on servers
    /// without it, which reads one replica per shard).
    #[arg(long, value_name = "NAME")]
    pub(crate) cluster: Option<String>,

    /// Rows at or after TIME: a duration before the server's now (90m, 1h, 7d) or RFC 3339.
    #[arg(long, value_name = "TIME", value_parser = time_bound)]
    pub(crate) since: Option<TimeBound>,

    /// Rows before TIME (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = time_bound)]
    pub(crate) until: Option<TimeBound>,

    /// Let the server aggregate per (user, address, hour) and return only the rows the
    /// rules need; chaudit then only scores.
    #[arg(long)]
    pub(crate) pushdown: bool,
}

impl RangeArgs {
    fn spec(&self) -> PullSpec {
        PullSpec {
            cluster: self.cluster.clone(),
            since: self.since,
            until: self.until,
            finished_only: false,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// The server's HTTP interface, e.g. http://ch-01:8123 or https://ch-01:8443.
    #[arg(long, value_name = "URL")]
    pub(crate) url: String,

    #[command(flatten)]
    pub(crate) conn: ConnArgs,

    #[command(flatten)]
    pub(crate) range: RangeArgs,

    #[command(flatten)]
    pub(crate) net: NetArgs,

    #[command(flatten)]
    pub(crate) report: ReportArgs,

    /// Read settings from this TOML file (see chaudit.example.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Judge clients against this baseline state (from `chaudit baseline learn` or an
    /// earlier `pull --update-baseline`).
    #[arg(long, value_name = "STATE", conflicts_with = "pushdown")]
    pub(crate) baseline: Option<PathBuf>,

    /// Fold this pull into the baseline and save it, with a high-water mark: the next pull
    /// reads only rows logged since (rows ending an execution, in [mark, now() − --settle)).
    /// Creates STATE if it does not exist.
    #[arg(long, requires = "baseline")]
    pub(crate) update_baseline: bool,

    /// With --update-baseline: leave the last SECS seconds for the next pull, so rows still in
    /// the server's log buffer (flush_interval_milliseconds, 7.5 s by default) are not skipped.
    #[arg(long, value_name = "SECS", default_value = "60")]
    pub(crate) settle: u64,

    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,

    /// Do not read system.session_log even where it exists.
    #[arg(long)]
    pub(crate) no_session_log: bool,

    /// Print the newest event time read to stderr, to pass as --since next time (with
    /// --update-baseline: the end of the range read, which the state remembers).
    #[arg(long)]
    pub(crate) print_high_water_mark: bool,

    /// The zone log times are in (default: the server's own timezone()).
    #[arg(long, value_name = "TZ")]
    pub(crate) timezone: Option<String>,

    /// Stop at the first rejected record (exit 2).
    #[arg(long)]
    pub(crate) strict: bool,

    /// Show secrets found in queries instead of redacting them.
    #[arg(long)]
    pub(crate) no_redact: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// Ask this server which columns and functions it has (default: assume a current
    /// 26.x server).
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,

    #[command(flatten)]
    pub(crate) conn: ConnArgs,

    #[command(flatten)]
    pub(crate) range: RangeArgs,

    #[command(flatten)]
    pub(crate) net: NetArgs,

    /// Read settings from this TOML file (see chaudit.example.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Print what an incremental pull (`pull --baseline S --update-baseline`) runs: only
    /// rows ending an execution; --since stands for the state's high-water mark.
    #[arg(long, conflicts_with = "pushdown")]
    pub(crate) incremental: bool,
}

/// A logged-in HTTP client for one server.
struct Client {
    agent: Agent,
    base: String,
    user: String,
    password: Option<String>,
}

impl Client {
    fn new(url: &str, conn: &ConnArgs) -> Result<Self> {
        let base = url.trim_end_matches('/').to_owned();
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .with_context(|| format!("--url must start with http:// or https://, not `{base}`"))?;
        if rest.split('/').next().unwrap_or_default().contains('@') {
            bail!(
                "--url must not carry credentials: use --user and {PASSWORD_ENV} or --password-file"
            );
        }
        if rest.contains('?') {
            bail!("--url must not carry a query string");
        }
        let password = match &conn.password_file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read password file {}", p.display()))?;
                Some(text.lines().next().unwrap_or_default().to_owned())
            }
            None => std::env::var(PASSWORD_ENV).ok(),
        }
        .filter(|p| !p.is_empty());
        let t = Some(Duration::from_secs(conn.timeout.max(1)));
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(t)
            .timeout_recv_response(t)
            .timeout_per_read(t)
            .user_agent(concat!("chaudit/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            agent: Agent::new_with_config(config),
            base,
            user: conn.user.clone(),
            password,
        })
    }

    /// Masks the password wherever a message might echo it.
    fn mask(&self, text: &str) -> String {
        match &self.password {
            Some(p) if p.len() >= 3 => text.replace(p.as_str(), "[REDACTED]"),
            _ => text.to_owned(),
        }
    }

    /// Sends one statement and returns the body of a successful answer.
    fn send(&self, sql: &str, what: &str) -> Result<ureq::Body> {
        let mut req = self
            .agent
            .post(format!("{}/", self.base))
            .header("X-ClickHouse-User", self.user.as_str());
        if let Some(p) = &self.password {
            req = req.header("X-ClickHouse-Key", p.as_str());
        }
        let resp = req.send(sql.as_bytes()).map_err(|e| {
            anyhow::anyhow!(
                "{what}: cannot get an answer from {}: {}",
                self.base,
                self.mask(&describe(&e))
            )
        })?;
        let status = resp.status().as_u16();
        let body = resp.into_body();
        if status == 200 {
            return Ok(body);
        }
        let mut text = Vec::new();
        let _ = body.into_reader().take(2048).read_to_end(&mut text);
        let text = String::from_utf8_lossy(&text);
        let text = self.mask(text.trim());
        let hint = match status {
            401 | 403 => format!(" (wrong password or user `{}`?)", self.user),
            404 => " (is this the HTTP port of a ClickHouse server?)".to_owned(),
            _ => String::new(),
        };
        bail!(
            "{what}: {} answered HTTP {status}{hint}: {}",
            self.base,
            chaudit::redact::redact(&text)
        )
    }

    /// A small answer (probe, aggregates) as text.
    fn text(&self, sql: &str, what: &str) -> Result<String> {
        let mut out = Vec::new();
        self.send(sql, what)?
            .into_reader()
            .take(MAX_TEXT)
            .read_to_end(&mut out)
            .map_err(|e| self.lost(what, &e))?;
        if let Some(e) = server_exception(&out) {
            bail!("{what}: the server failed mid-answer: {}", self.mask(&e));
        }
        String::from_utf8(out).with_context(|| format!("{what}: the answer is not UTF-8"))
    }

    /// Streams an answer into the analyzer as one input named `name`.
    fn stream(&self, sql: &str, name: &str, analyzer: &mut Analyzer) -> Result<u64> {
        let what = format!("reading {name}");
        let mut reader = self.send(sql, &what)?.into_reader();
        analyzer.begin_file(name);
        let mut buf = vec![0u8; CHUNK];
        let mut tail: Vec<u8> = Vec::new();
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.lost(&what, &e)),
            };
            let chunk = buf.get(..n).unwrap_or_default();
            total += n as u64;
            // Keep the last bytes: ClickHouse appends an error after rows already sent.
            tail.extend_from_slice(chunk);
            let keep = tail.len().saturating_sub(4096);
            tail.drain(..keep);
            analyzer
                .feed(chunk)
                .with_context(|| format!("{what}: rejected record (--strict)"))?;
        }
        if let Some(e) = server_exception(&tail) {
            bail!("{what}: the server failed mid-answer: {}", self.mask(&e));
        }
        analyzer
            .end_file()
            .with_context(|| format!("{what}: rejected record (--strict)"))?;
        Ok(total)
    }

    fn lost(&self, what: &str, e: &io::Error) -> anyhow::Error {
        anyhow::anyhow!(
            "{what}: the connection to {} broke mid-answer ({}); nothing was reported",
            self.base,
            self.mask(&e.to_string())
        )
    }

    fn probe(&self) -> Result<ServerInfo> {
        let version = self.text(chaudit::pushdown::PROBE_VERSION, "asking the version")?;
        let columns = self.text(chaudit::pushdown::PROBE_COLUMNS, "asking the columns")?;
        let features = self.text(chaudit::pushdown::PROBE_FEATURES, "asking the functions")?;
        Ok(ServerInfo::from_probes(&version, &columns, &features)?)
    }
}

/// A ureq error in words a DBA recognises.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => {
            "connection refused (nothing listens there?)".to_owned()
        }
        other => other.to_string(),
    }
}

/// The error ClickHouse appended to a body it had started, if the body ends with one.
fn server_exception(tail: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(tail);
    let last = text.trim_end().rsplit('\n').next()?.trim();
    (last.starts_with("Code: ") && last.contains("Exception")).then(|| last.to_owned())
}

/// The state's key for one server (and cluster): where its high-water mark is kept.
fn mark_key(base: &str, cluster: Option<&str>) -> String {
    match cluster {
        Some(c) => format!("{base} cluster {c}"),
        None => base.to_owned(),
    }
}

/// `chaudit pull`.
pub(crate) fn pull(args: &PullArgs) -> Result<ExitCode> {
    let client = Client::new(&args.url, &args.conn)?;
    let mut config = args
        .net
        .apply(crate::config_file::load(args.config.as_deref())?);
    // Read, pull, write: one step under the lock.
    let _lock = match (&args.baseline, args.update_baseline) {
        (Some(p), true) => Some(crate::state::lock(p)?),
        _ => None,
    };
    let loaded = match &args.baseline {
        Some(p) if args.update_baseline && !p.exists() => {
            Some(BaselineState::new(&config.baseline))
        }
        Some(p) => Some(crate::state::load(p)?),
        None => None,
    };
    let info = client.probe()?;
    config.timezone = args
        .timezone
        .clone()
        .unwrap_or_else(|| info.timezone.clone());
    config.strict = args.strict;
    config.redact = !args.no_redact;
    let settings = Settings::new(&config).context("invalid configuration")?;
    let mut analyzer = Analyzer::new(config.clone()).context("invalid configuration")?;
    // Only system tables arrive: nothing to join with text or proxy logs.
    analyzer.set_joins(false);
    let mut spec = args.range.spec();
    let key = mark_key(&client.base, args.range.cluster.as_deref());
    let mut range_end = None;
    if let Some(state) = loaded {
        if args.update_baseline {
            // Half-open whole-second ranges of end rows: every execution in exactly one pull.
            spec.finished_only = true;
            if let Some(m) = state.pulls.get(&key) {
                if args.range.since.is_some() && !args.quiet {
                    eprintln!("chaudit: --since ignored: the state's high-water mark for {key} decides where this pull starts");
                }
                spec.since = Some(TimeBound::At(Timestamp(m.until_us)));
            }
            let now = chaudit::pushdown::parse_now(
                &client.text(chaudit::pushdown::PROBE_NOW, "asking the server's clock")?,
            )?;
            let end = match args.range.until {
                Some(TimeBound::At(t)) => t,
                Some(TimeBound::Ago(s)) => {
                    Timestamp::from_secs(now.secs() - i64::try_from(s).unwrap_or(i64::MAX / 2))
                }
                None => Timestamp::from_secs(
                    now.secs() - i64::try_from(args.settle).unwrap_or(i64::MAX / 2),
                ),
            };
            let end = Timestamp::from_secs(end.secs());
            if let Some(TimeBound::At(since)) = spec.since {
                if end < since {
                    bail!("the range ends at {end}, before the high-water mark {since}: nothing to read (is the server's clock behind?)");
                }
            }
            spec.until = Some(TimeBound::At(end));
            range_end = Some(end);
        }
        let mode = if args.update_baseline {
            BaselineMode::ScanAndUpdate
        } else {
            BaselineMode::Scan
        };
        analyzer = analyzer
            .with_baseline(state, mode)
            .context("baseline state")?;
    }
    let name = format!("{}/system.query_log", client.base);
    let buckets = if args.range.pushdown {
        let sql = spec.pushdown_sql(&info, &config)?;
        let aggregates = client.text(&sql.aggregates, "reading the aggregates")?;
        let buckets = parse_buckets(&aggregates)?;
        client.stream(&sql.candidates, &name, &mut analyzer)?;
        Some(buckets)
    } else {
        client.stream(&spec.query_log_sql(&info)?, &name, &mut analyzer)?;
        None
    };
    if !args.no_session_log {
        if let Some(sql) = spec.session_log_sql(&info)? {
            let name = format!("{}/system.session_log", client.base);
            client.stream(&sql, &name, &mut analyzer)?;
        }
    }
    let mut analysis = analyzer.finish();
    if let Some(b) = &buckets {
        apply_buckets(&mut analysis, b, &settings);
    }
    // The report first: if saving the state fails, the next pull reads these rows again
    // (reported twice) rather than never.
    crate::output::write_report(&args.report, &analysis)?;
    if let (Some(p), Some(end)) = (&args.baseline, range_end) {
        let mut updated = analysis
            .baseline
            .take()
            .context("the analyzer returned no baseline")?;
        let read = analysis.summary.events + analysis.summary.logins;
        let mark = updated
            .pulls
            .entry(key.clone())
            .or_insert_with(PullMark::default);
        mark.until_us = end.0;
        mark.events = mark.events.saturating_add(read);
        crate::state::save(p, &updated)?;
        if !args.quiet {
            eprintln!(
                "chaudit: baseline {} updated: {} clients, {} evicted, {} events past max_tracked_clients not baselined; {key} read up to {end}",
                p.display(),
                updated.clients.len(),
                updated.evicted,
                analysis.summary.baseline_untracked
            );
        }
    }
    if args.print_high_water_mark {
        match range_end.or(analysis.summary.last_event) {
            Some(t) => eprintln!("chaudit: high-water mark {t}"),
            None => eprintln!("chaudit: high-water mark none (no rows in range)"),
        }
    }
    let failing = analysis
        .findings
        .iter()
        .any(|f| f.severity >= args.report.fail_on);
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `chaudit sql`.
pub(crate) fn sql(args: &SqlArgs) -> Result<ExitCode> {
    let info = match &args.url {
        Some(url) => Client::new(url, &args.conn)?.probe()?,
        None => ServerInfo::modern(),
    };
    let config = args
        .net
        .apply(crate::config_file::load(args.config.as_deref())?);
    chaudit::Settings::new(&config).context("invalid configuration")?;
    let mut spec = args.range.spec();
    spec.finished_only = args.incremental;
    let mut out = BufWriter::new(io::stdout().lock());
    writeln!(
        out,
        "-- chaudit {} for ClickHouse {} ({}{})",
        if args.range.pushdown {
            "pushdown"
        } else if args.incremental {
            "incremental pull"
        } else {
            "pull"
        },
        info.version,
        if args.url.is_some() {
            "asked the server"
        } else {
            "assumed; pass --url to ask a server"
        },
        if info.raw_address() {
            ", raw FixedString(16) addresses"
        } else {
            ""
        },
    )?;
    if args.range.pushdown {
        let p = spec.pushdown_sql(&info, &config)?;
        writeln!(
            out,
            "\n-- 1. per (user, address, window) totals: the summary and client table\n{};",
            p.aggregates
        )?;
        writeln!(
            out,
            "\n-- 2. candidate rows: everything a rule can keep (passwordless users, table\n--    functions, external clients in windows that can reach a threshold)\n{};",
            p.candidates
        )?;
    } else {
        writeln!(out, "\n-- query_log rows\n{};", spec.query_log_sql(&info)?)?;
    }
    if let Some(s) = spec.session_log_sql(&info)? {
        writeln!(out, "\n-- session_log rows\n{s};")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_server_exception_at_end() {
        assert_eq!(
            server_exception(b"a\tb\nCode: 241, e.displayText() = DB::Exception: Memory limit\n"),
            Some("Code: 241, e.displayText() = DB::Exception: Memory limit".to_owned())
        );
        assert_eq!(server_exception(b"a\tb\n1\t2\n"), None);
    }
}
