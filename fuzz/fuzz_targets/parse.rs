//! Every export parser (forced or sniffed) on arbitrary bytes, fed in arbitrary chunks: no
//! panic, and chunking never changes the result (every event field, every rejection).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let format = common::TABLE_FORMATS[usize::from(selector) % common::TABLE_FORMATS.len()];
    let chunk = 1 + usize::from(selector / 7) % 61;
    common::same_in_chunks(data, &common::options(format), chunk);
});
