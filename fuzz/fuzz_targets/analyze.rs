//! The whole pipeline (sniff, parse, detect, every report) on arbitrary bytes: no panic, and
//! the JSON report is always valid JSON.
#![no_main]

use chaudit::report::{render_json, render_jsonl, render_text, TextOptions};
use chaudit::{analyze, Config, Severity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(a) = analyze(Config::default(), &[("fuzz", data)]) else {
        return;
    };
    let mut out = Vec::new();
    render_json(&a, Severity::Info, &mut out).unwrap();
    serde_json::from_slice::<serde_json::Value>(&out).unwrap();
    out.clear();
    render_jsonl(&a, Severity::Info, &mut out).unwrap();
    render_text(&a, &TextOptions::default(), &mut out).unwrap();
});
