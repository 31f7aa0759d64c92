//! The baseline's "done when": learn 13 days of generated traffic, then judge day 14.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use chaudit::{Analysis, Analyzer, BaselineMode, BaselineState, Config, RuleId};

fn run(config: &Config, state: BaselineState, mode: BaselineMode, text: &str) -> Analysis {
    let mut a = Analyzer::new(config.clone())
        .unwrap()
        .with_baseline(state, mode)
        .unwrap();
    a.begin_file("query_log.jsonl");
    a.feed(text.as_bytes()).unwrap();
    a.end_file().unwrap();
    a.finish()
}

fn learned(config: &Config) -> BaselineState {
    let text = common::history(13, 1);
    let a = run(
        config,
        BaselineState::new(&config.baseline),
        BaselineMode::Learn,
        &text,
    );
    assert_eq!(a.summary.rejected, 0);
    assert!(a.findings.iter().all(|f| f.rule != RuleId::VolumeAnomaly));
    a.baseline.unwrap()
}

fn of(a: &Analysis, rule: RuleId) -> Vec<&chaudit::Finding> {
    a.findings.iter().filter(|f| f.rule == rule).collect()
}

#[test]
fn ok_day_14_spike_and_new_external_client_are_flagged() {
    let config = Config::default();
    let state = learned(&config);
    assert_eq!(state.clients.len(), 4);
    assert_eq!(state.clients["bi@10.0.0.6"].n(), 13 * 24 - 1);

    let a = run(
        &config,
        state,
        BaselineMode::Scan,
        &common::planted_day(13, 1),
    );
    let volume = of(&a, RuleId::VolumeAnomaly);
    assert_eq!(volume.len(), 1, "{volume:#?}");
    let v = volume[0];
    assert_eq!(
        (v.user.as_str(), v.client_ip.map(|i| i.to_string())),
        ("bi", Some("10.0.0.6".to_owned()))
    );
    assert_eq!(v.first_seen.to_string(), "2025-01-29T03:02:00Z");
    for k in ["observed", "baseline_n", "p50", "p99", "mad", "score_x100"] {
        assert!(v.metrics.contains_key(k), "{k}");
    }
    assert_eq!(v.metrics["baseline_source"], 2, "own history");
    assert!(
        v.metrics["observed"] > 20 * v.metrics["p99"],
        "{:?}",
        v.metrics
    );
    assert!(v
        .evidence
        .iter()
        .any(|e| e.excerpt.as_deref() == Some("SELECT * FROM sales.orders")));

    let new = of(&a, RuleId::FirstSeenClient);
    assert_eq!(new.len(), 1, "{new:#?}");
    assert_eq!(
        new[0].client_ip.map(|i| i.to_string()).as_deref(),
        Some("203.0.113.9")
    );
    assert_eq!(new[0].severity, chaudit::Severity::High);
    assert_eq!(new[0].metrics["observed"], 5_000_300);
    // The external newcomer has no peers in the baseline: static limits, and it says so.
    assert_eq!(new[0].metrics["baseline_source"], 4);
    assert!(
        new[0].summary.contains("static limits"),
        "{}",
        new[0].summary
    );
}

#[test]
fn ok_ordinary_days_raise_no_volume_findings() {
    let config = Config::default();
    let state = learned(&config);
    for seed in [1, 2, 3, 4, 5] {
        let mut day = String::new();
        common::ordinary_day(&mut day, 13, seed);
        let a = run(&config, state.clone(), BaselineMode::Scan, &day);
        assert_eq!(a.summary.events, 1834);
        assert!(a.findings.is_empty(), "seed {seed}: {:#?}", a.findings);
        assert!(!a.volumes.is_empty());
    }
}

#[test]
fn ok_state_round_trips_and_scan_can_update_it() {
    let config = Config::default();
    let state = learned(&config);
    let json = serde_json::to_string_pretty(&state).unwrap();
    let back: BaselineState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    assert_eq!(serde_json::to_string_pretty(&back).unwrap(), json);

    // Learning 14 days at once equals learning 13 and then scanning day 14 with an update.
    let mut day = String::new();
    common::ordinary_day(&mut day, 13, 1);
    let updated = run(&config, back, BaselineMode::ScanAndUpdate, &day)
        .baseline
        .unwrap();
    let all = run(
        &config,
        BaselineState::new(&config.baseline),
        BaselineMode::Learn,
        &common::history(14, 1),
    )
    .baseline
    .unwrap();
    assert_eq!(updated, all);
    // Scan without update leaves it alone.
    let same = run(&config, state.clone(), BaselineMode::Scan, &day)
        .baseline
        .unwrap();
    assert_eq!(same, state);
}

#[test]
fn err_mismatched_state_is_refused() {
    let config = Config::default();
    let state = learned(&config);
    let mut other = config.clone();
    other.baseline.bucket_secs = 600;
    let e = Analyzer::new(other)
        .unwrap()
        .with_baseline(state, BaselineMode::Scan)
        .unwrap_err();
    assert!(e.to_string().contains("bucket"), "{e}");
}
