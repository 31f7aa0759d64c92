//! Redaction on arbitrary text: no panic, and it is idempotent (a redacted text has nothing
//! left to hide, so redacting it again changes nothing). URL redaction: no panic, and a
//! password planted in a percent-encoded `query=` parameter never survives, whatever
//! surrounds it.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Percent-encodes every byte but letters and digits, as a strict HTTP client does.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let once = chaudit::redact::redact(&text);
    let twice = chaudit::redact::redact(&once);
    assert_eq!(once, twice);

    let _ = chaudit::redact::redact_url(&text);
    let planted = format!("{text} IDENTIFIED BY 'FuzzPw4242' {text}");
    let url = format!("/?user=u&query={}&x={}", encode(&planted), encode(&text));
    let out = chaudit::redact::redact_url(&url);
    assert!(!out.contains("FuzzPw4242"), "{url} → {out}");
});
