//! Shared atoms of every format: unescaping, numbers, timestamps and addresses.
//!
//! Everything here works on bytes, because ClickHouse does not promise UTF-8 (18.x writes raw
//! 16-byte addresses into text exports) and because a scan must not stop at one bad byte.
//! Unescaping borrows when there is nothing to unescape, which is the common case.

use std::borrow::Cow;
use std::cell::Cell;
use std::net::{IpAddr, Ipv6Addr};

use memchr::memchr;
use nom::bytes::complete::{tag, take_while_m_n};
use nom::character::complete::one_of;
use nom::combinator::{map_opt, opt};
use nom::{IResult, Parser};
use wide::u8x16;

use crate::net::normalize;
use crate::time::{parse_offset, CivilTime, Timestamp, MICROS_PER_SEC};

/// Decodes TabSeparated escapes: `\t \n \r \0 \b \f \a \v \\ \' \xHH`, and `\c` → `c`.
/// The plain stretches between escapes are copied in one piece (a query quoting its strings
/// has an escape every few words; a byte at a time cost ~8 instructions a byte).
pub(crate) fn unescape_tsv(raw: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr(b'\\', raw) else {
        return Cow::Borrowed(raw);
    };
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(raw.get(..first).unwrap_or_default());
    // `raw[i]` is a backslash.
    let mut i = first;
    loop {
        let Some(&e) = raw.get(i + 1) else {
            out.push(b'\\');
            break;
        };
        i += 2;
        out.push(tsv_escape(e, raw, &mut i));
        let rest = raw.get(i..).unwrap_or_default();
        match find(b'\\', rest) {
            Some(k) => {
                out.extend_from_slice(rest.get(..k).unwrap_or_default());
                i += k;
            }
            None => {
                out.extend_from_slice(rest);
                break;
            }
        }
    }
    Cow::Owned(out)
}

/// The byte a TSV escape stands for: `e` follows the backslash and `*i` is just past `e`;
/// `\xHH` moves `*i` past its two hex digits (without them, `\x` is `x`).
#[inline]
fn tsv_escape(e: u8, raw: &[u8], i: &mut usize) -> u8 {
    match e {
        b't' => b'\t',
        b'n' => b'\n',
        b'r' => b'\r',
        b'0' => 0,
        b'b' => 8,
        b'f' => 12,
        b'a' => 7,
        b'v' => 11,
        b'x' => match raw.get(*i..*i + 2).and_then(hex2) {
            Some(v) => {
                *i += 2;
                v
            }
            None => b'x',
        },
        other => other,
    }
}

fn hex2(h: &[u8]) -> Option<u8> {
    fn d(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    match h {
        [a, b, ..] => Some(d(*a)? << 4 | d(*b)?),
        _ => None,
    }
}

/// Undoes CSV quote doubling (`""` → `"`) inside an already-unquoted field.
pub(crate) fn unescape_csv(inner: &[u8]) -> Cow<'_, [u8]> {
    if memchr(b'"', inner).is_none() {
        return Cow::Borrowed(inner);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while let Some(&b) = inner.get(i) {
        out.push(b);
        i += if b == b'"' && inner.get(i + 1) == Some(&b'"') {
            2
        } else {
            1
        };
    }
    Cow::Owned(out)
}

/// Decodes the body of a JSON string (without its quotes). Invalid UTF-8 passes through as
/// raw bytes (ClickHouse writes it that way); a malformed escape is kept literally.
pub(crate) fn unescape_json(raw: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr(b'\\', raw) else {
        return Cow::Borrowed(raw);
    };
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(raw.get(..first).unwrap_or_default());
    let mut i = first;
    while let Some(&b) = raw.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let Some(&e) = raw.get(i + 1) else {
            out.push(b'\\');
            break;
        };
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'u' => {
                let Some(hi) = raw.get(i..i + 4).and_then(hex4) else {
                    out.extend_from_slice(b"\\u");
                    continue;
                };
                i += 4;
                let mut code = u32::from(hi);
                if (0xD800..0xDC00).contains(&hi)
                    && raw.get(i) == Some(&b'\\')
                    && raw.get(i + 1) == Some(&b'u')
                {
                    if let Some(lo) = raw.get(i + 2..i + 6).and_then(hex4) {
                        if (0xDC00..0xE000).contains(&lo) {
                            code = 0x10000
                                + ((u32::from(hi) - 0xD800) << 10)
                                + (u32::from(lo) - 0xDC00);
                            i += 6;
                        }
                    }
                }
                let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

fn hex4(h: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(h).ok()?;
    u16::from_str_radix(s, 16).ok()
}

/// Bytes as text, replacing invalid UTF-8 with U+FFFD; borrows when the bytes are valid.
pub(crate) fn lossy(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    match bytes {
        // `from_utf8` validates much faster than the lossy decoder walks; most text is valid.
        Cow::Borrowed(b) => match std::str::from_utf8(b) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(b),
        },
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// Parses an unsigned decimal integer, allowing surrounding blanks; `None` on anything else
/// (including overflow: a silently wrapped byte count would be worse than none).
#[inline]
pub(crate) fn parse_u64(b: &[u8]) -> Option<u64> {
    // The shape query_log writes: 1 to 19 digits and nothing else. Nothing to trim, and 19
    // digits cannot overflow, so no checked arithmetic: a third of the general path's
    // instructions on the counters of every row.
    if (1..=19).contains(&b.len()) {
        let mut n = 0u64;
        let mut plain = true;
        for c in b {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                plain = false;
                break;
            }
            n = n * 10 + u64::from(d);
        }
        if plain {
            return Some(n);
        }
    }
    parse_u64_general(b)
}

/// [`parse_u64`] for any input: blanks trimmed, overflow checked.
fn parse_u64_general(b: &[u8]) -> Option<u64> {
    let b = b.trim_ascii();
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    b.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        } else {
            None
        }
    })
}

/// Parses a signed decimal integer.
pub(crate) fn parse_i64(b: &[u8]) -> Option<i64> {
    let b = b.trim_ascii();
    match b.split_first() {
        Some((b'-', rest)) => parse_u64(rest)
            .and_then(|v| i64::try_from(v).ok())
            .map(|v| -v),
        _ => parse_u64(b).and_then(|v| i64::try_from(v).ok()),
    }
}

/// A time as a log wrote it: either civil (no zone, the server's local time) or absolute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogTime {
    /// Local wall-clock time; convert with the configured zone.
    Civil(CivilTime),
    /// Already an instant (ISO-8601 with offset, or Unix seconds).
    Utc(Timestamp),
}

fn num<'a>(n: usize) -> impl Parser<&'a [u8], Output = u32, Error = nom::error::Error<&'a [u8]>> {
    map_opt(
        take_while_m_n(n, n, |c: u8| c.is_ascii_digit()),
        |d: &[u8]| {
            d.iter().try_fold(0u32, |a, c| {
                a.checked_mul(10)?.checked_add(u32::from(c - b'0'))
            })
        },
    )
}

fn fraction(i: &[u8]) -> IResult<&[u8], u32> {
    let (i, digits) = take_while_m_n(1, 9, |c: u8| c.is_ascii_digit())(i)?;
    let mut micros = 0u32;
    for k in 0..6 {
        micros = micros * 10 + digits.get(k).map_or(0, |c| u32::from(c - b'0'));
    }
    Ok((i, micros))
}

/// `YYYY?MM?DD?hh:mm:ss[.ffffff]` where `?` are the given separators.
fn civil<'a>(
    date_sep: u8,
    mid: &'static [u8],
) -> impl Fn(&'a [u8]) -> IResult<&'a [u8], CivilTime> {
    move |i: &'a [u8]| {
        let sep = [date_sep];
        let (i, (y, _, mo, _, d, _, h, _, mi, _, s, frac)) = (
            num(4),
            tag(&sep[..]),
            num(2),
            tag(&sep[..]),
            num(2),
            one_of(mid),
            num(2),
            tag(&b":"[..]),
            num(2),
            tag(&b":"[..]),
            num(2),
            opt((tag(&b"."[..]), fraction)),
        )
            .parse(i)?;
        let micros = frac.map_or(0, |(_, f)| f);
        match CivilTime::from_parts(i64::from(y), mo, d, h, mi, s, micros) {
            Some(t) => Ok((i, t)),
            None => Err(nom::Err::Error(nom::error::Error::new(
                i,
                nom::error::ErrorKind::Verify,
            ))),
        }
    }
}

/// Parses a ClickHouse DateTime/DateTime64 value: `2025-01-29 10:11:12[.123456]`, an ISO
/// form with `T` and optional `Z`/offset (`date_time_output_format=iso`), or Unix seconds
/// (`unix_timestamp`). Trailing input is an error.
pub(crate) fn parse_datetime(b: &[u8]) -> Option<LogTime> {
    if let Some(t) = fast_datetime(b) {
        return Some(LogTime::Civil(t));
    }
    let b = b.trim_ascii();
    if !b.is_empty() && b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        let (whole, frac) = match memchr(b'.', b) {
            Some(dot) => (b.get(..dot)?, fraction(b.get(dot + 1..)?).ok()?.1),
            None => (b, 0),
        };
        let secs = i64::try_from(parse_u64(whole)?).ok()?;
        return Some(LogTime::Utc(Timestamp(
            secs.checked_mul(MICROS_PER_SEC)? + i64::from(frac),
        )));
    }
    let (rest, t) = civil(b'-', b" T")(b).ok()?;
    if rest.is_empty() {
        return Some(LogTime::Civil(t));
    }
    if rest == b"Z" {
        return Some(LogTime::Utc(Timestamp(t.0)));
    }
    let off = parse_offset(std::str::from_utf8(rest).ok()?)?;
    Some(LogTime::Utc(Timestamp(t.0 - off * MICROS_PER_SEC)))
}

/// The exact shapes ClickHouse writes by default, `YYYY-MM-DD hh:mm:ss` and
/// `YYYY-MM-DD hh:mm:ss.ffffff`, read without the general parser; `None` for anything else.
fn fast_datetime(b: &[u8]) -> Option<CivilTime> {
    let micros = match b.len() {
        19 => 0,
        26 if b.get(19) == Some(&b'.') => digits(b.get(20..26)?)?,
        _ => return None,
    };
    let d: &[u8; 19] = b.get(..19)?.try_into().ok()?;
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b' ', h0, h1, b':', i0, i1, b':', s0, s1] = *d
    else {
        return None;
    };
    CivilTime::from_parts(
        i64::from(digits(&[y0, y1, y2, y3])?),
        digits(&[m0, m1])?,
        digits(&[d0, d1])?,
        digits(&[h0, h1])?,
        digits(&[i0, i1])?,
        digits(&[s0, s1])?,
        micros,
    )
}

/// A short run of ASCII digits as a number; `None` if any byte is not a digit.
#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u32::from(d);
    }
    Some(n)
}

/// [`fast_datetime`] with the date part remembered: the date-times of a query_log row (and
/// most rows of a log) share their date, so its digits and calendar arithmetic are worked
/// out once per day, and a value costs its time of day only. One entry: the last valid date
/// seen, with its midnight.
#[derive(Debug, Default)]
pub(crate) struct DateMemo(Cell<([u8; 10], i64)>);

impl DateMemo {
    /// What [`fast_datetime`] gives for `b`: the two fixed shapes only, `None` otherwise.
    pub(crate) fn civil(&self, b: &[u8]) -> Option<CivilTime> {
        self.civil_sep(b, b'-')
    }

    /// The time at the start of a server text-log line (`YYYY.MM.DD hh:mm:ss.ffffff `,
    /// the shape every version writes) and the rest of the line; `None` for any other shape,
    /// which [`text_log_time`] then reads.
    pub(crate) fn text_log_time<'a>(&self, line: &'a [u8]) -> Option<(&'a [u8], CivilTime)> {
        match line.get(26) {
            Some(b' ') => Some((line.get(26..)?, self.civil_sep(line.get(..26)?, b'.')?)),
            _ => None,
        }
    }

    /// [`DateMemo::civil`] with `sep` between the date's parts.
    fn civil_sep(&self, b: &[u8], sep: u8) -> Option<CivilTime> {
        // The clock and the fraction are read a word at a time: bytes 11..19 (`hh:mm:ss`)
        // and 18..26 (`s.ffffff`), each checked for its shape and combined by multiplies.
        let micros = match b.len() {
            19 => 0,
            26 => {
                let w = le_word(b.get(18..26)?);
                // `.` then six digits; byte 0 is the clock's last digit, checked below.
                if !word_shape(w, 0xffff_ffff_ffff_0000, 0xff00, 0x2e00) {
                    return None;
                }
                eight_digits(w & 0x0f0f_0f0f_0f0f_0000)
            }
            _ => return None,
        };
        let date: [u8; 10] = b.get(..10)?.try_into().ok()?;
        let clock = le_word(b.get(11..19)?);
        if b.get(10) != Some(&b' ')
            || !word_shape(
                clock,
                0xffff_00ff_ff00_ffff,
                0x0000_ff00_00ff_0000,
                0x0000_3a00_003a_0000,
            )
        {
            return None;
        }
        // Each byte k becomes 10 × digit k + digit k+1 (at most 99: no carries), so bytes 0,
        // 3 and 6 hold the hour, the minute and the second.
        let d = clock & 0x0f0f_000f_0f00_0f0f;
        let pairs = d * 10 + (d >> 8);
        let (hour, min, sec) = (pairs & 0xff, (pairs >> 24) & 0xff, (pairs >> 48) & 0xff);
        // As `CivilTime::from_parts` checks them (a leap second :60 folds to :59).
        if hour > 23 || min > 59 || sec > 60 {
            return None;
        }
        let (known, midnight) = self.0.get();
        let midnight = if known == date {
            midnight
        } else {
            let [y0, y1, y2, y3, s0, m0, m1, s1, d0, d1] = date;
            if s0 != sep || s1 != sep {
                return None;
            }
            let day = CivilTime::from_parts(
                i64::from(digits(&[y0, y1, y2, y3])?),
                digits(&[m0, m1])?,
                digits(&[d0, d1])?,
                0,
                0,
                0,
                0,
            )?;
            self.0.set((date, day.0));
            day.0
        };
        // All three are below 256, so the conversions are exact.
        let secs = hour as i64 * 3600 + min as i64 * 60 + sec.min(59) as i64;
        Some(CivilTime(midnight + secs * MICROS_PER_SEC + micros as i64))
    }
}

/// Eight bytes as a little-endian word (`b` is eight long; anything else reads as zero).
#[inline]
fn le_word(b: &[u8]) -> u64 {
    u64::from_le_bytes(<[u8; 8]>::try_from(b).unwrap_or_default())
}

/// Whether the bytes of `w` under the byte mask `digits` are ASCII digits and those under
/// `seps` are as in `want`: the high nibbles and the separators in one compare, then the low
/// nibbles (a digit's plus 6 stays below 16; no carries cross bytes).
#[inline]
fn word_shape(w: u64, digits: u64, seps: u64, want: u64) -> bool {
    const HIGH: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    const LOW: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    let high = digits & HIGH;
    w & (high | seps) == (0x3030_3030_3030_3030 & digits) | want
        && ((w & LOW) + 0x0606_0606_0606_0606) & high == 0
}

/// The eight-digit number whose digit values (0-9) are the bytes of `d`, the first digit in
/// the lowest byte: pairs, then quads, then the whole, by multiplies.
#[inline]
fn eight_digits(d: u64) -> u64 {
    const MASK: u64 = 0x0000_00ff_0000_00ff;
    let pairs = d * 10 + (d >> 8);
    let high = (pairs & MASK).wrapping_mul(100 + (1_000_000 << 32));
    let low = ((pairs >> 16) & MASK).wrapping_mul(1 + (10_000 << 32));
    high.wrapping_add(low) >> 32
}

/// Parses the prefix `YYYY.MM.DD hh:mm:ss.ffffff` of a server text-log line.
pub(crate) fn text_log_time(i: &[u8]) -> IResult<&[u8], CivilTime> {
    civil(b'.', b" ")(i)
}

/// Reads a client address: IPv4 or IPv6 text, or the 16 raw bytes of an 18.x
/// `FixedString(16)`. IPv4-mapped addresses come back as IPv4. Empty, `\N` or `::`-only
/// placeholder values are `None`.
pub(crate) fn parse_address(b: &[u8]) -> Option<IpAddr> {
    if b.len() == 16
        && !b
            .iter()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, b':' | b'.'))
    {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(b);
        return Some(normalize(IpAddr::V6(Ipv6Addr::from(octets))));
    }
    // The common shape by far: an IPv4-mapped address as query_log writes it.
    if let Some(v4) = b.strip_prefix(b"::ffff:") {
        if let Some(ip) = plain_ipv4(v4) {
            return Some(IpAddr::V4(ip));
        }
        if let Some(ip) = std::str::from_utf8(v4)
            .ok()
            .and_then(|s| s.parse::<std::net::Ipv4Addr>().ok())
        {
            return Some(IpAddr::V4(ip));
        }
    }
    let s = std::str::from_utf8(b.trim_ascii()).ok()?;
    if s.is_empty() {
        return None;
    }
    // Brackets and ports appear in text logs (`[::ffff:1.2.3.4]:5678`); tolerate them here too.
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .map_or(s, |(a, _)| a);
    s.parse::<IpAddr>().ok().map(normalize)
}

/// `a.b.c.d` in its canonical form only (each part 0-255 without leading zeros), read
/// without the general parser; anything else is `None` and goes to `Ipv4Addr::from_str`.
pub(crate) fn plain_ipv4(b: &[u8]) -> Option<std::net::Ipv4Addr> {
    // Part by part, each read at fixed offsets (at most three digits, then a dot or the end):
    // a fifth fewer instructions than a loop over the bytes that keeps a part's state.
    let (a, i) = ipv4_part(b, 0)?;
    let (c, i) = ipv4_part(b, i + 1).filter(|_| b.get(i) == Some(&b'.'))?;
    let (d, i) = ipv4_part(b, i + 1).filter(|_| b.get(i) == Some(&b'.'))?;
    let (e, i) = ipv4_part(b, i + 1).filter(|_| b.get(i) == Some(&b'.'))?;
    (i == b.len()).then(|| std::net::Ipv4Addr::new(a, c, d, e))
}

/// The part of a dotted address at `b[i..]` and where it ends: one to three digits, no
/// leading zero, at most 255, not followed by a digit.
fn ipv4_part(b: &[u8], i: usize) -> Option<(u8, usize)> {
    let digit = |k: usize| {
        b.get(i + k)
            .map(|c| c.wrapping_sub(b'0'))
            .filter(|d| *d <= 9)
    };
    let d0 = digit(0)?;
    let Some(d1) = digit(1) else {
        return Some((d0, i + 1));
    };
    if d0 == 0 {
        return None;
    }
    let Some(d2) = digit(2) else {
        return Some((d0 * 10 + d1, i + 2));
    };
    if digit(3).is_some() {
        return None;
    }
    let v = u16::from(d0) * 100 + u16::from(d1) * 10 + u16::from(d2);
    Some((u8::try_from(v).ok()?, i + 3))
}

/// Addresses read lately, by their text: a proxy logs a few hundred clients again and again,
/// and a repeat costs a hash of two words and a compare where [`plain_ipv4`] costs a hundred
/// instructions or so. Direct-mapped ([`Ipv4Memo::SLOTS`]); a slot holds the last address
/// that hashed to it. Only texts of 8 to 16 bytes are kept, so the first and last eight bytes
/// and the length say every byte; shorter ones are read each time.
#[derive(Debug, Default)]
pub(crate) struct Ipv4Memo {
    /// The first and last eight bytes of the text, its length, and what it reads as.
    slots: Vec<(u64, u64, usize, std::net::Ipv4Addr)>,
}

impl Ipv4Memo {
    /// Slots (a power of two).
    const SLOTS: usize = 512;

    /// [`plain_ipv4`] of `b`, remembered.
    pub(crate) fn read(&mut self, b: &[u8]) -> Option<std::net::Ipv4Addr> {
        let (Some(head), Some(tail)) = (b.first_chunk::<8>(), b.last_chunk::<8>()) else {
            return plain_ipv4(b);
        };
        if b.len() > 16 {
            return plain_ipv4(b);
        }
        let (head, tail) = (u64::from_le_bytes(*head), u64::from_le_bytes(*tail));
        if self.slots.is_empty() {
            self.slots
                .resize(Self::SLOTS, (0, 0, 0, std::net::Ipv4Addr::UNSPECIFIED));
        }
        let mixed =
            (head ^ tail.rotate_left(23) ^ b.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let at = (mixed >> 55) as usize & (Self::SLOTS - 1);
        let slot = self.slots.get_mut(at)?;
        if slot.0 == head && slot.1 == tail && slot.2 == b.len() {
            return Some(slot.3);
        }
        let ip = plain_ipv4(b)?;
        *slot = (head, tail, b.len(), ip);
        Some(ip)
    }
}

/// Splits the quoted-text form of a ClickHouse array (`['a','b\'c']`, `[1,2]`, `[]`) into its
/// elements, decoding the escapes inside quoted elements. Malformed input yields the elements
/// read so far.
pub(crate) fn parse_text_array(b: &[u8]) -> Vec<Cow<'_, [u8]>> {
    let mut out = Vec::new();
    let Some(inner) = b.trim_ascii().strip_prefix(b"[") else {
        return out;
    };
    let mut i = 0;
    loop {
        while inner.get(i).is_some_and(|c| *c == b' ' || *c == b',') {
            i += 1;
        }
        match inner.get(i) {
            None | Some(b']') => return out,
            Some(b'\'') => {
                let start = i + 1;
                let mut j = start;
                loop {
                    match inner.get(j) {
                        None => return out,
                        Some(b'\\') => j += 2,
                        Some(b'\'') => break,
                        Some(_) => j += 1,
                    }
                }
                if let Some(el) = inner.get(start..j) {
                    out.push(unescape_tsv(el));
                }
                i = j + 1;
            }
            Some(_) => {
                let start = i;
                while inner.get(i).is_some_and(|c| *c != b',' && *c != b']') {
                    i += 1;
                }
                if let Some(el) = inner.get(start..i) {
                    out.push(Cow::Borrowed(el.trim_ascii()));
                }
            }
        }
    }
}

/// Decodes URL percent-encoding (`%XX`); with `plus_as_space`, `+` is a space as in a query
/// string. A malformed escape is kept literally. Borrows when there is nothing to decode.
pub(crate) fn percent_decode(raw: &[u8], plus_as_space: bool) -> Cow<'_, [u8]> {
    if !needs_decoding(raw, plus_as_space) {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::new();
    let len = percent_decode_into(raw, plus_as_space, &mut out).len();
    out.truncate(len);
    Cow::Owned(out)
}

/// Whether [`percent_decode`] has anything to decode in `raw`.
pub(crate) fn needs_decoding(raw: &[u8], plus_as_space: bool) -> bool {
    let plus = if plus_as_space { b'+' } else { b'%' };
    find2(b'%', plus, raw).is_some()
}

/// The first `a` or `b` in `hay`, as `memchr2` finds it, 16 bytes per SIMD compare.
///
/// A `memchr2` call spends some fifty instructions before its first compare and ~100 on a
/// request target, while what the access-log reader looks for is mostly near (`=` after a
/// parameter name, `?` after `/`, the first `%` of a query, the quote closing a referer) or
/// within a hundred bytes or so (the end of a target). The bytes after the last whole block
/// are looked at as part of the block ending at the end of `hay`, whose bytes already looked
/// at are masked off.
pub(crate) fn find2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    let (va, vb) = (u8x16::splat(a), u8x16::splat(b));
    let hits = |block: &[u8]| {
        let v = u8x16::new(block.try_into().unwrap_or_default());
        (v.simd_eq(va) | v.simd_eq(vb)).to_bitmask()
    };
    let Some(last) = hay.len().checked_sub(BLOCK) else {
        return hay.iter().position(|&c| c == a || c == b);
    };
    let mut base = 0;
    while let Some(block) = hay.get(base..base + BLOCK) {
        let found = hits(block);
        if found != 0 {
            return Some(base + found.trailing_zeros() as usize);
        }
        base += BLOCK;
    }
    // `base - last` (1 to 15) bytes of the last block were in the one before it.
    let found = hits(hay.get(last..)?) >> (base - last);
    (found != 0).then(|| base + found.trailing_zeros() as usize)
}

/// [`find2`] for one byte.
pub(crate) fn find(a: u8, hay: &[u8]) -> Option<usize> {
    find2(a, a, hay)
}

/// [`percent_decode`] into `buf`, always copying: returns the decoded bytes, which start
/// `buf`. What else `buf` holds is scratch, kept so that the next call need not clear it.
///
/// A 16-byte block at a time: `+` become spaces inside the vector, the whole block is stored,
/// and only a `%` stops the run, which then moves on by the bytes before it plus the escape.
/// So plain stretches cost one load and store per block and an escape about forty
/// instructions, against five to seven per byte for a byte loop (a `%20`-encoded query has
/// an escape every eight bytes or so). `buf` is made 16 bytes
/// longer than the input so that every block store fits.
pub(crate) fn percent_decode_into<'b>(
    raw: &[u8],
    plus_as_space: bool,
    buf: &'b mut Vec<u8>,
) -> &'b [u8] {
    if buf.len() < raw.len() + BLOCK {
        buf.resize(raw.len() + BLOCK, 0);
    }
    let (r, w) = decode_blocks(raw, raw.len(), plus_as_space, buf, 0);
    // Fewer than 16 bytes are left: they are decoded the same way from a copy padded with
    // zeros, which are neither escapes nor hex digits. One copy costs less than a byte loop.
    let rest = raw.get(r..).unwrap_or_default();
    let mut padded = [0u8; 2 * BLOCK];
    if let Some(head) = padded.get_mut(..rest.len()) {
        head.copy_from_slice(rest);
    }
    let (_, w) = decode_blocks(&padded, rest.len(), plus_as_space, buf, w);
    buf.get(..w).unwrap_or_default()
}

/// Decodes `src[..end]` into `out` from `w` on, for as long as a whole block of `src` can be
/// read; returns how far it read and wrote.
#[inline]
fn decode_blocks(
    src: &[u8],
    end: usize,
    plus_as_space: bool,
    out: &mut [u8],
    mut w: usize,
) -> (usize, usize) {
    let percent = u8x16::splat(b'%');
    let plus = u8x16::splat(b'+');
    // `+` ^ 0x0b is a space; xor with 0 keeps it.
    let flip = u8x16::splat(if plus_as_space { b'+' ^ b' ' } else { 0 });
    let mut r = 0;
    while r < end {
        let Some(block) = src.get(r..r + BLOCK) else {
            break;
        };
        let v = u8x16::new(block.try_into().unwrap_or_default());
        let v = v ^ (v.simd_eq(plus) & flip);
        if let Some(dst) = out.get_mut(w..w + BLOCK) {
            dst.copy_from_slice(&v.to_array());
        }
        let escapes = v.simd_eq(percent).to_bitmask();
        if escapes == 0 {
            let step = BLOCK.min(end - r);
            r += step;
            w += step;
            continue;
        }
        let before = escapes.trailing_zeros() as usize;
        r += before;
        w += before;
        let (byte, len) = escape_at(src, r);
        if let Some(slot) = out.get_mut(w) {
            *slot = byte;
        }
        r += len;
        w += 1;
    }
    (r, w)
}

/// Bytes per SIMD block.
const BLOCK: usize = 16;

/// The byte a `%` at `at` stands for and how many input bytes it takes: the escape's value
/// and 3, or the `%` itself and 1 when two hex digits do not follow.
#[inline]
fn escape_at(raw: &[u8], at: usize) -> (u8, usize) {
    let digit = |table: &[u16; 256], c: u8| table.get(usize::from(c)).map_or(INVALID, |&v| v);
    let (hi, lo) = match raw.get(at + 1..at + 3) {
        Some(&[h, l]) => (digit(&HEX_HIGH, h), digit(&HEX_LOW, l)),
        _ => (INVALID, INVALID),
    };
    match u8::try_from(hi | lo) {
        Ok(byte) => (byte, 3),
        Err(_) => (b'%', 1),
    }
}

/// Hex digit values by byte, shifted left by `shift`; [`INVALID`] for the bytes that are no
/// hex digit. Two tables, so that an escape's byte is one `or` of two lookups.
#[allow(clippy::indexing_slicing)] // const evaluation: an index out of range fails the build
const fn hex_table(shift: u32) -> [u16; 256] {
    let mut t = [INVALID; 256];
    let mut c = 0;
    while c < 16 {
        let digit = if c < 10 { b'0' + c } else { b'a' + c - 10 };
        t[digit as usize] = (c as u16) << shift;
        t[digit.to_ascii_uppercase() as usize] = (c as u16) << shift;
        c += 1;
    }
    t
}

/// [`hex_table`] for the first digit of an escape.
const HEX_HIGH: [u16; 256] = hex_table(4);
/// [`hex_table`] for the second digit of an escape.
const HEX_LOW: [u16; 256] = hex_table(0);

/// A [`hex_table`] entry for a byte that is no hex digit: out of a byte's range, and so out
/// of it after an `or` with any other entry.
const INVALID: u16 = 0x100;

/// What an HTTP event takes from a request target's query string, found in one pass over it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TargetParams<'t> {
    /// Where the path ends: the first `?` or `#`, else the end.
    pub path_end: usize,
    /// The raw (still encoded) value of the first `user` parameter.
    pub user: Option<&'t [u8]>,
    /// Whether the first `password` parameter has a value.
    pub password: Option<bool>,
    /// The raw value of the first `query` parameter.
    pub query: Option<&'t [u8]>,
    /// Whether [`mask_url_secrets`] has a value to mask.
    pub secrets: bool,
}

/// The [`TargetParams`] of a request target. Parameters are the `&`-separated `name=value`
/// pieces after the first `?`; a `#` ends them, except for [`mask_url_secrets`], which reads
/// on to the end of the target. Names are compared without regard to ASCII case.
pub(crate) fn target_params(target: &[u8]) -> TargetParams<'_> {
    let mut params = TargetParams {
        path_end: find2(b'?', b'#', target).unwrap_or(target.len()),
        ..TargetParams::default()
    };
    let qs = match target.get(params.path_end) {
        Some(b'?') => target.get(params.path_end + 1..),
        // A `#` first: the query string still starts at the first `?`, if any.
        _ => find(b'?', target).and_then(|q| target.get(q + 1..)),
    };
    let Some(qs) = qs else {
        return params;
    };
    // Where the first `#` is, once a piece holding it was reached: until then, the pieces end
    // before it, and `qs.len()` serves as well (one scan finds both `&` and `#`).
    let mut fragment = None;
    let mut start = 0;
    while start <= qs.len() {
        let rest = qs.get(start..).unwrap_or_default();
        let end = match fragment {
            Some(_) => find(b'&', rest),
            None => match find2(b'&', b'#', rest) {
                Some(h) if rest.get(h) == Some(&b'#') => {
                    fragment = Some(start + h);
                    find(b'&', rest.get(h..).unwrap_or_default()).map(|e| h + e)
                }
                amp => amp,
            },
        }
        .map_or(qs.len(), |e| start + e);
        let fragment = fragment.unwrap_or(qs.len());
        let piece = qs.get(start..end).unwrap_or_default();
        let eq = find(b'=', piece);
        let name = eq.and_then(|e| piece.get(..e)).unwrap_or(piece);
        if eq.is_some_and(|e| e + 1 < piece.len()) && is_secret_name(name) {
            params.secrets = true;
        }
        if start < fragment {
            // The piece as far as the fragment; its name too, unless the `#` is inside it.
            let piece = piece.get(..end.min(fragment) - start).unwrap_or_default();
            let (name, value) = match eq.filter(|&e| e < piece.len()) {
                Some(e) => (name, piece.get(e + 1..).unwrap_or_default()),
                None => (piece, &b""[..]),
            };
            if name.eq_ignore_ascii_case(b"user") {
                params.user.get_or_insert(value);
            } else if name.eq_ignore_ascii_case(b"password") {
                params.password.get_or_insert(!value.is_empty());
            } else if name.eq_ignore_ascii_case(b"query") {
                params.query.get_or_insert(value);
            }
        }
        start = end + 1;
    }
    params
}

/// Parameter names whose values [`mask_url_secrets`] replaces.
const SECRET_NAMES: [&str; 4] = ["password", "pwd", "passwd", "token"];

fn is_secret_name(name: &[u8]) -> bool {
    SECRET_NAMES
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s.as_bytes()))
}

/// A request target with the value of every password-like parameter replaced by
/// `[REDACTED]`: such values must never be stored, whatever the redaction setting.
pub(crate) fn mask_url_secrets(target: &str) -> Cow<'_, str> {
    // Most targets carry no password: answer them without building anything.
    if !target_params(target.as_bytes()).secrets {
        return Cow::Borrowed(target);
    }
    let Some((head, qs)) = target.split_once('?') else {
        return Cow::Borrowed(target);
    };
    let parts: Vec<Cow<'_, str>> = qs
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !v.is_empty() && is_secret_name(k.as_bytes()) => {
                Cow::Owned(format!("{k}={}", crate::redact::MASK))
            }
            _ => Cow::Borrowed(p),
        })
        .collect();
    Cow::Owned(format!("{head}?{}", parts.join("&")))
}

/// Splits `addr:port`, `[v6]:port` or a bare address and parses the address.
pub(crate) fn parse_socket_address(s: &[u8]) -> Option<IpAddr> {
    let s = s.trim_ascii();
    if s.first() == Some(&b'[') {
        // The common shape by far: `[::ffff:a.b.c.d]:port` (16 bytes would be raw octets).
        if let Some(ip) = s
            .strip_prefix(b"[::ffff:")
            .filter(|_| s.len() != 16)
            .and_then(|r| r.get(..memchr(b']', r)?))
            .and_then(plain_ipv4)
        {
            return Some(IpAddr::V4(ip));
        }
        return parse_address(s);
    }
    // One colon: IPv4 with a port. More: a bare IPv6 address.
    let colons = s.iter().filter(|c| **c == b':').count();
    if colons == 1 {
        let c = memchr(b':', s)?;
        return parse_address(s.get(..c)?);
    }
    parse_address(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time walk `unescape_tsv` replaced, kept as its oracle for the plain
    /// stretches (both read an escape with `tsv_escape`).
    fn unescape_tsv_bytewise(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(&b) = raw.get(i) {
            if b != b'\\' {
                out.push(b);
                i += 1;
                continue;
            }
            let Some(&e) = raw.get(i + 1) else {
                out.push(b'\\');
                break;
            };
            i += 2;
            out.push(tsv_escape(e, raw, &mut i));
        }
        out
    }

    proptest::proptest! {
        /// `unescape_tsv` (plain stretches copied whole) decodes as a byte loop does: escapes
        /// at block and word edges, a backslash last, `\x` with and without its two digits,
        /// long plain stretches; and borrows exactly when there is no backslash.
        #[test]
        fn ok_unescape_tsv_agrees_with_a_byte_loop(
            raw in proptest::collection::vec(
                proptest::prop_oneof![
                    12 => proptest::sample::select(b"ab'x0 ".to_vec()),
                    3 => proptest::strategy::Just(b'\\'),
                    1 => proptest::sample::select(b"tnrfvAF9\xc3\xff".to_vec()),
                ],
                0..80,
            ),
        ) {
            let got = unescape_tsv(&raw);
            let want = unescape_tsv_bytewise(&raw);
            proptest::prop_assert_eq!(&*got, want.as_slice());
            proptest::prop_assert_eq!(matches!(got, Cow::Borrowed(_)), !raw.contains(&b'\\'));
        }
    }

    #[test]
    fn ok_unescape_tsv() {
        assert_eq!(&*unescape_tsv(br"plain"), b"plain");
        assert!(matches!(unescape_tsv(b"plain"), Cow::Borrowed(_)));
        assert_eq!(&*unescape_tsv(br"a\tb\nc\\d\'e\0"), b"a\tb\nc\\d'e\0");
        assert_eq!(&*unescape_tsv(br"\x41\q\"), b"Aq\\");
    }

    #[test]
    fn ok_unescape_json() {
        assert_eq!(&*unescape_json(br"curl\/7.88.1"), b"curl/7.88.1");
        assert_eq!(
            &*unescape_json(br#"\"q\" \u0000\u00e9 \ud83d\ude00"#),
            "\"q\" \0é 😀".as_bytes()
        );
        assert_eq!(&*unescape_json(br"\u12"), b"\\u12");
    }

    #[test]
    fn ok_numbers() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_i64(b"-60"), Some(-60));
    }

    #[test]
    fn ok_datetimes() {
        let t = |s: &str| match parse_datetime(s.as_bytes()) {
            Some(LogTime::Civil(c)) => crate::time::Zone::utc().to_utc(c).to_string(),
            Some(LogTime::Utc(t)) => format!("utc {t}"),
            None => "none".into(),
        };
        assert_eq!(t("2026-11-25 19:32:28"), "2026-11-25T19:32:28Z");
        assert_eq!(
            t("2021-11-03 16:13:54.953024"),
            "2021-11-03T16:13:54.953024Z"
        );
        assert_eq!(t("2026-11-25T19:33:29+01:00"), "utc 2026-11-25T18:33:29Z");
        assert_eq!(t("1700000000"), "utc 2023-11-14T22:13:20Z");
        assert_eq!(t("2026-13-25 19:32:28"), "none");
        assert_eq!(t("2026-11-25 19:32:28 junk"), "none");
    }

    #[test]
    fn ok_addresses() {
        let raw = b"\0\0\0\0\0\0\0\0\0\0\xff\xff\x7f\0\0\x01";
        assert_eq!(parse_address(raw), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(
            parse_address(b"::ffff:198.51.100.7"),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(parse_address(b"[::1]:9000"), Some("::1".parse().unwrap()));
        assert_eq!(parse_address(b""), None);
        assert_eq!(parse_address(b"garbage"), None);
    }

    proptest::proptest! {
        /// The plain-digits path of `parse_u64` gives what the general parser gives, on
        /// digit strings of every length around the 19/20 edge (with and without overflow),
        /// blanks, signs and other bytes.
        #[test]
        fn ok_parse_u64_agrees_with_the_general_parser(
            b in proptest::collection::vec(
                proptest::prop_oneof![
                    12 => proptest::sample::select(b"0123456789".to_vec()),
                    1 => proptest::sample::select(b" \t-+.:/\n\\N".to_vec()),
                    1 => proptest::num::u8::ANY,
                ],
                0..24,
            )
        ) {
            proptest::prop_assert_eq!(parse_u64(&b), parse_u64_general(&b));
        }
    }

    #[test]
    fn ok_parse_u64_edges() {
        for s in [
            "0",
            "7",
            "18446744073709551615",
            "9999999999999999999",
            "09",
            " 12 ",
        ] {
            assert_eq!(
                parse_u64(s.as_bytes()),
                parse_u64_general(s.as_bytes()),
                "{s}"
            );
            assert_eq!(parse_u64(s.as_bytes()), s.trim().parse().ok(), "{s}");
        }
        for s in [
            "",
            "18446744073709551616",
            "99999999999999999999",
            "1a",
            "-1",
            "\\N",
        ] {
            assert_eq!(parse_u64(s.as_bytes()), None, "{s}");
        }
    }

    /// Addresses sharing their first eight bytes, more of them than the memo has slots for
    /// each length: they collide, and each is still read as itself.
    #[test]
    fn ok_ipv4_memo_tells_colliding_addresses_apart() {
        let mut memo = Ipv4Memo::default();
        let texts: Vec<String> = (0..4)
            .flat_map(|c| (0..=255).map(move |d| format!("10.20.{c}.{d}")))
            .collect();
        for _ in 0..3 {
            for text in &texts {
                assert_eq!(memo.read(text.as_bytes()), text.parse().ok(), "{text}");
            }
        }
    }

    #[test]
    fn ok_plain_ipv4_reads_canonical_addresses_only() {
        for text in [
            "0.0.0.0",
            "255.255.255.255",
            "10.20.1.46",
            "1.0.10.100",
            "9.99.199.249",
        ] {
            assert_eq!(plain_ipv4(text.as_bytes()), text.parse().ok(), "{text}");
        }
        for text in [
            "",
            "1.1.1",
            "1.1.1.1.",
            ".1.1.1.1",
            "1..1.1",
            "1.1.1.1 ",
            "256.1.1.1",
            "1.1.1.300",
            "01.1.1.1",
            "1.1.1.00",
            "1.1.1.1000",
            "1.1.1.a",
            "1,1.1.1",
            "::1",
        ] {
            assert_eq!(plain_ipv4(text.as_bytes()), None, "{text}");
        }
    }

    proptest::proptest! {
        /// The memo answers what [`plain_ipv4`] answers, for texts that repeat, collide in
        /// its slots and differ in one byte or in length.
        #[test]
        fn ok_ipv4_memo_agrees_with_plain_ipv4(
            texts in proptest::collection::vec(
                "(1?[0-9]{1,2}|25[0-5])\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|[0-9.]{0,18}",
                1..40,
            ),
            order in proptest::collection::vec(0usize..1000, 0..200),
        ) {
            let mut memo = Ipv4Memo::default();
            for k in order.iter().copied().chain(0..texts.len()) {
                let Some(text) = texts.get(k % texts.len()) else { continue };
                proptest::prop_assert_eq!(memo.read(text.as_bytes()), plain_ipv4(text.as_bytes()), "{}", text);
            }
        }
    }

    proptest::proptest! {
        /// The canonical IPv4 fast path reads what `Ipv4Addr::from_str` reads (which refuses
        /// leading zeros and parts of four digits too), and takes every canonical address.
        #[test]
        fn ok_plain_ipv4_agrees_with_std(
            parts in proptest::collection::vec("[0-9]{0,4}", 1..6),
            a in proptest::prelude::any::<[u8; 4]>(),
        ) {
            let text = parts.join(".");
            let std_ip = text.parse::<std::net::Ipv4Addr>().ok();
            proptest::prop_assert_eq!(plain_ipv4(text.as_bytes()), std_ip);
            let canonical = std::net::Ipv4Addr::from(a);
            proptest::prop_assert_eq!(plain_ipv4(canonical.to_string().as_bytes()), Some(canonical));
        }

        /// The block search finds what `memchr2` finds, in and across blocks and in the
        /// overlapping last one. Needles are rare, so that they fall anywhere.
        #[test]
        fn ok_find2_agrees_with_memchr2(
            hay in proptest::collection::vec(
                proptest::prop_oneof![40 => proptest::strategy::Just(b'x'), 1 => proptest::sample::select(b"ab?#".to_vec())],
                0..70,
            ),
            a in proptest::sample::select(b"ab?#".to_vec()),
            b in proptest::sample::select(b"ab?#".to_vec()),
        ) {
            proptest::prop_assert_eq!(find2(a, b, &hay), memchr::memchr2(a, b, &hay));
        }

        /// The date memo gives what the fixed-shape reader gives, whether the date is the
        /// remembered one, a new one, or an invalid one after a valid one (values come in
        /// runs that share a date, so every path is taken).
        #[test]
        fn ok_date_memo_agrees_with_fast_datetime(
            texts in proptest::collection::vec(
                "20(2[45]|x1)-(0[12]|02|13)-(2[89]|30|00) [0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{6}|\\.[0-9x]{6}|x)?",
                1..12,
            ),
        ) {
            let memo = DateMemo::default();
            for text in &texts {
                proptest::prop_assert_eq!(memo.civil(text.as_bytes()), fast_datetime(text.as_bytes()), "{}", text);
            }
        }

        /// The same with any byte of a valid date-time replaced by another (a digit, a
        /// separator, a byte next to the digits, a high byte): the word-at-a-time clock and
        /// fraction accept exactly the digits and separators the byte reader accepts.
        #[test]
        fn ok_date_memo_agrees_with_fast_datetime_on_any_byte(
            base in "2025-0[12]-2[89] [0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{6})?",
            at in 0usize..26,
            byte in proptest::sample::select(b"09/:;. -x\x00\x2f\x3a\xb0\xb9\xf0".to_vec()),
        ) {
            let memo = DateMemo::default();
            let mut b = base.clone().into_bytes();
            // A first value so the memo knows the date, then the changed one.
            proptest::prop_assert_eq!(memo.civil(&b), fast_datetime(&b));
            if let Some(c) = b.get_mut(at) {
                *c = byte;
            }
            proptest::prop_assert_eq!(memo.civil(&b), fast_datetime(&b), "{:?}", b);
        }

        /// The text-log time fast path gives what the general reader gives, or defers to
        /// it; the date memo is shared across lines as the reader shares it.
        #[test]
        fn ok_text_log_time_memo_agrees_with_general(
            texts in proptest::collection::vec(
                "20(2[45]|x1)[.-](0[12]|02|13)[.-](2[89]|30|00) [0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{1,9}|\\.[0-9x]{6}|x)?( \\[ 1|x| )?",
                1..12,
            ),
        ) {
            let memo = DateMemo::default();
            fn header(t: Option<(&[u8], CivilTime)>) -> Option<(&[u8], CivilTime)> {
                t.filter(|(rest, _)| rest.starts_with(b" [ "))
            }
            for text in &texts {
                let b = text.as_bytes();
                let general = text_log_time(b).ok();
                let fast = memo.text_log_time(b);
                if fast.is_some() {
                    proptest::prop_assert_eq!(fast, general, "{}", text);
                }
                // As parse_plain reads a header line: the fast path, else the general one.
                let read = fast.or_else(|| text_log_time(b).ok());
                proptest::prop_assert_eq!(header(read), header(general), "{}", text);
            }
        }

        /// `[::ffff:a.b.c.d]:port` read without the general parser is what the general
        /// parser reads.
        #[test]
        fn ok_bracketed_socket_address_agrees_with_general(
            text in "\\[(::ffff:|::|::fffe:)?([0-9]{1,3}|0[0-9])\\.[0-9]{1,3}\\.[0-9]{1,4}\\.[0-9]{1,3}\\]?(:[0-9]{1,5})?",
        ) {
            proptest::prop_assert_eq!(parse_socket_address(text.as_bytes()), parse_address(text.trim_ascii().as_bytes()), "{}", text);
        }

        /// The fixed-shape date-time reader agrees with the general parser.
        #[test]
        fn ok_fast_datetime_agrees_with_civil(
            text in "[0-9x]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{6})?",
        ) {
            let general = civil(b'-', b" T")(text.as_bytes())
                .ok()
                .and_then(|(rest, t)| rest.is_empty().then_some(t));
            proptest::prop_assert_eq!(fast_datetime(text.as_bytes()), general);
        }
    }

    #[test]
    fn ok_bracketed_socket_address_edges() {
        let v4 = |s: &str| Some(IpAddr::V4(s.parse().unwrap()));
        assert_eq!(
            parse_socket_address(b"[::ffff:10.20.1.46]:32549"),
            v4("10.20.1.46")
        );
        assert_eq!(parse_socket_address(b" [::ffff:1.2.3.45] "), v4("1.2.3.45"));
        // Sixteen bytes are a raw 18.x FixedString(16), whatever they spell.
        let raw = b"[::ffff:1.2.3.4]";
        assert_eq!(parse_socket_address(raw), parse_address(raw));
        assert_ne!(parse_socket_address(raw), v4("1.2.3.4"));
        // Not canonical: the general parser decides.
        assert_eq!(parse_socket_address(b"[::ffff:01.2.3.4]:1"), None);
    }

    #[test]
    fn ok_percent_decode_matches_a_naive_decoder() {
        use proptest::prelude::*;
        fn naive(raw: &[u8], plus: bool) -> Vec<u8> {
            let hex = |c: u8| char::from(c).to_digit(16);
            let mut out = Vec::new();
            let mut i = 0;
            while i < raw.len() {
                let esc = (raw[i] == b'%' && i + 2 < raw.len())
                    .then(|| hex(raw[i + 1]).zip(hex(raw[i + 2])))
                    .flatten();
                match (raw[i], esc) {
                    (_, Some((h, l))) => {
                        out.push(u8::try_from(h * 16 + l).unwrap());
                        i += 3;
                    }
                    (b'+', None) if plus => {
                        out.push(b' ');
                        i += 1;
                    }
                    (c, None) => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            out
        }
        let bytes = proptest::collection::vec(
            proptest::sample::select(vec![b'%', b'+', b'2', b'0', b'a', b'F', b'g', b' ', 0xe2]),
            // Past a few 16-byte blocks, so that block and tail paths and their seams show.
            0..90,
        );
        proptest!(ProptestConfig::with_cases(4000), |(raw in bytes, plus: bool)| {
            let (got, want) = (percent_decode(&raw, plus).into_owned(), naive(&raw, plus));
            prop_assert_eq!(got, want);
        });
    }

    #[test]
    fn ok_percent_decode() {
        assert_eq!(&*percent_decode(b"a%20b+c%2B%zz%4", true), b"a b c+%zz%4");
        assert_eq!(&*percent_decode(b"a+b%41", false), b"a+bA");
        assert!(matches!(percent_decode(b"a+b", false), Cow::Borrowed(_)));
        assert_eq!(&*percent_decode(b"%", true), b"%");
        assert_eq!(&*percent_decode(b"+%e2%82%ac", true), " €".as_bytes());
        assert_eq!(&*percent_decode(b"SELECT%20a+b%2", false), b"SELECT a+b%2");
        assert_eq!(
            &*mask_url_secrets("/?a=1&Password=x&pwd="),
            "/?a=1&Password=[REDACTED]&pwd="
        );
        assert!(matches!(
            mask_url_secrets("/?a=1&pwd=&user=u"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn ok_text_arrays() {
        let v = parse_text_array(br"['it\'s','a\tb','x\\y','q']");
        let v: Vec<&[u8]> = v.iter().map(|c| &**c).collect();
        assert_eq!(v, [&b"it's"[..], b"a\tb", b"x\\y", b"q"]);
        assert_eq!(parse_text_array(b"[22, 23]").len(), 2);
        assert!(parse_text_array(b"[]").is_empty());
        assert_eq!(parse_text_array(b"['unterminated").len(), 0);
    }
}
