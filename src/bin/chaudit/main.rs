//! The `chaudit` command: reads files, feeds the library, prints the report, exits 0/1/2.
//!
//! The only place that touches the file system, stdout, stderr, the environment and the
//! process exit code. All judgement lives in the library.

// The shell is the one place allowed to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod input;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use args::{Cli, ColorChoice, Command, OutputFormat, ScanArgs};
use chaudit::report::{render_json, render_jsonl, render_text, TextOptions};
use chaudit::{Analysis, Analyzer};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Scan(args) => match scan(&args) {
            Ok(code) => code,
            Err(e) => {
                if is_broken_pipe(&e) {
                    return ExitCode::SUCCESS;
                }
                eprintln!("chaudit: {e:#}");
                ExitCode::from(2)
            }
        },
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
    let threads = args
        .threads
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let unreadable = if threads > 1 && !args.strict {
        input::scan_parallel(&mut analyzer, args, &inputs, threads)?
    } else {
        let mut unreadable = Vec::new();
        for input in &inputs {
            if let Err(e) = input::feed(&mut analyzer, input) {
                if args.strict {
                    return Err(e);
                }
                eprintln!("chaudit: {e:#}");
                unreadable.push(input.clone());
            }
        }
        unreadable
    };
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
pub(crate) enum Input {
    Stdin,
    File(PathBuf),
}

/// Expands directories (recursively, in name order) and `-`.
fn expand(paths: &[PathBuf]) -> Result<Vec<Input>> {
    if paths.is_empty() {
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
    }
    .context("writing the report")?;
    out.flush().context("writing the report")?;
    Ok(())
}
