//! `auth-failure-burst`
//!
//! ## What it flags
//! At least `auth_failures` (default 5) failed logins from one client address within
//! `auth_failure_window_secs` (default 300 s), whatever user names were tried: from
//! session_log `LoginFailure` rows, the server text log (`Wrong password for user …`,
//! `Authentication failed`) and proxy 401/403 responses. High from an external client, medium
//! from an internal one; **critical when a successful login from the same client follows** —
//! the guessing worked.
//!
//! ## Why it matters
//! Password guessing against an exposed 8123/9000 is cheap and common. Failures alone are a
//! warning; a success after them is a compromised account.
//!
//! ## Example
//! ```text
//! 6 × LoginFailure user=alice client_address=203.0.113.5, then LoginSuccess user=alice
//! → critical: 203.0.113.5 failed to log in 6 times within 300 s (users tried: alice), then logged in as `alice` …
//! ```
//!
//! Unlike the other rules it keeps its own per-client state (times of failures and
//! successes, capped per client) because a burst is a sliding window, not a fixed one.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::detect::finding::RawEvidence;
use crate::detect::{human_count, resolve_evidence, Finding, RuleId, Settings, Severity};
use crate::event::{HttpEvent, LoginEvent, LoginOutcome};
use crate::net::NetClass;
use crate::time::Timestamp;

/// Attempts remembered per client and outcome.
const MAX_PER_CLIENT: usize = 10_000;
/// Evidence lines per finding.
const MAX_EVIDENCE: usize = 8;

#[derive(Debug, Clone)]
struct Attempt {
    time: Timestamp,
    user: String,
    evidence: RawEvidence,
}

#[derive(Debug, Default)]
struct Client {
    class: Option<NetClass>,
    failures: Vec<Attempt>,
    successes: Vec<Attempt>,
}

/// Per-client login history.
#[derive(Debug, Default)]
pub(crate) struct State {
    clients: BTreeMap<Option<IpAddr>, Client>,
    /// Attempts of clients past `max_tracked_clients`, not remembered.
    untracked: u64,
}

impl State {
    /// The client's history, unless `max_tracked_clients` others are tracked already.
    fn client(&mut self, ip: Option<IpAddr>, class: NetClass, s: &Settings) -> Option<&mut Client> {
        if self.clients.len() >= s.max_clients && !self.clients.contains_key(&ip) {
            self.untracked = self.untracked.saturating_add(1);
            return None;
        }
        let c = self.clients.entry(ip).or_default();
        c.class = Some(class);
        Some(c)
    }

    /// Login attempts of clients past the cap, left out.
    pub(crate) fn untracked(&self) -> u64 {
        self.untracked
    }

    pub(crate) fn observe(&mut self, l: &LoginEvent<'_>, class: NetClass, s: &Settings) {
        let attempt = Attempt {
            time: l.time,
            user: l.user.to_string(),
            evidence: RawEvidence {
                location: l.location,
                excerpt: format!(
                    "{} user={}{}",
                    match l.outcome {
                        LoginOutcome::Success => "login",
                        LoginOutcome::Failure => "login failed",
                        LoginOutcome::Logout => "logout",
                    },
                    l.user,
                    l.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                weight: 1,
            },
        };
        let Some(c) = self.client(l.client, class, s) else {
            return;
        };
        let list = match l.outcome {
            LoginOutcome::Failure => &mut c.failures,
            LoginOutcome::Success => &mut c.successes,
            LoginOutcome::Logout => return,
        };
        if list.len() < MAX_PER_CLIENT {
            list.push(attempt);
        }
    }

    /// A proxy answered 401/403: ClickHouse refused the request's credentials.
    pub(crate) fn observe_http_refusal(
        &mut self,
        h: &HttpEvent<'_>,
        class: NetClass,
        s: &Settings,
    ) {
        let user = h.user.as_deref().unwrap_or("default").to_owned();
        let attempt = Attempt {
            time: h.time,
            evidence: RawEvidence {
                location: h.location,
                excerpt: format!(
                    "HTTP {} for {} {}",
                    h.status.unwrap_or(0),
                    h.method,
                    if s.redact {
                        crate::redact::redact_url(&h.target)
                    } else {
                        std::borrow::Cow::Borrowed(h.target.as_ref())
                    }
                ),
                weight: 1,
            },
            user,
        };
        if let Some(c) = self.client(h.client, class, s) {
            if c.failures.len() < MAX_PER_CLIENT {
                c.failures.push(attempt);
            }
        }
    }

    /// The findings: one per client whose failures ever reached the threshold in a window.
    pub(crate) fn findings(&self, s: &Settings, paths: &[String]) -> Vec<Finding> {
        let n = usize::try_from(s.thresholds.auth_failures.max(1)).unwrap_or(usize::MAX);
        let window = s.thresholds.auth_failure_window_secs.max(0);
        let mut out = Vec::new();
        for (ip, c) in &self.clients {
            let mut failures = c.failures.clone();
            failures.sort_by_key(|a| (a.time, a.evidence.location));
            // The same failure logged by two sources (session_log and text log) counts once.
            failures.dedup_by(|b, a| {
                a.user == b.user
                    && (b.time.0 - a.time.0).abs() <= 1_000_000
                    && a.evidence.location.source != b.evidence.location.source
            });
            let Some((burst_at, max_in_window)) = burst(&failures, n, window) else {
                continue;
            };
            let first = failures.first().map_or(burst_at, |a| a.time);
            let success = c
                .successes
                .iter()
                .filter(|a| a.time >= burst_at)
                .min_by_key(|a| a.time);
            let class = c.class.unwrap_or(NetClass::Unknown);
            let severity = match (success.is_some(), class) {
                (true, _) => Severity::Critical,
                (false, NetClass::External) => Severity::High,
                _ => Severity::Medium,
            };
            let mut tried: BTreeMap<&str, u64> = BTreeMap::new();
            for f in &failures {
                *tried.entry(f.user.as_str()).or_default() += 1;
            }
            let users: BTreeSet<String> = tried.keys().take(10).map(|u| (*u).to_owned()).collect();
            let user = success.map_or_else(
                || {
                    tried
                        .iter()
                        .max_by_key(|(u, n)| (**n, std::cmp::Reverse(**u)))
                        .map_or("default".to_owned(), |(u, _)| (*u).to_owned())
                },
                |a| a.user.clone(),
            );
            let mut evidence: Vec<RawEvidence> = failures
                .iter()
                .take(MAX_EVIDENCE - 1)
                .map(|a| a.evidence.clone())
                .collect();
            if let Some(a) = success {
                evidence.push(a.evidence.clone());
            }
            evidence.sort_by_key(|e| e.location);
            let last = success.map_or(failures.last().map_or(first, |a| a.time), |a| a.time);
            let who = match ip {
                Some(ip) => format!("{class} {ip}"),
                None => "a client whose address was not logged".to_owned(),
            };
            let names: Vec<&str> = users.iter().map(String::as_str).collect();
            let mut metrics = BTreeMap::new();
            metrics.insert("failures", failures.len() as u64);
            metrics.insert("max_failures_in_window", max_in_window as u64);
            metrics.insert("threshold_failures", s.thresholds.auth_failures);
            metrics.insert("window_secs", u64::try_from(window).unwrap_or(0));
            metrics.insert("successes_after", u64::from(success.is_some()));
            out.push(Finding {
                rule: RuleId::AuthFailureBurst,
                severity,
                first_seen: first,
                last_seen: last,
                user: user.clone(),
                client_ip: *ip,
                client_class: class,
                count: failures.len() as u64,
                summary: format!(
                    "{who} failed to log in {} times, {} within {} s (threshold {}; users tried: {}){}.",
                    human_count(failures.len() as u64),
                    human_count(max_in_window as u64),
                    window,
                    s.thresholds.auth_failures,
                    names.join(", "),
                    match success {
                        Some(_) => format!(", then logged in as `{user}`"),
                        None => String::new(),
                    }
                ),
                metrics,
                tables: Vec::new(),
                targets: users.into_iter().collect(),
                assumptions: Vec::new(),
                evidence: resolve_evidence(evidence, paths),
            });
        }
        out
    }
}

/// The time the failures first reached `n` within `window` seconds, and the most failures in
/// any such window; `None` if they never did.
fn burst(sorted: &[Attempt], n: usize, window: i64) -> Option<(Timestamp, usize)> {
    let mut start = 0;
    let mut first_burst = None;
    let mut max = 0;
    for (end, a) in sorted.iter().enumerate() {
        while sorted
            .get(start)
            .is_some_and(|s| a.time.0 - s.time.0 > window * 1_000_000)
        {
            start += 1;
        }
        let count = end + 1 - start;
        max = max.max(count);
        if count >= n && first_burst.is_none() {
            first_burst = Some(a.time);
        }
    }
    first_burst.map(|t| (t, max))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use crate::config::Config;
    use crate::detect::{Detector, RuleId, Settings, Severity};
    use crate::event::{Event, Location, LoginEvent, LoginOutcome, SourceId};
    use crate::time::Timestamp;

    fn login(secs: i64, user: &'static str, ip: &str, outcome: LoginOutcome) -> Event<'static> {
        Event::Login(LoginEvent {
            time: Timestamp::from_secs(1_738_144_800 + secs),
            user: Cow::Borrowed(user),
            client: ip.parse().ok(),
            outcome,
            interface: None,
            auth_type: None,
            reason: None,
            location: Location {
                source: SourceId(0),
                line: u64::try_from(secs).unwrap_or(0) + 1,
            },
        })
    }

    fn run(events: &[Event<'static>]) -> Vec<crate::detect::Finding> {
        let mut d = Detector::new(Settings::new(&Config::default()).unwrap());
        for e in events {
            d.observe(e);
        }
        d.finish(&["session_log.tsv".to_owned()])
            .findings
            .into_iter()
            .filter(|f| f.rule == RuleId::AuthFailureBurst)
            .collect()
    }

    #[test]
    fn ok_clients_are_capped_by_max_tracked_clients() {
        let config = Config {
            max_tracked_clients: 2,
            ..Config::default()
        };
        let mut d = Detector::new(Settings::new(&config).unwrap());
        for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] {
            for i in 0..6 {
                d.observe(&login(i * 10, "alice", ip, LoginOutcome::Failure));
            }
        }
        let done = d.finish(&["session_log.tsv".to_owned()]);
        let bursts = done
            .findings
            .iter()
            .filter(|f| f.rule == RuleId::AuthFailureBurst)
            .count();
        assert_eq!(bursts, 2, "two clients remembered");
        assert_eq!(
            done.stats.clients_untracked, 12,
            "the other two's attempts counted"
        );
    }

    #[test]
    fn ok_burst_then_success_is_critical() {
        let mut ev: Vec<_> = (0..5)
            .map(|i| login(i * 10, "alice", "203.0.113.5", LoginOutcome::Failure))
            .collect();
        let f = run(&ev);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        ev.push(login(60, "alice", "203.0.113.5", LoginOutcome::Success));
        let f = run(&ev);
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].user, "alice");
        assert_eq!(f[0].metrics["failures"], 5);
        assert!(
            f[0].summary.contains("then logged in as `alice`"),
            "{}",
            f[0].summary
        );
    }

    #[test]
    fn ok_sliding_window_not_fixed() {
        // 5 failures spread over 400 s never fit in 300 s; 4 then 1 more inside the window do.
        let spread: Vec<_> = (0..5)
            .map(|i| login(i * 100, "bob", "10.0.0.9", LoginOutcome::Failure))
            .collect();
        assert!(run(&spread).is_empty());
        let close: Vec<_> = [0, 250, 260, 270, 280]
            .into_iter()
            .map(|s| login(s, "bob", "10.0.0.9", LoginOutcome::Failure))
            .collect();
        let f = run(&close);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        // A success before the burst does not make it critical.
        let mut before = close.clone();
        before.insert(0, login(0, "bob", "10.0.0.9", LoginOutcome::Success));
        assert_eq!(run(&before)[0].severity, Severity::Medium);
    }
}
