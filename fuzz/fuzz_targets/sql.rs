//! The lexical SQL classifier on arbitrary text: no panic, and classification is stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let a = chaudit::sql::classify(&text);
    let b = chaudit::sql::classify(&text);
    assert_eq!(a, b);
});
