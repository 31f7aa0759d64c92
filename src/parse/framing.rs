//! Cutting a byte stream that arrives in arbitrary chunks into whole records.
//!
//! A record is a line (TabSeparated, JSONEachRow), a line plus whatever a quoted field spans
//! (CSV), or a `Row N:` block (Vertical). Records are handed out as slices of the caller's
//! chunk whenever they lie inside it; only a record cut by a chunk boundary is copied, into a
//! carry buffer bounded by the record size limit, so memory does not grow with the input.

use memchr::{memchr, memchr2};

use super::table::is_vertical_row_start;

/// How records are delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// One record per line.
    Lines,
    /// CSV: a newline inside double quotes does not end the record.
    Csv,
    /// Vertical: a record runs from one `Row N:` line to the next.
    Vertical,
}

/// What the framer hands to its consumer.
pub(crate) enum Piece<'a> {
    /// A whole record (with its line terminator, if any).
    Record(&'a [u8]),
    /// A record longer than the limit was dropped; it spanned this many lines.
    TooLong { lines: u64 },
}

/// Splits chunks into records; see the module docs.
#[derive(Debug)]
pub(crate) struct Framer {
    framing: Framing,
    carry: Vec<u8>,
    limit: usize,
    /// Where the over-long record being dropped ends, if one is.
    skip: Skip,
    /// Newlines of the record being dropped so far.
    skipped_lines: u64,
}

/// Where an over-long record that is being dropped ends: as [`scan`] would have cut it, so
/// that how the input is chunked never changes what is read after it.
#[derive(Debug, PartialEq, Eq)]
enum Skip {
    /// Nothing is being dropped.
    No,
    /// At the next newline outside double quotes (for [`Framing::Lines`], never in quotes).
    LineEnd { in_quotes: bool },
    /// Before the next `Row N:` line ([`Framing::Vertical`]). `line` holds the start of the
    /// current line, `long` says it outgrew [`ROW_LINE_MAX`] (so it is no `Row N:` line).
    RowStart { line: Vec<u8>, long: bool },
}

/// The longest `Row N:` line worth checking for (`Row ` + 20 digits + `:\r\n`).
const ROW_LINE_MAX: usize = 32;

impl Framer {
    pub(crate) fn new(framing: Framing, limit: usize) -> Self {
        Self {
            framing,
            carry: Vec::new(),
            limit: limit.max(1024),
            skip: Skip::No,
            skipped_lines: 0,
        }
    }

    /// How records are delimited.
    pub(crate) fn framing(&self) -> Framing {
        self.framing
    }

    /// Consumes one chunk, calling `on` for every record completed by it.
    pub(crate) fn feed(&mut self, chunk: &[u8], on: &mut dyn FnMut(Piece<'_>)) {
        let mut pos = 0;
        if self.skip != Skip::No {
            pos = self.skip(chunk, on);
        }
        if !self.carry.is_empty() {
            pos = self.extend_carry(chunk, pos, on);
        }
        let Some(rest) = chunk.get(pos..) else { return };
        let used = scan(self.framing, rest, false, self.limit, on);
        if let Some(tail) = rest.get(used..) {
            self.push_carry(tail);
        }
    }

    /// Flushes the last record at the end of the input.
    pub(crate) fn finish(&mut self, on: &mut dyn FnMut(Piece<'_>)) {
        if let Skip::RowStart { line, long } = &mut self.skip {
            // At the end of input a last `Row N:` line without its newline starts a record
            // too (as in `scan`).
            if !*long && is_vertical_row_start(line) {
                self.carry = std::mem::take(line);
            }
        }
        if self.skip != Skip::No {
            self.end_skip(on);
        }
        let carry = std::mem::take(&mut self.carry);
        if !carry.is_empty() {
            scan(self.framing, &carry, true, self.limit, on);
        }
    }

    /// Drops the rest of the over-long record; returns the chunk offset after it (the
    /// chunk's length if it does not end in this chunk).
    fn skip(&mut self, chunk: &[u8], on: &mut dyn FnMut(Piece<'_>)) -> usize {
        let end = match &mut self.skip {
            Skip::No => return 0,
            Skip::LineEnd { in_quotes } => {
                let mut i = 0;
                let mut end = None;
                while let Some(p) = memchr2(b'"', b'\n', chunk.get(i..).unwrap_or_default()) {
                    let at = i + p;
                    i = at + 1;
                    if chunk.get(at) == Some(&b'"') {
                        *in_quotes = !*in_quotes && self.framing == Framing::Csv;
                        continue;
                    }
                    self.skipped_lines += 1;
                    if !*in_quotes {
                        end = Some(i);
                        break;
                    }
                }
                end
            }
            Skip::RowStart { line, long } => {
                let mut pos = 0;
                let mut end = None;
                while pos < chunk.len() {
                    let nl = memchr(b'\n', chunk.get(pos..).unwrap_or_default());
                    let stop = nl.map_or(chunk.len(), |p| pos + p + 1);
                    let piece = chunk.get(pos..stop).unwrap_or_default();
                    if !*long && line.len() + piece.len() <= ROW_LINE_MAX {
                        line.extend_from_slice(piece);
                    } else {
                        *long = true;
                        line.clear();
                    }
                    if nl.is_none() {
                        break; // the line goes on in the next chunk
                    }
                    if !*long && is_vertical_row_start(line) {
                        // The next record starts here: read it as any other.
                        if line.len() == piece.len() {
                            line.clear();
                            end = Some(pos);
                        } else {
                            self.carry = std::mem::take(line);
                            end = Some(stop);
                        }
                        break;
                    }
                    self.skipped_lines += 1;
                    line.clear();
                    *long = false;
                    pos = stop;
                }
                end
            }
        };
        match end {
            Some(end) => {
                self.end_skip(on);
                end
            }
            None => chunk.len(),
        }
    }

    /// The dropped record has ended: reports it, with its lines (at least one).
    fn end_skip(&mut self, on: &mut dyn FnMut(Piece<'_>)) {
        on(Piece::TooLong {
            lines: self.skipped_lines.max(1),
        });
        self.skip = Skip::No;
        self.skipped_lines = 0;
    }

    /// Appends the chunk to the carried partial record line by line until a record completes;
    /// then, if what is left of the carry came from this chunk, rewinds into the chunk so the
    /// rest is read in place. A carry still unfinished past the limit is dropped. Returns the
    /// chunk offset to continue from.
    fn extend_carry(
        &mut self,
        chunk: &[u8],
        mut pos: usize,
        on: &mut dyn FnMut(Piece<'_>),
    ) -> usize {
        let mut appended = 0usize;
        while pos < chunk.len() && !self.carry.is_empty() {
            let end = memchr(b'\n', chunk.get(pos..).unwrap_or_default())
                .map_or(chunk.len(), |p| pos + p + 1);
            self.carry
                .extend_from_slice(chunk.get(pos..end).unwrap_or_default());
            appended += end - pos;
            pos = end;
            // Records the line completed go out first (an over-long one as `TooLong`), so the
            // limit is only ever held against an unfinished record.
            let carry = std::mem::take(&mut self.carry);
            let used = scan(self.framing, &carry, false, self.limit, on);
            let left = carry.len() - used;
            if used > 0 && left <= appended {
                // The unfinished remainder is the tail of what we just copied: read it in place.
                return pos - left;
            }
            self.carry = carry;
            if used > 0 {
                self.carry.drain(..used);
            }
            if self.over_limit() {
                self.drop_carry();
                pos += self.skip(chunk.get(pos..).unwrap_or_default(), on);
            }
        }
        pos
    }

    fn push_carry(&mut self, tail: &[u8]) {
        if tail.is_empty() {
            return;
        }
        self.carry.extend_from_slice(tail);
        if self.over_limit() {
            self.drop_carry();
        }
    }

    /// Whether the carried, unfinished record is past the limit. In Vertical input an
    /// unfinished last line short enough to be a `Row N:` line does not count: it may turn
    /// out to start the next record.
    fn over_limit(&self) -> bool {
        let mut len = self.carry.len();
        if self.framing == Framing::Vertical {
            let from = len.saturating_sub(ROW_LINE_MAX + 1);
            let tail = self.carry.get(from..).unwrap_or_default();
            if let Some(nl) = memchr::memrchr(b'\n', tail) {
                len = from + nl + 1;
            } else if len <= ROW_LINE_MAX {
                len = 0;
            }
        }
        len > self.limit
    }

    /// The carried record, unfinished, outgrew the limit: forget it, and drop the rest of it
    /// as it arrives (see [`Skip`]).
    fn drop_carry(&mut self) {
        let carry = std::mem::take(&mut self.carry);
        self.skipped_lines = memchr::memchr_iter(b'\n', &carry).count() as u64;
        self.skip = match self.framing {
            Framing::Lines => Skip::LineEnd { in_quotes: false },
            Framing::Csv => Skip::LineEnd {
                in_quotes: memchr::memchr_iter(b'"', &carry).count() % 2 == 1,
            },
            Framing::Vertical => {
                // The last line may be unfinished, and may yet be a `Row N:` line.
                let last = memchr::memrchr(b'\n', &carry).map_or(0, |p| p + 1);
                let partial = carry.get(last..).unwrap_or_default();
                let long = partial.len() > ROW_LINE_MAX;
                Skip::RowStart {
                    line: if long { Vec::new() } else { partial.to_vec() },
                    long,
                }
            }
        };
    }
}

/// Emits every complete record at the start of `buf` and returns the bytes they used. With
/// `at_eof` the remainder is a record too.
fn scan(
    framing: Framing,
    buf: &[u8],
    at_eof: bool,
    limit: usize,
    on: &mut dyn FnMut(Piece<'_>),
) -> usize {
    let mut on = |rec: &[u8]| {
        if rec.len() > limit {
            let lines = memchr::memchr_iter(b'\n', rec).count().max(1) as u64;
            on(Piece::TooLong { lines });
        } else {
            on(Piece::Record(rec));
        }
    };
    let mut start = 0;
    match framing {
        Framing::Lines => {
            for nl in memchr::memchr_iter(b'\n', buf) {
                on(buf.get(start..=nl).unwrap_or_default());
                start = nl + 1;
            }
        }
        Framing::Csv => {
            let mut in_quotes = false;
            let mut i = 0;
            while let Some(p) = memchr2(b'"', b'\n', buf.get(i..).unwrap_or_default()) {
                let at = i + p;
                if buf.get(at) == Some(&b'"') {
                    in_quotes = !in_quotes;
                } else if !in_quotes {
                    on(buf.get(start..=at).unwrap_or_default());
                    start = at + 1;
                }
                i = at + 1;
            }
        }
        Framing::Vertical => {
            let mut line_start = 0;
            for nl in memchr::memchr_iter(b'\n', buf) {
                let line = buf.get(line_start..=nl).unwrap_or_default();
                if line_start > start && is_vertical_row_start(line) {
                    on(buf.get(start..line_start).unwrap_or_default());
                    start = line_start;
                }
                line_start = nl + 1;
            }
            // At the end of input the last line may lack its newline.
            if at_eof && line_start > start && line_start < buf.len() {
                let line = buf.get(line_start..).unwrap_or_default();
                if is_vertical_row_start(line) {
                    on(buf.get(start..line_start).unwrap_or_default());
                    start = line_start;
                }
            }
        }
    }
    if at_eof && start < buf.len() {
        on(buf.get(start..).unwrap_or_default());
        return buf.len();
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(framing: Framing, input: &[u8], chunk: usize, limit: usize) -> Vec<String> {
        let mut f = Framer::new(framing, limit);
        let mut out = Vec::new();
        let mut on = |p: Piece<'_>| match p {
            Piece::Record(r) => out.push(String::from_utf8_lossy(r).into_owned()),
            Piece::TooLong { lines } => out.push(format!("<too long: {lines}>")),
        };
        for c in input.chunks(chunk.max(1)) {
            f.feed(c, &mut on);
        }
        f.finish(&mut on);
        out
    }

    #[test]
    fn ok_every_chunk_size_gives_the_same_records() {
        let csv = b"\"a\",\"b\"\n1,\"x\ny\"\n2,\"\"\"q\"\"\"\n3,z";
        let vert = "Row 1:\n──\na: 1\nq: x\nRow 2\n\nRow 2:\n──\na: 2\n".as_bytes();
        for (framing, input, n) in [
            (Framing::Lines, &b"a\nb\r\nc"[..], 3),
            (Framing::Csv, &csv[..], 4),
            (Framing::Vertical, vert, 2),
        ] {
            let whole = records(framing, input, input.len(), 1 << 20);
            assert_eq!(whole.len(), n, "{framing:?}: {whole:?}");
            for size in 1..input.len() {
                assert_eq!(
                    records(framing, input, size, 1 << 20),
                    whole,
                    "{framing:?} chunk {size}"
                );
            }
        }
    }

    /// Records of every framing, some longer than the 1 KiB limit: (framing, input, what the
    /// whole input gives).
    fn too_long_cases() -> Vec<(Framing, Vec<u8>, Vec<String>)> {
        let x = "x".repeat(50);
        let body: String = (0..30).map(|i| format!("f{i}: {x}\n")).collect();
        let quoted: String = (0..30).map(|_| format!("{x}\n")).collect();
        vec![
            // A long `Row N:` block, then a short one: the next block is read whole.
            (
                Framing::Vertical,
                format!("Row 1:\n{body}Row 2:\na: 1\n").into_bytes(),
                vec!["<too long: 31>".into(), "Row 2:\na: 1\n".into()],
            ),
            // Blank lines and `Row N:`-like text inside the long block do not end it.
            (
                Framing::Vertical,
                format!("Row 1:\n{body}\nRow x:\nq: Row 7\n{body}Row 12:\nb: 2").into_bytes(),
                vec!["<too long: 64>".into(), "Row 12:\nb: 2".into()],
            ),
            // A long last block, and a last `Row N:` line without its newline.
            (
                Framing::Vertical,
                format!("Row 1:\n{body}").into_bytes(),
                vec!["<too long: 31>".into()],
            ),
            (
                Framing::Vertical,
                format!("Row 1:\n{body}Row 2:").into_bytes(),
                vec!["<too long: 31>".into(), "Row 2:".into()],
            ),
            // A CSV record whose quoted field spans many lines, then a short record.
            (
                Framing::Csv,
                format!("1,\"{quoted}\"\n2,b\n").into_bytes(),
                vec!["<too long: 31>".into(), "2,b\n".into()],
            ),
            (
                Framing::Csv,
                format!("1,\"{quoted}\"\"{quoted}\",z\n2,\"b\nc\"\n").into_bytes(),
                vec!["<too long: 61>".into(), "2,\"b\nc\"\n".into()],
            ),
            (
                Framing::Lines,
                format!("a\n{}\nb\n", x.repeat(30)).into_bytes(),
                vec!["a\n".into(), "<too long: 1>".into(), "b\n".into()],
            ),
        ]
    }

    #[test]
    fn ok_too_long_records_end_where_the_framing_ends_them_in_any_chunks() {
        for (framing, input, want) in too_long_cases() {
            for size in 1..=input.len() {
                assert_eq!(
                    records(framing, &input, size, 1024),
                    want,
                    "{framing:?} chunk {size}"
                );
            }
        }
    }

    proptest::proptest! {
        /// Any mix of short and over-long records, cut into chunks anywhere: the records
        /// and drops are those of the whole input.
        #[test]
        fn ok_chunks_never_change_records(
            tokens in proptest::collection::vec(0usize..9, 1..120),
            size in 1usize..700,
            framing in proptest::sample::select(vec![Framing::Lines, Framing::Csv, Framing::Vertical]),
        ) {
            const TOKENS: [&str; 9] = ["Row 1:\n", "Row 22:", "a: 1\n", "\"", "\n", ",", "Row", "\r\n", ""];
            let long = "y".repeat(300);
            let input: String = tokens
                .iter()
                .map(|&t| TOKENS.get(t).copied().filter(|t| !t.is_empty()).unwrap_or(&long))
                .collect();
            let whole = records(framing, input.as_bytes(), input.len(), 1024);
            proptest::prop_assert_eq!(records(framing, input.as_bytes(), size, 1024), whole);
        }
    }

    #[test]
    fn ok_too_long_records_are_skipped_and_counted() {
        let long = format!("short\n{}\nafter\n", "x".repeat(5000));
        for size in [7, 100, 4096, 10_000] {
            let r = records(Framing::Lines, long.as_bytes(), size, 1024);
            assert_eq!(r, ["short\n", "<too long: 1>", "after\n"], "chunk {size}");
        }
    }
}
