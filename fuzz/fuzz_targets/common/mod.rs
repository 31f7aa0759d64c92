//! Shared by the fuzz targets: a sink that keeps everything it is given, and a driver that
//! feeds one input to a [`FileParser`] in chunks of a chosen size.
#![allow(dead_code)] // each target uses part of it

use chaudit::event::SourceId;
use chaudit::parse::LogTable;
use chaudit::{Event, FileParser, InputFormat, ParseError, ParseOptions, Sink};

/// Every event (as its debug text, so every field is compared) and every rejected record.
#[derive(Default, PartialEq, Debug)]
pub struct Collect {
    pub events: Vec<String>,
    pub rejected: Vec<ParseError>,
}

impl Sink for Collect {
    fn event(&mut self, event: Event<'_>) {
        self.events.push(format!("{event:?}"));
    }
    fn reject(&mut self, error: ParseError) {
        self.rejected.push(error);
    }
}

/// What one parse produced, and what the parser decided the input was.
#[derive(PartialEq, Debug)]
pub struct Outcome {
    pub collected: Collect,
    pub format: Option<InputFormat>,
    pub table: Option<LogTable>,
}

/// Parses `data` fed in chunks of `chunk` bytes (at least 1).
pub fn run(data: &[u8], options: &ParseOptions, chunk: usize) -> Outcome {
    let mut p = FileParser::new(SourceId(0), options.clone());
    let mut c = Collect::default();
    for ch in data.chunks(chunk.max(1)) {
        p.feed(ch, &mut c);
    }
    p.finish(&mut c);
    Outcome {
        format: p.format(),
        table: p.table(),
        collected: c,
    }
}

/// Every table format, forced, and `None` (sniffed).
pub const TABLE_FORMATS: [Option<InputFormat>; 7] = [
    None,
    Some(InputFormat::TabSeparated),
    Some(InputFormat::TsvWithNames),
    Some(InputFormat::TsvWithNamesAndTypes),
    Some(InputFormat::CsvWithNames),
    Some(InputFormat::JsonEachRow),
    Some(InputFormat::Vertical),
];

/// Small records so that the too-long path is reached too.
pub fn options(format: Option<InputFormat>) -> ParseOptions {
    ParseOptions {
        format,
        max_record_bytes: 1 << 14,
        ..ParseOptions::default()
    }
}

/// Parses whole and in `chunk`-byte pieces and asserts both give the same result.
pub fn same_in_chunks(data: &[u8], options: &ParseOptions, chunk: usize) -> Outcome {
    let whole = run(data, options, data.len());
    let chunked = run(data, options, chunk);
    assert_eq!(whole, chunked, "chunks of {chunk} bytes changed the result");
    whole
}
