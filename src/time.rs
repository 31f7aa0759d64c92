//! Instants and the server's time zone.
//!
//! ClickHouse writes log times in the server's local zone without an offset, so every parser
//! produces a *civil* time first and converts it with a [`Zone`]. This module owns that
//! conversion and the RFC 3339 rendering used by every report; it never reads the clock
//! (on wasm32 that panics, and a forensic tool must not depend on when it runs).

use std::cell::Cell;
use std::fmt;

use chrono::{LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone};
use serde::{Serialize, Serializer};

/// Microseconds in one second.
pub const MICROS_PER_SEC: i64 = 1_000_000;

/// An instant: microseconds since the Unix epoch, UTC.
///
/// Serialized as an RFC 3339 string with a `Z` suffix, e.g. `2025-01-29T10:11:12Z`
/// (fractional seconds only when they are non-zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Builds a timestamp from whole seconds since the epoch.
    #[must_use]
    pub fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(MICROS_PER_SEC))
    }

    /// Whole seconds since the epoch (rounded towards negative infinity).
    #[must_use]
    pub fn secs(self) -> i64 {
        self.0.div_euclid(MICROS_PER_SEC)
    }

    /// The start of the window of `window_secs` seconds that holds this instant.
    #[must_use]
    pub fn floor_to(self, window_secs: i64) -> Self {
        let w = window_secs.max(1).saturating_mul(MICROS_PER_SEC);
        Self(self.0 - self.0.rem_euclid(w))
    }
}

impl Timestamp {
    /// The text of [`Display`](fmt::Display) for years 0 to 9999, written into `buf` digit by
    /// digit (`YYYY-MM-DDThh:mm:ss[.ffffff]Z`, at most 27 bytes); `None` for other years.
    ///
    /// A report writes a time for every finding and evidence line, and `write!` through
    /// serde's `collect_str` escapes and copies each of its dozen pieces on its own: some
    /// 2.5 k instructions a time, against a few hundred this way.
    fn render(self, buf: &mut [u8; 27]) -> Option<&str> {
        let secs = self.secs();
        let micros = self.0.rem_euclid(MICROS_PER_SEC);
        let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
        if !(0..=9999).contains(&y) {
            return None;
        }
        let sod = secs.rem_euclid(86_400);
        *buf = *b"0000-00-00T00:00:00.000000Z";
        put_digits(buf.get_mut(0..4)?, y);
        put_digits(buf.get_mut(5..7)?, i64::from(mo));
        put_digits(buf.get_mut(8..10)?, i64::from(d));
        put_digits(buf.get_mut(11..13)?, sod / 3600);
        put_digits(buf.get_mut(14..16)?, sod / 60 % 60);
        put_digits(buf.get_mut(17..19)?, sod % 60);
        let len = if micros == 0 {
            *buf.get_mut(19)? = b'Z';
            20
        } else {
            put_digits(buf.get_mut(20..26)?, micros);
            27
        };
        std::str::from_utf8(buf.get(..len)?).ok()
    }

    /// [`Display`](fmt::Display) through `fmt`, for any year.
    fn fmt_general(self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.secs();
        let micros = self.0.rem_euclid(MICROS_PER_SEC);
        let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400);
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        )?;
        if micros != 0 {
            write!(f, ".{micros:06}")?;
        }
        f.write_str("Z")
    }
}

/// Writes `v` (not negative, and short enough) as the decimal digits filling `out`.
fn put_digits(out: &mut [u8], mut v: i64) {
    for c in out.iter_mut().rev() {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        {
            *c = b'0' + v.rem_euclid(10) as u8;
        }
        v /= 10;
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0; 27];
        match self.render(&mut buf) {
            Some(text) => f.write_str(text),
            None => self.fmt_general(f),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; 27];
        match self.render(&mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.collect_str(self),
        }
    }
}

/// Years past this (either side of year 0) are rejected: their microseconds would overflow.
const MAX_YEAR: i64 = 100_000;

/// A wall-clock time with no zone: microseconds since 1970-01-01 00:00:00 *local*.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilTime(pub i64);

impl CivilTime {
    /// Builds a civil time from its parts; `None` when a part is out of range.
    #[must_use]
    pub fn from_parts(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        min: u32,
        sec: u32,
        micros: u32,
    ) -> Option<Self> {
        // Far enough for any log, near enough that microseconds since 1970 fit in an i64.
        if !(-MAX_YEAR..=MAX_YEAR).contains(&year) {
            return None;
        }
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if is_leap(year) => 29,
            2 => 28,
            _ => return None,
        };
        // ClickHouse prints leap seconds as :60 never, but be lenient with :60 (folds to :59).
        if day == 0 || day > days_in_month || hour > 23 || min > 59 || sec > 60 || micros > 999_999
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let secs =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec.min(59));
        Some(Self(secs * MICROS_PER_SEC + i64::from(micros)))
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
#[must_use]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01 (inverse of [`days_from_civil`]).
#[must_use]
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (y, m as u32, d as u32)
}

/// The zone the server wrote its log times in.
///
/// Conversions are cached per civil hour: zone offsets only change on hour-ish boundaries
/// and log files are mostly in time order, so the IANA lookup runs once per hour of log.
#[derive(Debug, Clone)]
pub struct Zone {
    kind: ZoneKind,
    cache: Cell<(i64, i64)>,
}

#[derive(Debug, Clone, Copy)]
enum ZoneKind {
    Fixed(i64),
    Named(chrono_tz::Tz),
}

/// Why a zone name was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownZone(pub String);

impl fmt::Display for UnknownZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown time zone {:?} (expected UTC, an offset such as +03:00, or an IANA name such as Europe/Berlin)",
            self.0
        )
    }
}

impl std::error::Error for UnknownZone {}

const NO_HOUR: i64 = i64::MIN;

impl Zone {
    /// UTC.
    #[must_use]
    pub fn utc() -> Self {
        Self {
            kind: ZoneKind::Fixed(0),
            cache: Cell::new((NO_HOUR, 0)),
        }
    }

    /// Parses `UTC`, `Z`, a fixed offset (`+03:00`, `-0500`) or an IANA name (`Europe/Moscow`).
    ///
    /// # Errors
    /// [`UnknownZone`] when the name is none of these.
    pub fn parse(name: &str) -> Result<Self, UnknownZone> {
        let n = name.trim();
        if n.is_empty() || n.eq_ignore_ascii_case("utc") || n == "Z" {
            return Ok(Self::utc());
        }
        if let Some(off) = parse_offset(n) {
            return Ok(Self {
                kind: ZoneKind::Fixed(off),
                cache: Cell::new((NO_HOUR, 0)),
            });
        }
        n.parse::<chrono_tz::Tz>()
            .map(|tz| Self {
                kind: ZoneKind::Named(tz),
                cache: Cell::new((NO_HOUR, 0)),
            })
            .map_err(|_| UnknownZone(name.to_owned()))
    }

    /// Converts a civil (local) time in this zone to an instant.
    ///
    /// A time that falls in a DST gap or fold takes the earlier valid offset.
    #[must_use]
    pub fn to_utc(&self, civil: CivilTime) -> Timestamp {
        let offset = match self.kind {
            ZoneKind::Fixed(off) => off,
            ZoneKind::Named(tz) => {
                let hour = civil.0.div_euclid(3600 * MICROS_PER_SEC);
                let (cached_hour, cached_off) = self.cache.get();
                if cached_hour == hour {
                    cached_off
                } else {
                    let off = named_offset(tz, civil);
                    self.cache.set((hour, off));
                    off
                }
            }
        };
        Timestamp(civil.0 - offset * MICROS_PER_SEC)
    }
}

impl Zone {
    /// Seconds east of UTC in force at instant `t` (what the server's wall clock showed).
    #[must_use]
    pub fn offset_at(&self, t: Timestamp) -> i64 {
        match self.kind {
            ZoneKind::Fixed(off) => off,
            ZoneKind::Named(tz) => chrono::DateTime::from_timestamp(
                t.0.div_euclid(MICROS_PER_SEC),
                0,
            )
            .map_or(0, |utc| {
                i64::from(
                    tz.offset_from_utc_datetime(&utc.naive_utc())
                        .fix()
                        .local_minus_utc(),
                )
            }),
        }
    }

    /// Whether this is UTC (offset 0, always): `UTC`, `+00:00`, or an IANA alias of UTC such as
    /// `Etc/UTC` (what many servers' `timezone()` answers).
    #[must_use]
    pub fn is_utc(&self) -> bool {
        match self.kind {
            ZoneKind::Fixed(off) => off == 0,
            ZoneKind::Named(tz) => matches!(
                tz.name(),
                "UTC"
                    | "UCT"
                    | "Universal"
                    | "Zulu"
                    | "Etc/UTC"
                    | "Etc/UCT"
                    | "Etc/Universal"
                    | "Etc/Zulu"
                    | "GMT"
                    | "GMT0"
                    | "GMT+0"
                    | "GMT-0"
                    | "Greenwich"
                    | "Etc/GMT"
                    | "Etc/GMT0"
                    | "Etc/GMT+0"
                    | "Etc/GMT-0"
                    | "Etc/Greenwich"
            ),
        }
    }
}

fn named_offset(tz: chrono_tz::Tz, civil: CivilTime) -> i64 {
    let secs = civil.0.div_euclid(MICROS_PER_SEC);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    #[allow(clippy::cast_possible_truncation)]
    let naive: Option<NaiveDateTime> = i32::try_from(y)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, m, d))
        .and_then(|date| {
            date.and_hms_opt(
                (sod / 3600) as u32,
                (sod / 60 % 60) as u32,
                (sod % 60) as u32,
            )
        });
    let Some(naive) = naive else { return 0 };
    match tz.offset_from_local_datetime(&naive) {
        LocalResult::Single(o) | LocalResult::Ambiguous(o, _) => {
            i64::from(o.fix().local_minus_utc())
        }
        // In a spring-forward gap: use the offset in force just before it.
        LocalResult::None => i64::from(tz.offset_from_utc_datetime(&naive).fix().local_minus_utc()),
    }
}

/// Parses `+HH:MM`, `+HHMM`, `+HH` (and `-`) into seconds east of UTC.
#[must_use]
pub fn parse_offset(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: Vec<u8> = b.get(1..)?.iter().copied().filter(|c| *c != b':').collect();
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        digits
            .get(r)?
            .iter()
            .try_fold(0i64, |a, c| Some(a * 10 + i64::from(c - b'0')))
    };
    let (h, m) = match digits.len() {
        2 => (num(0..2)?, 0),
        4 => (num(0..2)?, num(2..4)?),
        _ => return None,
    };
    if h > 18 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`Timestamp::fmt_general`] as a string.
    struct General(Timestamp);

    impl fmt::Display for General {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt_general(f)
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        /// The digit-by-digit rendering is what `fmt` writes, in text and JSON, for times
        /// with and without microseconds, around every year and day boundary in or out of
        /// the years it handles, and anywhere in the `i64` range.
        #[test]
        fn ok_rendered_time_matches_fmt(
            secs in proptest::prop_oneof![
                -400_000_000_000i64..400_000_000_000,
                -62_167_219_300i64..-62_167_219_100,
                253_402_300_700i64..253_402_300_900,
                -2_000_000i64..2_000_000,
            ],
            micros in proptest::prop_oneof![proptest::strategy::Just(0i64), 0i64..1_000_000],
            raw in proptest::prelude::any::<i64>(),
        ) {
            for t in [Timestamp(secs * MICROS_PER_SEC + micros), Timestamp(raw)] {
                let want = General(t).to_string();
                proptest::prop_assert_eq!(t.to_string(), want.clone());
                proptest::prop_assert_eq!(
                    serde_json::to_string(&t).ok(),
                    serde_json::to_string(&want).ok()
                );
            }
        }
    }

    #[test]
    fn ok_offset_at_and_utc_aliases() {
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        // 2025-03-30 00:59:59 UTC is still CET; 01:00 UTC is CEST.
        assert_eq!(berlin.offset_at(Timestamp::from_secs(1_743_296_399)), 3600);
        assert_eq!(berlin.offset_at(Timestamp::from_secs(1_743_296_400)), 7200);
        assert_eq!(
            Zone::parse("+05:30").unwrap().offset_at(Timestamp(0)),
            19_800
        );
        for utc in ["UTC", "", "Z", "+00:00", "Etc/UTC", "Etc/GMT", "Zulu"] {
            assert!(Zone::parse(utc).unwrap().is_utc(), "{utc}");
        }
        for not in ["Europe/London", "Africa/Abidjan", "+01:00"] {
            assert!(!Zone::parse(not).unwrap().is_utc(), "{not}");
        }
    }

    #[test]
    fn ok_days_round_trip() {
        for z in [-800_000, -1, 0, 1, 10_957, 20_117, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn ok_render_rfc3339() {
        let t = CivilTime::from_parts(2025, 1, 29, 10, 11, 12, 0).unwrap();
        assert_eq!(Zone::utc().to_utc(t).to_string(), "2025-01-29T10:11:12Z");
        let t = CivilTime::from_parts(2025, 1, 29, 10, 11, 12, 5).unwrap();
        assert_eq!(
            Zone::utc().to_utc(t).to_string(),
            "2025-01-29T10:11:12.000005Z"
        );
    }

    #[test]
    fn ok_named_zone_with_dst() {
        let z = Zone::parse("Europe/Berlin").unwrap();
        let winter = CivilTime::from_parts(2025, 1, 29, 11, 0, 0, 0).unwrap();
        assert_eq!(z.to_utc(winter).to_string(), "2025-01-29T10:00:00Z");
        let summer = CivilTime::from_parts(2025, 7, 1, 12, 0, 0, 0).unwrap();
        assert_eq!(z.to_utc(summer).to_string(), "2025-07-01T10:00:00Z");
    }

    #[test]
    fn ok_fixed_offsets() {
        assert_eq!(parse_offset("+03:00"), Some(10_800));
        assert_eq!(parse_offset("-0530"), Some(-19_800));
        assert_eq!(parse_offset("+3"), None);
        let z = Zone::parse("+03:00").unwrap();
        let t = CivilTime::from_parts(2025, 1, 29, 13, 0, 0, 0).unwrap();
        assert_eq!(z.to_utc(t).to_string(), "2025-01-29T10:00:00Z");
    }

    #[test]
    fn err_unknown_zone() {
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(CivilTime::from_parts(2025, 2, 29, 0, 0, 0, 0).is_none());
        assert!(CivilTime::from_parts(2024, 2, 29, 0, 0, 0, 0).is_some());
    }
}
