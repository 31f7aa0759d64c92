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
    /// Scan query_log/session_log exports, server logs and proxy access logs (.gz/.zst too).
    ///
    /// Exit status: 0 no finding at or above --fail-on, 1 at least one, 2 error.
    Scan(ScanArgs),

    /// Read system.query_log (and session_log) from a live server over HTTP and report.
    ///
    /// The password of --user comes from the CHAUDIT_PASSWORD environment variable or
    /// --password-file. Exit status: as for scan.
    Pull(crate::pull::PullArgs),

    /// Print the SQL that pull (or pull --pushdown) runs, for review or scheduling.
    Sql(crate::pull::SqlArgs),
    /// Build and maintain per-client baselines.
    #[command(subcommand)]
    Baseline(BaselineCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum BaselineCommand {
    /// Learn a fresh baseline from logs and write it to -o (atomically, under a lock).
    ///
    /// The state remembers how far each file was read, so a later
    /// `scan --baseline STATE --update-baseline` continues where learning stopped.
    Learn(LearnArgs),
}

#[derive(Debug, Args)]
pub(crate) struct LearnArgs {
    /// Files or directories to learn from (directories recursively).
    #[arg(required = true)]
    pub(crate) paths: Vec<PathBuf>,

    /// Where to write the state.
    #[arg(long, short = 'o', value_name = "STATE")]
    pub(crate) output: PathBuf,

    /// Read settings from this TOML file (see chaudit.example.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Learn only events at or after TIME (2025-01-29, 2025-01-29T10:00:00Z, or 24h, 7d back from now).
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,

    /// Learn only events before TIME.
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,

    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,

    /// Read this format instead of detecting it.
    #[arg(long, value_name = "FORMAT")]
    pub(crate) input_format: Option<String>,

    /// The server's time zone for log times without one (default UTC).
    #[arg(long, value_name = "TZ")]
    pub(crate) timezone: Option<String>,

    /// Column names of headerless TabSeparated input, comma-separated.
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    pub(crate) columns: Option<Vec<String>>,

    /// Treat CIDR as internal (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub(crate) internal: Vec<String>,

    /// Treat CIDR as external (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub(crate) external: Vec<String>,
}

impl LearnArgs {
    /// The configuration: the file's, then these flags.
    pub(crate) fn apply(&self, mut c: Config) -> Config {
        c.internal.extend(self.internal.iter().cloned());
        c.external.extend(self.external.iter().cloned());
        if let Some(tz) = &self.timezone {
            c.timezone.clone_from(tz);
        }
        if self.input_format.is_some() {
            c.input_format.clone_from(&self.input_format);
        }
        if self.columns.is_some() {
            c.columns.clone_from(&self.columns);
        }
        c
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum OutputFormat {
    Text,
    Json,
    Jsonl,
    /// Findings timeline, one row per finding.
    Csv,
    /// One self-contained HTML page: summary, clients, findings, ledger.
    Html,
    /// JSONL for Timesketch import (datetime, timestamp_desc, message).
    Timesketch,
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
    /// TSVWithNamesAndTypes, CSVWithNames, JSONEachRow, Vertical, ServerLog,
    /// ServerJSONLog, AccessLog, AccessLogJSON).
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

    /// The server's time zone for log times without one (UTC, +03:00, Europe/Berlin; default UTC).
    #[arg(long, value_name = "TZ")]
    pub(crate) timezone: Option<String>,

    /// Reject records (lines, or CSV/Vertical records) longer than BYTES instead of buffering them.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub(crate) max_line_bytes: usize,

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

    /// Read settings from this TOML file (see chaudit.example.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Judge clients against this baseline state (from `chaudit baseline learn`).
    #[arg(long, value_name = "STATE")]
    pub(crate) baseline: Option<PathBuf>,

    /// Fold this scan into the baseline and save it; files are read from where the last
    /// run stopped (rotation and truncation are noticed).
    #[arg(long, requires = "baseline")]
    pub(crate) update_baseline: bool,

    /// Only events at or after TIME (2025-01-29, 2025-01-29T10:00:00Z, or 24h, 7d back from now).
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,

    /// Only events before TIME.
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,

    /// Print nothing on stderr but errors (no notes, no progress bar).
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,

    /// Append the egress ledger (bytes to external clients and through table functions,
    /// per client and day) to a text report; json and html always include it.
    #[arg(long)]
    pub(crate) ledger: bool,
}

impl ScanArgs {
    /// The library configuration these flags describe.
    /// `base` is the config file's (or the default); flags given override it.
    pub(crate) fn to_config(&self, base: Config) -> Config {
        let mut c = base;
        c.internal.extend(self.internal.iter().cloned());
        c.external.extend(self.external.iter().cloned());
        if !self.passwordless.is_empty() {
            c.passwordless.clone_from(&self.passwordless);
        }
        c.max_record_bytes = self.max_line_bytes;
        if let Some(tz) = &self.timezone {
            c.timezone.clone_from(tz);
        }
        if self.input_format.is_some() {
            c.input_format.clone_from(&self.input_format);
        }
        if self.columns.is_some() {
            c.columns.clone_from(&self.columns);
        }
        c.strict |= self.strict;
        if self.no_redact {
            c.redact = false;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_args(argv: &[&str]) -> ScanArgs {
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Scan(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn ok_flags_override_the_file() {
        let file: Config = toml::from_str(
            "timezone = \"+03:00\"\ninternal = [\"203.0.113.0/28\"]\nredact = true\npasswordless = [\"default\", \"ro\"]\n",
        )
        .unwrap();
        let c = scan_args(&["chaudit", "scan"]).to_config(file.clone());
        assert_eq!(c, file, "no flags: the file as written");
        let c = scan_args(&[
            "chaudit",
            "scan",
            "--timezone",
            "UTC",
            "--internal",
            "192.0.2.0/24",
            "--passwordless",
            "guest",
            "--no-redact",
        ])
        .to_config(file);
        assert_eq!(c.timezone, "UTC");
        assert_eq!(c.internal, ["203.0.113.0/28", "192.0.2.0/24"]);
        assert_eq!(c.passwordless, ["guest"]);
        assert!(!c.redact);
    }
}
