//! Properties over arbitrary input: no byte sequence panics a parser, the classifier or the
//! redactor; chunking never changes what is parsed; text survives every export format's
//! escaping (render as ClickHouse would → parse → the same text).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

use chaudit::{analyze, Config, Event, FileParser, InputFormat, ParseError, ParseOptions, Sink};
use proptest::prelude::*;

#[derive(Default)]
struct Collect {
    queries: Vec<String>,
    users: Vec<String>,
    rejected: Vec<ParseError>,
}

impl Sink for Collect {
    fn event(&mut self, event: Event<'_>) {
        if let Event::Query(q) = event {
            self.queries.push(q.query.into_owned());
            self.users.push(q.user.into_owned());
        }
    }
    fn reject(&mut self, error: ParseError) {
        self.rejected.push(error);
    }
}

fn parse(bytes: &[u8], format: Option<InputFormat>, chunk: usize) -> Collect {
    let options = ParseOptions {
        format,
        max_record_bytes: 4096,
        ..ParseOptions::default()
    };
    let mut p = FileParser::new(chaudit::event::SourceId(0), options);
    let mut c = Collect::default();
    for ch in bytes.chunks(chunk.max(1)) {
        p.feed(ch, &mut c);
    }
    p.finish(&mut c);
    c
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

/// Bytes that look like exports often enough to reach deep into the parsers.
fn exportish() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::collection::vec(
        prop_oneof![
            Just(b"type\tevent_time\tuser\tquery\taddress\tresult_bytes\n".to_vec()),
            Just(b"\"type\",\"event_time\",\"query\"\n".to_vec()),
            Just(b"QueryFinish\t2025-01-29 10:11:12\tdefault\tSELECT 1\t::ffff:1.2.3.4\t9\n".to_vec()),
            Just(b"{\"type\":\"QueryStart\",\"event_time\":\"2025-01-29 10:11:12\",\"query\":\"x\"}\n".to_vec()),
            Just("Row 1:\n──\ntype: 2\nevent_time: 2025-01-29 10:11:12\n".as_bytes().to_vec()),
            Just(b"\\N\t\\\t\"\"\"\r\n{[[[[".to_vec()),
            prop::collection::vec(any::<u8>(), 0..64),
        ],
        0..24,
    );
    pieces.prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048), f in 0usize..7, chunk in 1usize..300) {
        let _ = parse(&bytes, FORMATS[f], chunk);
    }

    #[test]
    fn never_panics_on_exportish_bytes_and_chunking_is_invisible(bytes in exportish(), f in 0usize..7, chunk in 1usize..64) {
        let whole = parse(&bytes, FORMATS[f], bytes.len().max(1));
        let chunked = parse(&bytes, FORMATS[f], chunk);
        prop_assert_eq!(whole.queries, chunked.queries);
        prop_assert_eq!(whole.rejected, chunked.rejected);
    }

    #[test]
    fn classifier_and_redactor_never_panic(text in ".{0,400}") {
        let c = chaudit::sql::classify(&text);
        let _ = c.kind();
        let r = chaudit::redact::redact(&text);
        prop_assert!(!chaudit::redact::has_secret(&r) || r.contains(chaudit::redact::MASK));
    }

    #[test]
    fn analysis_never_panics(bytes in exportish()) {
        let a = analyze(Config::default(), &[("x", &bytes)]).unwrap();
        prop_assert!(a.summary.events + a.summary.rejected < 10_000);
    }

    /// Any query text and user name survive TSV, CSV and JSON escaping as ClickHouse writes them.
    #[test]
    fn round_trip_through_every_format(query in "[ -~\t\n\r'\"\\\\é日🦆]{0,80}", user in "[a-z_]{1,8}") {
        let tsv_escape = |s: &str| s.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n").replace('\r', "\\r").replace('\'', "\\'");
        let tsv = format!("type\tevent_time\tuser\tquery\nQueryFinish\t2025-01-29 10:11:12\t{}\t{}\n", tsv_escape(&user), tsv_escape(&query));
        let csv = format!("\"type\",\"event_time\",\"user\",\"query\"\n\"QueryFinish\",\"2025-01-29 10:11:12\",\"{user}\",\"{}\"\n", query.replace('"', "\"\""));
        let json = format!(
            "{{\"type\":\"QueryFinish\",\"event_time\":\"2025-01-29 10:11:12\",\"user\":{},\"query\":{}}}\n",
            serde_json::to_string(&user).unwrap(),
            serde_json::to_string(&query).unwrap().replace('/', "\\/"),
        );
        for (name, text) in [("tsv", tsv), ("csv", csv), ("json", json)] {
            for chunk in [1, 7, 4096] {
                let c = parse(text.as_bytes(), None, chunk);
                prop_assert!(c.rejected.is_empty(), "{}: {:?}", name, c.rejected);
                prop_assert_eq!(&c.queries, &vec![query.clone()], "{}", name);
                prop_assert_eq!(&c.users, &vec![user.clone()], "{}", name);
            }
        }
    }
}
