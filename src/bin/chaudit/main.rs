//! The `chaudit` command: reads files, feeds the library, prints the report, exits 0/1/2.
//!
//! The only place that touches the file system, stdout, stderr, the environment and the
//! process exit code. All judgement lives in the library.

// The shell is the one place allowed to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod config_file;
mod input;
mod pull;
mod state;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use args::{BaselineCommand, Cli, ColorChoice, Command, LearnArgs, OutputFormat, ScanArgs};
use chaudit::report::{
    render_csv, render_html, render_json, render_jsonl, render_ledger_text, render_text,
    render_timesketch, HtmlOptions, TextOptions,
};
use chaudit::{Analysis, Analyzer, BaselineMode, BaselineState, Timestamp};
use indicatif::{ProgressBar, ProgressStyle};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => scan(&args),
        Command::Pull(args) => pull::pull(&args),
        Command::Sql(args) => pull::sql(&args),
        Command::Baseline(BaselineCommand::Learn(args)) => learn(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("chaudit: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Scans larger than this get a progress bar (on a terminal, unless --quiet).
const PROGRESS_BYTES: u64 = 64 << 20;

/// A progress bar on stderr for long scans, only when stderr is a terminal.
fn progress(inputs: &[Input], quiet: bool) -> Option<ProgressBar> {
    if quiet || !io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = inputs
        .iter()
        .filter_map(|i| match i {
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
        })
        .sum();
    if total < PROGRESS_BYTES {
        return None;
    }
    let plain = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let template = if plain {
        "{bytes}/{total_bytes} [{bar:40}] {eta}"
    } else {
        "{bytes}/{total_bytes} [{bar:40.cyan/blue}] {eta}"
    };
    let bar = ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}

fn time_range(
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(Option<Timestamp>, Option<Timestamp>)> {
    let since = since
        .map(config_file::parse_time)
        .transpose()
        .context("--since")?;
    let until = until
        .map(config_file::parse_time)
        .transpose()
        .context("--until")?;
    Ok((since, until))
}

/// `chaudit baseline learn`: a fresh state from the inputs, written atomically under a lock.
fn learn(args: &LearnArgs) -> Result<ExitCode> {
    let config = args.apply(config_file::load(args.config.as_deref())?);
    let _lock = state::lock(&args.output)?;
    let fresh = BaselineState::new(&config.baseline);
    let mut analyzer = Analyzer::new(config)
        .context("invalid configuration")?
        .with_baseline(fresh, BaselineMode::Learn)
        .context("invalid baseline settings")?;
    let (since, until) = time_range(args.since.as_deref(), args.until.as_deref())?;
    analyzer.set_range(since, until);
    let inputs = expand(&args.paths)?;
    let bar = progress(&inputs, args.quiet);
    let mut marks = std::collections::BTreeMap::new();
    for input in &inputs {
        match input {
            Input::File(p) => {
                state::feed_incremental(&mut analyzer, &mut marks, p, |n| {
                    if let Some(b) = &bar {
                        b.inc(n);
                    }
                })?;
            }
            Input::Stdin => input::feed(&mut analyzer, input, &|_| {})?,
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut analysis = analyzer.finish();
    let mut learned = analysis
        .baseline
        .take()
        .context("the analyzer returned no baseline")?;
    learned.sources = marks;
    state::save(&args.output, &learned)?;
    if !args.quiet {
        eprintln!(
            "chaudit: learned {} clients from {} events ({} rejected, {} evicted); wrote {}",
            learned.clients.len(),
            analysis.summary.events,
            analysis.summary.rejected,
            learned.evicted,
            args.output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A closed pipe (`chaudit scan … | head`) is how the reader says it has seen enough.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn scan(args: &ScanArgs) -> Result<ExitCode> {
    let config = args.to_config(config_file::load(args.config.as_deref())?);
    let mut analyzer = Analyzer::new(config.clone()).context("invalid configuration")?;
    let (since, until) = time_range(args.since.as_deref(), args.until.as_deref())?;
    analyzer.set_range(since, until);
    // The lock is taken before the state is read: read, update and write are one step.
    let _lock = match (&args.baseline, args.update_baseline) {
        (Some(p), true) => Some(state::lock(p)?),
        _ => None,
    };
    let mut marks = None;
    if let Some(p) = &args.baseline {
        let mut loaded = state::load(p)?;
        let mode = if args.update_baseline {
            marks = Some(std::mem::take(&mut loaded.sources));
            BaselineMode::ScanAndUpdate
        } else {
            BaselineMode::Scan
        };
        analyzer = analyzer
            .with_baseline(loaded, mode)
            .with_context(|| format!("baseline state {}", p.display()))?;
    }
    let inputs = expand(&args.paths)?;
    let bar = progress(&inputs, args.quiet);
    let tick = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n);
        }
    };
    let threads = args
        .threads
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let unreadable = match marks.as_mut() {
        // Incremental runs read each file from its high-water mark, one after another.
        Some(m) => scan_incremental(&mut analyzer, args, &inputs, m, &tick)?,
        None if threads > 1 && !args.strict => {
            input::scan_parallel(&mut analyzer, &config, &inputs, threads, &tick)?
        }
        None => {
            let mut unreadable = Vec::new();
            for input in &inputs {
                if let Err(e) = input::feed(&mut analyzer, input, &tick) {
                    if args.strict {
                        return Err(e);
                    }
                    eprintln!("chaudit: {e:#}");
                    unreadable.push(input.clone());
                }
            }
            unreadable
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let mut analysis = analyzer.finish();
    if let (Some(p), Some(m)) = (&args.baseline, marks) {
        let mut updated = analysis
            .baseline
            .take()
            .context("the analyzer returned no baseline")?;
        updated.sources = m;
        state::save(p, &updated)?;
        if !args.quiet {
            eprintln!(
                "chaudit: baseline {} updated: {} clients, {} evicted",
                p.display(),
                updated.clients.len(),
                updated.evicted
            );
        }
    }
    write_report(args, &analysis)?;
    if !unreadable.is_empty() {
        return Ok(ExitCode::from(2));
    }
    let failing = analysis.findings.iter().any(|f| f.severity >= args.fail_on);
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Reads each file from its high-water mark in `marks` (stdin whole); returns the unreadable
/// inputs.
fn scan_incremental(
    analyzer: &mut Analyzer,
    args: &ScanArgs,
    inputs: &[Input],
    marks: &mut std::collections::BTreeMap<String, chaudit::detect::baseline::SourceMark>,
    tick: &dyn Fn(u64),
) -> Result<Vec<Input>> {
    let mut unreadable = Vec::new();
    for input in inputs {
        let fed = match input {
            Input::File(p) => {
                state::feed_incremental(analyzer, marks, p, tick).map(|(resume, _)| {
                    if let state::Resume::Restarted { reason } = resume {
                        if !args.quiet {
                            eprintln!(
                                "chaudit: {} {reason}; reading it from the start",
                                p.display()
                            );
                        }
                    }
                })
            }
            Input::Stdin => input::feed(analyzer, input, tick),
        };
        if let Err(e) = fed {
            if args.strict {
                return Err(e);
            }
            eprintln!("chaudit: {e:#}");
            unreadable.push(input.clone());
        }
    }
    Ok(unreadable)
}

/// One input to read: a file or stdin.
#[derive(Debug, Clone)]
pub(crate) enum Input {
    Stdin,
    File(PathBuf),
}

/// Expands directories (recursively, in name order) and `-`.
fn expand(paths: &[PathBuf]) -> Result<Vec<Input>> {
    if paths.is_empty() {
        if io::stdin().is_terminal() {
            anyhow::bail!(
                "no input: name files or directories to scan, or pipe an export into stdin"
            );
        }
        return Ok(vec![Input::Stdin]);
    }
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(Input::Stdin);
        } else if p.is_dir() {
            walk(p, &mut out).with_context(|| format!("reading directory {}", p.display()))?;
        } else {
            out.push(Input::File(p.clone()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<Input>) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.is_file() {
            out.push(Input::File(p));
        }
    }
    Ok(())
}

fn write_report(args: &ScanArgs, analysis: &Analysis) -> Result<()> {
    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    match args.format {
        OutputFormat::Text => {
            let opts = TextOptions {
                min_level: args.min_level,
                color,
                ..TextOptions::default()
            };
            render_text(analysis, &opts, &mut out)
        }
        OutputFormat::Json => render_json(analysis, args.min_level, &mut out),
        OutputFormat::Jsonl => render_jsonl(analysis, args.min_level, &mut out),
        OutputFormat::Csv => render_csv(analysis, args.min_level, &mut out),
        OutputFormat::Html => render_html(
            analysis,
            &HtmlOptions {
                min_level: args.min_level,
            },
            &mut out,
        ),
        OutputFormat::Timesketch => render_timesketch(analysis, args.min_level, &mut out),
    }
    .and_then(|()| match args.format {
        OutputFormat::Text if args.ledger => render_ledger_text(analysis, &mut out),
        _ => Ok(()),
    })
    .context("writing the report")?;
    out.flush().context("writing the report")?;
    Ok(())
}
