//! Command-line arguments: clap definitions ("low level"), then their conversion into a
//! library [`Config`] ("high level").

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use chaudit::{Config, Severity};

/// Audit ClickHouse logs for unauthenticated reads, external egress and exfiltration.
#[derive(Debug, Parser)]
#[command(name = "chaudit", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Scan query_log exports and report findings.
    ///
    /// Exit status: 0 no finding at or above --fail-on, 1 at least one, 2 error.
    Scan(ScanArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum OutputFormat {
    Text,
    Json,
    Jsonl,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

fn severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Files or directories to scan (directories recursively); `-` or nothing reads stdin.
    pub(crate) paths: Vec<PathBuf>,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "text")]
    pub(crate) format: OutputFormat,

    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,

    /// List only findings at or above LEVEL (info, low, medium, high, critical).
    #[arg(long, value_name = "LEVEL", value_parser = severity, default_value = "info")]
    pub(crate) min_level: Severity,

    /// Exit 1 when a finding at or above LEVEL exists.
    #[arg(long, value_name = "LEVEL", value_parser = severity, default_value = "high")]
    pub(crate) fail_on: Severity,

    /// Read this format instead of detecting it (TabSeparated, TSVWithNames,
    /// TSVWithNamesAndTypes, CSVWithNames, JSONEachRow, Vertical).
    #[arg(long, value_name = "FORMAT")]
    pub(crate) input_format: Option<String>,

    /// Column names of headerless TabSeparated input, comma-separated
    /// (default: the ClickHouse 26.x query_log order).
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    pub(crate) columns: Option<Vec<String>>,

    /// Treat CIDR as internal (repeatable; adds to loopback, RFC 1918, 100.64/10, fc00::/7, link-local).
    #[arg(long, value_name = "CIDR")]
    pub(crate) internal: Vec<String>,

    /// Treat CIDR as external even inside an internal range (repeatable; most specific wins).
    #[arg(long, value_name = "CIDR")]
    pub(crate) external: Vec<String>,

    /// Treat USER as logging in without a password (repeatable; default: `default`).
    #[arg(long, value_name = "USER")]
    pub(crate) passwordless: Vec<String>,

    /// The server's time zone for log times without one (UTC, +03:00, Europe/Berlin).
    #[arg(long, value_name = "TZ", default_value = "UTC")]
    pub(crate) timezone: String,

    /// Stop at the first rejected record (exit 2).
    #[arg(long)]
    pub(crate) strict: bool,

    /// Show secrets found in queries instead of redacting them.
    #[arg(long)]
    pub(crate) no_redact: bool,

    /// Threads to scan with (default: all cores). Files are read in parallel and large
    /// line-framed files are split at record boundaries; the report is the same as with 1.
    #[arg(long, short = 'j', value_name = "N")]
    pub(crate) threads: Option<usize>,

    /// Colour the text report.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) color: ColorChoice,
}

impl ScanArgs {
    /// The library configuration these flags describe.
    pub(crate) fn to_config(&self) -> Config {
        let mut c = Config::default();
        c.internal.clone_from(&self.internal);
        c.external.clone_from(&self.external);
        if !self.passwordless.is_empty() {
            c.passwordless.clone_from(&self.passwordless);
        }
        c.timezone.clone_from(&self.timezone);
        c.input_format.clone_from(&self.input_format);
        c.columns = self.columns.clone();
        c.strict = self.strict;
        c.redact = !self.no_redact;
        c
    }
}
