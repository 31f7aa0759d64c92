//! Reading inputs into the library: regular files by positional reads (plain reads for stdin
//! and pipes), on one thread or on many. Files are not memory-mapped: a log truncated under
//! us (logrotate's `copytruncate`) would fault a mapping; a read just comes back short.
//!
//! On many threads, files are parsed in parallel and a large uncompressed query_log export in
//! a line-framed format is cut into parts of at most [`MAX_PART`] bytes at record
//! boundaries; every part is parsed by its own [`PartAnalyzer`], and the main thread
//! merges them in input order — judging their events as one thread would, which the library
//! guarantees gives the same report. At most two parts per thread are parsed ahead of the
//! merge, so memory stays bounded and does not grow with the input.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

use anyhow::{anyhow, Context, Result};

use crate::Input;
use chaudit::{Analyzer, Config, PartAnalyzer};

/// Bytes handed to the library per call when reading a stream (small, as [`MAP_CHUNK`]).
const READ_CHUNK: usize = 64 << 10;
/// Bytes of a file read and handed to the parser at once: small enough that the kernel's
/// copy lands in this core's L2 cache (512 KiB here) beside the parser's working set.
/// 256 KiB pieces cost 0.4-0.8 s of system time per GiB on the 2-core test VM (each
/// `pread` copying into memory the parser had just evicted), 64 KiB pieces 0.1-0.2 s,
/// the same as `cat` (docs/performance.md, session 7).
const MAP_CHUNK: usize = 64 << 10;
/// Files smaller than this are not split.
const MIN_SPLIT: usize = 16 << 20;
/// Parts of a split file are at most this long: a deferring analyzer holds its part's events.
const MAX_PART: usize = 16 << 20;
/// Units parsed ahead of the merge, per thread.
const AHEAD_PER_THREAD: usize = 2;
/// Bytes of a file's head read to tell its format and header.
const HEAD: usize = chaudit::HEAD_BYTES;

/// A regular file read by position (parts of it on several threads), or why not.
enum Opened {
    Map(Region),
    Empty,
    Stream,
}

/// A regular file of `len` bytes (its length when opened), read with positional reads.
///
/// Not memory-mapped: a log rotated with `copytruncate` shrinks under its reader, and a
/// mapped page past the new end faults (SIGBUS) — a crash no input may cause. A read past
/// the end returns short, and the scan ends there.
struct Region {
    file: File,
    len: usize,
}

impl Region {
    /// Calls `f` with the bytes of `range` in pieces of at most [`MAP_CHUNK`] bytes, until
    /// the range or the file ends.
    fn each_chunk(
        &self,
        range: Range<usize>,
        mut f: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut buf = vec![0u8; MAP_CHUNK.min(range.len())];
        let mut at = range.start;
        while at < range.end {
            let want = (range.end - at).min(buf.len());
            let Some(slot) = buf.get_mut(..want) else {
                break;
            };
            let n = read_at(&self.file, slot, at as u64)?;
            if n == 0 {
                break; // the file shrank
            }
            f(buf.get(..n).unwrap_or_default())?;
            at += n;
        }
        Ok(())
    }

    /// The bytes of `range` (short if the file shrank).
    fn bytes(&self, range: Range<usize>) -> Vec<u8> {
        let mut out = Vec::with_capacity(range.len());
        let _ = self.each_chunk(range, |c| {
            out.extend_from_slice(c);
            Ok(())
        });
        out
    }
}

/// Reads at `offset` until `buf` is full or the file ends; returns the bytes read.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let Some(rest) = buf.get_mut(done..) else {
            break;
        };
        match pread(file, rest, offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

#[cfg(unix)]
fn pread(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn pread(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

fn open(input: &Input) -> Result<(String, Opened)> {
    let Input::File(p) = input else {
        return Ok(("-".to_owned(), Opened::Stream));
    };
    let name = p.display().to_string();
    let file = File::open(p).with_context(|| format!("cannot open {name}"))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat {name}"))?;
    // A device such as /dev/zero never ends; pipes (FIFOs) and /dev/null are fine.
    if !meta.is_file() && !is_fifo(&meta.file_type()) && p.as_path() != Path::new("/dev/null") {
        anyhow::bail!("{name} is not a regular file or a pipe");
    }
    let len = meta.len();
    if len == 0 {
        // Empty, or a pipe or device whose length says nothing: read it.
        let is_file = file.metadata().is_ok_and(|m| m.is_file());
        return Ok((
            name,
            if is_file {
                Opened::Empty
            } else {
                Opened::Stream
            },
        ));
    }
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    Ok((name, Opened::Map(Region { file, len })))
}

/// Whether the inputs may tell of the same execution from different kinds of source
/// ([`Analyzer::joins_needed`] on their heads). Stdin, pipes and other non-regular files
/// could be anything. Unreadable files do not count (they are reported when read).
pub(crate) fn needs_joins(analyzer: &Analyzer, inputs: &[Input]) -> bool {
    let mut heads = Vec::with_capacity(inputs.len());
    for input in inputs {
        let Input::File(p) = input else { return true };
        let Ok(mut f) = File::open(p) else { continue };
        if !f.metadata().is_ok_and(|m| m.is_file()) {
            return true;
        }
        let mut head = Vec::with_capacity(HEAD);
        if f.by_ref().take(HEAD as u64).read_to_end(&mut head).is_ok() {
            heads.push(head);
        }
    }
    analyzer.joins_needed(heads.iter().map(Vec::as_slice))
}

#[cfg(unix)]
fn is_fifo(kind: &std::fs::FileType) -> bool {
    std::os::unix::fs::FileTypeExt::is_fifo(kind)
}

#[cfg(not(unix))]
fn is_fifo(_: &std::fs::FileType) -> bool {
    false
}

/// Feeds one whole input to `analyzer` (one thread); `tick` counts the bytes read.
pub(crate) fn feed(analyzer: &mut Analyzer, input: &Input, tick: &dyn Fn(u64)) -> Result<()> {
    let (name, opened) = open(input)?;
    analyzer.begin_file(&name);
    match opened {
        Opened::Map(map) => feed_map(analyzer, &map, 0..map.len, tick)?,
        Opened::Empty => {}
        Opened::Stream => feed_stream(analyzer, input, &name, tick)?,
    }
    analyzer.end_file().context("rejected record (--strict)")
}

fn feed_stream(
    analyzer: &mut impl Feed,
    input: &Input,
    name: &str,
    tick: &dyn Fn(u64),
) -> Result<()> {
    let mut reader: Box<dyn Read> = match input {
        Input::Stdin => Box::new(io::stdin().lock()),
        Input::File(p) => Box::new(File::open(p).with_context(|| format!("cannot open {name}"))?),
    };
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {name}")),
        };
        analyzer
            .feed(buf.get(..n).unwrap_or_default())
            .context("rejected record (--strict)")?;
        tick(n as u64);
    }
}

/// Feeds `range` of a file.
fn feed_map(
    analyzer: &mut impl Feed,
    map: &Region,
    range: Range<usize>,
    tick: &dyn Fn(u64),
) -> Result<()> {
    map.each_chunk(range, |chunk| {
        analyzer.feed(chunk).context("rejected record (--strict)")?;
        tick(chunk.len() as u64);
        Ok(())
    })
}

/// What reads chunks: an [`Analyzer`] or a [`PartAnalyzer`].
pub(crate) trait Feed {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), chaudit::Rejected>;
}

impl Feed for Analyzer {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), chaudit::Rejected> {
        Analyzer::feed(self, chunk)
    }
}

impl Feed for PartAnalyzer {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), chaudit::Rejected> {
        PartAnalyzer::feed(self, chunk)
    }
}

/// One piece of work: a whole input or a part of a mapped file.
struct Unit {
    input: usize,
    /// 0 for a whole input or the first part.
    part: usize,
    range: Range<usize>,
}

/// Scans every input on `threads` threads into `analyzer`; returns the unreadable inputs.
/// `config` is the analyzer's configuration (the parsing threads read with it).
pub(crate) fn scan_parallel(
    analyzer: &mut Analyzer,
    config: &Config,
    inputs: &[Input],
    threads: usize,
    tick: &(dyn Fn(u64) + Sync),
) -> Result<Vec<Input>> {
    let mut unreadable = Vec::new();
    let mut opened: Vec<(String, Opened, Input)> = Vec::with_capacity(inputs.len());
    let mut units = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        match open(input) {
            Ok((name, o)) => {
                let idx = opened.len();
                if let Opened::Map(map) = &o {
                    units.extend(split(analyzer, map, idx, threads));
                } else {
                    units.push(Unit {
                        input: idx,
                        part: 0,
                        range: 0..0,
                    });
                }
                opened.push((name, o, input.clone()));
            }
            Err(e) => {
                eprintln!("chaudit: {e:#}");
                unreadable.push(inputs.get(i).cloned().unwrap_or(Input::Stdin));
            }
        }
    }
    let next = AtomicUsize::new(0);
    // How many units the merge has taken: parsing runs at most `ahead` units past it.
    let merged = (Mutex::new(0usize), Condvar::new());
    let ahead = threads * AHEAD_PER_THREAD;
    let (tx, rx) = mpsc::channel::<(usize, Result<(PartAnalyzer, u64)>)>();
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..threads.min(units.len()) {
            let tx = tx.clone();
            let (next, units, opened, merged) = (&next, &units, &opened, &merged);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(unit) = units.get(i) else { break };
                {
                    let (lock, cvar) = merged;
                    let mut done = lock
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    while i >= *done + ahead {
                        done = cvar
                            .wait(done)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                    }
                }
                let result = run_unit(config, unit, opened, tick);
                if tx.send((i, result)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Merge in input order as results arrive; only out-of-order ones wait here.
        let mut waiting = BTreeMap::new();
        let mut want = 0;
        // Lines of the parts of the current file merged so far.
        let mut lines_before = 0;
        for (i, result) in rx {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&want) {
                if units.get(want).is_some_and(|u| u.part == 0) {
                    lines_before = 0;
                }
                match result {
                    Ok((mut a, lines)) => {
                        a.shift_lines(lines_before);
                        lines_before += lines;
                        analyzer.merge(a);
                    }
                    Err(e) => {
                        eprintln!("chaudit: {e:#}");
                        if let Some((_, _, input)) =
                            units.get(want).and_then(|u| opened.get(u.input))
                        {
                            unreadable.push(input.clone());
                        }
                    }
                }
                want += 1;
                let (lock, cvar) = &merged;
                *lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = want;
                cvar.notify_all();
            }
        }
        Ok(())
    })?;
    Ok(unreadable)
}

/// Cuts a mapped file into one part per thread at line starts past the header, if its
/// format allows; else one unit.
fn split(analyzer: &Analyzer, map: &Region, input: usize, threads: usize) -> Vec<Unit> {
    let whole = vec![Unit {
        input,
        part: 0,
        range: 0..map.len,
    }];
    if map.len < MIN_SPLIT || threads < 2 {
        return whole;
    }
    let head = map.bytes(0..HEAD.min(map.len));
    let Some(header) = analyzer.split_head(&head) else {
        return whole;
    };
    let parts = threads.max(map.len.div_ceil(MAX_PART));
    let mut cuts = vec![0];
    for t in 1..parts {
        let target = (map.len / parts * t).max(header);
        let Some(cut) = next_line_start(map, target) else {
            break;
        };
        if cut < map.len && cut > cuts.last().copied().unwrap_or(0) {
            cuts.push(cut);
        }
    }
    cuts.push(map.len);
    cuts.windows(2)
        .enumerate()
        .filter_map(|(part, w)| match w {
            [a, b] => Some(Unit {
                input,
                part,
                range: *a..*b,
            }),
            _ => None,
        })
        .collect()
}

/// The offset just past the first newline at or after `from`.
fn next_line_start(map: &Region, from: usize) -> Option<usize> {
    let mut at = from;
    while at < map.len {
        let window = map.bytes(at..(at + HEAD).min(map.len));
        if window.is_empty() {
            return None;
        }
        if let Some(nl) = memchr::memchr(b'\n', &window) {
            return Some(at + nl + 1);
        }
        at += window.len();
    }
    None
}

fn run_unit(
    config: &Config,
    unit: &Unit,
    opened: &[(String, Opened, Input)],
    tick: &dyn Fn(u64),
) -> Result<(PartAnalyzer, u64)> {
    let mut a = PartAnalyzer::new(config.clone()).context("invalid configuration")?;
    let mut lines = 0;
    let (name, o, input) = opened
        .get(unit.input)
        .ok_or_else(|| anyhow!("internal: no input {}", unit.input))?;
    match o {
        Opened::Map(map) => {
            let head = map.bytes(0..HEAD.min(map.len));
            // Numbered from line 1: the merge shifts a part by the lines of the parts before
            // it, counted here on the way through instead of in a pass of their own.
            a.begin_part(name, unit.part, &head, 1);
            map.each_chunk(unit.range.clone(), |chunk| {
                lines += memchr::memchr_iter(b'\n', chunk).count() as u64;
                a.feed(chunk).context("rejected record (--strict)")?;
                tick(chunk.len() as u64);
                Ok(())
            })?;
            a.end().context("rejected record (--strict)")?;
        }
        Opened::Empty => {
            a.begin_file(name);
            a.end().context("rejected record (--strict)")?;
        }
        Opened::Stream => {
            a.begin_file(name);
            feed_stream(&mut a, input, name, tick)?;
            a.end().context("rejected record (--strict)")?;
        }
    }
    Ok((a, lines))
}
