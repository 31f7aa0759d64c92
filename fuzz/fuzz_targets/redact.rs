//! Redaction on arbitrary text: no panic, and it is idempotent (a redacted text has nothing
//! left to hide, so redacting it again changes nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let once = chaudit::redact::redact(&text);
    let twice = chaudit::redact::redact(&once);
    assert_eq!(once, twice);
});
