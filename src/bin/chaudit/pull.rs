//! `chaudit pull` and `chaudit sql`: the HTTP side of reading a live ClickHouse server.
//!
//! The SQL comes from the library ([`chaudit::pushdown`]); this file only talks HTTP (ureq,
//! rustls for https), streams each answer chunk by chunk into the [`Analyzer`] and writes
//! the report. The password comes from `CHAUDIT_PASSWORD` or `--password-file`, travels in
//! the `X-ClickHouse-Key` header and is masked in every message that could echo it.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use ureq::Agent;

use crate::args::{ColorChoice, OutputFormat};
use chaudit::pushdown::{apply_buckets, parse_buckets, PullSpec, ServerInfo, TimeBound};
use chaudit::report::{
    render_csv, render_html, render_json, render_jsonl, render_text, render_timesketch,
    HtmlOptions, TextOptions,
};
use chaudit::{Analysis, Analyzer, Config, Settings, Severity};

/// The environment variable holding the password of `--user`.
pub(crate) const PASSWORD_ENV: &str = "CHAUDIT_PASSWORD";
/// Bytes read from the socket per chunk.
const CHUNK: usize = 256 << 10;
/// Largest probe or aggregates answer read into memory.
const MAX_TEXT: u64 = 256 << 20;

fn severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

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
        }
    }
}

/// Networks and principals (they shape the pushdown conditions too).
#[derive(Debug, Args)]
pub(crate) struct NetArgs {
    /// Treat CIDR as internal (repeatable; adds to loopback, RFC 1918, 100.64/10, fc00::/7, link-local).
    #[arg(long, value_name = "CIDR")]
    pub(crate) internal: Vec<String>,

    /// Treat CIDR as external even inside an internal range (repeatable; most specific wins).
    #[arg(long, value_name = "CIDR")]
    pub(crate) external: Vec<String>,

    /// Treat USER as logging in without a password (repeatable; default: `default`).
    #[arg(long, value_name = "USER")]
    pub(crate) passwordless: Vec<String>,
}

impl NetArgs {
    fn config(&self) -> Config {
        let mut c = Config::default();
        c.internal.clone_from(&self.internal);
        c.external.clone_from(&self.external);
        if !self.passwordless.is_empty() {
            c.passwordless.clone_from(&self.passwordless);
        }
        c
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

    /// Do not read system.session_log even where it exists.
    #[arg(long)]
    pub(crate) no_session_log: bool,

    /// Print the newest event time read to stderr, to pass as --since next time.
    #[arg(long)]
    pub(crate) print_high_water_mark: bool,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "text")]
    pub(crate) format: OutputFormat,

    /// Write the report to FILE instead of stdout (only once the pull succeeded).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,

    /// List only findings at or above LEVEL (info, low, medium, high, critical).
    #[arg(long, value_name = "LEVEL", value_parser = severity, default_value = "info")]
    pub(crate) min_level: Severity,

    /// Exit 1 when a finding at or above LEVEL exists.
    #[arg(long, value_name = "LEVEL", value_parser = severity, default_value = "high")]
    pub(crate) fail_on: Severity,

    /// The zone log times are in (default: the server's own timezone()).
    #[arg(long, value_name = "TZ")]
    pub(crate) timezone: Option<String>,

    /// Stop at the first rejected record (exit 2).
    #[arg(long)]
    pub(crate) strict: bool,

    /// Show secrets found in queries instead of redacting them.
    #[arg(long)]
    pub(crate) no_redact: bool,

    /// Colour the text report.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) color: ColorChoice,
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

/// `chaudit pull`.
pub(crate) fn pull(args: &PullArgs) -> Result<ExitCode> {
    let client = Client::new(&args.url, &args.conn)?;
    let info = client.probe()?;
    let mut config = args.net.config();
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
    let spec = args.range.spec();
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
    write_report(args, &analysis)?;
    if args.print_high_water_mark {
        match analysis.summary.last_event {
            Some(t) => eprintln!("chaudit: high-water mark {t}"),
            None => eprintln!("chaudit: high-water mark none (no rows in range)"),
        }
    }
    let failing = analysis.findings.iter().any(|f| f.severity >= args.fail_on);
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
    let config = args.net.config();
    chaudit::Settings::new(&config).context("invalid configuration")?;
    let spec = args.range.spec();
    let mut out = BufWriter::new(io::stdout().lock());
    writeln!(
        out,
        "-- chaudit {} for ClickHouse {} ({}{})",
        if args.range.pushdown {
            "pushdown"
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

/// Renders into a temporary file beside `--output` and renames it, so a failure never
/// leaves a partial report.
fn write_report(args: &PullArgs, analysis: &Analysis) -> Result<()> {
    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let render = |out: &mut dyn Write| -> io::Result<()> {
        match args.format {
            OutputFormat::Text => {
                let opts = TextOptions {
                    min_level: args.min_level,
                    color,
                    ..TextOptions::default()
                };
                render_text(analysis, &opts, out)
            }
            OutputFormat::Json => render_json(analysis, args.min_level, out),
            OutputFormat::Jsonl => render_jsonl(analysis, args.min_level, out),
            OutputFormat::Csv => render_csv(analysis, args.min_level, out),
            OutputFormat::Html => render_html(
                analysis,
                &HtmlOptions {
                    min_level: args.min_level,
                },
                out,
            ),
            OutputFormat::Timesketch => render_timesketch(analysis, args.min_level, out),
        }?;
        out.flush()
    };
    match &args.output {
        None => render(&mut BufWriter::new(io::stdout().lock())).context("writing the report"),
        Some(path) => {
            let tmp = temp_path(path);
            let result = File::create(&tmp)
                .map_err(anyhow::Error::from)
                .and_then(|f| Ok(render(&mut BufWriter::new(f))?))
                .and_then(|()| Ok(std::fs::rename(&tmp, path)?));
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result.with_context(|| format!("cannot write {}", path.display()))
        }
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".chaudit-{}.tmp", std::process::id()));
    path.with_file_name(name)
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
