//! Criterion benches: parse-only per query_log format (events counted, not judged) and the
//! end-to-end scan (parse, detect, finish), both in bytes per second. Inputs are generated
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

fn input(format: Format) -> Vec<u8> {
    let o = Opts {
        kind: Kind::QueryLog,
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

const FORMATS: [(&str, Format); 3] = [
    ("TSVWithNames", Format::Tsv),
    ("CSVWithNames", Format::Csv),
    ("JSONEachRow", Format::Json),
];

/// Counts events and drops them.
#[derive(Default)]
struct Count(u64);

impl Sink for Count {
    fn event(&mut self, event: Event<'_>) {
        black_box(&event);
        self.0 += 1;
    }
    fn reject(&mut self, _error: ParseError) {}
}

fn parse_only(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.sample_size(10);
    for (name, format) in FORMATS {
        let data = input(format);
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &data, |b, data| {
            b.iter(|| {
                let mut p = FileParser::new(SourceId(0), ParseOptions::default());
                let mut sink = Count::default();
                for chunk in data.chunks(CHUNK) {
                    p.feed(chunk, &mut sink);
                }
                p.finish(&mut sink);
                sink.0
            });
        });
    }
    g.finish();
}

fn end_to_end(c: &mut Criterion) {
    let mut g = c.benchmark_group("scan");
    g.sample_size(10);
    for (name, format) in FORMATS {
        let data = input(format);
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &data, |b, data| {
            b.iter(|| {
                let mut a = Analyzer::new(Config::default()).unwrap();
                a.begin_file("bench");
                for chunk in data.chunks(CHUNK) {
                    a.feed(chunk).unwrap();
                }
                a.end_file().unwrap();
                a.finish().findings.len()
            });
        });
    }
    g.finish();
}

criterion_group!(benches, parse_only, end_to_end);
criterion_main!(benches);
