//! Server text logs (plain and JSON logger), forced or sniffed, on arbitrary bytes fed in
//! arbitrary chunks: no panic, and chunking never changes the events or rejected records.
#![no_main]

mod common;

use chaudit::InputFormat;
use libfuzzer_sys::fuzz_target;

const FORMATS: [Option<InputFormat>; 3] = [
    None,
    Some(InputFormat::ServerLog),
    Some(InputFormat::ServerJsonLog),
];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(selector) % FORMATS.len()];
    let chunk = 1 + usize::from(selector / 3) % 83;
    common::same_in_chunks(data, &common::options(format), chunk);
});
