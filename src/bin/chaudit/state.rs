//! The baseline state file: read (a corrupt file is an error, never a reset), written
//! atomically (temp file in the same directory, fsync, rename, fsync of the directory), and
//! guarded by an exclusive lock on `STATE.lock` so two cron runs cannot interleave.
//! Also the incremental reader: per-source high-water marks kept in the state.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chaudit::detect::baseline::SourceMark;
use chaudit::{Analyzer, BaselineState, InputFormat};

/// Bytes hashed to recognise a file again (less if the file is shorter).
const PREFIX: u64 = 4096;
/// Bytes read per chunk.
const CHUNK: usize = 1 << 20;

/// An exclusive lock on `<state>.lock`, released when dropped (or when the process dies).
#[derive(Debug)]
pub(crate) struct StateLock {
    _file: File,
}

/// Takes the lock next to `state`, failing at once if another run holds it.
pub(crate) fn lock(state: &Path) -> Result<StateLock> {
    let path = sibling(state, ".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            remove_stale_temps(state);
            Ok(StateLock { _file: file })
        }
        Err(fs::TryLockError::WouldBlock) => bail!(
            "another chaudit run holds {} (the baseline is being updated); try again later",
            path.display()
        ),
        Err(fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Temp files of runs killed mid-write; whoever holds the lock knows they are dead.
fn remove_stale_temps(state: &Path) {
    let Some(name) = state.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let prefix = format!("{name}.tmp.");
    let dir = match state.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
        {
            let _ = fs::remove_file(e.path());
        }
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Reads a state; anything but a valid state of this version is an error.
pub(crate) fn load(path: &Path) -> Result<BaselineState> {
    let bytes = fs::read(path).with_context(|| {
        format!(
            "cannot read baseline state {} (create one with `chaudit baseline learn`)",
            path.display()
        )
    })?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "baseline state {} is corrupt; refusing to start over silently (restore it, or delete it and learn again)",
            path.display()
        )
    })
}

/// Writes `state` to `path` atomically: readers see the old file or the new one, whole.
pub(crate) fn save(path: &Path, state: &BaselineState) -> Result<()> {
    let tmp = sibling(path, &format!(".tmp.{}", std::process::id()));
    let result = (|| -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        // Compact: histograms are long lists of pairs, and pretty-printing triples the size.
        serde_json::to_writer(&mut f, state)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write baseline state {}", path.display()))
}

/// FNV-1a, stable across platforms and versions (std's hashers are not).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn read_prefix(f: &mut File, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    f.seek(SeekFrom::Start(0))?;
    Read::by_ref(f).take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

/// What happened to one source in an incremental read.
#[derive(Debug)]
pub(crate) enum Resume {
    /// Never seen: read from the start.
    New,
    /// Seen and grown (or unchanged): read from the mark.
    Continued,
    /// Shorter than the mark, or its first bytes changed: read from the start again.
    Restarted { reason: &'static str },
}

/// Reads `path` from its high-water mark in `state`, feeding complete lines only, and moves
/// the mark. Returns what it did and the bytes fed.
pub(crate) fn feed_incremental(
    analyzer: &mut Analyzer,
    marks: &mut BTreeMap<String, SourceMark>,
    path: &Path,
    mut progress: impl FnMut(u64),
) -> Result<(Resume, u64)> {
    let name = path.display().to_string();
    let id = fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string();
    let mut f = File::open(path).with_context(|| format!("cannot open {name}"))?;
    let size = f
        .metadata()
        .with_context(|| format!("cannot stat {name}"))?
        .len();
    let old = marks.get(&id).cloned();
    let (resume, mut mark) = match old {
        None => (Resume::New, SourceMark::default()),
        Some(m) if size < m.offset => (
            Resume::Restarted {
                reason: "is shorter than when last read (truncated or rotated)",
            },
            SourceMark::default(),
        ),
        Some(m) => {
            let prefix = read_prefix(&mut f, m.prefix_len)?;
            if prefix.len() as u64 != m.prefix_len || fnv1a(&prefix) != m.prefix_hash {
                (
                    Resume::Restarted {
                        reason: "begins differently than when last read (rotated)",
                    },
                    SourceMark::default(),
                )
            } else {
                (Resume::Continued, m)
            }
        }
    };
    if mark.offset == 0 {
        let prefix = read_prefix(&mut f, PREFIX.min(size))?;
        mark.prefix_len = prefix.len() as u64;
        mark.prefix_hash = fnv1a(&prefix);
    }
    let header_lines = mark.header.matches('\n').count() as u64;
    if mark.offset > 0 {
        analyzer.begin_resumed_file(&name, mark.lines.saturating_sub(header_lines));
        analyzer
            .feed(mark.header.as_bytes())
            .context("rejected record (--strict)")?;
    } else {
        analyzer.begin_file(&name);
    }
    f.seek(SeekFrom::Start(mark.offset))?;
    // Only complete lines are fed; a line still being written waits for the next run.
    let mut carry: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    let mut fed = 0u64;
    let mut first_lines = Vec::new();
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {name}")),
        };
        carry.extend_from_slice(buf.get(..n).unwrap_or_default());
        let Some(cut) = memchr_last(&carry) else {
            continue;
        };
        let rest = carry.split_off(cut + 1);
        if mark.offset == 0 && fed == 0 {
            first_lines.extend(carry.iter().take(PREFIX as usize));
        }
        analyzer
            .feed(&carry)
            .context("rejected record (--strict)")?;
        fed += carry.len() as u64;
        mark.lines += carry.iter().filter(|b| **b == b'\n').count() as u64;
        progress(carry.len() as u64);
        carry = rest;
    }
    if mark.offset == 0 {
        let lines = match analyzer.current_format() {
            Some(InputFormat::TsvWithNames | InputFormat::CsvWithNames) => 1,
            Some(InputFormat::TsvWithNamesAndTypes) => 2,
            _ => 0,
        };
        mark.header = first_lines
            .split_inclusive(|b| *b == b'\n')
            .take(lines)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
    }
    analyzer.end_file().context("rejected record (--strict)")?;
    mark.offset += fed;
    marks.insert(id, mark);
    Ok((resume, fed))
}

fn memchr_last(b: &[u8]) -> Option<usize> {
    b.iter().rposition(|c| *c == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
