//! gzip and zstd input on arbitrary bytes. Three modes, by the first byte:
//! - the rest compressed (gzip or zstd), fed in chunks: it must parse exactly as the plain
//!   bytes do, with no rejected record about the compression;
//! - the same stream truncated: a rejected record says the compressed input is incomplete
//!   (never a panic, never silent success);
//! - the same stream with one byte changed, or raw fuzzer bytes behind a gzip or zstd magic:
//!   no panic, and memory stays under libFuzzer's limit.
#![no_main]

mod common;

use std::io::Write;

use chaudit::ParseErrorKind;
use libfuzzer_sys::fuzz_target;

fn gzip(plain: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(plain).unwrap();
    e.finish().unwrap()
}

fn zstd(plain: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(plain, ruzstd::encoding::CompressionLevel::Fastest)
}

fn is_decode_error(e: &chaudit::ParseError) -> bool {
    matches!(
        e.kind,
        ParseErrorKind::BadValue {
            column: "compressed input",
            ..
        }
    )
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let options = common::options(None);
    let chunk = 1 + usize::from(selector >> 3) * 37;
    let mode = selector & 0b11;
    let zst = selector & 0b100 != 0;
    if mode == 3 {
        // Raw bytes behind a magic: the fuzzer mutates the compressed stream itself.
        let magic: &[u8] = if zst {
            &[0x28, 0xb5, 0x2f, 0xfd]
        } else {
            &[0x1f, 0x8b]
        };
        let mut stream = magic.to_vec();
        stream.extend_from_slice(data);
        common::run(&stream, &options, chunk);
        return;
    }
    let stream = if zst { zstd(data) } else { gzip(data) };
    match mode {
        0 => {
            let unpacked = common::run(&stream, &options, chunk);
            assert!(!unpacked.collected.rejected.iter().any(is_decode_error));
            // Plain bytes that start with a magic are themselves read as compressed, while
            // their compressed form is unpacked once (one layer, as `zcat` does): no oracle.
            if !data.starts_with(&[0x1f, 0x8b]) && !data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                let plain = common::run(data, &options, data.len());
                assert_eq!(plain, unpacked, "decompressing changed the result");
            }
        }
        1 => {
            // Cut anywhere after the magic and before the end.
            let magic = if zst { 4 } else { 2 };
            let span = stream.len() - magic;
            let cut = magic
                + usize::from(u16::from_le_bytes([
                    selector,
                    data.first().copied().unwrap_or(0),
                ])) % span;
            let out = common::run(&stream[..cut], &options, chunk);
            assert!(
                out.collected.rejected.iter().any(is_decode_error),
                "stream of {} bytes cut at {cut}: no error",
                stream.len()
            );
        }
        _ => {
            let mut stream = stream;
            let at = usize::from(selector) * 7919 % stream.len();
            stream[at] ^= data.first().copied().unwrap_or(1) | 1;
            common::run(&stream, &options, chunk);
        }
    }
});
