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
    let mut updated = run(&config, back, BaselineMode::ScanAndUpdate, &day)
        .baseline
        .unwrap();
    // A judging run also quotes the open bucket for the run that will close it; learning
    // judges nothing and quotes nothing.
    assert!(updated.pending.iter().all(|p| p.first_us.is_some()));
    for p in &mut updated.pending {
        (p.first_us, p.last_us) = (None, None);
        p.evidence.clear();
    }
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

/// One nginx `combined` line for a proxied ClickHouse GET.
fn nginx(out: &mut String, t: i64, ip: &str, user: &str, query: &str, sent: u64) {
    use std::fmt::Write as _;
    let when = chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%d/%b/%Y:%H:%M:%S +0000");
    let q = query.replace(' ', "%20");
    let _ = writeln!(
        out,
        r#"{ip} - {user} [{when}] "GET /?query={q} HTTP/1.1" 200 {sent} "-" "Grafana/10.2.3""#
    );
}

#[test]
fn ok_access_log_bytes_sent_feed_the_baseline() {
    let config = Config::default();
    let q = "SELECT * FROM app.orders FORMAT JSON";
    // 30 hours of ~2 MB an hour sent to one dashboard through the proxy.
    let mut hist = String::new();
    let mut r = common::Rng::new(7);
    for h in 0..30 {
        for i in 0..4 {
            let t = common::DAY0 + h * 3600 + 300 + i * 600;
            nginx(
                &mut hist,
                t,
                "10.0.0.9",
                "grafana",
                q,
                r.jitter(500_000, 20),
            );
        }
    }
    let a = run(
        &config,
        BaselineState::new(&config.baseline),
        BaselineMode::Learn,
        &hist,
    );
    assert_eq!(a.summary.rejected, 0);
    let state = a.baseline.unwrap();
    let c = &state.clients["grafana@10.0.0.9"];
    let sent = &c.metrics[&chaudit::detect::baseline::Metric::SentBytes];
    assert_eq!(sent.len(), 29, "every closed hour has its bytes sent");
    let p50 = sent.percentile(50);
    assert!((1_800_000..2_200_000).contains(&p50), "p50 {p50}");

    // An ordinary hour is quiet; an hour with 900 MB sent is a volume anomaly on sent_bytes.
    let later = common::DAY0 + 40 * 3600;
    let mut ordinary = String::new();
    for i in 0..4 {
        nginx(
            &mut ordinary,
            later + i * 600,
            "10.0.0.9",
            "grafana",
            q,
            510_000,
        );
    }
    let a = run(&config, state.clone(), BaselineMode::Scan, &ordinary);
    assert!(
        of(&a, RuleId::VolumeAnomaly).is_empty(),
        "{:#?}",
        a.findings
    );
    let mut spike = ordinary.clone();
    nginx(
        &mut spike,
        later + 3000,
        "10.0.0.9",
        "grafana",
        q,
        900_000_000,
    );
    let a = run(&config, state, BaselineMode::Scan, &spike);
    let (v, per_query): (Vec<_>, Vec<_>) = of(&a, RuleId::VolumeAnomaly)
        .into_iter()
        .partition(|f| !f.metrics.contains_key("per_query"));
    assert_eq!((v.len(), per_query.len()), (1, 1), "{:#?}", a.findings);
    assert_eq!(v[0].metrics["sent_bytes"], 900_000_000 + 4 * 510_000);
    assert_eq!(v[0].metrics["baseline_n"], 29);
    assert!(v[0].summary.contains("sent_bytes"), "{}", v[0].summary);
}

#[test]
fn ok_proxied_rows_keep_server_and_proxy_bytes_apart() {
    // The server logs the proxy (10.0.0.2) as the client; the proxy's log names the real
    // one. Paired, the row counts once, for 10.0.0.9: result bytes from the server, bytes
    // sent from the proxy.
    let config = Config::default();
    let (mut text, mut proxy) = (String::new(), String::new());
    for h in 0..3 {
        let t = common::DAY0 + h * 3600 + 100;
        let when = chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S");
        text.push_str(&format!(
            "{{\"type\":\"QueryFinish\",\"event_time\":\"{when}\",\"user\":\"grafana\",\"address\":\"::ffff:10.0.0.2\",\"interface\":2,\"query_id\":\"q{h}\",\"query\":\"SELECT 1\",\"read_rows\":1,\"result_rows\":1,\"result_bytes\":1000,\"is_initial_query\":1}}\n"
        ));
        nginx(&mut proxy, t + 1, "10.0.0.9", "grafana", "SELECT 1", 1500);
    }
    let mut an = Analyzer::new(config.clone())
        .unwrap()
        .with_baseline(BaselineState::new(&config.baseline), BaselineMode::Learn)
        .unwrap();
    for (name, text) in [("query_log.jsonl", &text), ("access.log", &proxy)] {
        an.begin_file(name);
        an.feed(text.as_bytes()).unwrap();
        an.end_file().unwrap();
    }
    let a = an.finish();
    assert_eq!(a.summary.duplicates, 3, "{:#?}", a.summary);
    let state = a.baseline.unwrap();
    assert!(!state.clients.contains_key("grafana@10.0.0.2"));
    let c = &state.clients["grafana@10.0.0.9"];
    use chaudit::detect::baseline::Metric;
    // (HDR keeps two significant digits: values come back as the top of their 1 % bucket.)
    let (result, sent) = (
        c.metrics[&Metric::ResultBytes].percentile(50),
        c.metrics[&Metric::SentBytes].percentile(50),
    );
    assert!((1000..1010).contains(&result), "{result}");
    assert!((1500..1515).contains(&sent), "{sent}");
}

/// Berlin wall-clock offset (CET/CEST) at a UTC instant in March 2025.
fn berlin_offset(t: i64) -> i64 {
    // 2025-03-30 01:00 UTC: clocks go from 02:00 CET to 03:00 CEST.
    if t < 1_743_296_400 {
        3600
    } else {
        7200
    }
}

/// 15 days (2025-03-14 … 03-28, all CET) of `bi` busy 09–17 Berlin time, then 2025-03-31
/// (CEST) 09:00–10:00 Berlin time with a busy hour's volume; times written in `zone`.
fn seasonal_run(zone: &str) -> Vec<chaudit::Finding> {
    let config = Config {
        timezone: zone.to_owned(),
        ..Config::default()
    };
    let wall = |t: i64| {
        if zone == "UTC" {
            t
        } else {
            t + berlin_offset(t)
        }
    };
    let day0 = 1_741_910_400; // 2025-03-14 00:00 UTC
    let mut r = common::Rng::new(3);
    let mut hist = String::new();
    for d in 0..15 {
        for h in 0..24 {
            let start = day0 + d * 86_400 + h * 3600;
            let local_hour = (start + berlin_offset(start)).rem_euclid(86_400) / 3600;
            let bytes = if (9..17).contains(&local_hour) {
                r.jitter(400_000_000, 10)
            } else {
                r.jitter(20_000_000, 10)
            };
            common::row(
                &mut hist,
                wall(start + 60),
                "bi",
                "10.0.0.6",
                "SELECT 1",
                10,
                bytes,
            );
        }
    }
    let a = run(
        &config,
        BaselineState::new(&config.baseline),
        BaselineMode::Learn,
        &hist,
    );
    let state = a.baseline.unwrap();
    assert_eq!(state.hour_zone, if zone == "UTC" { "UTC" } else { zone });
    // 2025-03-31 07:00 UTC = 09:00 CEST.
    let t = 1_743_404_400 + 120;
    let mut day = String::new();
    common::row(
        &mut day,
        wall(t),
        "bi",
        "10.0.0.6",
        "SELECT 1",
        10,
        410_000_000,
    );
    run(&config, state, BaselineMode::Scan, &day).findings
}

#[test]
fn ok_hour_of_day_is_the_servers_wall_clock_hour() {
    // Keyed by Berlin hours, 09:00 is a busy hour after the DST switch as before it.
    let berlin = seasonal_run("Europe/Berlin");
    assert!(berlin.is_empty(), "{berlin:#?}");
    // The same instants keyed by UTC hours: 07:00 UTC was 08:00 CET, a quiet hour, all
    // through the history — the busy hour looks like a spike.
    let utc = seasonal_run("UTC");
    assert_eq!(utc.len(), 1, "{utc:#?}");
    assert_eq!(utc[0].rule, RuleId::VolumeAnomaly);
    assert_eq!(utc[0].metrics["baseline_source"], 1, "own hour of day");
}

#[test]
fn ok_version_1_state_is_read_and_rekeyed() {
    let config = Config::default();
    let state = learned(&config);
    let mut v1 = serde_json::to_value(&state).unwrap();
    v1["version"] = 1.into();
    v1.as_object_mut().unwrap().remove("hour_zone");
    let v1: BaselineState = serde_json::from_value(v1).unwrap();
    assert_eq!(v1.hour_zone, "UTC");
    // Read in UTC: nothing changes but the version.
    let same = run(&config, v1.clone(), BaselineMode::ScanAndUpdate, "")
        .baseline
        .unwrap();
    assert_eq!(same.version, chaudit::detect::baseline::STATE_VERSION);
    assert_eq!(same.clients, state.clients);
    // Read in another zone: the UTC-keyed hour histograms are dropped, the rest kept.
    let mut berlin = config.clone();
    berlin.timezone = "Europe/Berlin".to_owned();
    let moved = run(&berlin, v1, BaselineMode::ScanAndUpdate, "")
        .baseline
        .unwrap();
    assert_eq!(moved.hour_zone, "Europe/Berlin");
    let c = &moved.clients["bi@10.0.0.6"];
    assert!(c.hourly.is_empty());
    assert_eq!(c.n(), state.clients["bi@10.0.0.6"].n());
}

#[test]
fn ok_scan_buckets_are_capped_and_the_rest_counted() {
    let config = Config {
        max_tracked_clients: 50,
        ..Config::default()
    };
    let mut text = String::new();
    for i in 0..2000 {
        let ip = format!("10.1.{}.{}", i / 250, i % 250 + 1);
        common::row(&mut text, common::DAY0 + i, "u", &ip, "SELECT 1", 1, 100);
    }
    // A later hour closes the first one.
    common::row(
        &mut text,
        common::DAY0 + 7200,
        "u",
        "10.1.0.1",
        "SELECT 1",
        1,
        100,
    );
    let a = run(
        &config,
        BaselineState::new(&config.baseline),
        BaselineMode::ScanAndUpdate,
        &text,
    );
    assert_eq!(a.summary.events, 2001);
    assert_eq!(a.summary.baseline_untracked, 1950);
    assert!(a.volumes.len() <= 50);
    // The JSON report says so too.
    let mut out = Vec::new();
    chaudit::report::render_json(&a, chaudit::Severity::Info, &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["summary"]["baseline_untracked"], 1950);
    let state = a.baseline.unwrap();
    assert_eq!(state.clients.len(), 50);
    assert!(state.pending.len() <= 50);

    // Against that state, a newcomer past the cap gets no buckets but is still new.
    let mut later = String::new();
    for i in 0..60 {
        let ip = format!("10.2.0.{}", i + 1);
        common::row(
            &mut later,
            common::DAY0 + 3 * 3600 + i,
            "u",
            &ip,
            "SELECT * FROM t",
            1,
            100,
        );
    }
    let a = run(&config, state, BaselineMode::ScanAndUpdate, &later);
    // The cap counts this scan's clients: the pending one carried in, plus 49 newcomers.
    assert_eq!(a.summary.baseline_untracked, 11);
    assert_eq!(of(&a, RuleId::FirstSeenClient).len(), 60);
}
