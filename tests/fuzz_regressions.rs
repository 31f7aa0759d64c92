//! Inputs the fuzz targets (`fuzz/fuzz_targets/`) found to break an invariant, each kept as a
//! regression test through the public API, with the target that found it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

use chaudit::event::SourceId;
use chaudit::parse::LogTable;
use chaudit::{Event, FileParser, InputFormat, ParseError, ParseErrorKind, ParseOptions, Sink};

#[derive(Default, Debug, PartialEq)]
struct Collect {
    events: Vec<String>,
    rejected: Vec<ParseError>,
}

impl Sink for Collect {
    fn event(&mut self, event: Event<'_>) {
        self.events.push(format!("{event:?}"));
    }
    fn reject(&mut self, error: ParseError) {
        self.rejected.push(error);
    }
}

/// Parses `data` in `chunk`-byte pieces: what it read, and as what.
fn parse(
    data: &[u8],
    chunk: usize,
    options: &ParseOptions,
) -> (Collect, Option<InputFormat>, Option<LogTable>) {
    let mut p = FileParser::new(SourceId(0), options.clone());
    let mut c = Collect::default();
    for ch in data.chunks(chunk) {
        p.feed(ch, &mut c);
    }
    p.finish(&mut c);
    (c, p.format(), p.table())
}

/// Asserts that every chunking gives what the whole input gives, and returns that.
fn same_in_any_chunks(data: &[u8]) -> (Collect, Option<InputFormat>, Option<LogTable>) {
    same_in_any_chunks_with(data, &ParseOptions::default())
}

/// [`same_in_any_chunks`] with these options.
fn same_in_any_chunks_with(
    data: &[u8],
    options: &ParseOptions,
) -> (Collect, Option<InputFormat>, Option<LogTable>) {
    let options = options.clone();
    let whole = parse(data, data.len().max(1), &options);
    for chunk in [1, 2, 3, 5, 8, 13, 64] {
        assert_eq!(parse(data, chunk, &options), whole, "chunks of {chunk}");
    }
    whole
}

/// `sniff`: blank lines before the header were sniffed on their own when the input came in
/// small pieces (two newlines were "enough"), so the file was rejected as of no known format.
#[test]
fn ok_blank_lines_before_the_header_in_any_chunking() {
    let (c, format, _) =
        same_in_any_chunks(b"\n\n\ntype\tevent_time\tquery\n2\t2026-11-25 19:32:28\tSELECT 1\n");
    assert_eq!(format, Some(InputFormat::TsvWithNames));
    assert_eq!(c.events.len(), 1, "{:?}", c.rejected);
}

/// `sniff`: a Vertical session_log export is told from query_log by an `auth_type:` line
/// among its first 40; streamed in small pieces, only the first two lines were looked at and
/// the logins were read as (rejected) queries.
#[test]
fn ok_vertical_session_log_in_any_chunking() {
    let input = "Row 1:\n──────\ntype:         LoginSuccess\nevent_time:   2026-11-25 19:32:28\nuser:         default\nauth_type:    NO_PASSWORD\nclient_address: ::ffff:198.51.100.7\n\n";
    let (c, format, table) = same_in_any_chunks(input.as_bytes());
    assert_eq!(
        (format, table),
        (Some(InputFormat::Vertical), Some(LogTable::SessionLog))
    );
    assert!(c.rejected.is_empty(), "{:?}", c.rejected);
    assert_eq!(c.events.len(), 1);
}

/// `access_log`: a zstd stream of valid RLE blocks (575,000 newlines) then a bad block. Fed
/// whole, the decoder decoded every block and failed on the last, dropping all the output;
/// fed in small pieces, the good blocks came out first. Now both hand on the decoded blocks.
#[test]
fn ok_zstd_error_after_good_blocks_in_any_chunking() {
    let mut input = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00];
    input.extend([0x0a; 29]);
    input.extend([
        0x04, 0x9e, 0x2c, 0x81, 0x20, 0x22, 0x90, 0x32, 0x30, 0x32, 0x36, 0x2d, 0x31, 0x31, 0x2d,
        0x32, 0x20, 0x32, 0x32, 0x37, 0x36, 0x20, 0x22, 0x2d,
    ]);
    let options = ParseOptions {
        format: Some(InputFormat::AccessLog),
        ..ParseOptions::default()
    };
    let whole = parse(&input, input.len(), &options);
    for chunk in [1, 2, 7] {
        assert_eq!(parse(&input, chunk, &options), whole, "chunks of {chunk}");
    }
    assert_eq!(
        whole.1,
        Some(InputFormat::AccessLog),
        "{:?}",
        whole.0.rejected
    );
    assert_eq!(whole.0.rejected.len(), 1);
}

/// `access_log`: a year of eleven digits in `$time_local` overflowed the microsecond
/// arithmetic (a panic in debug builds, a wrapped time in release). Such a line is rejected.
#[test]
fn err_access_log_year_out_of_range_is_rejected() {
    let line = b"198.51.100.7 - - [25/Nov/99999999999:22:26:07 +0000] \"GET / HTTP/1.1\" 200 4 \"-\" \"x\"\n\
198.51.100.7 - - [25/Nov/2026:22:26:07 +0000] \"GET / HTTP/1.1\" 200 4 \"-\" \"x\"\n";
    let (c, format, _) = same_in_any_chunks(line);
    assert_eq!(format, Some(InputFormat::AccessLog));
    assert_eq!(c.rejected.len(), 1, "{:?}", c.rejected);
    assert_eq!(c.rejected[0].line, 1);
    assert_eq!(c.events.len(), 1);
}

/// fuzz `redact` (CI smoke): the mask followed by a backslash-escaped quote was redacted
/// again on a second pass, eating the backslash — redaction must be idempotent.
#[test]
fn ok_redaction_is_idempotent_on_the_fuzz_input() {
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/fuzz-redact-idempotent.tsv"
    ))
    .unwrap();
    let text = String::from_utf8_lossy(&data);
    let once = chaudit::redact::redact(&text);
    assert_eq!(chaudit::redact::redact(&once), once);
}

/// `parse`: a Vertical record past the size limit, fed in pieces, was dropped only up to the
/// line where the limit was crossed; the rest of it was then read as a record of its own and
/// rejected ("expected `Row N:`"), so the report depended on how the file was read. The whole
/// record is dropped now, in any chunking, and the next `Row N:` block is read as usual.
#[test]
fn ok_over_long_vertical_record_is_dropped_whole_in_any_chunking() {
    let mut data = String::from("Row 1:\n──────\n");
    for i in 0..40 {
        data.push_str(&format!("query:  SELECT {i}, '{}'\n", "p".repeat(500)));
    }
    data.push_str("\nRow 2:\n──────\ntype:       QueryFinish\nevent_time: 2026-11-25 19:32:28\nquery:      SELECT 1\n");
    let options = ParseOptions {
        format: Some(InputFormat::Vertical),
        max_record_bytes: 16 << 10,
        ..ParseOptions::default()
    };
    let (c, format, _) = same_in_any_chunks_with(data.as_bytes(), &options);
    assert_eq!(format, Some(InputFormat::Vertical));
    assert_eq!(c.rejected.len(), 1, "{:?}", c.rejected);
    assert_eq!(c.rejected[0].line, 1);
    assert!(
        matches!(c.rejected[0].kind, ParseErrorKind::TooLong { .. }),
        "{:?}",
        c.rejected
    );
    assert_eq!(c.events.len(), 1, "{:?}", c.events);
    assert!(c.events[0].contains("line: 44"), "{}", c.events[0]);
}

/// `parse`: access-log events noted their query's text identity (a process-wide counter) in
/// their `Debug` output, so the same file parsed twice printed differently although the
/// events compared equal. `Debug` agrees with equality now: it leaves the id out.
#[test]
fn ok_access_log_events_print_the_same_in_any_chunking() {
    let data = b"127.0.0.1 - analyst [26/Nov/2026:02:05:50 +0000] \"GET /?query_id=b09a&query=SELECT%20k,%20avg(v)%20FROM%20default.metrics%20GROUP%20BY%20k HTTP/1.1\" 200 171 \"-\" \"Grafana/10.2.3\"\n\
127.0.0.1 - - [26/Nov/2026:02:05:50 +0000] \"GET /?query=SELECT%20count()%20FROM%20default.uploads HTTP/1.1\" 200 12 \"-\" \"etl-loader/2.3\"\n";
    let (c, format, _) = same_in_any_chunks(data);
    assert_eq!(format, Some(InputFormat::AccessLog));
    assert_eq!(c.events.len(), 2, "{:?}", c.rejected);
    assert!(
        c.events[0].contains("SELECT k, avg(v) FROM default.metrics GROUP BY k"),
        "{}",
        c.events[0]
    );
}
