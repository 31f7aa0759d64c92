//! Criterion benches: parse-only per input format (events counted, not judged) and the
//! end-to-end scan (parse, detect, finish), both in bytes per second, for the three
//! query_log export formats, the server text log and the nginx access log; the access log
//! also in lines per second (its target is counted in lines). Inputs are generated
//! in-process by `examples/generate.rs` (26.9 column set, planted incident), so the bench
//! needs no files. Figures are printed by criterion, never asserted.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

#[path = "../examples/generate.rs"]
#[allow(dead_code, unreachable_pub)]
mod generate;

use std::hint::black_box;

use chaudit::event::SourceId;
use chaudit::{Analyzer, Config, Event, FileParser, ParseError, ParseOptions, Sink};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use generate::{Format, Kind, Opts};

/// Bytes per bench input.
const SIZE: u64 = 16 << 20;
/// Chunk size fed to the library, as the CLI reads.
const CHUNK: usize = 1 << 20;

fn input(kind: Kind, format: Format) -> Vec<u8> {
    let o = Opts {
        kind,
        format,
        size: Some(SIZE),
        rows: None,
        clients: 300,
        days: 3,
        seed: 7,
        incident: true,
        out: None,
    };
    let mut out = Vec::with_capacity(SIZE as usize + (1 << 20));
    generate::generate(&o, &mut out).unwrap();
    out
}

/// Every input the generator writes: (bench name, kind, query_log format).
const INPUTS: [(&str, Kind, Format); 5] = [
    ("TSVWithNames", Kind::QueryLog, Format::Tsv),
    ("CSVWithNames", Kind::QueryLog, Format::Csv),
    ("JSONEachRow", Kind::QueryLog, Format::Json),
    ("server_text_log", Kind::TextLog, Format::Tsv),
    ("nginx_access_log", Kind::AccessLog, Format::Tsv),
];

/// Counts events and rejected records, and drops them.
#[derive(Default)]
struct Count {
    events: u64,
    rejected: u64,
}

impl Sink for Count {
    fn event(&mut self, event: Event<'_>) {
        black_box(&event);
        self.events += 1;
    }
    fn reject(&mut self, _error: ParseError) {
        self.rejected += 1;
    }
}

/// Parses `data` as one file; what the sink counted.
fn parse(data: &[u8]) -> Count {
    let mut p = FileParser::new(SourceId(0), ParseOptions::default());
    let mut sink = Count::default();
    for chunk in data.chunks(CHUNK) {
        p.feed(chunk, &mut sink);
    }
    p.finish(&mut sink);
    sink
}

fn parse_only(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.sample_size(10);
    for (name, kind, format) in INPUTS {
        let data = input(kind, format);
        g.throughput(Throughput::Bytes(data.len() as u64));
        // Not timed: a bench of a parser that rejects its input would measure nothing.
        let once = parse(&data);
        assert!(
            once.events > 0 && once.rejected == 0,
            "{name}: {} events, {} rejected",
            once.events,
            once.rejected
        );
        g.bench_with_input(BenchmarkId::from_parameter(name), &data, |b, data| {
            b.iter(|| parse(data).events);
        });
    }
    g.finish();
}

fn end_to_end(c: &mut Criterion) {
    let mut g = c.benchmark_group("scan");
    g.sample_size(10);
    for (name, kind, format) in INPUTS {
        let data = input(kind, format);
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &data, |b, data| {
            b.iter(|| scan(data));
        });
    }
    g.finish();
}

/// The access log end to end again, in lines per second (the unit of its target).
fn access_lines(c: &mut Criterion) {
    let mut g = c.benchmark_group("scan_lines");
    g.sample_size(10);
    let data = input(Kind::AccessLog, Format::Tsv);
    let lines = memchr::memchr_iter(b'\n', &data).count();
    g.throughput(Throughput::Elements(lines as u64));
    g.bench_with_input(
        BenchmarkId::from_parameter("nginx_access_log"),
        &data,
        |b, data| b.iter(|| scan(data)),
    );
    g.finish();
}

/// One whole scan of `data` as one file, joins decided from its head as the CLI decides
/// them (off: one kind of log); the number of findings.
fn scan(data: &[u8]) -> usize {
    let mut a = Analyzer::new(Config::default()).unwrap();
    let joins = a.joins_needed([data.get(..chaudit::HEAD_BYTES).unwrap_or(data)]);
    a.set_joins(joins);
    a.begin_file("bench");
    for chunk in data.chunks(CHUNK) {
        a.feed(chunk).unwrap();
    }
    a.end_file().unwrap();
    a.finish().findings.len()
}

criterion_group!(benches, parse_only, end_to_end, access_lines);
criterion_main!(benches);
