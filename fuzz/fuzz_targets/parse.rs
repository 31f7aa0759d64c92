//! Every export parser (forced or sniffed) on arbitrary bytes, fed in arbitrary chunks: no
//! panic, and chunking never changes the result.
#![no_main]

use chaudit::{Event, FileParser, InputFormat, ParseError, ParseOptions, Sink};
use libfuzzer_sys::fuzz_target;

#[derive(Default, PartialEq, Debug)]
struct Collect {
    events: Vec<(String, String, u64)>,
    rejected: Vec<ParseError>,
}

impl Sink for Collect {
    fn event(&mut self, event: Event<'_>) {
        if let Event::Query(q) = event {
            self.events
                .push((q.user.into_owned(), q.query.into_owned(), q.location.line));
        }
    }
    fn reject(&mut self, error: ParseError) {
        self.rejected.push(error);
    }
}

const FORMATS: [Option<InputFormat>; 7] = [
    None,
    Some(InputFormat::TabSeparated),
    Some(InputFormat::TsvWithNames),
    Some(InputFormat::TsvWithNamesAndTypes),
    Some(InputFormat::CsvWithNames),
    Some(InputFormat::JsonEachRow),
    Some(InputFormat::Vertical),
];

fn run(data: &[u8], format: Option<InputFormat>, chunk: usize) -> Collect {
    let options = ParseOptions {
        format,
        max_record_bytes: 1 << 16,
        ..ParseOptions::default()
    };
    let mut p = FileParser::new(chaudit::event::SourceId(0), options);
    let mut c = Collect::default();
    for ch in data.chunks(chunk.max(1)) {
        p.feed(ch, &mut c);
    }
    p.finish(&mut c);
    c
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(selector) % FORMATS.len()];
    let chunk = 1 + usize::from(selector / 7) % 61;
    let whole = run(data, format, data.len());
    let chunked = run(data, format, chunk);
    assert_eq!(whole, chunked);
});
