//! `chaudit.toml` and time bounds: the file is read into the library's `Config` (unknown
//! keys are errors); `--since`/`--until` accept absolute times or a span back from now.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use chaudit::time::{days_from_civil, Timestamp};
use chaudit::Config;

/// Reads a config file, or the default configuration without one.
pub(crate) fn load(path: Option<&Path>) -> Result<Config> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// Parses `2025-01-29`, `2025-01-29T10:00:00Z`, `2025-01-29 10:00:00` (UTC) or a span
/// before now: `90s`, `30m`, `24h`, `7d`, `2w`. Relative spans count back from the machine
/// clock — the meaning a cron job expects — not from the newest log time.
pub(crate) fn parse_time(s: &str) -> Result<Timestamp> {
    let s = s.trim();
    if let Some(span) = relative(s) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the clock is before 1970")?
            .as_secs();
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        return Ok(Timestamp::from_secs(now.saturating_sub(span)));
    }
    absolute(s).with_context(|| {
        format!("bad time {s:?}: expected YYYY-MM-DD[THH:MM:SS[Z]] (UTC) or a span such as 24h, 7d")
    })
}

fn relative(s: &str) -> Option<i64> {
    let unit = s.chars().last()?;
    let n: i64 = s.get(..s.len() - unit.len_utf8())?.parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    (n >= 0).then(|| n.saturating_mul(mult))
}

fn absolute(s: &str) -> Result<Timestamp> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, t),
        None => (s, "00:00:00"),
    };
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    let [y, mo, da] = d.as_slice() else {
        bail!("bad date")
    };
    let (hh, mm, ss) = match t.as_slice() {
        [h, m] => (*h, *m, "0"),
        [h, m, s] => (*h, *m, *s),
        _ => bail!("bad time of day"),
    };
    let (y, mo, da): (i64, u32, u32) = (y.parse()?, mo.parse()?, da.parse()?);
    let (hh, mm, ss): (i64, i64, i64) = (hh.parse()?, mm.parse()?, ss.parse()?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || hh > 23 || mm > 59 || ss > 60 {
        bail!("out of range");
    }
    Ok(Timestamp::from_secs(
        days_from_civil(y, mo, da) * 86_400 + hh * 3600 + mm * 60 + ss,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_times() {
        assert_eq!(
            parse_time("2025-01-29").unwrap().to_string(),
            "2025-01-29T00:00:00Z"
        );
        assert_eq!(
            parse_time("2025-01-29T10:11:12Z").unwrap().to_string(),
            "2025-01-29T10:11:12Z"
        );
        assert_eq!(
            parse_time("2025-01-29 10:11").unwrap().to_string(),
            "2025-01-29T10:11:00Z"
        );
        assert_eq!(relative("24h"), Some(86_400));
        assert_eq!(relative("2w"), Some(14 * 86_400));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2025-13-01").is_err());
    }

    #[test]
    fn ok_example_config_parses() {
        let text = include_str!("../../../chaudit.example.toml");
        let c: Config = toml::from_str(text).unwrap();
        assert_eq!(c.baseline.bucket_secs, 3600);
        assert!(c.rules.contains_key("first-seen-table"));
    }
}
