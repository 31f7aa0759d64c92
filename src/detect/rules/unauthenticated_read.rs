//! `unauthenticated-read`
//!
//! ## What it flags
//! A read (SELECT, SHOW, DESCRIBE, EXISTS) run by a principal that logs in without a
//! password — by default ClickHouse's stock `default` user, whose `users.xml` entry has an
//! empty `<password>`. Critical when the client is external; high when the read is bulk
//! (rows or bytes above `bulk_rows`/`bulk_bytes`) or touches a non-system table; medium
//! otherwise.
//!
//! ## Why it matters
//! This is the DeepSeek exposure of January 2025: port 8123 open to the internet, `default`
//! without a password, and anyone able to `SHOW TABLES` and read `log_stream` in full.
//! query_log has no authentication column, so the finding rests on the configured list of
//! passwordless users and says so.
//!
//! ## Example
//! ```text
//! user=default address=::ffff:198.51.100.7 query="SELECT * FROM default.log_stream"
//! → critical: `default` (assumed passwordless) from external 198.51.100.7 ran 1 read …
//! ```

use super::super::{
    describe_client, is_system_table, GroupKey, Groups, Hit, Observation, Settings, Verdict,
};
use crate::detect::{human_bytes, human_count, RuleId, Severity};
use crate::event::QueryOutcome;
use crate::net::NetClass;

pub(crate) fn observe(obs: &Observation<'_, '_>, groups: &mut Groups) {
    if !obs.passwordless || !obs.kind().is_read() {
        return;
    }
    let v = obs.event.volume;
    let t = obs.thresholds();
    let bulk = v.result_rows >= t.bulk_rows
        || v.read_rows >= t.bulk_rows
        || v.result_bytes >= t.bulk_bytes
        || v.read_bytes >= t.bulk_bytes;
    let tables = obs.tables();
    let user_table = tables.iter().any(|t| !is_system_table(t));
    let severity = match obs.client_class {
        NetClass::External => Severity::Critical,
        _ if bulk || user_table => Severity::High,
        _ => Severity::Medium,
    };
    let failed = u64::from(matches!(
        obs.event.outcome,
        QueryOutcome::FailedBeforeStart | QueryOutcome::FailedWhileProcessing
    ));
    groups.add(
        obs.key(RuleId::UnauthenticatedRead),
        Hit {
            severity,
            time: obs.event.start,
            client_class: obs.client_class,
            sums: &[
                ("result_rows", v.result_rows),
                ("result_bytes", v.result_bytes),
                ("read_rows", v.read_rows),
                ("read_bytes", v.read_bytes),
                ("failed", failed),
                ("bulk_reads", u64::from(bulk)),
            ],
            maxes: &[("max_result_bytes", v.result_bytes)],
            tables: &tables,
            targets: &[],
            evidence: obs.pending(
                v.result_bytes
                    .saturating_add(v.read_bytes)
                    .saturating_add(1),
            ),
        },
    );
}

pub(crate) fn judge(
    key: &GroupKey,
    g: &super::super::finding::Group,
    s: &Settings,
) -> Option<Verdict> {
    let tables = if g.tables.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = g.tables.iter().map(String::as_str).take(5).collect();
        format!("; tables: {}", names.join(", "))
    };
    let failed = g.sum("failed");
    let failed = if failed > 0 {
        format!(" ({failed} failed)")
    } else {
        String::new()
    };
    let summary = format!(
        "{} ran {} read{}{failed} with no password, receiving {} in {} rows{tables}.",
        describe_client(key, g.client_class),
        human_count(g.count),
        if g.count == 1 { "" } else { "s" },
        human_bytes(g.sum("result_bytes")),
        human_count(g.sum("result_rows")),
    );
    Some(Verdict {
        severity: g.severity,
        summary,
        assumptions: vec![format!(
            "`{}` is assumed to log in without a password (it is in the passwordless-users list); query_log does not record how a session authenticated",
            key.user
        )],
        extra_metrics: vec![("bulk_rows_threshold", s.thresholds.bulk_rows), ("bulk_bytes_threshold", s.thresholds.bulk_bytes)],
    })
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::{event, run};
    use crate::detect::{RuleId, Severity};

    fn severity(user: &'static str, ip: &str, q: &'static str, bytes: u64) -> Option<Severity> {
        run(&[event(user, ip, q, bytes)])
            .into_iter()
            .find(|f| f.rule == RuleId::UnauthenticatedRead)
            .map(|f| f.severity)
    }

    #[test]
    fn ok_severity_ladder() {
        assert_eq!(
            severity("default", "198.51.100.7", "SHOW TABLES", 10),
            Some(Severity::Critical)
        );
        assert_eq!(
            severity("default", "10.0.0.1", "SELECT * FROM log_stream", 10),
            Some(Severity::High)
        );
        assert_eq!(
            severity(
                "default",
                "10.0.0.1",
                "SELECT * FROM system.tables",
                50 << 20
            ),
            Some(Severity::High)
        );
        assert_eq!(
            severity("default", "10.0.0.1", "SELECT name FROM system.tables", 10),
            Some(Severity::Medium)
        );
    }

    #[test]
    fn ok_quiet_for_password_users_and_writes() {
        assert_eq!(
            severity("alice", "198.51.100.7", "SELECT * FROM log_stream", 10),
            None
        );
        assert_eq!(
            severity("default", "10.0.0.1", "INSERT INTO t VALUES (1)", 0),
            None
        );
    }
}
