//! Reading in parts on many threads gives the report one thread gives: the library's
//! `PartAnalyzer`/`merge` on generated exports cut at many places (QueryStart and QueryFinish
//! rows of one query land in different parts), and the CLI's `--threads` on a file large
//! enough to be split.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../examples/generate.rs"]
#[allow(dead_code, unreachable_pub)]
mod generate;

use chaudit::{Analysis, Analyzer, Config, PartAnalyzer};
use generate::{Format, Kind, Opts};

fn generated(format: Format, rows: u64, seed: u64) -> Vec<u8> {
    let o = Opts {
        kind: Kind::QueryLog,
        format,
        size: None,
        rows: Some(rows),
        clients: 150,
        days: 2,
        seed,
        incident: true,
        out: None,
    };
    let mut out = Vec::new();
    generate::generate(&o, &mut out).unwrap();
    out
}

fn sequential(files: &[(&str, &[u8])]) -> Analysis {
    let mut a = Analyzer::new(Config::default()).unwrap();
    for (name, bytes) in files {
        a.begin_file(name);
        a.feed(bytes).unwrap();
        a.end_file().unwrap();
    }
    a.finish()
}

/// Each file cut into `parts` at line starts, each part on its own analyzer, merged in order.
/// The parts are numbered from their true first line, or (as the CLI does) from line 1 and
/// shifted by the lines before them just before the merge.
fn in_parts(files: &[(&str, &[u8])], parts: usize) -> Analysis {
    let numbered = in_parts_numbered(files, parts, false);
    let shifted = in_parts_numbered(files, parts, true);
    assert_eq!(
        numbered, shifted,
        "{parts} parts: shifted line numbers differ"
    );
    shifted
}

fn in_parts_numbered(files: &[(&str, &[u8])], parts: usize, shift: bool) -> Analysis {
    let mut merged = Analyzer::new(Config::default()).unwrap();
    for (name, bytes) in files {
        let header = merged.split_head(bytes).expect("line-framed");
        let mut cuts = vec![0];
        for p in 1..parts {
            let target = (bytes.len() / parts * p).max(header);
            if let Some(nl) = memchr::memchr(b'\n', &bytes[target..]) {
                cuts.push(target + nl + 1);
            }
        }
        cuts.push(bytes.len());
        for (part, w) in cuts.windows(2).enumerate() {
            let before = memchr::memchr_iter(b'\n', &bytes[..w[0]]).count() as u64;
            let mut a = PartAnalyzer::new(Config::default()).unwrap();
            a.begin_part(name, part, bytes, if shift { 1 } else { 1 + before });
            // Odd chunk sizes, so records also straddle feeds.
            for chunk in bytes[w[0]..w[1]].chunks(7_919) {
                a.feed(chunk).unwrap();
            }
            a.end().unwrap();
            if shift {
                a.shift_lines(before);
            }
            merged.merge(a);
        }
    }
    merged.finish()
}

#[test]
fn ok_parts_merge_to_the_sequential_analysis() {
    let tsv = generated(Format::Tsv, 2_500, 5);
    let json = generated(Format::Json, 1_500, 6);
    let files: [(&str, &[u8]); 2] = [("a.tsv", &tsv), ("b.jsonl", &json)];
    let expected = sequential(&files);
    let alarms = expected
        .findings
        .iter()
        .filter(|f| f.severity > chaudit::Severity::Info)
        .count();
    assert_eq!(alarms, 4, "{:#?}", expected.findings);
    assert_eq!(expected.summary.unfinished, 0);
    for parts in [1, 2, 3, 8, 61] {
        let got = in_parts(&files, parts);
        assert_eq!(got, expected, "{parts} parts");
    }
}

#[test]
fn ok_unfinished_starts_survive_the_split() {
    // Drop every QueryFinish of one user: those starts stay unfinished however it is cut.
    let tsv = generated(Format::Tsv, 2_000, 9);
    let text = String::from_utf8(tsv).unwrap();
    let kept: String = text
        .split_inclusive('\n')
        .filter(|l| !(l.contains("\tQueryFinish\t") && l.contains("\tgrafana\t")))
        .collect();
    let files: [(&str, &[u8]); 1] = [("u.tsv", kept.as_bytes())];
    let expected = sequential(&files);
    assert!(expected.summary.unfinished > 100);
    for parts in [2, 5, 33] {
        assert_eq!(in_parts(&files, parts), expected, "{parts} parts");
    }
}

#[test]
fn ok_rejected_records_keep_their_lines_across_parts() {
    // Every 97th line damaged: rejected records (file:line:column) in every part.
    let tsv = generated(Format::Tsv, 2_000, 12);
    let text = String::from_utf8(tsv).unwrap();
    let damaged: String = text
        .split_inclusive('\n')
        .enumerate()
        .map(|(i, l)| {
            if i > 0 && i % 97 == 0 {
                "not\ta\trow\n"
            } else {
                l
            }
        })
        .collect();
    let files: [(&str, &[u8]); 1] = [("d.tsv", damaged.as_bytes())];
    // The default report keeps the first 20 rejected records: they span many parts.
    let expected = sequential(&files);
    assert!(
        expected.summary.rejected > 30,
        "{}",
        expected.summary.rejected
    );
    assert!(
        expected.rejected.iter().all(|r| r.line % 97 == 1),
        "{:?}",
        expected.rejected
    );
    for parts in [2, 7, 40] {
        assert_eq!(in_parts(&files, parts), expected, "{parts} parts");
    }
}

#[test]
fn ok_cli_threads_match_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.tsv");
    let o = Opts {
        kind: Kind::QueryLog,
        format: Format::Tsv,
        size: Some(20 << 20),
        rows: None,
        clients: 200,
        days: 2,
        seed: 3,
        incident: true,
        out: None,
    };
    let mut bytes = Vec::new();
    generate::generate(&o, &mut bytes).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let small = dir.path().join("small.jsonl");
    std::fs::write(&small, generated(Format::Json, 300, 4)).unwrap();
    let run = |threads: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_chaudit"))
            .args(["scan", "-f", "json", "--threads", threads])
            .arg(&path)
            .arg(&small)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let one = run("1");
    assert!(String::from_utf8_lossy(&one).contains("table-function-egress"));
    for n in ["2", "3", "7"] {
        assert!(run(n) == one, "--threads {n} differs from --threads 1");
    }
}
