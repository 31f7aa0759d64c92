//! `server-file-access`
//!
//! ## What it flags
//! Queries that make the server read or write its own files: the `file()` table function
//! (reads under `user_files_path`, and attempts outside it that fail with code 291) and
//! `INTO OUTFILE`. Critical for an external passwordless client; high for an external or a
//! passwordless one; medium otherwise. Failed attempts count: they show intent.
//!
//! ## Why it matters
//! After the tables, an intruder looks for the host: `file('/etc/passwd')`,
//! `file('app_secrets.env')`. What `file()` returns left the server even though no table was
//! read, and `INTO OUTFILE` writes where the server process can.
//!
//! ## Example
//! ```text
//! user=default address=198.51.100.7 query="SELECT * FROM file('app_secrets.env', 'TSV', 'line String')"
//! → critical: `default` from external 198.51.100.7 touched server files: file('app_secrets.env') …
//! ```

use super::super::{describe_client, GroupKey, Groups, Hit, Observation, Settings, Verdict};
use crate::detect::finding::Group;
use crate::detect::{human_count, RuleId, Severity};
use crate::event::QueryOutcome;
use crate::net::NetClass;

pub(crate) fn observe(obs: &Observation<'_, '_>, groups: &mut Groups) {
    let logged_file = obs
        .event
        .table_functions
        .as_ref()
        .is_some_and(|f| f.iter().any(|n| n == "file" || n == "filecluster"));
    // file(), fileCluster() and INTO OUTFILE all spell "file": most queries stop here.
    if !logged_file && !obs.facts().mentions_file(&obs.event.query) {
        return;
    }
    let class = obs.class();
    let mut targets: Vec<String> = class
        .table_functions
        .iter()
        .filter(|f| f.name == "file" || f.name == "filecluster")
        .map(|f| match &f.destination {
            Some(d) => format!("{}('{d}')", f.name),
            None => format!("{}()", f.name),
        })
        .collect();
    if logged_file && targets.is_empty() {
        targets.push("file()".to_owned());
    }
    if class.into_outfile {
        targets.push("INTO OUTFILE".to_owned());
    }
    if targets.is_empty() {
        return;
    }
    let external = obs.client_class == NetClass::External;
    let severity = match (external, obs.passwordless) {
        (true, true) => Severity::Critical,
        (true, false) | (false, true) => Severity::High,
        (false, false) => Severity::Medium,
    };
    let failed = u64::from(matches!(
        obs.event.outcome,
        QueryOutcome::FailedBeforeStart | QueryOutcome::FailedWhileProcessing
    ));
    groups.add(
        obs.key(RuleId::ServerFileAccess),
        Hit {
            severity,
            time: obs.event.start,
            client_class: obs.client_class,
            sums: &[
                ("failed", failed),
                ("result_rows", obs.event.volume.result_rows),
            ],
            maxes: &[],
            tables: &[],
            targets: &targets,
            evidence: obs.pending(1),
        },
    );
}

pub(crate) fn judge(key: &GroupKey, g: &Group, _s: &Settings) -> Option<Verdict> {
    let failed = g.sum("failed");
    let targets: Vec<&str> = g.targets.iter().map(String::as_str).take(6).collect();
    Some(Verdict {
        severity: g.severity,
        summary: format!(
            "{} touched server files in {} quer{}{}: {}.",
            describe_client(key, g.client_class),
            human_count(g.count),
            if g.count == 1 { "y" } else { "ies" },
            if failed > 0 {
                format!(" ({failed} refused)")
            } else {
                String::new()
            },
            targets.join(", ")
        ),
        assumptions: Vec::new(),
        extra_metrics: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::{event, run};
    use crate::detect::{RuleId, Severity};

    fn file(user: &'static str, ip: &str, q: &'static str) -> Option<(Severity, Vec<String>)> {
        run(&[event(user, ip, q, 10)])
            .into_iter()
            .find(|f| f.rule == RuleId::ServerFileAccess)
            .map(|f| (f.severity, f.targets))
    }

    #[test]
    fn ok_file_and_outfile() {
        let f = file(
            "default",
            "198.51.100.7",
            "SELECT * FROM file('app_secrets.env', 'TSV', 'line String')",
        );
        assert_eq!(f.as_ref().map(|f| f.0), Some(Severity::Critical));
        assert_eq!(f.map(|f| f.1.len()), Some(1));
        let f = file("alice", "10.0.0.1", "SELECT 1 INTO OUTFILE '/tmp/x'");
        assert_eq!(f, Some((Severity::Medium, vec!["INTO OUTFILE".to_owned()])));
        assert_eq!(file("alice", "10.0.0.1", "SELECT 'file(x)' FROM t"), None);
    }
}
