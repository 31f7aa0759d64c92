//! ClickHouse table exports: one record of TabSeparated, CSV, JSONEachRow or Vertical text
//! split into the fields of the columns we know.
//!
//! This is the format layer only: it finds fields and knows each format's escaping, but not
//! what a column means (that is the job of a table parser such as `query_log`). Fields are
//! kept raw ([`Raw`]) and unescaped only when a table parser asks for them, so columns we
//! ignore (80 of the 90 in a modern query_log) cost one `memchr` each.

use std::borrow::Cow;

use memchr::memchr;
use wide::u8x16;

use super::common::{
    lossy, parse_text_array, parse_u64, unescape_csv, unescape_json, unescape_tsv,
};
use crate::error::ParseErrorKind;

/// Column count a schema may have; rows are fixed-size arrays of this many slots. A power
/// of two: a slot is taken modulo it, which needs no bounds test (a schema's slots are all
/// below it).
pub(crate) const MAX_COLUMNS: usize = 32;
const _: () = assert!(MAX_COLUMNS.is_power_of_two());

/// JSON nesting deeper than this is rejected rather than walked.
const MAX_JSON_DEPTH: usize = 256;

/// The columns one table parser understands, looked up by name.
#[derive(Debug)]
pub(crate) struct Schema {
    sorted: Vec<(&'static [u8], u8)>,
}

impl Schema {
    pub(crate) fn new(names: &'static [&'static str]) -> Self {
        debug_assert!(names.len() <= MAX_COLUMNS);
        let mut sorted: Vec<(&'static [u8], u8)> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < MAX_COLUMNS)
            .filter_map(|(i, n)| Some((n.as_bytes(), u8::try_from(i).ok()?)))
            .collect();
        sorted.sort_unstable();
        Self { sorted }
    }

    /// The slot of a column name, if this schema knows it.
    pub(crate) fn lookup(&self, name: &[u8]) -> Option<u8> {
        self.sorted
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .and_then(|i| self.sorted.get(i))
            .map(|(_, id)| *id)
    }
}

/// A header: for each position in a record, the schema slot it fills (if any).
#[derive(Debug, Clone, Default)]
pub(crate) struct Header {
    pub(crate) slots: Vec<Option<u8>>,
    /// (position, slot) of the known columns, in position order.
    wanted: Vec<(usize, u8)>,
}

impl Header {
    pub(crate) fn from_names<'n>(
        schema: &Schema,
        names: impl IntoIterator<Item = Cow<'n, [u8]>>,
    ) -> Self {
        let slots: Vec<Option<u8>> = names
            .into_iter()
            .map(|n| schema.lookup(n.trim_ascii()))
            .collect();
        let wanted = slots
            .iter()
            .enumerate()
            .filter_map(|(pos, slot)| Some((pos, (*slot)?)))
            .collect();
        Self { slots, wanted }
    }

    pub(crate) fn known(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    pub(crate) fn has(&self, slot: usize) -> bool {
        self.slots.iter().any(|s| s.map(usize::from) == Some(slot))
    }

    /// (position, slot) of the known columns, in position order: the plan that places them all.
    pub(crate) fn wanted(&self) -> &[(usize, u8)] {
        &self.wanted
    }
}

/// One field, still in its format's escaping.
#[derive(Clone, Debug)]
pub(crate) enum Raw<'a> {
    /// TabSeparated: backslash escapes, `\N` for NULL.
    Tsv(&'a [u8]),
    /// CSV: the text between the quotes (with `""` doubling) or an unquoted field.
    Csv { text: &'a [u8], quoted: bool },
    /// The body of a JSON string.
    JsonString(&'a [u8]),
    /// A JSON number, literal, array or object, verbatim.
    JsonBare(&'a [u8]),
    /// Vertical: values are printed without escaping.
    Plain(&'a [u8]),
}

impl<'a> Raw<'a> {
    /// The field as written, when that is also its value (no escape in it, not NULL):
    /// lets hot paths compare short values such as `QueryFinish` without decoding.
    pub(crate) fn verbatim(&self) -> Option<&[u8]> {
        match self {
            Self::Tsv(b) if memchr(b'\\', b).is_none() && *b != b"\\N" => Some(b),
            Self::JsonString(b) if memchr(b'\\', b).is_none() => Some(b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        match self {
            Self::Tsv(b) => *b == b"\\N",
            Self::Csv { text, quoted } => !quoted && *text == b"\\N",
            Self::JsonBare(b) => *b == b"null",
            Self::JsonString(_) => false,
            Self::Plain(b) => *b == b"\\N" || *b == "ᴺᵁᴸᴸ".as_bytes(),
        }
    }

    /// The decoded bytes; `None` for NULL.
    pub(crate) fn bytes(&self) -> Option<Cow<'a, [u8]>> {
        if self.is_null() {
            return None;
        }
        Some(match self {
            // Most fields are short and plain: a byte loop beats the `memchr` dispatch.
            Self::Tsv(b) if b.len() < 32 && !b.contains(&b'\\') => Cow::Borrowed(*b),
            Self::Tsv(b) => unescape_tsv(b),
            Self::Csv { text, .. } => unescape_csv(text),
            Self::JsonString(b) => unescape_json(b),
            Self::JsonBare(b) => Cow::Borrowed(*b),
            Self::Plain(b) => Cow::Borrowed(*b),
        })
    }

    /// The decoded text (invalid UTF-8 replaced); `None` for NULL.
    pub(crate) fn text(&self) -> Option<Cow<'a, str>> {
        self.bytes().map(lossy)
    }

    /// An unsigned integer, quoted (JSON 64-bit before 25.8) or not.
    pub(crate) fn u64(&self) -> Option<u64> {
        match self {
            Self::Tsv(b) | Self::Csv { text: b, .. } | Self::JsonString(b) | Self::JsonBare(b) => {
                parse_u64(b)
            }
            Self::Plain(b) => parse_u64(strip_number_tip(b)),
        }
    }

    /// A signed integer.
    pub(crate) fn i64(&self) -> Option<i64> {
        match self {
            Self::Tsv(b) | Self::Csv { text: b, .. } | Self::JsonString(b) | Self::JsonBare(b) => {
                super::common::parse_i64(b)
            }
            Self::Plain(b) => super::common::parse_i64(strip_number_tip(b)),
        }
    }

    /// The elements of an `Array(String)` (or of any array, as text).
    pub(crate) fn list(&self) -> Option<Vec<Cow<'a, str>>> {
        if self.is_null() {
            return None;
        }
        Some(match self {
            // An empty array, as most rows' `used_table_functions` is: nothing to read.
            Self::Tsv(b) if *b == b"[]" => Vec::new(),
            Self::JsonBare(b) => json_string_array(b).into_iter().map(lossy).collect(),
            Self::Tsv(b) => parse_text_array(b).into_iter().map(lossy).collect(),
            Self::Csv { .. } | Self::Plain(_) | Self::JsonString(_) => {
                // The array's quoted text form sits inside a CSV/JSON string or raw in Vertical;
                // decode that layer, then read the array (elements must be copied out).
                let outer = self.bytes()?;
                parse_text_array(&outer)
                    .into_iter()
                    .map(|e| Cow::Owned(lossy(e).into_owned()))
                    .collect()
            }
        })
    }
}

/// Vertical output of modern servers appends a readability tip to large numbers
/// (`16135998 -- 16.14 million`); the number is what precedes it. Out of line: inlined, its
/// searcher gave [`Raw::u64`] (called for every counter of every row) a large stack frame.
#[inline(never)]
fn strip_number_tip(b: &[u8]) -> &[u8] {
    match memchr::memmem::find(b, b" -- ") {
        Some(at) => b.get(..at).unwrap_or(b),
        None => b,
    }
}

/// The fields of one record, by schema slot.
#[derive(Debug)]
pub(crate) struct Row<'a> {
    pub(crate) slots: [Option<Raw<'a>>; MAX_COLUMNS],
    /// The TabSeparated line every [`Raw::Tsv`] field lies in (empty for other formats).
    line: &'a [u8],
}

impl<'a> Row<'a> {
    pub(crate) fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| None),
            line: &[],
        }
    }

    /// The text of the TSV fields in `slots` that have no escape, valid UTF-8 checked once
    /// for the stretch of the line that holds them all rather than field by field (each
    /// check has a fixed cost that dominates on short fields). `None` when there are no
    /// such fields or the stretch is not valid UTF-8; [`Raw::text`] then decides per field.
    pub(crate) fn text_span(&self, slots: &[usize]) -> Option<TextSpan<'a>> {
        let base = self.line.as_ptr() as usize;
        let (mut lo, mut hi) = (usize::MAX, 0);
        for &slot in slots {
            if let Some(Raw::Tsv(b)) = self.get(slot) {
                let at = (b.as_ptr() as usize).wrapping_sub(base);
                lo = lo.min(at);
                hi = hi.max(at + b.len());
            }
        }
        // Widened (within the line) to start on an eight-byte boundary and to span whole
        // 16-byte steps: `from_utf8` checks those two words at a time, and the bytes before
        // and after one by one. The bytes added are other fields' (ASCII, as a rule); if they
        // are not valid UTF-8 the span is `None` and each field decides alone, as it would.
        let lo = lo - ((base.wrapping_add(lo)) % 8).min(lo);
        let hi = lo
            .saturating_add(hi.saturating_sub(lo).next_multiple_of(16))
            .min(self.line.len());
        let text = std::str::from_utf8(self.line.get(lo..hi)?).ok()?;
        Some(TextSpan {
            start: base + lo,
            text,
        })
    }
}

/// A stretch of a TSV line known to be valid UTF-8; see [`Row::text_span`].
#[derive(Debug)]
pub(crate) struct TextSpan<'a> {
    /// Address of the stretch's first byte.
    start: usize,
    text: &'a str,
}

impl<'a> TextSpan<'a> {
    /// The text of a TSV field that lies in the span and has no escape (and so is not NULL
    /// either): its decoded text, as it is written.
    fn plain(&self, b: &'a [u8]) -> Option<&'a str> {
        let at = (b.as_ptr() as usize).wrapping_sub(self.start);
        let inside = self.text.get(at..at.checked_add(b.len())?)?;
        (!has_backslash(b)).then_some(inside)
    }

    /// The decoded text of a field: borrowed from the span when the field lies in it and
    /// has no escape, as [`Raw::text`] would give it.
    pub(crate) fn text(&self, raw: Option<&Raw<'a>>) -> Option<Cow<'a, str>> {
        let raw = raw?;
        if let Raw::Tsv(b) = raw {
            if let Some(s) = self.plain(b) {
                return Some(Cow::Borrowed(s));
            }
        }
        raw.text()
    }

    /// The elements of an array field, as [`Raw::list`] would give them: read from the
    /// span's text when the field lies in it and has no escape.
    pub(crate) fn list(&self, raw: Option<&Raw<'a>>) -> Option<Vec<Cow<'a, str>>> {
        let raw = raw?;
        if let Raw::Tsv(b) = raw {
            if let Some(s) = self.plain(b) {
                return Some(plain_text_array(s));
            }
        }
        raw.list()
    }
}

/// Whether `b` holds a backslash: 16 bytes at a time, then 8, then bytes (cheaper than a
/// byte loop or a `memchr` call on the short fields most are).
#[inline]
pub(crate) fn has_backslash(b: &[u8]) -> bool {
    let backslash = u8x16::splat(b'\\');
    let mut blocks = b.chunks_exact(16);
    for block in &mut blocks {
        let lane = <[u8; 16]>::try_from(block).unwrap_or_default();
        if u8x16::new(lane).simd_eq(backslash).to_bitmask() != 0 {
            return true;
        }
    }
    let mut words = blocks.remainder().chunks_exact(8);
    for word in &mut words {
        if backslash_flags(u64::from_le_bytes(
            <[u8; 8]>::try_from(word).unwrap_or_default(),
        )) != 0
        {
            return true;
        }
    }
    words.remainder().contains(&b'\\')
}

/// Eight bytes `w` (little-endian) tested for a backslash: a high bit set where `w` has
/// one (the zero-byte test of `w` xor eight backslashes; exact for the lowest, and any flag
/// means there is one).
#[inline]
pub(crate) fn backslash_flags(w: u64) -> u64 {
    let x = w ^ 0x5c5c_5c5c_5c5c_5c5c;
    x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080
}

/// Pushes `el`; the first push allocates room for four at once, the capacity a first push
/// would grow to, but directly rather than through the vector's out-of-line growth path.
#[inline]
fn push_first_sized<'b>(out: &mut Vec<Cow<'b, str>>, el: Cow<'b, str>) {
    if out.capacity() == 0 {
        *out = Vec::with_capacity(4);
    }
    out.push(el);
}

/// The elements of an array's text form with no escape in it (`['a','b']`, `[1, 2]`, `[]`),
/// as [`parse_text_array`] reads them, borrowed from the text: without escapes there is
/// nothing to decode and the text is valid UTF-8 already.
fn plain_text_array(text: &str) -> Vec<Cow<'_, str>> {
    let mut out = Vec::new();
    let Some(inner) = text.trim_ascii().strip_prefix('[') else {
        return out;
    };
    let bytes = inner.as_bytes();
    let mut i = 0;
    loop {
        while bytes.get(i).is_some_and(|c| *c == b' ' || *c == b',') {
            i += 1;
        }
        match bytes.get(i) {
            None | Some(b']') => return out,
            Some(b'\'') => {
                let start = i + 1;
                let Some(len) = memchr(b'\'', bytes.get(start..).unwrap_or_default()) else {
                    return out;
                };
                if let Some(el) = inner.get(start..start + len) {
                    push_first_sized(&mut out, Cow::Borrowed(el));
                }
                i = start + len + 1;
            }
            Some(_) => {
                let start = i;
                while bytes.get(i).is_some_and(|c| *c != b',' && *c != b']') {
                    i += 1;
                }
                if let Some(el) = inner.get(start..i) {
                    push_first_sized(&mut out, Cow::Borrowed(el.trim_ascii()));
                }
            }
        }
    }
}

impl<'a> Row<'a> {
    pub(crate) fn get(&self, slot: usize) -> Option<&Raw<'a>> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    /// Sets a slot; `slot` is one of a schema's, so below [`MAX_COLUMNS`].
    #[inline]
    fn set(&mut self, slot: u8, raw: Raw<'a>) {
        if let Some(s) = self.slots.get_mut(usize::from(slot) % MAX_COLUMNS) {
            *s = Some(raw);
        }
    }
}

/// How the records of one input are split into a [`Row`]: the format's fill function with
/// its header or schema. A QueryStart row waiting for its end keeps its record as read and
/// is filled again with this if it never ends.
#[derive(Debug)]
pub(crate) enum RowReader {
    /// TabSeparated, with or without names.
    Tsv(Header),
    /// CSVWithNames.
    Csv(Header),
    /// JSONEachRow.
    Json(&'static Schema),
    /// Vertical.
    Vertical(&'static Schema),
}

impl RowReader {
    /// Fills `row` from one record.
    pub(crate) fn fill<'a>(&self, rec: &'a [u8], row: &mut Row<'a>) -> Result<(), FieldError> {
        match self {
            Self::Tsv(h) => fill_tsv(rec, h, row),
            Self::Csv(h) => fill_csv(rec, h, row),
            Self::Json(s) => fill_json(rec, s, row, |_| {}),
            Self::Vertical(s) => fill_vertical(rec, s, row),
        }
    }
}

/// A field-level failure: what went wrong and at which byte offset of the record.
pub(crate) type FieldError = (usize, ParseErrorKind);

/// Removes one trailing `\n` and then one `\r`.
pub(crate) fn trim_eol(rec: &[u8]) -> &[u8] {
    let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
    rec.strip_suffix(b"\r").unwrap_or(rec)
}

/// Splits a TabSeparated line into fields.
pub(crate) fn tsv_fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| *b == b'\t')
}

/// The tabs of one 64-byte block as a bit mask (bit *k* set where byte *k* is a tab): four
/// 16-byte compares, each turned into 16 mask bits by one `pmovmskb` (`i8x16.bitmask` in
/// wasm). `wide` keeps the intrinsics safe.
#[inline]
fn tab_mask(block: &[u8; 64]) -> u64 {
    let tab = u8x16::splat(b'\t');
    let mut mask = 0u64;
    for (k, lane) in block.chunks_exact(16).enumerate() {
        let lane = <[u8; 16]>::try_from(lane).unwrap_or_default();
        mask |= u64::from(u8x16::new(lane).simd_eq(tab).to_bitmask()) << (16 * k);
    }
    mask
}

/// The tabs of a line in order, found a 64-byte block at a time. Cheaper than a `memchr`
/// call per field when fields are as short as most query_log columns are (a 26.x row has
/// ~90 fields in ~1.3 KiB). Chosen with callgrind against `memchr` per field, `memchr_iter`,
/// a per-field SWAR probe and SWAR masks; a block without a tab (inside ProfileEvents,
/// Settings, a long query) is passed over by the same block compares (see [`load_block`]).
/// `Copy`: a scan works on a copy in registers and stores it back once.
///
/// The state is two words, so that a scan placing fields keeps everything in registers: the
/// line is passed to each call rather than kept, and the next block always starts 64 bytes
/// after this one.
#[derive(Clone, Copy)]
struct Tabs {
    /// Offset in the line of bit 0 of `mask`: the current block. At or past the line's end
    /// less 64 once no block is left.
    base: usize,
    /// Tabs of the current block not handed out yet.
    mask: u64,
}

impl Tabs {
    /// The scan of `line` from its start.
    fn new(line: &[u8]) -> Self {
        let (base, mask) = load_block(line, 0);
        Self { base, mask }
    }

    /// The offset of the next tab of `line` (always the same line). Always inlined: the
    /// scan's state must live in registers (an out-of-line call doubled the instructions of
    /// `fill_tsv`).
    #[inline(always)]
    fn next_tab(&mut self, line: &[u8]) -> Option<usize> {
        while self.mask == 0 {
            let next = self.base + 64;
            if next >= line.len() {
                return None;
            }
            // By value, not `&mut self`: keeps the scan's state in registers.
            (self.base, self.mask) = load_block(line, next);
        }
        let at = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }

    /// Consumes `n` tabs. `Err` holds how many were missing when the line ended.
    #[inline(always)]
    fn skip(&mut self, line: &[u8], mut n: usize) -> Result<(), usize> {
        while n > 0 {
            if self.mask == 0 {
                let next = self.base + 64;
                if next >= line.len() {
                    return Err(n);
                }
                (self.base, self.mask) = load_block(line, next);
                continue;
            }
            self.mask &= self.mask - 1;
            n -= 1;
        }
        Ok(())
    }
}

/// How many tabs `b` holds, counted 16 bytes at a time without masks: each lane of a
/// compare is 0xFF (−1) at a tab, so subtracting it counts that lane's tabs; lanes are summed
/// every 255 blocks, before a lane could wrap. About three instructions per 16 bytes against
/// ~40 per 64 for a tab mask and its (software) population count, which is what the
/// field-count check of a QueryStart row's unread tail cost.
fn count_tabs(b: &[u8]) -> usize {
    const GROUP: usize = 255 * 16;
    let tab = u8x16::splat(b'\t');
    let mut n = 0;
    for group in b.chunks(GROUP) {
        let mut acc = u8x16::ZERO;
        let mut blocks = group.chunks_exact(16);
        for block in &mut blocks {
            let lane = <[u8; 16]>::try_from(block).unwrap_or_default();
            acc -= u8x16::new(lane).simd_eq(tab);
        }
        n += lane_sum(acc) + blocks.remainder().iter().filter(|c| **c == b'\t').count();
    }
    n
}

/// The sum of the 16 byte lanes, by widening adds.
fn lane_sum(v: u8x16) -> usize {
    const M8: u64 = 0x00ff_00ff_00ff_00ff;
    // Each half: bytes summed in pairs (16-bit lanes of at most 510), then the four lanes by
    // one multiply, whose top lane gathers them all (partial sums stay below 2^16).
    let half = |x: u64| {
        let pairs = (x & M8) + ((x >> 8) & M8);
        pairs.wrapping_mul(0x0001_0001_0001_0001) >> 48
    };
    let x = u128::from_le_bytes(v.to_array());
    (half(x as u64) + half((x >> 64) as u64)) as usize
}

/// The block of `line` at `at` (inside it): (its offset, its tab mask). A block without a
/// tab is passed over for the next, so the block returned has a tab or is the line's last.
/// A loop of block compares rather than a `memchr` call for the long fields (ProfileEvents,
/// Settings, a long query): with no call in the tab scan's loop, no call can clobber the
/// registers that hold the scan's state, which otherwise lives partly on the stack.
#[inline(always)]
fn load_block(line: &[u8], mut at: usize) -> (usize, u64) {
    loop {
        match line.get(at..at + 64) {
            Some(block) => {
                let mask = <&[u8; 64]>::try_from(block).map_or(0, tab_mask);
                if mask != 0 {
                    return (at, mask);
                }
                at += 64;
            }
            None => return (at, last_block_mask(line, at)),
        }
    }
}

/// The tab mask of the line's last, short block at `at`: the mask of the line's last 64
/// bytes shifted down past those before `at` (no copy); a line shorter than 64 bytes is
/// copied into a block.
#[inline(always)]
fn last_block_mask(line: &[u8], at: usize) -> u64 {
    match line.len().checked_sub(64).and_then(|from| line.get(from..)) {
        Some(last) => {
            let mask = <&[u8; 64]>::try_from(last).map_or(0, tab_mask);
            // 1 to 63 bytes left (none: shifted out entirely).
            let left = line.len().saturating_sub(at);
            mask.checked_shr(64 - left.min(64) as u32).unwrap_or(0)
        }
        None => tail_mask(line.get(at..).unwrap_or_default()),
    }
}

/// The tab mask of a line shorter than a block.
#[cold]
#[inline(never)]
fn tail_mask(tail: &[u8]) -> u64 {
    let mut block = [0u8; 64];
    if let Some(head) = block.get_mut(..tail.len()) {
        head.copy_from_slice(tail);
    }
    tab_mask(&block)
}

/// The field [`TsvFill::place`] gives if a tab were ever outside its line or before the
/// field's start (it is not): an empty one. Cold and out of line on purpose.
#[cold]
#[inline(never)]
fn no_field<'b>() -> &'b [u8] {
    &[]
}

/// Fills `row` from a TabSeparated record.
pub(crate) fn fill_tsv<'a>(
    rec: &'a [u8],
    header: &Header,
    row: &mut Row<'a>,
) -> Result<(), FieldError> {
    let mut fill = TsvFill::new(rec, header, row);
    fill.place(&header.wanted, row)?;
    fill.finish()
}

/// A TabSeparated record filled a plan at a time: the scan keeps its place between plans,
/// so a table parser can read a field or two, decide which others it needs, and go on.
/// Plans are `(position, slot)` lists in position order, each past the one before (parts of
/// [`Header::wanted`]). However the wanted fields are split into plans, the fields placed
/// and the error of a record with the wrong field count are those of [`fill_tsv`].
pub(crate) struct TsvFill<'a> {
    line: &'a [u8],
    scan: Scan,
    /// Fields a record must have.
    expected: usize,
}

/// Where a [`TsvFill`] is: `Copy`, so a plan is placed on a copy in registers.
#[derive(Clone, Copy)]
struct Scan {
    tabs: Tabs,
    /// The field `start` begins, counted from 0: the tabs consumed so far.
    field: usize,
    start: usize,
}

/// Places the fields of `plan` (see [`TsvFill`]); `Err` holds the field count found when
/// the line ends before a field of the plan. Always inlined, so that a caller placing two
/// plans keeps the scan in registers across both.
#[inline(always)]
fn place_fields<'a>(
    line: &'a [u8],
    scan: &mut Scan,
    plan: &[(usize, u8)],
    row: &mut Row<'a>,
) -> Result<(), usize> {
    let Scan {
        mut tabs,
        mut field,
        mut start,
    } = *scan;
    let mut placed = Ok(());
    for entry in plan {
        // The slot is read only when its field is placed: read here, it was one more
        // register across the tab scan, and spilled.
        let pos = entry.0;
        if field < pos {
            let skipped = tabs.skip(line, pos - field - 1);
            match skipped.map(|()| tabs.next_tab(line)) {
                Ok(Some(tab)) => start = tab + 1,
                Ok(None) => {
                    placed = Err(pos);
                    break;
                }
                Err(missing) => {
                    placed = Err(pos - missing);
                    break;
                }
            }
        }
        // Tabs come in order and lie inside the line, so the slices are always there; the
        // empty field of the impossible case is out of line, which lets each bounds test be
        // two compares and branches instead of a chain of conditional moves.
        match tabs.next_tab(line) {
            Some(tab) => {
                row.set(
                    entry.1,
                    Raw::Tsv(line.get(start..tab).unwrap_or_else(no_field)),
                );
                (field, start) = (pos + 1, tab + 1);
            }
            // The line's last field: a field after it in the plan is missing.
            None => {
                row.set(
                    entry.1,
                    Raw::Tsv(line.get(start..).unwrap_or_else(no_field)),
                );
                field = pos;
            }
        }
    }
    *scan = Scan { tabs, field, start };
    placed
}

impl<'a> TsvFill<'a> {
    pub(crate) fn new(rec: &'a [u8], header: &Header, row: &mut Row<'a>) -> Self {
        let line = trim_eol(rec);
        row.line = line;
        Self {
            line,
            scan: Scan {
                tabs: Tabs::new(line),
                field: 0,
                start: 0,
            },
            expected: header.slots.len(),
        }
    }

    fn count_error(&self, found: usize) -> FieldError {
        (
            self.line.len(),
            ParseErrorKind::FieldCount {
                expected: self.expected,
                found,
            },
        )
    }

    /// Places the fields of `plan` in `row`.
    pub(crate) fn place(
        &mut self,
        plan: &[(usize, u8)],
        row: &mut Row<'a>,
    ) -> Result<(), FieldError> {
        let mut scan = self.scan;
        let placed = place_fields(self.line, &mut scan, plan, row);
        self.scan = scan;
        placed.map_err(|found| self.count_error(found))
    }

    /// Places `head`, then the plan `then` picks from the row so far (and gives back with
    /// what it worked out): [`place`](Self::place) twice, in one pass whose state stays in
    /// registers.
    pub(crate) fn place_then<'p, R>(
        &mut self,
        head: &[(usize, u8)],
        row: &mut Row<'a>,
        then: impl FnOnce(&Row<'a>) -> (R, &'p [(usize, u8)]),
    ) -> Result<R, FieldError> {
        let line = self.line;
        let mut scan = self.scan;
        let placed = place_fields(line, &mut scan, head, row).and_then(|()| {
            let (picked, plan) = then(row);
            place_fields(line, &mut scan, plan, row).map(|()| picked)
        });
        self.scan = scan;
        placed.map_err(|found| self.count_error(found))
    }

    /// Counts the fields left: the record must have as many as its header. The tabs not
    /// consumed yet are those from `start` on (a plan ends with the tab after its last
    /// field, or with the line), so they are counted from there, with no population count
    /// of the current block's mask.
    pub(crate) fn finish(self) -> Result<(), FieldError> {
        let rest = self.line.get(self.scan.start..).unwrap_or_default();
        let found = self.scan.field + 1 + count_tabs(rest);
        if found == self.expected {
            Ok(())
        } else {
            Err(self.count_error(found))
        }
    }
}

/// Splits one CSV record (possibly spanning lines) into `(text, quoted)` fields.
pub(crate) fn csv_fields(rec: &[u8]) -> Result<Vec<(&[u8], bool)>, FieldError> {
    let rec = trim_eol(rec);
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        if rec.get(i) == Some(&b'"') {
            let start = i + 1;
            let mut j = start;
            loop {
                match memchr(b'"', rec.get(j..).unwrap_or_default()) {
                    None => return Err((i, ParseErrorKind::UnterminatedQuote)),
                    Some(q) if rec.get(j + q + 1) == Some(&b'"') => j += q + 2,
                    Some(q) => {
                        j += q;
                        break;
                    }
                }
            }
            out.push((rec.get(start..j).unwrap_or_default(), true));
            i = j + 1;
            match rec.get(i) {
                None => return Ok(out),
                Some(b',') => i += 1,
                Some(_) => {
                    return Err((
                        i,
                        ParseErrorKind::BadValue {
                            column: "csv",
                            expected: "`,` after a quoted field",
                        },
                    ))
                }
            }
        } else {
            let end = memchr(b',', rec.get(i..).unwrap_or_default()).map_or(rec.len(), |e| i + e);
            out.push((rec.get(i..end).unwrap_or_default(), false));
            if end >= rec.len() {
                return Ok(out);
            }
            i = end + 1;
        }
    }
}

/// Fills `row` from a CSV record.
pub(crate) fn fill_csv<'a>(
    rec: &'a [u8],
    header: &Header,
    row: &mut Row<'a>,
) -> Result<(), FieldError> {
    let fields = csv_fields(rec)?;
    if fields.len() != header.slots.len() {
        return Err((
            trim_eol(rec).len(),
            ParseErrorKind::FieldCount {
                expected: header.slots.len(),
                found: fields.len(),
            },
        ));
    }
    for ((text, quoted), slot) in fields.into_iter().zip(&header.slots) {
        if let Some(slot) = slot {
            row.set(*slot, Raw::Csv { text, quoted });
        }
    }
    Ok(())
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
    {
        i += 1;
    }
    i
}

/// Index just past the string that opens at `i` (which must be `"`).
fn json_string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let q = memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        match b.get(j + q)? {
            b'\\' => j += q + 2,
            _ => return Some(j + q + 1),
        }
    }
}

/// Index just past the JSON value starting at `i`. Iterative, so deep nesting cannot
/// overflow the stack; nesting past [`MAX_JSON_DEPTH`] is an error.
fn json_value_end(b: &[u8], i: usize) -> Result<usize, FieldError> {
    let bad = |at: usize, expected| (at, ParseErrorKind::BadJson { expected });
    match b.get(i) {
        Some(b'"') => json_string_end(b, i).ok_or_else(|| bad(i, "closing `\"`")),
        Some(b'[' | b'{') => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j) {
                    None => return Err(bad(j, "`]` or `}`")),
                    Some(b'"') => {
                        j = json_string_end(b, j).ok_or_else(|| bad(j, "closing `\"`"))?
                    }
                    Some(b'[' | b'{') => {
                        depth += 1;
                        if depth > MAX_JSON_DEPTH {
                            return Err(bad(j, "nesting no deeper than 256"));
                        }
                        j += 1;
                    }
                    Some(b']' | b'}') => {
                        depth -= 1;
                        j += 1;
                        if depth == 0 {
                            return Ok(j);
                        }
                    }
                    Some(_) => j += 1,
                }
            }
        }
        Some(c) if c.is_ascii_alphanumeric() || *c == b'-' => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.'))
            {
                j += 1;
            }
            Ok(j)
        }
        _ => Err(bad(i, "a value")),
    }
}

/// Fills `row` from one JSONEachRow object. Keys we do not know are skipped unparsed.
pub(crate) fn fill_json<'a>(
    rec: &'a [u8],
    schema: &Schema,
    row: &mut Row<'a>,
    mut on_key: impl FnMut(u8),
) -> Result<(), FieldError> {
    let bad = |at: usize, expected| Err((at, ParseErrorKind::BadJson { expected }));
    let mut i = skip_ws(rec, 0);
    if rec.get(i) != Some(&b'{') {
        return bad(i, "`{`");
    }
    i = skip_ws(rec, i + 1);
    if rec.get(i) == Some(&b'}') {
        return Ok(());
    }
    loop {
        if rec.get(i) != Some(&b'"') {
            return bad(i, "a key");
        }
        let key_end = json_string_end(rec, i).ok_or((
            i,
            ParseErrorKind::BadJson {
                expected: "closing `\"`",
            },
        ))?;
        let key = rec.get(i + 1..key_end - 1).unwrap_or_default();
        i = skip_ws(rec, key_end);
        if rec.get(i) != Some(&b':') {
            return bad(i, "`:`");
        }
        i = skip_ws(rec, i + 1);
        let end = json_value_end(rec, i)?;
        let slot = if memchr(b'\\', key).is_some() {
            schema.lookup(&unescape_json(key))
        } else {
            schema.lookup(key)
        };
        if let Some(slot) = slot {
            let value = rec.get(i..end).unwrap_or_default();
            let raw = match value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
            {
                Some(body) => Raw::JsonString(body),
                None => Raw::JsonBare(value),
            };
            row.set(slot, raw);
            on_key(slot);
        }
        i = skip_ws(rec, end);
        match rec.get(i) {
            Some(b',') => i = skip_ws(rec, i + 1),
            Some(b'}') => {
                let rest = skip_ws(rec, i + 1);
                return if rest >= rec.len() {
                    Ok(())
                } else {
                    bad(rest, "end of line after `}`")
                };
            }
            _ => return bad(i, "`,` or `}`"),
        }
    }
}

/// The string elements of a JSON array (`["a","b"]`); non-strings are kept verbatim.
fn json_string_array(b: &[u8]) -> Vec<Cow<'_, [u8]>> {
    let mut out = Vec::new();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return out;
    }
    i = skip_ws(b, i + 1);
    while let Some(c) = b.get(i) {
        if *c == b']' {
            break;
        }
        let Ok(end) = json_value_end(b, i) else { break };
        let v = b.get(i..end).unwrap_or_default();
        out.push(
            match v.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\"")) {
                Some(body) => unescape_json(body),
                None => Cow::Borrowed(v),
            },
        );
        i = skip_ws(b, end);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
    }
    out
}

/// Whether a line opens a Vertical record (`Row 12:`).
pub(crate) fn is_vertical_row_start(line: &[u8]) -> bool {
    let line = trim_eol(line);
    line.strip_prefix(b"Row ")
        .and_then(|r| r.strip_suffix(b":"))
        .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
}

/// Fills `row` from one Vertical record (`Row N:`, a rule of `─`, then `name: value` lines).
///
/// Vertical prints values unescaped, so a value may continue over several lines. A line
/// starts a new field only if it is `name:` followed by padding up to the value column of
/// the record's first field (ClickHouse aligns all values of a row), which keeps query text
/// such as `WHERE a: b` on the value it belongs to. Best effort by nature.
pub(crate) fn fill_vertical<'a>(
    rec: &'a [u8],
    schema: &Schema,
    row: &mut Row<'a>,
) -> Result<(), FieldError> {
    let mut lines = rec.split_inclusive(|b| *b == b'\n').peekable();
    // Offset in `rec` of the next line.
    let mut off = 0;
    match lines.next() {
        Some(first) if is_vertical_row_start(first) => off += first.len(),
        _ => {
            return Err((
                0,
                ParseErrorKind::BadValue {
                    column: "Vertical",
                    expected: "`Row N:`",
                },
            ))
        }
    }
    if let Some(rule) = lines.next_if(|l| l.starts_with("─".as_bytes())) {
        off += rule.len();
    }
    let mut value_col: Option<usize> = None;
    // The field being read: (slot, start, end, end without trailing blank lines). A value
    // spread over lines is the stretch of the record from its first line to its last.
    let mut current: Option<(u8, usize, usize, usize)> = None;
    let flush = |slot: u8, start: usize, end: usize, row: &mut Row<'a>| {
        row.set(slot, Raw::Plain(rec.get(start..end).unwrap_or_default()));
    };
    for raw_line in lines {
        let line_start = off;
        off += raw_line.len();
        // Only the LF: Vertical has no CRLF mode, so a CR is part of the value (a query sent
        // with CRLF line ends keeps them).
        let line = raw_line.strip_suffix(b"\n").unwrap_or(raw_line);
        let line_end = line_start + line.len();
        match vertical_field(line, value_col) {
            Some((name, value, col)) => {
                value_col.get_or_insert(col);
                if let Some((slot, start, end, _)) = current.take() {
                    flush(slot, start, end, row);
                }
                // An unknown column gets no slot; its continuation lines are swallowed too.
                let slot = schema.lookup(name).unwrap_or(u8::MAX);
                current = Some((slot, line_end - value.len(), line_end, line_end));
            }
            None => {
                if let Some((_, _, end, kept)) = current.as_mut() {
                    *end = line_end;
                    if !line.is_empty() {
                        *kept = line_end;
                    }
                }
            }
        }
    }
    // Trailing blank lines separate rows; they are not part of the last value.
    if let Some((slot, start, _, kept)) = current {
        flush(slot, start, kept, row);
    }
    Ok(())
}

/// `name:<padding>value` → (name, value, value column). With a known value column the
/// padding must reach exactly that column (or the value must be empty).
fn vertical_field(line: &[u8], value_col: Option<usize>) -> Option<(&[u8], &[u8], usize)> {
    let colon = memchr(b':', line)?;
    let name = line.get(..colon)?;
    let first = name.first()?;
    if !(first.is_ascii_alphabetic() || *first == b'_')
        || !name
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.'))
    {
        return None;
    }
    let after = line.get(colon + 1..)?;
    if after.is_empty() {
        return Some((name, after, value_col.unwrap_or(colon + 2)));
    }
    if after.first() != Some(&b' ') {
        return None;
    }
    let pad = after.iter().take_while(|c| **c == b' ').count();
    let col = colon + 1 + pad;
    match value_col {
        Some(vc) if vc != col && col < line.len() => None,
        _ => Some((name, line.get(col..).unwrap_or_default(), col)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_tabs(line: &[u8]) -> Vec<usize> {
        let mut tabs = Tabs::new(line);
        std::iter::from_fn(|| tabs.next_tab(line)).collect()
    }

    fn schema() -> Schema {
        Schema::new(&["type", "query", "read_rows", "tables"])
    }

    #[test]
    fn ok_tsv_fields_by_header() {
        let s = schema();
        let h = Header::from_names(
            &s,
            ["read_rows", "other", "query"].map(|n| Cow::Borrowed(n.as_bytes())),
        );
        let mut row = Row::new();
        fill_tsv(b"12\tx\tSELECT \\'a\\tb\\'\r\n", &h, &mut row).unwrap();
        assert_eq!(row.get(2).unwrap().u64(), Some(12));
        assert_eq!(row.get(1).unwrap().text().unwrap(), "SELECT 'a\tb'");
        let err = fill_tsv(b"12\tx", &h, &mut Row::new()).unwrap_err();
        assert_eq!(
            err.1,
            ParseErrorKind::FieldCount {
                expected: 3,
                found: 2
            }
        );
    }

    proptest::proptest! {
        #[test]
        fn ok_tab_finder_agrees_with_a_byte_loop(
            line in proptest::collection::vec(
                proptest::sample::select(vec![b'\t', 0x08, 0x0a, 0x89, 0x01, b'a', 0xff, 0x00]),
                0..300,
            )
        ) {
            let found = all_tabs(&line);
            let expected: Vec<usize> =
                line.iter().enumerate().filter(|(_, b)| **b == b'\t').map(|(i, _)| i).collect();
            proptest::prop_assert_eq!(found, expected);
        }
    }

    proptest::proptest! {
        /// The lane-count of tabs equals a byte loop's, past the 255-block regrouping too
        /// (a lane would wrap at 256 tabs).
        #[test]
        fn ok_count_tabs_agrees_with_a_byte_loop(
            raw in proptest::collection::vec(proptest::num::u8::ANY, 0..9000),
            density in proptest::num::u8::ANY,
            cut in 0usize..64,
        ) {
            // Byte values up to `density` become tabs (all of them at 255), the others
            // anything but a tab.
            let b: Vec<u8> = raw
                .iter()
                .map(|x| if *x <= density { b'\t' } else if *x == b'\t' { 0x89 } else { *x })
                .collect();
            let b = b.get(cut.min(b.len())..).unwrap_or_default();
            proptest::prop_assert_eq!(count_tabs(b), b.iter().filter(|c| **c == b'\t').count());
        }
    }

    #[test]
    fn ok_count_tabs_all_tabs() {
        for len in [0, 1, 15, 16, 17, 4079, 4080, 4081, 4096, 8161, 20_000] {
            assert_eq!(count_tabs(&vec![b'\t'; len]), len);
        }
    }

    proptest::proptest! {
        /// Fields placed by the block scan equal those of a plain split, and a wrong field
        /// count is reported with the count a split finds.
        #[test]
        fn ok_fill_tsv_agrees_with_split(
            segments in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![b'a', b'\\', 0x89, 0x00, b'\r']),
                    0..150,
                ),
                1..14,
            ),
            skew in 0usize..6,
            picks in proptest::collection::vec(proptest::bool::ANY, 20),
        ) {
            let line = segments.join(&b'\t');
            // The right field count, one too many, or one to four too few.
            let columns = (segments.len() + skew).saturating_sub(1).max(1);
            let names = ["type", "query", "read_rows", "tables"];
            let s = schema();
            let header_names: Vec<&str> = (0..columns)
                .map(|i| if picks[i] { names[i % 4] } else { "other" })
                .collect();
            let h = Header::from_names(&s, header_names.iter().map(|n| Cow::Borrowed(n.as_bytes())));
            let mut row = Row::new();
            let got = fill_tsv(&line, &h, &mut row);
            let fields: Vec<&[u8]> = trim_eol(&line).split(|b| *b == b'\t').collect();
            if fields.len() == columns {
                proptest::prop_assert!(got.is_ok());
                for (pos, slot) in h.slots.iter().enumerate() {
                    // A name repeated in the header: the last of its columns wins.
                    let Some(slot) = slot else { continue };
                    if h.slots[pos + 1..].contains(&Some(*slot)) {
                        continue;
                    }
                    let Some(Raw::Tsv(b)) = row.get(usize::from(*slot)) else {
                        return Err(proptest::test_runner::TestCaseError::fail("slot not set"));
                    };
                    proptest::prop_assert_eq!(*b, fields[pos]);
                }
            } else {
                proptest::prop_assert_eq!(
                    got.unwrap_err(),
                    (
                        trim_eol(&line).len(),
                        ParseErrorKind::FieldCount { expected: columns, found: fields.len() }
                    )
                );
            }
        }
    }

    proptest::proptest! {
        /// Filled a plan at a time, with only some slots after the split point (as a
        /// QueryStart row is), a record gives what [`fill_tsv`] gives: the same error, and
        /// the same value in every slot it was asked for.
        #[test]
        fn ok_tsv_fill_in_plans_agrees_with_fill_tsv(
            segments in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![b'a', b'\\', 0x89, b'\r']),
                    0..90,
                ),
                1..14,
            ),
            skew in 0usize..6,
            picks in proptest::collection::vec(0usize..5, 20),
            split in 0usize..14,
            kept in proptest::collection::vec(proptest::bool::ANY, 4),
        ) {
            let line = segments.join(&b'\t');
            let columns = (segments.len() + skew).saturating_sub(1).max(1);
            let names = ["type", "query", "read_rows", "tables", "other"];
            let s = schema();
            let h = Header::from_names(
                &s,
                (0..columns).map(|i| Cow::Borrowed(names[picks[i]].as_bytes())),
            );
            let mut whole = Row::new();
            let want = fill_tsv(&line, &h, &mut whole);
            let (head, rest): (Vec<_>, Vec<_>) = h.wanted().iter().partition(|(pos, _)| *pos <= split);
            let rest: Vec<_> = rest.into_iter().filter(|(_, slot)| kept[usize::from(*slot)]).collect();
            let mut row = Row::new();
            let mut fill = TsvFill::new(&line, &h, &mut row);
            let got = fill.place(&head, &mut row).and_then(|()| fill.place(&rest, &mut row)).and_then(|()| fill.finish());
            proptest::prop_assert_eq!(&got, &want);
            if got.is_ok() {
                for slot in (0..4).filter(|slot| kept[*slot]) {
                    let field = |r: &Row<'_>| match r.get(slot) {
                        Some(Raw::Tsv(b)) => Some(b.to_vec()),
                        _ => None,
                    };
                    proptest::prop_assert_eq!(field(&row), field(&whole));
                }
            }
        }
    }

    #[test]
    fn ok_long_fields_and_block_edges() {
        for len in [0, 1, 63, 64, 65, 127, 128, 129, 700] {
            for tab_at in [0, 7, 8, 63, 64, 65, 200] {
                let mut line = vec![b'x'; len];
                if let Some(b) = line.get_mut(tab_at) {
                    *b = b'\t';
                }
                let found = all_tabs(&line);
                let expected: Vec<usize> = (tab_at < len).then_some(tab_at).into_iter().collect();
                assert_eq!(found, expected, "len {len} tab {tab_at}");
            }
        }
    }

    proptest::proptest! {
        /// A field's text through a span is its text read alone: escapes, NULL, invalid
        /// UTF-8 inside or outside the span, fields outside it.
        #[test]
        fn ok_text_span_agrees_with_text(
            fields in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![b'a', b'\\', b'N', b'n', 0xc3, 0xa9, 0xff]),
                    0..80,
                ),
                4..5,
            ),
            wanted in proptest::collection::vec(0usize..4, 0..4),
        ) {
            let s = schema();
            let h = Header::from_names(
                &s,
                ["type", "query", "read_rows", "tables"].map(|n| Cow::Borrowed(n.as_bytes())),
            );
            let line = fields.join(&b'\t');
            let mut row = Row::new();
            fill_tsv(&line, &h, &mut row).unwrap();
            if let Some(span) = row.text_span(&wanted) {
                for slot in 0..4 {
                    proptest::prop_assert_eq!(span.text(row.get(slot)), row.get(slot).unwrap().text());
                }
            }
        }
    }

    proptest::proptest! {
        /// An array field through a span gives what it gives read alone (escaped or not,
        /// NULL, malformed, invalid UTF-8), and the backslash test agrees with a byte loop.
        #[test]
        fn ok_span_list_agrees_with_list(
            fields in proptest::collection::vec(
                proptest::collection::vec(
                    // Invalid UTF-8 (which makes the span give up) kept rare.
                    proptest::prop_oneof![
                        30 => proptest::sample::select(b"[]',  aa''N\\".to_vec()),
                        1 => proptest::sample::select(vec![0xc3, 0xa9, 0xff]),
                    ],
                    0..40,
                ),
                4..5,
            ),
            open in proptest::collection::vec(proptest::bool::ANY, 4),
        ) {
            let s = schema();
            let h = Header::from_names(
                &s,
                ["type", "query", "read_rows", "tables"].map(|n| Cow::Borrowed(n.as_bytes())),
            );
            let fields: Vec<Vec<u8>> = fields
                .into_iter()
                .zip(&open)
                .map(|(f, open)| if *open { [b"[".as_slice(), &f].concat() } else { f })
                .collect();
            let line = fields.join(&b'\t');
            let mut row = Row::new();
            fill_tsv(&line, &h, &mut row).unwrap();
            let span = row.text_span(&[0, 1, 2, 3]);
            for slot in 0..4 {
                let list = span.as_ref().map_or_else(|| row.get(slot).unwrap().list(), |span| span.list(row.get(slot)));
                proptest::prop_assert_eq!(list, row.get(slot).unwrap().list());
            }
            for f in &fields {
                proptest::prop_assert_eq!(has_backslash(f), f.contains(&b'\\'));
            }
        }
    }

    proptest::proptest! {
        /// A TSV array read by `Raw::list` (which answers `[]` at once) is what the general
        /// reader gives: NULL, or `parse_text_array`'s elements as text.
        #[test]
        fn ok_tsv_list_agrees_with_parse_text_array(
            b in proptest::prop_oneof![
                1 => proptest::strategy::Just(b"[]".to_vec()),
                4 => proptest::collection::vec(proptest::sample::select(b"[]' ,aN\\".to_vec()), 0..6),
            ],
        ) {
            let want = (b != b"\\N").then(|| parse_text_array(&b).into_iter().map(lossy).collect::<Vec<_>>());
            proptest::prop_assert_eq!(Raw::Tsv(&b).list(), want);
        }
    }

    #[test]
    fn ok_csv_multiline_and_doubled_quotes() {
        let f = csv_fields(b"2,\"SELECT 'a\nb', \"\"q\"\"\",\\N\n").unwrap();
        assert_eq!(
            f,
            [
                (&b"2"[..], false),
                (&b"SELECT 'a\nb', \"\"q\"\""[..], true),
                (&b"\\N"[..], false)
            ]
        );
        assert_eq!(
            csv_fields(b"\"open").unwrap_err().1,
            ParseErrorKind::UnterminatedQuote
        );
    }

    #[test]
    fn ok_json_quoted_and_bare_ints() {
        let s = schema();
        let mut row = Row::new();
        let rec = br#"{"type":"QueryFinish","read_rows":"100000","x":{"a":[1,{"b":"}"}]},"query":"SELECT 1 \/ 2","tables":["db.t","system.tables"]}"#;
        fill_json(rec, &s, &mut row, |_| {}).unwrap();
        assert_eq!(row.get(2).unwrap().u64(), Some(100_000));
        assert_eq!(row.get(1).unwrap().text().unwrap(), "SELECT 1 / 2");
        assert_eq!(
            row.get(3).unwrap().list().unwrap(),
            ["db.t", "system.tables"]
        );
        let mut row = Row::new();
        fill_json(br#"{"read_rows":7}"#, &s, &mut row, |_| {}).unwrap();
        assert_eq!(row.get(2).unwrap().u64(), Some(7));
    }

    #[test]
    fn err_json_deep_nesting_is_bounded() {
        let s = schema();
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        let err = fill_json(deep.as_bytes(), &s, &mut Row::new(), |_| {}).unwrap_err();
        assert!(matches!(err.1, ParseErrorKind::BadJson { .. }));
        let err = fill_json(br#"{"type":1"#, &s, &mut Row::new(), |_| {}).unwrap_err();
        assert!(matches!(err.1, ParseErrorKind::BadJson { .. }));
    }

    /// A value over several lines is the record's stretch from its first line to its last:
    /// blank lines inside it stay, the blank lines that end the record do not.
    #[test]
    fn ok_vertical_blank_lines() {
        let s = schema();
        let rec = "Row 1:\n──────\nquery:     SELECT 1\n\n\r\nFROM t\n\ntype:      2\nother:     x\n  y\ntables:    ['a']\n\n\n";
        let mut row = Row::new();
        fill_vertical(rec.as_bytes(), &s, &mut row).unwrap();
        assert_eq!(
            row.get(1).unwrap().text().unwrap(),
            "SELECT 1\n\n\r\nFROM t\n"
        );
        assert_eq!(row.get(0).unwrap().u64(), Some(2));
        assert_eq!(row.get(3).unwrap().list().unwrap(), ["a"]);
        let mut row = Row::new();
        fill_vertical(b"Row 2:\ntype: 1\n\n", &s, &mut row).unwrap();
        assert_eq!(row.get(0).unwrap().u64(), Some(1));
        let mut row = Row::new();
        fill_vertical(b"Row 3:\nquery:\n\n", &s, &mut row).unwrap();
        assert_eq!(row.get(1).unwrap().text().unwrap(), "");
    }

    #[test]
    fn ok_vertical_multiline_value() {
        let s = schema();
        let rec = "Row 1:\n──────\ntype:      2\nquery:     SELECT 'a\nb: c', 1\nread_rows: 16135998 -- 16.14 million\n\n";
        let mut row = Row::new();
        fill_vertical(rec.as_bytes(), &s, &mut row).unwrap();
        assert_eq!(row.get(1).unwrap().text().unwrap(), "SELECT 'a\nb: c', 1");
        assert_eq!(row.get(2).unwrap().u64(), Some(16_135_998));
        assert_eq!(row.get(0).unwrap().u64(), Some(2));
    }
}
