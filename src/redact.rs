//! Secret redaction for every text chaudit prints from a log.
//!
//! Query text and URLs in logs carry credentials: `password=` parameters, `IDENTIFIED BY
//! '…'`, API keys pasted into queries. Reports quote queries as evidence, so every excerpt
//! passes through [`redact`] unless the user explicitly asks otherwise. The patterns are
//! lexical and deliberately greedy: a false redaction costs a little context, a missed one
//! leaks a secret into a ticket.

use std::borrow::Cow;

/// What replaces a secret.
pub const MASK: &str = "[REDACTED]";

/// Replaces the secrets found in `text` with [`MASK`]; borrows when there are none.
#[must_use]
pub fn redact(text: &str) -> Cow<'_, str> {
    let spans = secret_spans(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (s, e, _) in spans {
        if s < last {
            continue;
        }
        out.push_str(text.get(last..s).unwrap_or_default());
        out.push_str(MASK);
        last = e;
    }
    out.push_str(text.get(last..).unwrap_or_default());
    Cow::Owned(out)
}

/// Rounds of percent-decoding tried on a URL parameter (`%2527` is `'` encoded twice).
const MAX_DECODES: usize = 3;

/// [`redact`] for a request target or URL (`/?user=u&query=SELECT%20…`): also masks secrets
/// that only show once a parameter value is percent-decoded — a query sent over HTTP carries
/// its `IDENTIFIED BY '…'` or API key encoded. Such a value is shown decoded, redacted, with
/// only `%`, `&`, `#`, `+`, blanks and control bytes encoded again. Borrows when nothing is
/// hidden.
#[must_use]
pub fn redact_url(target: &str) -> Cow<'_, str> {
    let plain = redact(target);
    let Some(q) = plain.find('?') else {
        return plain;
    };
    let (head, qs) = plain.split_at(q + 1);
    let mut changed = false;
    let parts: Vec<Cow<'_, str>> = qs
        .split('&')
        .map(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return Cow::Borrowed(p);
            };
            let mut decoded = Cow::Borrowed(v);
            for _ in 0..MAX_DECODES {
                match percent_decode(&decoded) {
                    Some(d) => decoded = Cow::Owned(d),
                    None => break,
                }
            }
            if decoded == v || !has_secret(&decoded) {
                return Cow::Borrowed(p);
            }
            changed = true;
            Cow::Owned(format!("{k}={}", reencode(&redact(&decoded))))
        })
        .collect();
    if !changed {
        return plain;
    }
    Cow::Owned(format!("{head}{}", parts.join("&")))
}

/// One round of `%XX` (and `+` as space) decoding, lossy; `None` when nothing changes.
fn percent_decode(v: &str) -> Option<String> {
    let b = v.as_bytes();
    if !b.iter().any(|c| *c == b'%' || *c == b'+') {
        return None;
    }
    let hex = |c: u8| char::from(c).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let escaped = match (c, b.get(i + 1), b.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (c, escaped.and_then(|x| u8::try_from(x).ok())) {
            (_, Some(x)) => {
                out.push(x);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (_, None) => {
                out.push(c);
                i += 1;
            }
        }
    }
    let s = String::from_utf8_lossy(&out).into_owned();
    (s != v).then_some(s)
}

/// Encodes what would end or confuse a URL parameter value again.
fn reencode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '%' | '&' | '#' | '+') || c.is_whitespace() || c.is_control() {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `text` holds anything [`redact`] would hide.
#[must_use]
pub fn has_secret(text: &str) -> bool {
    !secret_spans(text).is_empty()
}

/// What kinds of secret `text` holds, each named once, in a stable order — where a secret
/// is, never what it is.
#[must_use]
pub fn secret_kinds(text: &str) -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = secret_spans(text).into_iter().map(|s| s.2).collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

/// Whether every text that differs from `text` only in its runs of ASCII digits (their
/// digits and their lengths, no run emptied) holds the same kinds of secret, so the
/// detector's memo may answer them all alike. The scanner never asks which digit a byte is;
/// lengths matter only to key shapes (how long the token after `sk-` is) and to the
/// `IDENTIFIED … BY` window, so a text without their words is safe: a `key=value` or
/// `user:password@` is found, and found non-empty, whatever the digits. The words hold no
/// digit, so every such text spells them where `text` does.
pub(crate) fn digit_blind_safe(text: &str) -> bool {
    const SHAPES: [&str; 6] = ["sk-", "ghp_", "xoxb-", "xoxp-", "AKIA", "ASIA"];
    !SHAPES
        .iter()
        .any(|p| memchr::memmem::find(text.as_bytes(), p.as_bytes()).is_some())
        && find_ascii_ci(text.as_bytes(), IDENTIFIED.as_bytes()).is_none()
}

/// Byte ranges of secrets with their kind, sorted, possibly overlapping.
///
/// One pass over the bytes: keys are tried only where a word starts (first-letter
/// dispatch), key shapes only where a token starts, `identified` only inside letter runs
/// long enough to hold it, and `://` only at a colon. No allocation when nothing is found.
fn secret_spans(text: &str) -> Vec<(usize, usize, &'static str)> {
    let mut spans = Vec::new();
    let b = text.as_bytes();
    let is_tok = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if !c.is_ascii_alphanumeric() {
            if c == b':' && b.get(i + 1) == Some(&b'/') && b.get(i + 2) == Some(&b'/') {
                url_password(b, i, &mut spans);
            }
            i += 1;
            continue;
        }
        // `i` starts a run of ASCII letters and digits (the byte before it is none).
        // password=…, pwd = '…', "secret": "…", token=… — URL parameters, settings, SQL
        // comparisons and JSON alike: the key, `=` or `:`, then a bare or quoted value.
        let keys: &[&str] = match c.to_ascii_lowercase() {
            b'p' => &["password", "passwd", "pwd"],
            b's' => &["secret", "secret_key"],
            b't' => &["token"],
            b'a' => &["access_key", "api_key", "apikey"],
            _ => &[],
        };
        for key in keys {
            let at_key = b
                .get(i..i + key.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(key.as_bytes()));
            if at_key {
                if let Some(span) = value_after_key(b, i + key.len()) {
                    spans.push((span.0, span.1, "`key=value` credential parameter"));
                }
            }
        }
        // Key shapes: sk-… (OpenAI/DeepSeek style), AKIA/ASIA… (AWS), ghp_… (GitHub),
        // xox?-… (Slack), each a whole token of letters, digits, `-` and `_`.
        let token_start = i == 0 || b.get(i - 1).is_none_or(|p| !is_tok(*p));
        if token_start && matches!(c, b's' | b'g' | b'x' | b'A') {
            let run = b
                .get(i..)
                .unwrap_or_default()
                .iter()
                .take_while(|c| is_tok(**c))
                .count();
            if let Some(kind) = text.get(i..i + run).and_then(key_kind) {
                spans.push((i, i + run, kind));
            }
        }
        let run = b
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        // IDENTIFIED [WITH method] BY 'secret' (anywhere, even inside a longer word).
        if run >= IDENTIFIED.len() {
            let word = b.get(i..i + run).unwrap_or_default();
            for at in 0..=run - IDENTIFIED.len() {
                let hit = word
                    .get(at..at + IDENTIFIED.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(IDENTIFIED.as_bytes()));
                if hit {
                    identified_by(text, i + at, &mut spans);
                }
            }
        }
        i += run.max(1);
    }
    spans.sort_unstable();
    spans
}

const IDENTIFIED: &str = "identified";

/// `IDENTIFIED [WITH method] BY 'secret'` with `identified` at `at`.
fn identified_by(text: &str, at: usize, spans: &mut Vec<(usize, usize, &'static str)>) {
    let b = text.as_bytes();
    let rest = b.get(at..).unwrap_or_default();
    // The window is the first 120 bytes, or all of the rest when byte 120 falls inside a
    // character.
    let window = match rest.get(..120) {
        Some(w) if text.is_char_boundary(at + 120) => w,
        _ => rest,
    };
    let Some(by) = find_ascii_ci(window, b" by ") else {
        return;
    };
    if let Some(q) = rest.get(by + 4..).and_then(|r| memchr::memchr(b'\'', r)) {
        // Skip the whole opening run: inside another literal the quote is doubled
        // (`BY ''secret''`) or escaped (`BY \'secret\'`).
        let mut start = at + by + 4 + q;
        while matches!(b.get(start), Some(b'\'' | b'\\')) {
            start += 1;
        }
        let len = b
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| !matches!(c, b'\'' | b'\\'))
            .count();
        if len > 0 {
            spans.push((start, start + len, "IDENTIFIED BY password"));
        }
    }
}

/// First ASCII-case-insensitive occurrence of `needle` (lower-case) in `hay`.
fn find_ascii_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// Basic credentials in URLs: `scheme://user:password@host`, with `://` at `at`.
fn url_password(b: &[u8], at: usize, spans: &mut Vec<(usize, usize, &'static str)>) {
    let start = at + 3;
    let auth: usize = b
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(|c| !matches!(c, b'/' | b'@' | b' ' | b'\'' | b'"'))
        .count();
    if b.get(start + auth) == Some(&b'@') {
        if let Some(colon) = b
            .get(start..start + auth)
            .and_then(|a| memchr::memchr(b':', a))
        {
            spans.push((
                start + colon + 1,
                start + auth,
                "password in a URL (user:password@)",
            ));
        }
    }
}

/// After a key ending at `i`: optional closing quote of a JSON key, blanks, `=` or `:`,
/// blanks, then the value — up to its closing quote if quoted, else up to a delimiter.
fn value_after_key(b: &[u8], mut i: usize) -> Option<(usize, usize)> {
    let blanks = |b: &[u8], mut i: usize| {
        while b.get(i).is_some_and(|c| *c == b' ' || *c == b'\t') {
            i += 1;
        }
        i
    };
    if b.get(i) == Some(&b'"') {
        i += 1;
    }
    i = blanks(b, i);
    if !matches!(b.get(i), Some(b'=' | b':')) {
        return None;
    }
    i = blanks(b, i + 1);
    let (start, end) = match b.get(i) {
        Some(q @ (b'\'' | b'"')) => {
            let start = i + 1;
            let len = b
                .get(start..)?
                .iter()
                .position(|c| c == q)
                .unwrap_or(b.len() - start);
            (start, start + len)
        }
        _ => {
            let len = b
                .get(i..)?
                .iter()
                .take_while(|c| {
                    !matches!(
                        c,
                        b'&' | b' ' | b'\t' | b'\n' | b'\r' | b'\'' | b'"' | b',' | b')' | b';'
                    )
                })
                .count();
            (i, i + len)
        }
    };
    // Already redacted: a second pass must change nothing (what follows the mask, such as a
    // backslash before a quote, is not part of a value it has not seen).
    if b.get(start..)
        .is_some_and(|v| v.starts_with(MASK.as_bytes()))
    {
        return None;
    }
    (end > start).then_some((start, end))
}

fn key_kind(tok: &str) -> Option<&'static str> {
    let rest_ok = |p: &str, min: usize| {
        tok.strip_prefix(p)
            .is_some_and(|r| r.len() >= min && r.bytes().any(|c| c.is_ascii_digit()))
    };
    if rest_ok("sk-", 16) {
        Some("API key (sk-…)")
    } else if rest_ok("ghp_", 20) {
        Some("GitHub token (ghp_…)")
    } else if rest_ok("xoxb-", 10) || rest_ok("xoxp-", 10) {
        Some("Slack token (xox…)")
    } else if (tok.starts_with("AKIA") || tok.starts_with("ASIA"))
        && (16..=24).contains(&tok.len())
        && tok
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        Some("AWS access key id (AKIA…)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_redact_url_sees_through_percent_encoding() {
        let target =
            "/?user=default&query=SELECT%20%27sk-PlantedKey0123456789abcdef%27%20AS%20k&x=1";
        assert_eq!(
            redact_url(target),
            "/?user=default&query=SELECT%20'[REDACTED]'%20AS%20k&x=1"
        );
        // Encoded twice, and `+` for spaces.
        let twice = "/?query=CREATE+USER+u+IDENTIFIED+BY+%2527pw-secret-1%2527";
        let out = redact_url(twice);
        assert!(!out.contains("pw-secret-1"), "{out}");
        assert!(out.contains(MASK), "{out}");
        // Userinfo and plain parameters as redact does; nothing to hide borrows.
        assert_eq!(
            redact_url("http://a:pw@h/?password=x"),
            "http://a:[REDACTED]@h/?password=[REDACTED]"
        );
        assert!(matches!(redact_url("/?query=SELECT%201"), Cow::Borrowed(_)));
        assert_eq!(redact_url("/?query=%zz%"), "/?query=%zz%");
    }

    #[test]
    fn ok_redacts_each_shape() {
        let cases = [
            (
                "GET /?user=bob&password=hunter2&query=SELECT",
                "GET /?user=bob&password=[REDACTED]&query=SELECT",
            ),
            (
                "CREATE USER u IDENTIFIED WITH sha256_password BY 'p@ss'",
                "CREATE USER u IDENTIFIED WITH sha256_password BY '[REDACTED]'",
            ),
            (
                "SELECT 'sk-FAKE0123456789abcdefXYZ' AS k",
                "SELECT '[REDACTED]' AS k",
            ),
            (
                "s3('https://b/k', 'AKIAIOSFODNN7EXAMPLE', 'x')",
                "s3('https://b/k', '[REDACTED]', 'x')",
            ),
            (
                "url('http://admin:s3cret@10.0.0.1/')",
                "url('http://admin:[REDACTED]@10.0.0.1/')",
            ),
            (
                "SELECT * FROM users WHERE password = 'hunter2'",
                "SELECT * FROM users WHERE password = '[REDACTED]'",
            ),
            (
                r#"{"user":"bob","password":"pw 1"}"#,
                r#"{"user":"bob","password":"[REDACTED]"}"#,
            ),
            (
                "SELECT 'CREATE USER u IDENTIFIED BY ''pw'''",
                "SELECT 'CREATE USER u IDENTIFIED BY ''[REDACTED]'''",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
            assert!(has_secret(input));
        }
    }

    #[test]
    fn ok_kinds_name_where_not_what() {
        let k = secret_kinds("SELECT 'sk-FAKE0123456789abcdefXYZ', 'AKIAIOSFODNN7EXAMPLE' FROM url('http://u:p@h/?password=x')");
        assert_eq!(
            k,
            [
                "API key (sk-…)",
                "AWS access key id (AKIA…)",
                "`key=value` credential parameter",
                "password in a URL (user:password@)"
            ]
        );
        assert!(k.iter().all(|s| !s.contains("FAKE")));
        assert!(secret_kinds("SELECT 1").is_empty());
    }

    #[test]
    fn ok_redaction_is_idempotent_after_an_escaped_quote() {
        // Found by the fuzz smoke: the mask followed by `\\'` was taken for a new value.
        let text = r"WHERE has(v, \'OPENAI_API_KEY=sk-FAKE0123456789abcdefXYZ\')";
        let once = redact(text);
        assert!(!once.contains("sk-FAKE"), "{once}");
        assert_eq!(redact(&once), once);
    }

    #[test]
    fn ok_url_secrets_are_found_through_the_encoding() {
        let got = redact_url(
            "/?query=CREATE%20USER%20bob%20IDENTIFIED%20BY%20%27b0b-pw%27&x=sk-FAKE0123456789abcdefXYZ",
        );
        assert_eq!(
            got,
            "/?query=CREATE%20USER%20bob%20IDENTIFIED%20BY%20'[REDACTED]'&x=[REDACTED]"
        );
        // Malformed escapes and control bytes survive as text, never as a panic.
        assert_eq!(redact_url("/%zz%4"), "/%zz%4");
        assert_eq!(redact_url("/a%0Ab+c"), "/a%0Ab+c");
        assert_eq!(redact_url("/?q=a%0Ab+c"), "/?q=a%0Ab+c");
    }

    /// The straightforward implementation the one-pass scanner replaced.
    #[allow(clippy::indexing_slicing)]
    fn reference_spans(text: &str) -> Vec<(usize, usize, &'static str)> {
        let mut spans = Vec::new();
        let b = text.as_bytes();
        let lower = text.to_ascii_lowercase();
        // password=…, pwd = '…', "secret": "…", token=… — URL parameters, settings, SQL
        // comparisons and JSON alike: the key, `=` or `:`, then a bare or quoted value.
        for key in [
            "password",
            "passwd",
            "pwd",
            "secret",
            "token",
            "access_key",
            "secret_key",
            "api_key",
            "apikey",
        ] {
            for (at, _) in lower.match_indices(key) {
                let word_start =
                    at == 0 || b.get(at - 1).is_none_or(|c| !c.is_ascii_alphanumeric());
                if !word_start {
                    continue;
                }
                if let Some(span) = value_after_key(b, at + key.len()) {
                    spans.push((span.0, span.1, "`key=value` credential parameter"));
                }
            }
        }
        // IDENTIFIED [WITH method] BY 'secret'
        for (at, _) in lower.match_indices("identified") {
            let rest = lower.get(at..).unwrap_or_default();
            let window = rest.get(..rest.len().min(120)).unwrap_or(rest);
            if let Some(by) = window.find(" by ") {
                if let Some(q) = rest.get(by + 4..).and_then(|r| r.find('\'')) {
                    // Skip the whole opening run: inside another literal the quote is doubled
                    // (`BY ''secret''`) or escaped (`BY \'secret\'`).
                    let mut start = at + by + 4 + q;
                    while matches!(b.get(start), Some(b'\'' | b'\\')) {
                        start += 1;
                    }
                    let len = b
                        .get(start..)
                        .unwrap_or_default()
                        .iter()
                        .take_while(|c| !matches!(c, b'\'' | b'\\'))
                        .count();
                    if len > 0 {
                        spans.push((start, start + len, "IDENTIFIED BY password"));
                    }
                }
            }
        }
        // Key shapes: sk-… (OpenAI/DeepSeek style), AKIA/ASIA… (AWS), ghp_… (GitHub), xox?-… (Slack).
        let is_tok = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        let mut i = 0;
        while i < b.len() {
            let boundary = i == 0 || b.get(i - 1).is_none_or(|c| !is_tok(*c));
            if boundary {
                let run = b
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|c| is_tok(**c))
                    .count();
                let tok = text.get(i..i + run).unwrap_or_default();
                if let Some(kind) = key_kind(tok) {
                    spans.push((i, i + run, kind));
                }
                i += run.max(1);
            } else {
                i += 1;
            }
        }
        // Basic credentials in URLs: scheme://user:password@host
        for (at, _) in lower.match_indices("://") {
            let start = at + 3;
            let auth: usize = b
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take_while(|c| !matches!(c, b'/' | b'@' | b' ' | b'\'' | b'"'))
                .count();
            if b.get(start + auth) == Some(&b'@') {
                if let Some(colon) = text.get(start..start + auth).and_then(|a| a.find(':')) {
                    spans.push((
                        start + colon + 1,
                        start + auth,
                        "password in a URL (user:password@)",
                    ));
                }
            }
        }
        spans.sort_unstable();
        spans
    }

    /// Text built from the pieces the patterns look for, so matches are frequent.
    fn secretish() -> impl proptest::strategy::Strategy<Value = String> {
        let piece = proptest::sample::select(vec![
            "password",
            "PassWord",
            "passwd",
            "pwd",
            "secret",
            "secret_key",
            "token",
            "access_key",
            "api_key",
            "apikey",
            "identified",
            "IDENTIFIED",
            "unidentified",
            " by ",
            " BY ",
            "'",
            "''",
            "\\",
            "\\'",
            "=",
            ":",
            " = ",
            "\"",
            "://",
            "u:p@",
            "@",
            "/",
            "&",
            " ",
            "_",
            "-",
            "sk-",
            "ghp_",
            "xoxb-",
            "xoxp-",
            "AKIA",
            "ASIA",
            "0123456789abcdef",
            "ABCDEFGHIJ0123",
            "42",
            "7",
            "x",
            "é",
            "ß",
            "\u{a0}",
            "日本",
            "\t",
            ",",
            ")",
            ";",
        ]);
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    use proptest::prelude::*;
    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]
        #[test]
        fn ok_same_spans_as_reference(t in secretish(), raw in "\\PC{0,80}") {
            prop_assert_eq!(secret_spans(&t), reference_spans(&t));
            prop_assert_eq!(secret_spans(&raw), reference_spans(&raw));
            let long = format!("{t}{raw}{t}identified{}{t} by 'x'", "é".repeat(59));
            prop_assert_eq!(secret_spans(&long), reference_spans(&long));
        }

        /// Digits never change the kinds; where [`digit_blind_safe`] says so, the lengths
        /// of digit runs do not either.
        #[test]
        fn ok_digit_blind_safe_texts_share_their_kinds(
            t in secretish(),
            raw in "\\PC{0,80}",
            digits in 90_usize..130,
        ) {
            // A number that pushes `BY` out of the IDENTIFIED window, or pulls it in.
            let far = format!("{t}identified {} by 'pw'{t}", "7".repeat(digits));
            for text in [&t, &raw, &far] {
                let kinds = secret_kinds(text);
                let other = crate::memo::other_digits(text);
                prop_assert_eq!(&secret_kinds(&other), &kinds, "{:?}", other);
                if digit_blind_safe(text) {
                    let other = crate::memo::other_numbers(text);
                    prop_assert_eq!(&secret_kinds(&other), &kinds, "{:?}", other);
                }
            }
        }
    }

    #[test]
    fn ok_leaves_ordinary_text_alone() {
        for q in [
            "SELECT * FROM log_stream",
            "SELECT task-sk-1 FROM t",
            "password",
            "ASIA",
            "sk-short",
            "SELECT password_hash FROM t",
            "passwords = 3",
        ] {
            assert!(matches!(redact(q), Cow::Borrowed(_)), "{q}");
        }
    }
}
