//! # chaudit
//!
//! Reads what a ClickHouse deployment leaves behind — `system.query_log` exports in every
//! text format ClickHouse writes, from 18.x to 26.x — and reports who read data without a
//! password, which external clients took results away, and which queries pushed or pulled
//! data through `url()`/`s3()`/`remote()`-style table functions. Every finding explains
//! itself (what was observed, against which threshold) and points at its evidence lines.
//!
//! The library does no I/O: callers push bytes in chunks, from a file, stdin or a browser's
//! `File.stream()`, and get an [`Analysis`] back.
//!
//! ```
//! use chaudit::{Analyzer, Config};
//!
//! let export = "type\tevent_time\tuser\taddress\tquery\tresult_bytes\n\
//!               QueryFinish\t2025-01-29 10:11:12\tdefault\t::ffff:198.51.100.7\tSHOW TABLES\t512\n";
//! let mut analyzer = Analyzer::new(Config::default())?;
//! analyzer.begin_file("query_log.tsv");
//! analyzer.feed(export.as_bytes())?;
//! analyzer.end_file()?;
//! let analysis = analyzer.finish();
//! assert_eq!(analysis.summary.events, 1);
//! assert_eq!(analysis.findings[0].rule.name(), "unauthenticated-read");
//! assert_eq!(analysis.findings[0].severity.name(), "critical");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Data flows one way: bytes → [`parse`] → [`Event`] → [`detect`] → [`Finding`] →
//! [`report`]. This file is the only place where parsing meets detection.

#![deny(missing_docs)]

pub mod config;
pub mod detect;
pub mod error;
pub mod event;
pub mod net;
pub mod parse;
pub mod pushdown;
pub mod redact;
pub mod report;
pub mod sql;
pub mod time;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

use std::collections::BTreeMap;

use serde::Serialize;

pub use config::{Config, Thresholds};
pub use detect::baseline::{BaselineState, ClientVolume};
pub use detect::timeline::Timeline;
pub use detect::{
    BaselineMode, Channel, ClientSummary, Detector, Evidence, Finding, LedgerEntry, RuleId,
    Settings, Severity,
};
pub use error::{ConfigError, ParseError, ParseErrorKind};
pub use event::{Event, QueryEvent};
pub use parse::{FileParser, InputFormat, ParseOptions, Sink};
pub use time::{Timestamp, Zone};

/// A record that was rejected, with where and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// The input file.
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based byte column.
    pub column: u64,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.column, self.reason
        )
    }
}

impl std::error::Error for Rejected {}

/// Per-input counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceSummary {
    /// The input's name.
    pub path: String,
    /// The format it was read as (`null` when none matched).
    pub format: Option<InputFormat>,
    /// Bytes fed.
    pub bytes: u64,
    /// Events parsed from it.
    pub events: u64,
    /// Records rejected.
    pub rejected: u64,
}

/// The end-of-run summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Query executions observed.
    pub events: u64,
    /// Records rejected, over all inputs.
    pub rejected: u64,
    /// Executions that failed.
    pub failed: u64,
    /// Executions whose end was not in the input.
    pub unfinished: u64,
    /// Sub-queries (not initial), counted but judged through their parent.
    pub subqueries: u64,
    /// Events outside the requested time range, skipped.
    pub out_of_range: u64,
    /// Earliest event.
    pub first_event: Option<Timestamp>,
    /// Latest event.
    pub last_event: Option<Timestamp>,
    /// Distinct clients (user at address).
    pub clients: u64,
    /// Clients past the tracking cap: counted, not listed in `clients`.
    pub clients_untracked: u64,
    /// Matching events of clients past the findings cap, folded into user `*` findings.
    pub findings_folded: u64,
    /// Login attempts, successes and logouts (session_log, text logs).
    pub logins: u64,
    /// HTTP requests (access logs, server `Request URI` lines).
    pub http_requests: u64,
    /// Executions seen through a second source (text log or proxy log) and counted once.
    pub duplicates: u64,
    /// Findings in total.
    pub findings: u64,
    /// Findings per severity (every severity present, zero or not).
    pub by_severity: BTreeMap<Severity, u64>,
    /// Each input.
    pub sources: Vec<SourceSummary>,
}

/// Everything a scan found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analysis {
    /// Counts.
    pub summary: Summary,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Per-client totals, heaviest first.
    pub clients: Vec<ClientSummary>,
    /// The first rejected records (all are counted in the summary).
    pub rejected: Vec<Rejected>,
    /// Bytes that left, per client, channel and day.
    pub ledger: Vec<LedgerEntry>,
    /// Per-client volume against the baseline (scans with a baseline only).
    pub volumes: Vec<ClientVolume>,
    /// Queries and result bytes per client per time window (see [`detect::timeline`]).
    pub timeline: Timeline,
    /// The baseline state after the scan, when one was attached (see [`Analyzer::with_baseline`]).
    #[serde(skip)]
    pub baseline: Option<BaselineState>,
}

impl Analysis {
    /// The most severe finding's severity, if any.
    #[must_use]
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Feeds inputs through parsing and detection; see the crate example.
#[derive(Debug)]
pub struct Analyzer {
    options: ParseOptions,
    strict: bool,
    max_rejected: usize,
    detector: Detector,
    sources: Vec<SourceSummary>,
    current: Option<FileParser>,
    rejected: Vec<Rejected>,
    rejected_total: u64,
    line_offset: u64,
}

/// The sink between one file's parser and the detector.
struct Collector<'s> {
    detector: &'s mut Detector,
    source: &'s mut SourceSummary,
    rejected: &'s mut Vec<Rejected>,
    rejected_total: &'s mut u64,
    max_rejected: usize,
    first_error: Option<Rejected>,
    line_offset: u64,
}

impl Sink for Collector<'_> {
    fn event(&mut self, mut event: Event<'_>) {
        // Other event kinds (access, session logs) carry locations too; add them here.
        #[allow(irrefutable_let_patterns)]
        if let Event::Query(q) = &mut event {
            q.location.line = q.location.line.saturating_add(self.line_offset);
        }
        self.source.events += 1;
        self.detector.observe(&event);
    }

    fn reject(&mut self, error: ParseError) {
        self.source.rejected += 1;
        *self.rejected_total += 1;
        let r = Rejected {
            path: self.source.path.clone(),
            line: error.line.saturating_add(self.line_offset),
            column: error.column,
            reason: error.kind.to_string(),
        };
        if self.first_error.is_none() {
            self.first_error = Some(r.clone());
        }
        if self.rejected.len() < self.max_rejected {
            self.rejected.push(r);
        }
    }
}

impl Analyzer {
    /// An analyzer for one configuration.
    ///
    /// # Errors
    /// A network, time zone, input format or column list in `config` is invalid.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let zone = Zone::parse(&config.timezone)?;
        let format = match &config.input_format {
            Some(f) => Some(f.parse::<InputFormat>().map_err(ConfigError::InputFormat)?),
            None => None,
        };
        if let Some(cols) = &config.columns {
            if cols.is_empty() || cols.iter().any(|c| c.trim().is_empty()) {
                return Err(ConfigError::Columns(
                    "column names must be non-empty".to_owned(),
                ));
            }
        }
        let settings = Settings::new(&config)?;
        Ok(Self {
            options: ParseOptions {
                format,
                columns: config.columns.clone(),
                zone,
                max_record_bytes: config.max_record_bytes,
                access_log_fields: config.access_log_fields.clone(),
            },
            strict: config.strict,
            max_rejected: config.max_rejected_reported,
            detector: Detector::new(settings),
            sources: Vec::new(),
            current: None,
            rejected: Vec::new(),
            rejected_total: 0,
            line_offset: 0,
        })
    }

    /// Judges (and by `mode` learns) against `state`; the resulting state comes back in
    /// [`Analysis::baseline`].
    ///
    /// # Errors
    /// The state does not fit this build or the configuration's baseline settings.
    pub fn with_baseline(
        mut self,
        state: BaselineState,
        mode: BaselineMode,
    ) -> Result<Self, ConfigError> {
        self.detector.attach_baseline(state, mode)?;
        Ok(self)
    }

    /// Only events starting in `[since, until)` are analysed (either bound optional).
    pub fn set_range(&mut self, since: Option<Timestamp>, until: Option<Timestamp>) {
        self.detector.set_range(since, until);
    }

    /// Starts an input read from the middle: its first line fed is line `lines_before + 1`
    /// of the file (header lines replayed first count as fed lines, so pass the lines
    /// skipped minus the header lines).
    pub fn begin_resumed_file(&mut self, name: &str, lines_before: u64) {
        self.begin_file(name);
        self.line_offset = lines_before;
    }

    /// Starts a new input; ends the previous one if still open.
    pub fn begin_file(&mut self, name: &str) {
        // A strict caller checks end_file itself; here a forgotten end must not lose records.
        let _ = self.end_file();
        let id = u32::try_from(self.sources.len()).unwrap_or(u32::MAX);
        self.sources.push(SourceSummary {
            path: name.to_owned(),
            format: None,
            bytes: 0,
            events: 0,
            rejected: 0,
        });
        self.current = Some(FileParser::new(event::SourceId(id), self.options.clone()));
        self.line_offset = 0;
    }

    /// Feeds the next chunk of the current input (an unnamed one is started if needed).
    ///
    /// # Errors
    /// In strict mode, the first rejected record.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Rejected> {
        if self.current.is_none() {
            self.begin_file("-");
        }
        self.with_parser(|p, sink| p.feed(chunk, sink), chunk.len())
    }

    /// Ends the current input, flushing its last record and unfinished queries.
    ///
    /// # Errors
    /// In strict mode, the first rejected record.
    pub fn end_file(&mut self) -> Result<(), Rejected> {
        let result = self.with_parser(|p, sink| p.finish(sink), 0);
        self.current = None;
        result
    }

    fn with_parser(
        &mut self,
        f: impl FnOnce(&mut FileParser, &mut dyn Sink),
        bytes: usize,
    ) -> Result<(), Rejected> {
        let (Some(parser), Some(source)) = (self.current.as_mut(), self.sources.last_mut()) else {
            return Ok(());
        };
        source.bytes += bytes as u64;
        let mut sink = Collector {
            detector: &mut self.detector,
            source,
            rejected: &mut self.rejected,
            rejected_total: &mut self.rejected_total,
            max_rejected: self.max_rejected,
            first_error: None,
            line_offset: self.line_offset,
        };
        f(parser, &mut sink);
        let first_error = sink.first_error.take();
        if let Some(fmt) = parser.format() {
            source.format = Some(fmt);
        }
        match first_error {
            Some(e) if self.strict => Err(e),
            _ => Ok(()),
        }
    }

    /// The format the current input was read as, once known.
    #[must_use]
    pub fn current_format(&self) -> Option<InputFormat> {
        self.current.as_ref().and_then(FileParser::format)
    }

    /// Ends the scan and returns what it found.
    #[must_use]
    pub fn finish(mut self) -> Analysis {
        let _ = self.end_file();
        let paths: Vec<String> = self.sources.iter().map(|s| s.path.clone()).collect();
        let detection = self.detector.finish(&paths);
        let mut by_severity: BTreeMap<Severity, u64> =
            Severity::ALL.into_iter().map(|s| (s, 0)).collect();
        for f in &detection.findings {
            *by_severity.entry(f.severity).or_default() += 1;
        }
        let s = detection.stats;
        Analysis {
            summary: Summary {
                events: s.events,
                rejected: self.rejected_total,
                failed: s.failed,
                unfinished: s.unfinished,
                subqueries: s.subqueries,
                out_of_range: s.out_of_range,
                first_event: s.first_event,
                last_event: s.last_event,
                clients: s.clients,
                clients_untracked: s.clients_untracked,
                findings_folded: s.findings_folded,
                logins: s.logins,
                http_requests: s.http_requests,
                duplicates: s.duplicates,
                findings: detection.findings.len() as u64,
                by_severity,
                sources: self.sources,
            },
            findings: detection.findings,
            clients: detection.clients,
            rejected: self.rejected,
            ledger: detection.ledger,
            volumes: detection.volumes,
            timeline: detection.timeline,
            baseline: detection.baseline,
        }
    }
}

/// Analyzes whole in-memory inputs `(name, bytes)` in one call.
///
/// # Errors
/// An invalid configuration, or in strict mode the first rejected record (as
/// [`ConfigError`] never; see [`Analyzer`] for the streaming interface).
pub fn analyze(config: Config, inputs: &[(&str, &[u8])]) -> Result<Analysis, ConfigError> {
    let mut a = Analyzer::new(Config {
        strict: false,
        ..config
    })?;
    for (name, bytes) in inputs {
        a.begin_file(name);
        let _ = a.feed(bytes);
        let _ = a.end_file();
    }
    Ok(a.finish())
}
