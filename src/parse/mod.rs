//! Parsing: bytes of one input file → [`Event`]s, pushed into a [`Sink`].
//!
//! A [`FileParser`] sniffs the format from the first bytes (unless told), frames the stream
//! into records whatever the chunking, and hands each record to the table parser. Rejected
//! records go to the sink with their 1-based line and byte column; parsing never stops at
//! one. This module knows nothing of detection, SQL or reports.

mod access_log;
mod common;
mod decompress;
mod framing;
mod query_log;
mod session_log;
mod sniff;
pub(crate) use sniff::SNIFF_BYTES;
mod table;
mod text_log;

use std::borrow::Cow;

pub use access_log::AccessLogFields;
pub(crate) use query_log::COLUMNS as QUERY_LOG_COLUMNS;
pub use query_log::DEFAULT_COLUMNS;
pub use sniff::{InputFormat, LogTable};

use crate::error::{ParseError, ParseErrorKind};
use crate::event::{Event, Location, SourceId};
use crate::time::Zone;
use decompress::Decoder;
use framing::{Framer, Framing, Piece};
pub(crate) use query_log::Carry;
use query_log::{check_header, Pairer};
use table::{csv_fields, trim_eol, tsv_fields, FieldError, Header, Row, RowReader, Schema};
use text_log::TextLogReader;

/// The kinds of source whose records may tell of the same execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKind {
    /// A system.query_log or system.session_log export.
    TableExport,
    /// The ClickHouse server's text log.
    ServerLog,
    /// A proxy's access log.
    AccessLog,
}

/// Receives what a parser finds.
pub trait Sink {
    /// A parsed event; it may borrow the chunk being fed.
    fn event(&mut self, event: Event<'_>);
    /// A record that could not be parsed.
    fn reject(&mut self, error: ParseError);
}

/// How to read one file.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Skip sniffing and read this format.
    pub format: Option<InputFormat>,
    /// Column order of headerless TabSeparated input (default [`DEFAULT_COLUMNS`]).
    pub columns: Option<Vec<String>>,
    /// The zone the server wrote times in.
    pub zone: Zone,
    /// Longest record accepted, in bytes.
    pub max_record_bytes: usize,
    /// Field names of JSON-lines access logs.
    pub access_log_fields: AccessLogFields,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            format: None,
            columns: None,
            zone: Zone::utc(),
            max_record_bytes: 64 << 20,
            access_log_fields: AccessLogFields::default(),
        }
    }
}

/// A push parser for one input file; see the module docs.
#[derive(Debug)]
pub struct FileParser {
    options: ParseOptions,
    source: SourceId,
    state: State,
    /// Set once the first bytes showed gzip or zstd magic (`None` inside: plain input).
    decoder: Option<Option<Decoder>>,
    /// Compressed bytes held until the magic can be told.
    magic: Vec<u8>,
}

#[derive(Debug)]
enum State {
    Sniffing(Vec<u8>),
    Reading {
        framer: Framer,
        table: Box<TableReader>,
    },
}

#[derive(Debug)]
struct TableReader {
    format: Option<InputFormat>,
    table: LogTable,
    text: Option<TextLogReader>,
    access_fields: AccessLogFields,
    source: SourceId,
    zone: Zone,
    limit: usize,
    header: Option<Header>,
    /// How rows are split, once the format and header are known.
    reader: Option<std::sync::Arc<RowReader>>,
    skip_types_line: bool,
    pairer: Pairer,
    /// Records may span lines (CSV and Vertical framing).
    multiline: bool,
    /// Line number of the next record's first line (1-based).
    line: u64,
    /// Kept from record to record for what a reader decodes (the access log's queries), so
    /// that a record costs no allocation.
    scratch: access_log::QueryScratch,
}

impl FileParser {
    /// A parser for the input identified by `source`.
    #[must_use]
    pub fn new(source: SourceId, options: ParseOptions) -> Self {
        Self {
            options,
            source,
            state: State::Sniffing(Vec::new()),
            decoder: None,
            magic: Vec::new(),
        }
    }

    /// The format being read, once known. `None` before enough bytes arrived, or when the
    /// input matched no format.
    #[must_use]
    pub fn format(&self) -> Option<InputFormat> {
        match &self.state {
            State::Reading { table, .. } => table.format,
            State::Sniffing(_) => None,
        }
    }

    /// The table the input holds (query_log unless sniffing found session_log).
    #[must_use]
    pub fn table(&self) -> Option<LogTable> {
        match &self.state {
            State::Reading { table, .. } if table.format.is_some() => Some(table.table),
            _ => None,
        }
    }

    /// Feeds the next chunk of the file. Records may straddle chunks. gzip and zstd input is
    /// recognised by its magic bytes and decompressed as it arrives.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut dyn Sink) {
        match &mut self.decoder {
            Some(Some(d)) => {
                // Decompressed pieces go on to the framer as they come: never all at once.
                let mut d = std::mem::replace(d, Decoder::Failed);
                let result = d.push(chunk, &mut |plain| self.feed_plain(plain, sink));
                self.decoder = Some(Some(d));
                if let Err(e) = result {
                    self.decode_error(e, sink);
                }
            }
            Some(None) => self.feed_plain(chunk, sink),
            None => {
                self.magic.extend_from_slice(chunk);
                if self.magic.len() < decompress::MAGIC_BYTES {
                    return;
                }
                let head = std::mem::take(&mut self.magic);
                self.decoder = Some(Decoder::detect(&head));
                self.feed(&head, sink);
            }
        }
    }

    fn decode_error(&mut self, e: decompress::DecodeError, sink: &mut dyn Sink) {
        self.decoder = Some(Some(Decoder::Failed));
        sink.reject(ParseError {
            line: self.next_line(),
            column: 1,
            kind: ParseErrorKind::BadValue {
                column: "compressed input",
                expected: e.0,
            },
        });
    }

    fn next_line(&self) -> u64 {
        match &self.state {
            State::Reading { table, .. } => table.line,
            State::Sniffing(_) => 1,
        }
    }

    fn feed_plain(&mut self, chunk: &[u8], sink: &mut dyn Sink) {
        if chunk.is_empty() {
            return;
        }
        match &mut self.state {
            State::Sniffing(buf) if buf.is_empty() && enough_to_sniff(chunk) => {
                // The whole head is in this chunk: no copy.
                self.start(chunk, sink);
            }
            State::Sniffing(buf) => {
                buf.extend_from_slice(chunk);
                if enough_to_sniff(buf) {
                    let head = std::mem::take(buf);
                    self.start(&head, sink);
                }
            }
            State::Reading { framer, table } => framer.feed(chunk, &mut |p| table.piece(p, sink)),
        }
    }

    /// Ends the file: flushes the last record and queries that never finished.
    pub fn finish(&mut self, sink: &mut dyn Sink) {
        if self.decoder.is_none() {
            let head = std::mem::take(&mut self.magic);
            self.decoder = Some(Decoder::detect(&head));
            self.feed(&head, sink);
        }
        if let Some(Some(d)) = &mut self.decoder {
            let mut d = std::mem::replace(d, Decoder::Failed);
            let result = d.finish(&mut |plain| self.feed_plain(plain, sink));
            self.decoder = Some(Some(d));
            if let Err(e) = result {
                self.decode_error(e, sink);
            }
        }
        if let State::Sniffing(buf) = &mut self.state {
            let head = std::mem::take(buf);
            if head.iter().all(u8::is_ascii_whitespace) {
                return;
            }
            self.start(&head, sink);
        }
        if let State::Reading { framer, table } = &mut self.state {
            framer.finish(&mut |p| table.piece(p, sink));
            table.pairer.finish(&mut |e| sink.event(e));
            if let Some(text) = &mut table.text {
                text.finish(&mut |e| sink.event(e));
            }
            table.report_late_errors(sink);
        }
    }

    /// A parser for a part of a file that begins at a record boundary on 1-based line
    /// `first_line`, after the header. `head` is the beginning of the same file (its first
    /// lines at least): the format and the header are read from it, no event is.
    #[must_use]
    pub fn resume(source: SourceId, options: ParseOptions, head: &[u8], first_line: u64) -> Self {
        let mut p = Self::new(source, options);
        p.decoder = Some(None);
        let (format, log_table) = p.identify(head);
        let (mut framer, mut table) = p.reader(format, log_table);
        let head = sniff::strip_bom(head);
        let header_lines = header_lines(format);
        let mut seen = 0;
        framer.feed(head, &mut |piece| {
            if seen < header_lines {
                seen += 1;
                table.piece(piece, &mut NullSink);
            }
        });
        table.skip_types_line = false;
        table.line = first_line;
        // What the head held past the header belongs to another part.
        framer = Framer::new(framer.framing(), p.options.max_record_bytes);
        p.state = State::Reading { framer, table };
        p
    }

    /// How many bytes at the start of `head` are header (to be read by every part), if a
    /// file that starts with `head` can be read in parts at all: only uncompressed
    /// query_log exports in line-framed formats can — a newline inside a CSV quote or a
    /// Vertical block is no record boundary, a compressed stream has none we can see, and
    /// text, access and session logs carry state (multi-line messages, logins) from line
    /// to line. `None` too when `head` does not hold the whole header.
    #[must_use]
    pub fn split_head(options: &ParseOptions, head: &[u8]) -> Option<usize> {
        if Decoder::detect(head).is_some() {
            return None;
        }
        let probe = Self::new(SourceId(0), options.clone());
        let (format, table) = probe.identify(head);
        let format = format?;
        if table != LogTable::QueryLog
            || !matches!(
                format,
                InputFormat::TabSeparated
                    | InputFormat::TsvWithNames
                    | InputFormat::TsvWithNamesAndTypes
                    | InputFormat::JsonEachRow
            )
        {
            return None;
        }
        let mut end = 0;
        for _ in 0..header_lines(Some(format)) {
            end += memchr::memchr(b'\n', head.get(end..)?)? + 1;
        }
        Some(end)
    }

    /// Which kind of log an input beginning with `head` is: `None` for a compressed stream
    /// (its head says nothing) or an unknown format.
    #[must_use]
    pub fn source_kind(options: &ParseOptions, head: &[u8]) -> Option<SourceKind> {
        if Decoder::detect(head).is_some() {
            return None;
        }
        let probe = Self::new(SourceId(0), options.clone());
        Some(match probe.identify(head).0? {
            InputFormat::TabSeparated
            | InputFormat::TsvWithNames
            | InputFormat::TsvWithNamesAndTypes
            | InputFormat::CsvWithNames
            | InputFormat::JsonEachRow
            | InputFormat::Vertical => SourceKind::TableExport,
            InputFormat::ServerLog | InputFormat::ServerJsonLog => SourceKind::ServerLog,
            InputFormat::AccessLog | InputFormat::AccessLogJson => SourceKind::AccessLog,
        })
    }

    /// Ends a part of a file (see [`FileParser::resume`]): flushes the last record, and
    /// returns the queries whose start or end may be in another part instead of emitting them.
    pub(crate) fn finish_part(&mut self, sink: &mut dyn Sink) -> Carry {
        // Compressed input and text logs are never split, so their one part is the whole
        // file: it must end as a file does (flush the decoder and report a truncated stream;
        // emit the text log's queries still waiting for their last line).
        let whole = matches!(self.decoder, Some(Some(_)))
            || matches!(&self.state, State::Reading { table, .. } if table.text.is_some());
        if whole {
            self.finish(sink);
            return Carry::default();
        }
        if let State::Reading { framer, table } = &mut self.state {
            framer.finish(&mut |p| table.piece(p, sink));
            let carry = table.pairer.finish_part();
            table.report_late_errors(sink);
            return carry;
        }
        self.finish(sink);
        Carry::default()
    }

    /// The format and table of an input beginning with `head`.
    fn identify(&self, head: &[u8]) -> (Option<InputFormat>, LogTable) {
        let fields = &self.options.access_log_fields;
        let sniffed = sniff::sniff_start(head, fields);
        let format = self.options.format.or(sniffed.map(|s| s.0));
        let mut log_table = sniffed.map_or(LogTable::QueryLog, |s| s.1);
        if format == Some(InputFormat::TabSeparated) {
            // Headerless: the configured column list says which table it is.
            if let Some(cols) = &self.options.columns {
                let h = Header::from_names(
                    LogTable::SessionLog.schema(),
                    cols.iter().map(|c| Cow::Borrowed(c.as_bytes())),
                );
                if session_log::is_session_log_header(|s| h.has(s)) {
                    log_table = LogTable::SessionLog;
                }
            }
        }
        (format, log_table)
    }

    fn reader(
        &self,
        format: Option<InputFormat>,
        log_table: LogTable,
    ) -> (Framer, Box<TableReader>) {
        let framing = match format {
            Some(InputFormat::CsvWithNames) => Framing::Csv,
            Some(InputFormat::Vertical) => Framing::Vertical,
            _ => Framing::Lines,
        };
        let header = match format {
            Some(InputFormat::TabSeparated) => {
                let names: Vec<Cow<'_, [u8]>> = match &self.options.columns {
                    Some(cols) => cols
                        .iter()
                        .map(|c| Cow::Owned(c.clone().into_bytes()))
                        .collect(),
                    None => DEFAULT_COLUMNS
                        .iter()
                        .map(|c| Cow::Borrowed(c.as_bytes()))
                        .collect(),
                };
                Some(Header::from_names(log_table.schema(), names))
            }
            _ => None,
        };
        let text = match format {
            Some(InputFormat::ServerLog) => Some(TextLogReader::new(
                self.source,
                self.options.zone.clone(),
                false,
            )),
            Some(InputFormat::ServerJsonLog) => Some(TextLogReader::new(
                self.source,
                self.options.zone.clone(),
                true,
            )),
            _ => None,
        };
        let table = Box::new(TableReader {
            format,
            table: log_table,
            text,
            access_fields: self.options.access_log_fields.clone(),
            source: self.source,
            zone: self.options.zone.clone(),
            limit: self.options.max_record_bytes,
            header,
            reader: None,
            skip_types_line: format == Some(InputFormat::TsvWithNamesAndTypes),
            pairer: Pairer::default(),
            multiline: framing != Framing::Lines,
            line: 1,
            scratch: access_log::QueryScratch::default(),
        });
        (Framer::new(framing, self.options.max_record_bytes), table)
    }

    fn start(&mut self, head: &[u8], sink: &mut dyn Sink) {
        let (format, log_table) = self.identify(head);
        let (mut framer, mut table) = self.reader(format, log_table);
        let head = sniff::strip_bom(head);
        framer.feed(head, &mut |p| table.piece(p, sink));
        self.state = State::Reading { framer, table };
    }
}

/// Whether the sniffer has what it needs in one chunk.
fn enough_to_sniff(chunk: &[u8]) -> bool {
    sniff::window(chunk).is_some()
}

/// Header lines every part of a file in this format starts with.
fn header_lines(format: Option<InputFormat>) -> usize {
    match format {
        Some(InputFormat::TsvWithNames | InputFormat::CsvWithNames) => 1,
        Some(InputFormat::TsvWithNamesAndTypes) => 2,
        _ => 0,
    }
}

/// Drops what it is given (the header pass of [`FileParser::resume`]).
struct NullSink;

impl Sink for NullSink {
    fn event(&mut self, _event: Event<'_>) {}
    fn reject(&mut self, _error: ParseError) {}
}

impl TableReader {
    /// Whether a record may span lines (CSV quotes, Vertical blocks).
    fn multiline(&self) -> bool {
        self.multiline
    }

    /// Rejects start rows that turned out unfinished and could not be parsed.
    fn report_late_errors(&mut self, sink: &mut dyn Sink) {
        for (line, kind) in self.pairer.take_late_errors() {
            sink.reject(ParseError {
                line,
                column: 1,
                kind,
            });
        }
    }

    fn piece(&mut self, piece: Piece<'_>, sink: &mut dyn Sink) {
        match piece {
            Piece::TooLong { lines } => {
                sink.reject(ParseError {
                    line: self.line,
                    column: 1,
                    kind: ParseErrorKind::TooLong { limit: self.limit },
                });
                self.line += lines;
            }
            Piece::Record(rec) => {
                let first_line = self.line;
                // A line-framed record holds at most its terminating newline.
                let newlines = if self.multiline() {
                    memchr::memchr_iter(b'\n', rec).count() as u64
                } else {
                    u64::from(rec.last() == Some(&b'\n'))
                };
                self.line += newlines + u64::from(rec.last() != Some(&b'\n'));
                if rec.iter().all(u8::is_ascii_whitespace) {
                    return;
                }
                if let Err((offset, kind)) = self.record(rec, first_line, sink) {
                    sink.reject(position(rec, offset, first_line, kind));
                }
                self.report_late_errors(sink);
            }
        }
    }

    fn record(&mut self, rec: &[u8], line: u64, sink: &mut dyn Sink) -> Result<(), FieldError> {
        let Some(format) = self.format else {
            return Err((0, ParseErrorKind::UnknownFormat));
        };
        let location = Location {
            source: self.source,
            line,
        };
        match format {
            InputFormat::ServerLog | InputFormat::ServerJsonLog => {
                let Some(text) = &mut self.text else {
                    return Err((0, ParseErrorKind::UnknownFormat));
                };
                return text.line(trim_eol(rec), line, &mut |e| sink.event(e));
            }
            InputFormat::AccessLog => {
                let e = access_log::parse_text_line(trim_eol(rec), location, &mut self.scratch)?;
                sink.event(Event::Http(e));
                return Ok(());
            }
            InputFormat::AccessLogJson => {
                let e = access_log::parse_json_line(trim_eol(rec), &self.access_fields, location)?;
                sink.event(Event::Http(e));
                return Ok(());
            }
            _ => {}
        }
        let schema: &Schema = self.table.schema();
        let needs_header = matches!(
            format,
            InputFormat::TsvWithNames
                | InputFormat::TsvWithNamesAndTypes
                | InputFormat::CsvWithNames
        );
        if needs_header && self.header.is_none() {
            let header = if format == InputFormat::CsvWithNames {
                let fields = csv_fields(rec)?;
                Header::from_names(schema, fields.into_iter().map(|(t, _)| Cow::Borrowed(t)))
            } else {
                Header::from_names(schema, tsv_fields(trim_eol(rec)).map(common::unescape_tsv))
            };
            if header.known() == 0 {
                self.format = None;
                return Err((0, ParseErrorKind::NoKnownColumns));
            }
            let checked = match self.table {
                LogTable::QueryLog => check_header(|s| header.has(s)),
                LogTable::SessionLog => session_log::check_header(|s| header.has(s)),
            };
            if let Err(kind) = checked {
                self.format = None;
                return Err((0, kind));
            }
            self.header = Some(header);
            return Ok(());
        }
        if std::mem::take(&mut self.skip_types_line) {
            return Ok(());
        }
        if self.reader.is_none() {
            self.reader = match (format, &self.header) {
                (InputFormat::JsonEachRow, _) => Some(RowReader::Json(schema)),
                (InputFormat::Vertical, _) => Some(RowReader::Vertical(schema)),
                (InputFormat::CsvWithNames, Some(h)) => Some(RowReader::Csv(h.clone())),
                (_, Some(h)) => Some(RowReader::Tsv(h.clone())),
                (_, None) => None,
            }
            .map(std::sync::Arc::new);
        }
        let Some(reader) = &self.reader else {
            return Err((0, ParseErrorKind::UnknownFormat));
        };
        if self.table == LogTable::SessionLog {
            let mut row = Row::new();
            reader.fill(rec, &mut row)?;
            let e = session_log::row_event(&row, &self.zone, location).map_err(|kind| (0, kind))?;
            sink.event(Event::Login(e));
            return Ok(());
        }
        self.pairer
            .record(rec, reader, &self.zone, location, &mut |e| sink.event(e))
    }
}

/// Turns a byte offset inside a (possibly multi-line) record into a line and column.
fn position(rec: &[u8], offset: usize, first_line: u64, kind: ParseErrorKind) -> ParseError {
    let before = rec.get(..offset.min(rec.len())).unwrap_or_default();
    let newlines = memchr::memchr_iter(b'\n', before).count() as u64;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |p| p + 1);
    ParseError {
        line: first_line + newlines,
        column: (before.len() - line_start) as u64 + 1,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::QueryEvent;

    #[derive(Default)]
    struct Collect {
        events: Vec<QueryEvent<'static>>,
        errors: Vec<ParseError>,
        /// Every event, of any kind, as debug text.
        all: Vec<String>,
    }

    impl Sink for Collect {
        fn event(&mut self, event: Event<'_>) {
            self.all.push(format!("{event:?}"));
            if let Event::Query(q) = event {
                self.events.push(q.into_owned());
            }
        }
        fn reject(&mut self, error: ParseError) {
            self.errors.push(error);
        }
    }

    fn parse(input: &[u8], chunk: usize) -> Collect {
        let mut p = FileParser::new(SourceId(0), ParseOptions::default());
        let mut c = Collect::default();
        for ch in input.chunks(chunk.max(1)) {
            p.feed(ch, &mut c);
        }
        p.finish(&mut c);
        c
    }

    #[test]
    fn ok_formats_agree() {
        let tsv = "type\tevent_time\tquery\tuser\tresult_bytes\n2\t2026-11-25 19:32:28\tSELECT \\'a\\nb\\'\tdefault\t7\n";
        let csv = "\"type\",\"event_time\",\"query\",\"user\",\"result_bytes\"\n2,\"2026-11-25 19:32:28\",\"SELECT 'a\nb'\",\"default\",7\n";
        let json = "{\"type\":\"QueryFinish\",\"event_time\":\"2026-11-25 19:32:28\",\"query\":\"SELECT 'a\\nb'\",\"user\":\"default\",\"result_bytes\":\"7\"}\n";
        for input in [tsv, csv, json] {
            for chunk in [1, 5, 1000] {
                let c = parse(input.as_bytes(), chunk);
                assert!(c.errors.is_empty(), "{input}: {:?}", c.errors);
                assert_eq!(c.events.len(), 1, "{input}");
                assert_eq!(c.events[0].query, "SELECT 'a\nb'");
                assert_eq!(c.events[0].volume.result_bytes, 7);
            }
        }
    }

    /// Start rows are kept as read and split again when they never end: with the record
    /// straddling chunks (copied by the framer first) or not, in every line-framed format.
    #[test]
    fn ok_unfinished_start_rows_whatever_the_chunking() {
        let tsv = "type\tquery_start_time\tquery\tuser\tquery_id\ttables\n\
            QueryStart\t2026-11-25 19:00:00\tSELECT \\'x\\ny\\'\tbob\tq1\t['a.b']\n\
            QueryStart\t2026-11-25 19:00:01\tSELECT 2\tbob\tq2\t[]\n\
            QueryFinish\t2026-11-25 19:00:01\tSELECT 2\tbob\tq2\t[]\n";
        let json = "{\"type\":\"QueryStart\",\"query_start_time\":\"2026-11-25 19:00:00\",\"query\":\"SELECT 'x\\ny'\",\"user\":\"bob\",\"query_id\":\"q1\",\"tables\":[\"a.b\"]}\n\
            {\"type\":\"QueryStart\",\"query_start_time\":\"2026-11-25 19:00:01\",\"query\":\"SELECT 2\",\"user\":\"bob\",\"query_id\":\"q2\",\"tables\":[]}\n\
            {\"type\":\"QueryFinish\",\"query_start_time\":\"2026-11-25 19:00:01\",\"query\":\"SELECT 2\",\"user\":\"bob\",\"query_id\":\"q2\",\"tables\":[]}\n";
        for input in [tsv, json] {
            let whole = parse(input.as_bytes(), input.len());
            assert!(whole.errors.is_empty(), "{:?}", whole.errors);
            assert_eq!(whole.events.len(), 2);
            let unfinished = &whole.events[1];
            assert_eq!(unfinished.outcome, crate::event::QueryOutcome::Unfinished);
            assert_eq!(unfinished.query, "SELECT 'x\ny'");
            assert_eq!(unfinished.tables.as_deref().unwrap(), ["a.b"]);
            for chunk in [1, 2, 7, 33, 100] {
                let split = parse(input.as_bytes(), chunk);
                assert_eq!(split.all, whole.all, "chunk {chunk}");
            }
        }
    }

    #[test]
    fn err_positions_are_one_based() {
        let c = parse(
            b"type\tevent_time\tquery\n2\t2026-11-25 19:32:28\n2\tnope\tq\n",
            7,
        );
        assert_eq!(c.errors.len(), 2);
        assert_eq!(
            c.errors[0].to_string(),
            "line 2 column 22: expected 3 fields as in the header, found 2"
        );
        assert_eq!(c.errors[1].line, 3);
        let c = parse(b"\x00\x01binary\nmore\n", 3);
        assert_eq!(c.errors.len(), 2);
        assert_eq!(c.errors[0].kind, ParseErrorKind::UnknownFormat);
    }

    proptest::proptest! {
        /// Hostile bytes in any chunking never panic, whatever format is forced or sniffed.
        #[test]
        fn ok_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), chunk in 1usize..64, pick in 0usize..6) {
            let format = [
                None,
                Some(InputFormat::ServerLog),
                Some(InputFormat::ServerJsonLog),
                Some(InputFormat::AccessLog),
                Some(InputFormat::AccessLogJson),
                Some(InputFormat::JsonEachRow),
            ][pick];
            let mut p = FileParser::new(SourceId(0), ParseOptions { format, ..ParseOptions::default() });
            let mut c = Collect::default();
            for ch in data.chunks(chunk) {
                p.feed(ch, &mut c);
            }
            p.finish(&mut c);
        }

        /// A text log or access log split anywhere gives the same events.
        #[test]
        fn ok_chunking_does_not_matter(chunk in 1usize..200) {
            let log = "2026.11.25 22:25:29.616460 [ 76 ] {q1} <Debug> executeQuery: (from 198.51.100.7:57708) SHOW TABLES\n\
    2026.11.25 22:25:29.619021 [ 76 ] {q1} <Information> executeQuery: Read 1 rows, 35.00 B in 0.002 sec., 411 rows/sec., 14.08 KiB/sec.\n\
    continuation\n\
    198.51.100.7 - - [25/Nov/2026:22:26:04 +0000] \"GET /ping HTTP/1.1\" 200 4 \"-\" \"x\"\n";
            let whole = parse(log.as_bytes(), log.len());
            let split = parse(log.as_bytes(), chunk);
            proptest::prop_assert_eq!(whole.errors.len(), split.errors.len());
            proptest::prop_assert_eq!(whole.all.len(), 1);
            proptest::prop_assert!(whole.all[0].contains("read_rows: 1,"), "{:?}", whole.all);
            proptest::prop_assert_eq!(whole.all, split.all);
        }
    }
}
