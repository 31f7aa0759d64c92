//! Writing the report (scan and pull): one renderer switch, and `-o FILE` written whole or not
//! at all (a temporary file beside FILE, renamed) — devices and pipes are written in place.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::args::{ColorChoice, OutputFormat, ReportArgs};
use chaudit::report::{
    render_csv, render_html, render_json, render_jsonl, render_ledger_text, render_text,
    render_timesketch, HtmlOptions, TextOptions,
};
use chaudit::Analysis;

/// Renders `analysis` as `args` say, to stdout or `--output`.
pub(crate) fn write_report(args: &ReportArgs, analysis: &Analysis) -> Result<()> {
    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let render = |out: &mut dyn Write| -> io::Result<()> {
        match args.format {
            OutputFormat::Text => {
                let opts = TextOptions {
                    min_level: args.min_level,
                    color,
                    ..TextOptions::default()
                };
                render_text(analysis, &opts, out)?;
                if args.ledger {
                    render_ledger_text(analysis, out)?;
                }
                Ok(())
            }
            OutputFormat::Json => render_json(analysis, args.min_level, out),
            OutputFormat::Jsonl => render_jsonl(analysis, args.min_level, out),
            OutputFormat::Csv => render_csv(analysis, args.min_level, out),
            OutputFormat::Html => render_html(
                analysis,
                &HtmlOptions {
                    min_level: args.min_level,
                },
                out,
            ),
            OutputFormat::Timesketch => render_timesketch(analysis, args.min_level, out),
        }?;
        out.flush()
    };
    match &args.output {
        None => render(&mut BufWriter::new(io::stdout().lock())).context("writing the report"),
        // A device or a pipe (`-o /dev/null`, `-o /dev/stdout`, a FIFO) is written in place:
        // renaming over it would replace /dev/null with a regular file.
        Some(path) if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            render(&mut BufWriter::new(f))
                .with_context(|| format!("cannot write {}", path.display()))
        }
        Some(path) => {
            let tmp = temp_path(path);
            let result = File::create(&tmp)
                .map_err(anyhow::Error::from)
                .and_then(|f| Ok(render(&mut BufWriter::new(f))?))
                .and_then(|()| Ok(std::fs::rename(&tmp, path)?));
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result.with_context(|| format!("cannot write {}", path.display()))
        }
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".chaudit-{}.tmp", std::process::id()));
    path.with_file_name(name)
}
