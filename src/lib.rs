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
mod defer;
pub mod detect;
pub mod error;
pub mod event;
mod memo;
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
pub use parse::{FileParser, InputFormat, ParseOptions, Sink, SourceKind};

/// How much of an input's beginning tells its format and kind of log: the head to pass to
/// [`Analyzer::source_kind`] and [`Analyzer::joins_needed`] (a shorter input whole).
pub const HEAD_BYTES: usize = parse::SNIFF_BYTES;
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
    /// Events of clients past `max_tracked_clients` (queries, and login attempts), counted but
    /// not listed in `clients` (nor remembered by the login rule).
    pub clients_untracked: u64,
    /// Matching events of clients past the findings cap, folded into user `*` findings.
    pub findings_folded: u64,
    /// Events of clients past `max_tracked_clients` that the baseline did not bucket.
    pub baseline_untracked: u64,
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
    /// Per source: whether it is a later part of the file before it (see [`Analyzer::merge`]).
    continues: Vec<bool>,
    /// Per source read in parts: queries whose start or end may lie in another part.
    carries: BTreeMap<u32, parse::Carry>,
    /// The current input is a part: ending it keeps what may pair with another part.
    in_part: bool,
    /// A [`PartAnalyzer`]'s events, kept for the analyzer it is merged into; `None` for an
    /// analyzer that judges events as they come.
    deferred: Option<defer::Deferred>,
}

/// The sink between one file's parser and the detector.
struct Collector<'s> {
    detector: &'s mut Detector,
    /// Where a deferring analyzer keeps events instead of judging them.
    deferred: Option<&'s mut defer::Deferred>,
    source: &'s mut SourceSummary,
    rejected: &'s mut Vec<Rejected>,
    rejected_total: &'s mut u64,
    max_rejected: usize,
    first_error: Option<Rejected>,
    line_offset: u64,
}

impl Sink for Collector<'_> {
    fn event(&mut self, mut event: Event<'_>) {
        let location = event.location_mut();
        location.line = location.line.saturating_add(self.line_offset);
        self.source.events += 1;
        match &mut self.deferred {
            Some(kept) => kept.push(event),
            None => self.detector.observe(&event),
        }
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
            continues: Vec::new(),
            carries: BTreeMap::new(),
            in_part: false,
            deferred: None,
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

    /// Which kind of log an input beginning with `head` is, if it can be told from the
    /// head: `None` for a compressed stream or an unknown format (see
    /// [`Analyzer::set_joins`]).
    #[must_use]
    pub fn source_kind(&self, head: &[u8]) -> Option<SourceKind> {
        FileParser::source_kind(&self.options, head)
    }

    /// Whether inputs beginning with `heads` (each input's first [`HEAD_BYTES`], or all of it
    /// if shorter) may need joins (see [`Analyzer::set_joins`]): true unless every head shows
    /// one and the same [`SourceKind`]. A compressed or unknown head could be anything;
    /// empty inputs do not count.
    #[must_use]
    pub fn joins_needed<'h>(&self, heads: impl IntoIterator<Item = &'h [u8]>) -> bool {
        let mut seen = None;
        for head in heads.into_iter().filter(|h| !h.is_empty()) {
            match self.source_kind(head) {
                Some(kind) if *seen.get_or_insert(kind) == kind => {}
                _ => return true,
            }
        }
        false
    }

    /// Whether executions may need joining across kinds of source ([`SourceKind`]) — a
    /// query_log row with its server text-log lines and a proxy's access-log line (on by
    /// default). Joining remembers query_log executions and proxy requests and holds
    /// text-log and internal HTTP executions until the end, so memory grows with the input
    /// (up to fixed caps). A caller that knows every input is of one kind turns it off:
    /// nothing is remembered or held, and memory depends on clients and time only.
    pub fn set_joins(&mut self, joins: bool) {
        self.detector.set_joins(joins);
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
        let id = self.push_source(name, false);
        self.current = Some(FileParser::new(event::SourceId(id), self.options.clone()));
        self.line_offset = 0;
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
    /// file can be read in parts (see [`PartAnalyzer::begin_part`]); `None` if it cannot (CSV,
    /// Vertical, unknown format) or `head` is too short to tell.
    #[must_use]
    pub fn split_head(&self, head: &[u8]) -> Option<usize> {
        FileParser::split_head(&self.options, head)
    }

    fn begin_part(&mut self, name: &str, part: usize, head: &[u8], first_line: u64) {
        let _ = self.end_file();
        self.line_offset = 0;
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

    /// Folds in a [`PartAnalyzer`] that read the inputs after this one's (both with no input
    /// open): a later part of this analyzer's last file if `other` began with
    /// [`PartAnalyzer::begin_part`] with `part` > 0, else further files. Its
    /// events are judged here, in the order it read them; query starts and ends that parts
    /// left unpaired are paired once the file is complete. Merging the analyzers of
    /// consecutive parts and files in order gives the analysis one analyzer reading
    /// everything in that order would give. Both must have the same parse configuration.
    pub fn merge(&mut self, other: PartAnalyzer) {
        let mut other = other.0;
        let _ = self.end_file();
        let _ = other.end_file();
        let joins = other.continues.first() == Some(&true) && !self.sources.is_empty();
        let offset = u32::try_from(self.sources.len() - usize::from(joins)).unwrap_or(u32::MAX);
        // Files before `offset` are complete: what their parts left unpaired is final.
        self.flush_carries(offset);
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
        let deferred = other.deferred.take().unwrap_or_default();
        for mut e in deferred.events() {
            let location = e.location_mut();
            location.source.0 = location.source.0.saturating_add(offset);
            self.judge(e);
        }
        for (id, mut carry) in other.carries {
            let id = id.saturating_add(offset);
            carry.set_source(event::SourceId(id));
            self.carries.entry(id).or_default().merge(carry);
        }
    }

    /// Observes an event here, or keeps it in a part analyzer.
    fn judge(&mut self, e: Event<'_>) {
        match &mut self.deferred {
            Some(kept) => kept.push(e),
            None => self.detector.observe(&e),
        }
    }

    /// Pairs what parts of the files before source `upto` left open and emits the starts
    /// that never ended.
    fn flush_carries(&mut self, upto: u32) {
        let rest = self.carries.split_off(&upto);
        for (id, carry) in std::mem::replace(&mut self.carries, rest) {
            let mut events = Vec::new();
            let errors = carry.flush(&mut |e| events.push(e.into_owned()));
            let Some(source) = self.sources.get_mut(id as usize) else {
                continue;
            };
            source.events += events.len() as u64;
            let path = source.path.clone();
            for (line, kind) in errors {
                if let Some(source) = self.sources.get_mut(id as usize) {
                    source.rejected += 1;
                }
                self.rejected_total += 1;
                if self.rejected.len() < self.max_rejected {
                    self.rejected.push(Rejected {
                        path: path.clone(),
                        line,
                        column: 1,
                        reason: kind.to_string(),
                    });
                }
            }
            for e in events {
                self.judge(e);
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
            deferred: self.deferred.as_mut(),
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
        self.flush_carries(u32::MAX);
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
                baseline_untracked: s.baseline_untracked,
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

/// Parses a file, or a part of one, for an [`Analyzer`] to judge: how one scan runs on
/// several threads. Part analyzers parse files or parts of files in parallel, keeping their
/// events unjudged; one analyzer then [merges](Analyzer::merge) them in input order and
/// judges every event, so every rule, the baseline and the caps see exactly the events one
/// thread would have shown them. A part analyzer holds every event of what it read: give
/// it bounded stretches of input.
#[derive(Debug)]
pub struct PartAnalyzer(Analyzer);

impl PartAnalyzer {
    /// A part analyzer for one configuration (the same as the merging analyzer's).
    ///
    /// # Errors
    /// As [`Analyzer::new`].
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let mut a = Analyzer::new(config)?;
        a.deferred = Some(defer::Deferred::default());
        Ok(Self(a))
    }

    /// Starts a whole input (as [`Analyzer::begin_file`]).
    pub fn begin_file(&mut self, name: &str) {
        self.0.begin_file(name);
    }

    /// Starts a part of a file: `part` > 0 parts begin at a record boundary past the header
    /// (see [`Analyzer::split_head`]), on 1-based line `first_line`; `head` is the beginning
    /// of the file (the format and header are read from it). Part 0 is the file's beginning
    /// (`head` is then ignored). The parts of a file are merged in file order, and
    /// [`Analyzer::merge`] pairs query starts and ends across them.
    pub fn begin_part(&mut self, name: &str, part: usize, head: &[u8], first_line: u64) {
        self.0.begin_part(name, part, head, first_line);
    }

    /// Moves every line number this analyzer recorded (its events, rejected records and the
    /// query starts it carries) up by `lines`: a part parsed from line 1 before anyone knew
    /// how many lines the parts before it hold. Call it before [`Analyzer::merge`].
    pub fn shift_lines(&mut self, lines: u64) {
        let a = &mut self.0;
        for location in a
            .deferred
            .iter_mut()
            .flat_map(defer::Deferred::locations_mut)
        {
            location.line = location.line.saturating_add(lines);
        }
        for r in &mut a.rejected {
            r.line = r.line.saturating_add(lines);
        }
        for carry in a.carries.values_mut() {
            carry.shift_lines(lines);
        }
    }

    /// Feeds the next chunk (as [`Analyzer::feed`]).
    ///
    /// # Errors
    /// In strict mode, the first rejected record.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Rejected> {
        self.0.feed(chunk)
    }

    /// Ends the current input or part.
    ///
    /// # Errors
    /// In strict mode, the first rejected record.
    pub fn end(&mut self) -> Result<(), Rejected> {
        self.0.end_file()
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
    let joins = a.joins_needed(inputs.iter().map(|(_, b)| b.get(..HEAD_BYTES).unwrap_or(b)));
    a.set_joins(joins);
    for (name, bytes) in inputs {
        a.begin_file(name);
        let _ = a.feed(bytes);
        let _ = a.end_file();
    }
    Ok(a.finish())
}
