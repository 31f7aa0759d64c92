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
    /// Dropping an over-long record until the next newline.
    skipping: bool,
    skipped_lines: u64,
}

impl Framer {
    pub(crate) fn new(framing: Framing, limit: usize) -> Self {
        Self {
            framing,
            carry: Vec::new(),
            limit: limit.max(1024),
            skipping: false,
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
        if self.skipping {
            pos = self.skip(chunk, on);
        }
        if !self.carry.is_empty() {
            pos = self.extend_carry(chunk, pos, on);
        }
        let Some(rest) = chunk.get(pos..) else { return };
        let used = scan(self.framing, rest, false, self.limit, on);
        if let Some(tail) = rest.get(used..) {
            self.push_carry(tail, on);
        }
    }

    /// Flushes the last record at the end of the input.
    pub(crate) fn finish(&mut self, on: &mut dyn FnMut(Piece<'_>)) {
        if self.skipping {
            on(Piece::TooLong {
                lines: self.skipped_lines + 1,
            });
            self.skipping = false;
        }
        let carry = std::mem::take(&mut self.carry);
        if !carry.is_empty() {
            scan(self.framing, &carry, true, self.limit, on);
        }
    }

    /// Drops bytes up to and including the next newline; returns the chunk offset after it.
    fn skip(&mut self, chunk: &[u8], on: &mut dyn FnMut(Piece<'_>)) -> usize {
        match memchr(b'\n', chunk) {
            Some(p) => {
                self.skipping = false;
                on(Piece::TooLong {
                    lines: self.skipped_lines + 1,
                });
                self.skipped_lines = 0;
                p + 1
            }
            None => chunk.len(),
        }
    }

    /// Appends the chunk to the carried partial record line by line until a record completes;
    /// then, if what is left of the carry came from this chunk, rewinds into the chunk so the
    /// rest is read in place. Returns the chunk offset to continue from.
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
            if self.carry.len() > self.limit {
                self.drop_carry(on);
                if self.skipping {
                    pos += self.skip(chunk.get(pos..).unwrap_or_default(), on);
                }
                return pos;
            }
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
        }
        pos
    }

    fn push_carry(&mut self, tail: &[u8], on: &mut dyn FnMut(Piece<'_>)) {
        if tail.is_empty() {
            return;
        }
        self.carry.extend_from_slice(tail);
        if self.carry.len() > self.limit {
            self.drop_carry(on);
        }
    }

    /// The carried record outgrew the limit: forget it and skip to the next line.
    fn drop_carry(&mut self, on: &mut dyn FnMut(Piece<'_>)) {
        let lines = memchr::memchr_iter(b'\n', &self.carry).count() as u64;
        let ends_line = self.carry.last() == Some(&b'\n');
        self.carry = Vec::new();
        if ends_line {
            on(Piece::TooLong { lines });
        } else {
            self.skipping = true;
            self.skipped_lines = lines;
        }
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

    #[test]
    fn ok_too_long_records_are_skipped_and_counted() {
        let long = format!("short\n{}\nafter\n", "x".repeat(5000));
        for size in [7, 100, 4096, 10_000] {
            let r = records(Framing::Lines, long.as_bytes(), size, 1024);
            assert_eq!(r, ["short\n", "<too long: 1>", "after\n"], "chunk {size}");
        }
    }
}
