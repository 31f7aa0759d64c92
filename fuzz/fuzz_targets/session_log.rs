//! system.session_log exports (every table format, sniffed by their header, or headerless
//! TabSeparated under the session_log column list) on arbitrary bytes in arbitrary chunks:
//! no panic, and chunking never changes the result.
#![no_main]

mod common;

use chaudit::InputFormat;
use libfuzzer_sys::fuzz_target;

/// The column order of `SELECT type, event_time, … FROM system.session_log` exports.
const COLUMNS: &[&str] = &[
    "type",
    "event_time_microseconds",
    "user",
    "auth_type",
    "client_address",
    "interface",
    "failure_reason",
];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let format = common::TABLE_FORMATS[usize::from(selector) % common::TABLE_FORMATS.len()];
    let mut options = common::options(format);
    if format == Some(InputFormat::TabSeparated) {
        options.columns = Some(COLUMNS.iter().map(|c| (*c).to_owned()).collect());
    }
    let chunk = 1 + usize::from(selector / 7) % 37;
    common::same_in_chunks(data, &options, chunk);
});
