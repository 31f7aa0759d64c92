//! Transparent gzip and zstd: compressed inputs are recognised by their magic bytes and
//! decompressed incrementally as chunks are pushed, with pure-Rust decoders (flate2's
//! miniz_oxide backend, ruzstd) that also build for wasm32. No I/O: bytes in, bytes out.

use std::io::Write;

use flate2::write::MultiGzDecoder;
use ruzstd::decoding::FrameDecoder;

/// Bytes needed to tell gzip (`1f 8b`) and zstd (`28 b5 2f fd`) from plain text.
pub(crate) const MAGIC_BYTES: usize = 4;
/// Largest zstd frame header; fewer buffered bytes may just mean "wait for more".
const ZSTD_MAX_HEADER: usize = 18;
/// Output is handed on in pieces of at most about this size, so memory stays bounded
/// whatever the compression ratio (a 1 MiB chunk of zstd can expand to gigabytes).
const OUT_CHUNK: usize = 64 << 10;
/// Compressed bytes given to the gzip decoder at a time: deflate expands at most ~1032:1, so
/// each step yields at most ~4 MiB.
const GZIP_STEP: usize = 4 << 10;

/// Why decompression stopped.
#[derive(Debug)]
pub(crate) struct DecodeError(pub(crate) &'static str);

/// A push decompressor.
pub(crate) enum Decoder {
    /// gzip, one or more members.
    Gzip(Box<MultiGzDecoder<Vec<u8>>>),
    /// zstd, one or more frames.
    Zstd {
        frames: Box<FrameDecoder>,
        /// Compressed bytes not yet consumed (at most one block plus a chunk).
        buf: Vec<u8>,
    },
    /// A previous error ended decompression; further bytes are dropped.
    Failed,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Gzip(_) => "Decoder::Gzip",
            Self::Zstd { .. } => "Decoder::Zstd",
            Self::Failed => "Decoder::Failed",
        })
    }
}

impl Decoder {
    /// A decoder for input starting with `head`, or `None` for plain input.
    pub(crate) fn detect(head: &[u8]) -> Option<Self> {
        if head.starts_with(&[0x1f, 0x8b]) {
            return Some(Self::Gzip(Box::new(MultiGzDecoder::new(Vec::new()))));
        }
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Some(Self::Zstd {
                frames: Box::new(FrameDecoder::new()),
                buf: Vec::new(),
            });
        }
        None
    }

    /// Decompresses `chunk`, handing what it yields to `out` piece by piece.
    pub(crate) fn push(
        &mut self,
        chunk: &[u8],
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DecodeError> {
        match self {
            Self::Gzip(d) => {
                for step in chunk.chunks(GZIP_STEP) {
                    let r = d.write_all(step);
                    let plain = std::mem::take(d.get_mut());
                    out(&plain);
                    r.map_err(|_| DecodeError("valid gzip data"))?;
                }
                Ok(())
            }
            Self::Zstd { frames, buf } => {
                buf.extend_from_slice(chunk);
                zstd_drain(frames, buf, out, false)
            }
            Self::Failed => Ok(()),
        }
    }

    /// Ends the input: flushes what is left and reports a truncated stream.
    pub(crate) fn finish(&mut self, out: &mut dyn FnMut(&[u8])) -> Result<(), DecodeError> {
        match self {
            Self::Gzip(d) => {
                let r = d.try_finish();
                let plain = std::mem::take(d.get_mut());
                out(&plain);
                r.map_err(|_| DecodeError("a complete gzip stream (it is truncated)"))
            }
            Self::Zstd { frames, buf } => zstd_drain(frames, buf, out, true),
            Self::Failed => Ok(()),
        }
    }
}

fn zstd_drain(
    frames: &mut FrameDecoder,
    buf: &mut Vec<u8>,
    out: &mut dyn FnMut(&[u8]),
    eof: bool,
) -> Result<(), DecodeError> {
    let mut tmp = vec![0u8; OUT_CHUNK];
    loop {
        if frames.is_finished() && frames.can_collect() == 0 {
            // Between frames: start the next one once its header is complete.
            if buf.is_empty() {
                return Ok(());
            }
            if buf.len() < ZSTD_MAX_HEADER && !eof {
                return Ok(());
            }
            let mut src: &[u8] = buf;
            match frames.reset(&mut src) {
                Ok(()) => {
                    let used = buf.len() - src.len();
                    buf.drain(..used);
                }
                Err(_) => return Err(DecodeError("a valid zstd frame header")),
            }
        }
        // A pending checksum is consumed as 4 bytes whether or not they are here yet.
        if buf.len() < 4 && !eof && frames.can_collect() == 0 {
            return Ok(());
        }
        // One block at a time, and none while a piece's worth is waiting: ruzstd decodes
        // every complete block it is given before handing anything back, and a 4-byte RLE
        // block expands to 128 KiB, so a whole chunk of them would fill memory.
        let source = if frames.can_collect() >= OUT_CHUNK {
            &[][..]
        } else {
            let len = next_block_len(buf).max(4).min(buf.len());
            buf.get(..len).unwrap_or_default()
        };
        let (read, written) = match frames.decode_from_to(source, &mut tmp) {
            Ok(r) => r,
            Err(_) => {
                // The blocks decoded before the bad one are handed on first, as they would
                // have been had the bytes come in smaller chunks: the result must not depend
                // on chunking.
                if let Some(decoded) = frames.collect() {
                    out(&decoded);
                }
                return Err(DecodeError("valid zstd data"));
            }
        };
        buf.drain(..read.min(buf.len()));
        out(tmp.get(..written).unwrap_or_default());
        if read == 0 && written == 0 {
            if eof && !buf.is_empty() {
                return Err(DecodeError("a complete zstd stream (it is truncated)"));
            }
            if eof && !frames.is_finished() {
                return Err(DecodeError("a complete zstd stream (it is truncated)"));
            }
            return Ok(());
        }
    }
}

/// The bytes of the zstd block starting `buf` (its 3-byte header and content), or 3 when
/// the header is not all there or names no valid type (ruzstd then waits or reports it).
fn next_block_len(buf: &[u8]) -> usize {
    let [a, b, c, ..] = buf else {
        return 3;
    };
    let header = u32::from(*a) | u32::from(*b) << 8 | u32::from(*c) << 16;
    let size = usize::try_from(header >> 3).unwrap_or(usize::MAX);
    3 + match (header >> 1) & 3 {
        0 | 2 => size, // raw, compressed
        1 => 1,        // RLE: one byte, repeated `size` times
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &[u8], chunk: usize) -> Result<Vec<u8>, DecodeError> {
        let mut d = Decoder::detect(data).unwrap();
        let mut out = Vec::new();
        for c in data.chunks(chunk) {
            d.push(c, &mut |p| out.extend_from_slice(p))?;
        }
        d.finish(&mut |p| out.extend_from_slice(p))?;
        Ok(out)
    }

    /// The largest piece handed on for one pushed chunk, and the total.
    fn largest_piece(data: &[u8], chunk: usize) -> (usize, usize) {
        let mut d = Decoder::detect(data).unwrap();
        let (mut max, mut total) = (0, 0);
        let mut on = |p: &[u8]| {
            max = max.max(p.len());
            total += p.len();
        };
        for c in data.chunks(chunk) {
            d.push(c, &mut on).unwrap();
        }
        d.finish(&mut on).unwrap();
        (max, total)
    }

    #[test]
    fn ok_bombs_come_out_in_bounded_pieces() {
        // 64 MiB of zeros: little compressed, fed in 1 MiB chunks as the CLI does.
        let zeros = vec![0u8; 64 << 20];
        let z = ruzstd::encoding::compress_to_vec(
            zeros.as_slice(),
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&zeros).unwrap();
        let gz = enc.finish().unwrap();
        drop(zeros);
        for stream in [z, gz] {
            let (max, total) = largest_piece(&stream, 1 << 20);
            assert_eq!(total, 64 << 20);
            assert!(max <= 8 << 20, "a piece of {max} bytes");
        }
    }

    fn text() -> Vec<u8> {
        (0..20_000)
            .map(|i| format!("line {i} SELECT * FROM log_stream\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn ok_gzip_in_any_chunking() {
        let plain = text();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&plain).unwrap();
        let gz = enc.finish().unwrap();
        for chunk in [1, 7, 4096, gz.len()] {
            assert_eq!(run(&gz, chunk).unwrap(), plain, "chunk {chunk}");
        }
        assert!(run(gz.get(..gz.len() / 2).unwrap(), 100).is_err());
        assert!(Decoder::detect(b"2026.11.25").is_none());
    }

    #[test]
    fn ok_zstd_in_any_chunking() {
        let plain = text();
        let mut z = Vec::new();
        // Two frames, as `cat a.zst b.zst` makes.
        for half in [plain.get(..300_000).unwrap(), plain.get(300_000..).unwrap()] {
            z.extend(ruzstd::encoding::compress_to_vec(
                half,
                ruzstd::encoding::CompressionLevel::Fastest,
            ));
        }
        for chunk in [1, 13, 4096, z.len()] {
            assert_eq!(run(&z, chunk).unwrap().len(), plain.len(), "chunk {chunk}");
            assert_eq!(run(&z, chunk).unwrap(), plain, "chunk {chunk}");
        }
        assert!(run(z.get(..z.len() / 3).unwrap(), 100).is_err());
    }
}
