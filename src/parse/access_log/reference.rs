//! The text-line reader as it was before it was made fast (main at 3f721a2): one field at a
//! time, a byte loop per quoted field, a UTF-8 check per field, the query string split twice
//! and percent-decoded a byte at a time. Kept for the tests only, as the oracle the fast
//! reader must agree with on any bytes.

use std::borrow::Cow;

use super::{expected, parse_clf_time, unescape_clf, Fail};
use crate::event::{Credentials, HttpEvent, HttpOrigin, Location, TextHint};
use crate::parse::common::parse_address;

/// What `parse_text_line` returned, with the event made owned.
pub(super) fn parse_text_line(line: &[u8]) -> Result<HttpEvent<'static>, Fail> {
    let mut i = 0;
    let word = |i: &mut usize| -> &[u8] {
        let start = *i;
        while line.get(*i).is_some_and(|c| *c != b' ') {
            *i += 1;
        }
        let w = line.get(start..*i).unwrap_or_default();
        while line.get(*i) == Some(&b' ') {
            *i += 1;
        }
        w
    };
    let addr = word(&mut i);
    let client = match parse_address(addr) {
        Some(ip) => Some(ip),
        None if addr == b"-" => None,
        None => return Err(expected(0, "a client address")),
    };
    let _ident = word(&mut i);
    let user_at = i;
    let user = word(&mut i);
    if user.is_empty() {
        return Err(expected(user_at, "a user or `-`"));
    }
    if line.get(i) != Some(&b'[') {
        return Err(expected(i, "`[` and the request time"));
    }
    let t_end = memchr::memchr(b']', line.get(i..).unwrap_or_default())
        .map(|p| i + p)
        .ok_or_else(|| expected(i, "`]`"))?;
    let time = parse_clf_time(line.get(i + 1..t_end).unwrap_or_default())
        .ok_or_else(|| expected(i + 1, "a time such as 25/Nov/2026:22:23:53 +0000"))?;
    i = t_end + 1;
    while line.get(i) == Some(&b' ') {
        i += 1;
    }
    let (request, next) = quoted(line, i).ok_or_else(|| expected(i, "a quoted request"))?;
    i = next;
    let status_at = i;
    let status = word(&mut i);
    let status = std::str::from_utf8(status)
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| expected(status_at, "a status code"))?;
    let bytes_at = i;
    let bytes = word(&mut i);
    let bytes_sent = if bytes == b"-" {
        Some(0)
    } else {
        Some(
            crate::parse::common::parse_u64(bytes)
                .ok_or_else(|| expected(bytes_at, "a byte count or `-`"))?,
        )
    };
    let mut user_agent = None;
    if line.get(i) == Some(&b'"') {
        let (_referer, next) = quoted(line, i).ok_or_else(|| expected(i, "a quoted referer"))?;
        i = next;
        if line.get(i) == Some(&b'"') {
            let (ua, _) = quoted(line, i).ok_or_else(|| expected(i, "a quoted user agent"))?;
            user_agent = Some(unescape_clf(ua));
        }
    }
    let request = unescape_clf(request);
    let (method, target) = split_request(&request);
    let mut e = http_event(time, client, method.to_owned(), target);
    let some = |u: Option<Cow<'_, str>>| {
        u.filter(|u| !u.is_empty() && u != "-")
            .map(|u| Cow::Owned(u.into_owned()))
    };
    if e.user.is_none() {
        if let Some(u) = some((user != b"-").then(|| unescape_clf(user))) {
            e.user = Some(u);
            e.credentials = Credentials::Basic;
        }
    }
    e.status = Some(status);
    e.bytes_sent = bytes_sent;
    e.user_agent = some(user_agent);
    Ok(e)
}

fn split_request(request: &str) -> (&str, &str) {
    let b = request.as_bytes();
    let Some(sp) = memchr::memchr(b' ', b) else {
        return ("", request);
    };
    let m = b.get(..sp).unwrap_or_default();
    if m.is_empty() || !m.iter().all(u8::is_ascii_uppercase) {
        return ("", request);
    }
    let rest = b.get(sp + 1..).unwrap_or_default();
    let end = memchr::memchr(b' ', rest).map_or(b.len(), |e| sp + 1 + e);
    match (request.get(..sp), request.get(sp + 1..end)) {
        (Some(m), Some(t)) => (m, t),
        _ => ("", request),
    }
}

fn quoted(line: &[u8], i: usize) -> Option<(&[u8], usize)> {
    if line.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match line.get(j)? {
            b'\\' => j += 2,
            b'"' => break,
            _ => j += 1,
        }
    }
    let body = line.get(i + 1..j)?;
    let mut k = j + 1;
    while line.get(k) == Some(&b' ') {
        k += 1;
    }
    Some((body, k))
}

/// The event of one request target, userinfo password masked first.
pub(super) fn http_event(
    time: crate::time::Timestamp,
    client: Option<std::net::IpAddr>,
    method: String,
    target: &str,
) -> HttpEvent<'static> {
    let target = mask_userinfo(target);
    let mut url_user = None;
    let mut password = None;
    let mut query = None;
    let decoded = |v: &[u8]| Cow::Owned(String::from_utf8_lossy(&percent_decode(v)).into_owned());
    for (k, v) in query_pairs(target.as_bytes()) {
        if k.eq_ignore_ascii_case(b"user") && url_user.is_none() {
            url_user = Some(decoded(v));
        } else if k.eq_ignore_ascii_case(b"password") && password.is_none() {
            password = Some(!v.is_empty());
        } else if k.eq_ignore_ascii_case(b"query") && query.is_none() {
            query = Some(decoded(v));
        }
    }
    let path_end = target.find(['?', '#']).unwrap_or(target.len());
    let credentials = if url_user.is_some() || password.is_some() {
        Credentials::UrlParams {
            password_given: password.unwrap_or(false),
        }
    } else {
        Credentials::None
    };
    HttpEvent {
        time,
        client,
        user: url_user,
        credentials,
        method: Cow::Owned(method),
        path: Cow::Owned(target.get(..path_end).unwrap_or(&target).to_owned()),
        target: Cow::Owned(mask_url_secrets(&target)),
        query,
        query_hint: TextHint::NONE,
        status: None,
        bytes_sent: None,
        user_agent: None,
        origin: HttpOrigin::ProxyLog,
        location: Location::default(),
    }
}

fn mask_userinfo(target: &str) -> String {
    let Some(scheme_end) = memchr::memmem::find(target.as_bytes(), b"://") else {
        return target.to_owned();
    };
    let start = scheme_end + 3;
    let rest = target.get(start..).unwrap_or_default();
    let authority = rest
        .find(['/', '?', '#'])
        .map_or(rest, |e| rest.get(..e).unwrap_or(rest));
    let Some(at) = authority.rfind('@') else {
        return target.to_owned();
    };
    let Some(colon) = authority.get(..at).and_then(|u| u.find(':')) else {
        return target.to_owned();
    };
    let (Some(before), Some(after)) = (target.get(..start + colon + 1), target.get(start + at..))
    else {
        return target.to_owned();
    };
    format!("{before}{}{after}", crate::redact::MASK)
}

/// `%XX` and `+` decoded a byte at a time.
pub(super) fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let hex = |c: u8| char::from(c).to_digit(16);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        let escape = raw.get(i + 1..i + 3).and_then(|h| {
            let (hi, lo) = (hex(*h.first()?)?, hex(*h.get(1)?)?);
            u8::try_from(hi * 16 + lo).ok()
        });
        match (c, escape) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The raw value of each `name=value` pair of the query string, which a `#` ends.
pub(super) fn query_pairs(target: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let qs = memchr::memchr(b'?', target)
        .and_then(|q| target.get(q + 1..))
        .unwrap_or_default();
    let qs = memchr::memchr(b'#', qs)
        .and_then(|h| qs.get(..h))
        .unwrap_or(qs);
    qs.split(|c| *c == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match memchr::memchr(b'=', p) {
            Some(eq) => (
                p.get(..eq).unwrap_or_default(),
                p.get(eq + 1..).unwrap_or_default(),
            ),
            None => (p, &b""[..]),
        })
}

/// Every non-empty password-like value after the first `?` (a `#` does not end them)
/// replaced by the mask.
pub(super) fn mask_url_secrets(target: &str) -> String {
    const KEYS: [&str; 4] = ["password", "pwd", "passwd", "token"];
    let Some((head, qs)) = target.split_once('?') else {
        return target.to_owned();
    };
    let parts: Vec<String> = qs
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !v.is_empty() && KEYS.iter().any(|s| k.eq_ignore_ascii_case(s)) => {
                format!("{k}={}", crate::redact::MASK)
            }
            _ => p.to_owned(),
        })
        .collect();
    format!("{head}?{}", parts.join("&"))
}
