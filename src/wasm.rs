//! The browser shell: two wasm-bindgen classes over the library — `Analyzer` (over
//! [`crate::Analyzer`]) and `Report` (a finished [`Analysis`]).
//!
//! It only converts: a plain JS object into [`Config`] (through JSON, so it is read exactly as
//! the config file is), `Uint8Array` chunks into [`crate::Analyzer::feed`], and the
//! [`Analysis`] into the very text the CLI writes (rendered by [`crate::report::render`]; for
//! `finish()` the JSON is handed to `JSON.parse`, so the two can never drift apart). All
//! judgement stays in the library; errors take one path, `to_js_error`. Built for `wasm32`
//! only (`scripts/build-wasm.sh` → `pkg/chaudit.js`).
//!
//! ```js
//! import init, { Analyzer } from "./pkg/chaudit.js";
//! await init();
//! const a = new Analyzer({});            // same fields as the config file; {} = defaults
//! a.beginFile("query_log.tsv");
//! for await (const chunk of file.stream()) a.feed(chunk);   // records may straddle chunks
//! const report = a.finish();            // { summary, findings, clients, rejected, ledger, timeline }
//! ```
//!
//! Or keep the analysis and render it in any of the CLI's formats, through the library's
//! own renderers ([`crate::report::render`]):
//!
//! ```js
//! const r = a.finishReport();
//! const html = r.render("html");        // = chaudit scan --format html
//! const csv = r.render("csv", "high");  // = chaudit scan --format csv --min-level high
//! r.free();
//! ```

use std::fmt::Display;

use wasm_bindgen::prelude::*;

use crate::report::{render, Format};
use crate::{Analysis, Config, Severity};

/// Turns any library or conversion error into the one JS error type the module throws.
fn to_js_error(e: impl Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The crate version, for the page's footer and bug reports.
#[wasm_bindgen]
#[must_use]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// A streaming scan over one or more files, fed chunk by chunk from JavaScript.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Analyzer {
    /// `None` once [`Analyzer::finish`] has consumed the scan.
    inner: Option<crate::Analyzer>,
}

#[wasm_bindgen]
impl Analyzer {
    /// `new Analyzer(config)`: `config` is a plain object with the config file's fields;
    /// `{}`, `null` or `undefined` mean the defaults.
    ///
    /// # Errors
    /// An unknown field, a wrong type, or an invalid network, zone or format.
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue) -> Result<Analyzer, JsError> {
        // Through JSON rather than serde-wasm-bindgen: its struct deserializer looks up only
        // the declared fields, so a misspelt setting would be silently ignored instead of
        // refused as the config file refuses it (`deny_unknown_fields`).
        let config: Config = if config.is_undefined() || config.is_null() {
            Config::default()
        } else {
            let json = js_sys::JSON::stringify(&config)
                .map_err(|e| to_js_error(format!("config is not JSON-serializable: {e:?}")))?;
            serde_json::from_str(&String::from(json))
                .map_err(|e| to_js_error(format!("invalid config: {e}")))?
        };
        let inner = crate::Analyzer::new(config).map_err(to_js_error)?;
        Ok(Self { inner: Some(inner) })
    }

    /// `beginFile(name)`: starts the next input; its chunks follow through `feed`.
    ///
    /// # Errors
    /// The analyzer has already finished.
    #[wasm_bindgen(js_name = beginFile)]
    pub fn begin_file(&mut self, name: &str) -> Result<(), JsError> {
        self.scan()?.begin_file(name);
        Ok(())
    }

    /// `setJoinsFor(heads)`: `heads` holds the first 64 KiB (`HEAD_BYTES`) of every file about to be
    /// scanned (`Uint8Array`s). When they all show one kind of log, executions are not
    /// remembered or held for joins across kinds: faster, and memory stays flat. Optional
    /// (joins are on by default); call it before the first `beginFile`.
    ///
    /// # Errors
    /// The analyzer has already finished.
    #[wasm_bindgen(js_name = setJoinsFor)]
    pub fn set_joins_for(&mut self, heads: Vec<js_sys::Uint8Array>) -> Result<(), JsError> {
        let heads: Vec<Vec<u8>> = heads.iter().map(js_sys::Uint8Array::to_vec).collect();
        let scan = self.scan()?;
        let joins = scan.joins_needed(heads.iter().map(Vec::as_slice));
        scan.set_joins(joins);
        Ok(())
    }

    /// `feed(chunk)`: the next bytes of the current input, any size, cut anywhere.
    ///
    /// # Errors
    /// The analyzer has finished, or (with `strict: true`) a record was rejected.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        self.scan()?.feed(chunk).map_err(to_js_error)
    }

    /// `endFile()`: flushes the current input (optional: `beginFile` and `finish` do it).
    ///
    /// # Errors
    /// The analyzer has finished, or (with `strict: true`) a record was rejected.
    #[wasm_bindgen(js_name = endFile)]
    pub fn end_file(&mut self) -> Result<(), JsError> {
        self.scan()?.end_file().map_err(to_js_error)
    }

    /// `finish()`: ends the scan and returns the CLI's `--format json` report as a plain
    /// object `{summary, findings, clients, rejected}`. The analyzer cannot be fed after.
    ///
    /// # Errors
    /// The analyzer has already finished.
    pub fn finish(&mut self) -> Result<JsValue, JsError> {
        let json = self.finish_json()?;
        js_sys::JSON::parse(&json).map_err(|e| to_js_error(format!("{e:?}")))
    }

    /// `finishJson()`: like `finish`, as the exact text the CLI writes (for export).
    ///
    /// # Errors
    /// The analyzer has already finished.
    #[wasm_bindgen(js_name = finishJson)]
    pub fn finish_json(&mut self) -> Result<String, JsError> {
        self.finish_report()?.render("json", None)
    }

    /// `finishReport()`: ends the scan and keeps its analysis, to be rendered in any of the
    /// CLI's formats with [`Report::render`].
    ///
    /// # Errors
    /// The analyzer has already finished.
    #[wasm_bindgen(js_name = finishReport)]
    pub fn finish_report(&mut self) -> Result<Report, JsError> {
        let analysis = self
            .inner
            .take()
            .ok_or_else(|| to_js_error(FINISHED))?
            .finish();
        Ok(Report { analysis })
    }
}

/// A finished scan's analysis, rendered on demand by the library's report writers.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Report {
    analysis: Analysis,
}

#[wasm_bindgen]
impl Report {
    /// `render(format, minLevel?)`: the exact text `chaudit scan --format FORMAT
    /// --min-level LEVEL --color never` writes for the same inputs. `format` is one of
    /// `text`, `json`, `jsonl`, `csv`, `html`, `timesketch`; `minLevel` (default `info`) one
    /// of `info`, `low`, `medium`, `high`, `critical`.
    ///
    /// # Errors
    /// An unknown format or level.
    pub fn render(&self, format: &str, min_level: Option<String>) -> Result<String, JsError> {
        let format: Format = format.parse().map_err(to_js_error)?;
        let min: Severity = match min_level {
            Some(level) => level.parse().map_err(to_js_error)?,
            None => Severity::Info,
        };
        let mut out = Vec::new();
        render(&self.analysis, format, min, &mut out).map_err(to_js_error)?;
        String::from_utf8(out).map_err(to_js_error)
    }
}

const FINISHED: &str = "this Analyzer has finished; create a new one";

impl Analyzer {
    fn scan(&mut self) -> Result<&mut crate::Analyzer, JsError> {
        self.inner.as_mut().ok_or_else(|| to_js_error(FINISHED))
    }
}
