//! The `chaudit` command: reads files, feeds the library, prints the report, exits 0/1/2.
//!
//! The only place that touches the file system, stdout, stderr, the environment and the
//! process exit code. All judgement lives in the library.

// The shell is the one place allowed to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod pull;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use args::{Cli, ColorChoice, Command, OutputFormat, ScanArgs};
use chaudit::report::{render_json, render_jsonl, render_text, TextOptions};
use chaudit::{Analysis, Analyzer};

/// Bytes read per chunk.
const CHUNK: usize = 1 << 20;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => scan(&args),
        Command::Pull(args) => pull::pull(&args),
        Command::Sql(args) => pull::sql(&args),
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

/// A closed pipe (`chaudit scan … | head`) is how the reader says it has seen enough.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn scan(args: &ScanArgs) -> Result<ExitCode> {
    let mut analyzer = Analyzer::new(args.to_config()).context("invalid configuration")?;
    let inputs = expand(&args.paths)?;
    let mut unreadable = Vec::new();
    for input in &inputs {
        if let Err(e) = feed(&mut analyzer, input) {
            if args.strict {
                return Err(e);
            }
            eprintln!("chaudit: {e:#}");
            unreadable.push(input.clone());
        }
    }
    let analysis = analyzer.finish();
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

/// One input to read: a file or stdin.
#[derive(Debug, Clone)]
enum Input {
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

fn feed(analyzer: &mut Analyzer, input: &Input) -> Result<()> {
    let (name, mut reader): (String, Box<dyn Read>) = match input {
        Input::Stdin => ("-".to_owned(), Box::new(io::stdin().lock())),
        Input::File(p) => {
            let f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            // A device such as /dev/zero never ends; pipes (FIFOs) are fine.
            let kind = f
                .metadata()
                .with_context(|| format!("cannot stat {}", p.display()))?
                .file_type();
            if !kind.is_file() && !is_fifo(&kind) {
                anyhow::bail!("{} is not a regular file or a pipe", p.display());
            }
            (p.display().to_string(), Box::new(f))
        }
    };
    analyzer.begin_file(&name);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {name}")),
        };
        analyzer
            .feed(buf.get(..n).unwrap_or_default())
            .context("rejected record (--strict)")?;
    }
    analyzer.end_file().context("rejected record (--strict)")?;
    Ok(())
}

#[cfg(unix)]
fn is_fifo(kind: &std::fs::FileType) -> bool {
    std::os::unix::fs::FileTypeExt::is_fifo(kind)
}

#[cfg(not(unix))]
fn is_fifo(_: &std::fs::FileType) -> bool {
    false
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
    }
    .context("writing the report")?;
    out.flush().context("writing the report")?;
    Ok(())
}
