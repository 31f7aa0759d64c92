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
pub mod redact;
pub mod report;
pub mod sql;
pub mod time;

use std::collections::BTreeMap;

use serde::Serialize;

pub use config::{Config, Thresholds};
pub use detect::{ClientSummary, Detector, Evidence, Finding, RuleId, Settings, Severity};
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
    /// Earliest event.
    pub first_event: Option<Timestamp>,
    /// Latest event.
    pub last_event: Option<Timestamp>,
    /// Distinct clients (user at address).
    pub clients: u64,
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
    /// Per source: whether it is a later part of the file before it (see [`Analyzer::merge`]).
    continues: Vec<bool>,
    /// Per source read in parts: queries whose start or end may lie in another part.
    carries: BTreeMap<u32, parse::Carry>,
    /// The current input is a part: end it with [`Analyzer::end_part`] semantics.
    in_part: bool,
}

/// The sink between one file's parser and the detector.
struct Collector<'s> {
    detector: &'s mut Detector,
    source: &'s mut SourceSummary,
    rejected: &'s mut Vec<Rejected>,
    rejected_total: &'s mut u64,
    max_rejected: usize,
    first_error: Option<Rejected>,
}

impl Sink for Collector<'_> {
    fn event(&mut self, event: Event<'_>) {
        self.source.events += 1;
        self.detector.observe(&event);
    }

    fn reject(&mut self, error: ParseError) {
        self.source.rejected += 1;
        *self.rejected_total += 1;
        let r = Rejected {
            path: self.source.path.clone(),
            line: error.line,
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
            },
            strict: config.strict,
            max_rejected: config.max_rejected_reported,
            detector: Detector::new(settings),
            sources: Vec::new(),
            current: None,
            rejected: Vec::new(),
            rejected_total: 0,
            continues: Vec::new(),
            carries: BTreeMap::new(),
            in_part: false,
        })
    }

    /// Starts a new input; ends the previous one if still open.
    pub fn begin_file(&mut self, name: &str) {
        // A strict caller checks end_file itself; here a forgotten end must not lose records.
        let _ = self.end_file();
        let id = self.push_source(name, false);
        self.current = Some(FileParser::new(event::SourceId(id), self.options.clone()));
    }

    fn push_source(&mut self, name: &str, continues: bool) -> u32 {
        let id = u32::try_from(self.sources.len()).unwrap_or(u32::MAX);
        self.sources.push(SourceSummary {
            path: name.to_owned(),
            format: None,
            bytes: 0,
            events: 0,
            rejected: 0,
        });
        self.continues.push(continues);
        id
    }

    /// How many bytes at the start of a file beginning with `head` are header lines, if the
    /// file can be read in parts (see [`Analyzer::begin_part`]); `None` if it cannot (CSV,
    /// Vertical, unknown format) or `head` is too short to tell.
    #[must_use]
    pub fn split_head(&self, head: &[u8]) -> Option<usize> {
        FileParser::split_head(&self.options, head)
    }

    /// Starts a part of a file, for reading one file on several threads: `part` > 0 parts
    /// begin at a record boundary past the header, on 1-based line `first_line`; `head` is
    /// the beginning of the file (the format and header are read from it). Each part goes to
    /// its own analyzer, ended with [`Analyzer::end_part`]; the analyzers are then merged in
    /// file order with [`Analyzer::merge`], which pairs query starts and ends across parts.
    /// Part 0 is the file's beginning and may also be started with `begin_part` (`head` is
    /// then ignored).
    pub fn begin_part(&mut self, name: &str, part: usize, head: &[u8], first_line: u64) {
        let _ = self.end_file();
        let id = self.push_source(name, part > 0);
        let source = event::SourceId(id);
        self.current = Some(if part == 0 {
            FileParser::new(source, self.options.clone())
        } else {
            FileParser::resume(source, self.options.clone(), head, first_line)
        });
        if let (Some(p), Some(s)) = (&self.current, self.sources.last_mut()) {
            s.format = p.format();
        }
        self.in_part = true;
    }

    /// Ends a part started with [`Analyzer::begin_part`].
    ///
    /// # Errors
    /// In strict mode, the first rejected record.
    pub fn end_part(&mut self) -> Result<(), Rejected> {
        self.end_file()
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
        let result = if std::mem::take(&mut self.in_part) {
            let mut carry = None;
            let result = self.with_parser(|p, sink| carry = Some(p.finish_part(sink)), 0);
            if let Some(carry) = carry {
                let id = u32::try_from(self.sources.len().saturating_sub(1)).unwrap_or(u32::MAX);
                self.carries.entry(id).or_default().merge(carry);
            }
            result
        } else {
            self.with_parser(|p, sink| p.finish(sink), 0)
        };
        self.current = None;
        result
    }

    /// Folds in an analyzer that read the inputs after this one's (both with no input open):
    /// a later part of this analyzer's last file if `other` began with
    /// [`Analyzer::begin_part`] with `part` > 0, else further files. Merging the analyzers
    /// of consecutive parts and files in order gives the analysis one analyzer reading
    /// everything in that order would give. Both must have the same configuration.
    pub fn merge(&mut self, mut other: Analyzer) {
        let _ = self.end_file();
        let _ = other.end_file();
        let joins = other.continues.first() == Some(&true) && !self.sources.is_empty();
        let offset = u32::try_from(self.sources.len() - usize::from(joins)).unwrap_or(u32::MAX);
        let mut sources = other.sources.into_iter();
        let mut continues = other.continues.into_iter();
        if joins {
            if let (Some(mine), Some(theirs)) = (self.sources.last_mut(), sources.next()) {
                mine.bytes += theirs.bytes;
                mine.events += theirs.events;
                mine.rejected += theirs.rejected;
                mine.format = mine.format.or(theirs.format);
            }
            continues.next();
        }
        self.sources.extend(sources);
        self.continues.extend(continues);
        for r in other.rejected {
            if self.rejected.len() < self.max_rejected {
                self.rejected.push(r);
            }
        }
        self.rejected_total += other.rejected_total;
        for (id, mut carry) in other.carries {
            let id = id + offset;
            carry.set_source(event::SourceId(id));
            self.carries.entry(id).or_default().merge(carry);
        }
        self.detector.merge(other.detector, offset);
    }

    /// Pairs what parts of files left open and emits the starts that never ended.
    fn flush_carries(&mut self) {
        for (id, carry) in std::mem::take(&mut self.carries) {
            let Some(source) = self.sources.get_mut(id as usize) else {
                continue;
            };
            let detector = &mut self.detector;
            let errors = carry.flush(&mut |e| {
                source.events += 1;
                detector.observe(&e);
            });
            for (line, kind) in errors {
                source.rejected += 1;
                self.rejected_total += 1;
                if self.rejected.len() < self.max_rejected {
                    self.rejected.push(Rejected {
                        path: source.path.clone(),
                        line,
                        column: 1,
                        reason: kind.to_string(),
                    });
                }
            }
        }
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

    /// Ends the scan and returns what it found.
    #[must_use]
    pub fn finish(mut self) -> Analysis {
        let _ = self.end_file();
        self.flush_carries();
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
                first_event: s.first_event,
                last_event: s.last_event,
                clients: s.clients,
                findings: detection.findings.len() as u64,
                by_severity,
                sources: self.sources,
            },
            findings: detection.findings,
            clients: detection.clients,
            rejected: self.rejected,
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
