//! The format sniffer on arbitrary bytes: no panic, and the format and table it settles on do
//! not depend on how the input was chunked (a browser stream and a file read must agree).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let options = common::options(None);
    let whole = common::run(data, &options, data.len());
    let chunked = common::run(data, &options, 1 + usize::from(selector));
    assert_eq!(
        (whole.format, whole.table),
        (chunked.format, chunked.table),
        "sniffed differently in chunks of {}",
        1 + usize::from(selector)
    );
});
