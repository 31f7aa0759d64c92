//! The one configuration shared by the CLI flags, the config file and the browser module.
//!
//! Every field has a default, so `{}` (JSON) or an empty file is a complete configuration.
//! This module only describes settings; turning them into lookup tables is the analyzer's job.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything a scan can be told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Extra internal ranges (CIDR), on top of loopback, RFC 1918, 100.64/10, fc00::/7 and
    /// link-local.
    pub internal: Vec<String>,
    /// Ranges to treat as external even inside an internal range (most specific prefix wins).
    pub external: Vec<String>,
    /// Users taken to log in without a password. query_log has no authentication column, so
    /// this is an assumption every finding that relies on it says out loud.
    pub passwordless: Vec<String>,
    /// The zone the server wrote its log times in: `UTC`, `+03:00` or an IANA name.
    pub timezone: String,
    /// Force an input format instead of sniffing it (`TSVWithNames`, `JSONEachRow`, …).
    pub input_format: Option<String>,
    /// Column names of a headerless TabSeparated export, in order; default: the 26.x
    /// `system.query_log` order.
    pub columns: Option<Vec<String>>,
    /// Make the first rejected record fatal.
    pub strict: bool,
    /// Replace secrets (passwords, keys) in query excerpts with `[REDACTED]`.
    pub redact: bool,
    /// Records longer than this many bytes are rejected rather than buffered.
    pub max_record_bytes: usize,
    /// How many rejected records to describe individually (all are counted).
    pub max_rejected_reported: usize,
    /// Clients (user at address) itemized in the per-client table; more are counted only.
    pub max_tracked_clients: usize,
    /// Findings under construction at most; past this, new clients fold into one finding per
    /// rule and window under user `*`, so a flood of addresses cannot exhaust memory.
    pub max_findings: usize,
    /// Detection thresholds.
    pub thresholds: Thresholds,
    /// Field names of JSON-lines proxy access logs.
    pub access_log_fields: AccessLogFields,
    /// How per-client baselines are keyed, bucketed and judged.
    pub baseline: BaselineConfig,
    /// Clients, users and destinations whose findings are expected and left out.
    pub allow: Allowlist,
    /// Table name patterns (`*` wildcard, case-insensitive, `db.table`) whose reads raise a
    /// finding's severity by one level.
    pub sensitive_tables: Vec<String>,
    /// Per-rule switches and severity overrides, keyed by rule name (`volume-anomaly`, …).
    pub rules: BTreeMap<String, RuleConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            internal: Vec::new(),
            external: Vec::new(),
            passwordless: vec!["default".to_owned()],
            timezone: "UTC".to_owned(),
            input_format: None,
            columns: None,
            strict: false,
            redact: true,
            max_record_bytes: 64 << 20,
            max_rejected_reported: 20,
            max_tracked_clients: 100_000,
            max_findings: 200_000,
            thresholds: Thresholds::default(),
            access_log_fields: AccessLogFields::default(),
            baseline: BaselineConfig::default(),
            allow: Allowlist::default(),
            sensitive_tables: Vec::new(),
            rules: BTreeMap::new(),
        }
    }
}

/// Numbers that decide when an observation becomes a finding, and how severe it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Findings are aggregated per client, rule and window of this many seconds.
    pub window_secs: i64,
    /// A read returning or scanning at least this many rows is bulk.
    pub bulk_rows: u64,
    /// A read returning or scanning at least this many bytes is bulk.
    pub bulk_bytes: u64,
    /// An external client receiving at least this many result bytes in one query is flagged.
    pub external_read_bytes: u64,
    /// … or at least this many summed over one window.
    pub external_read_bytes_per_window: u64,
    /// Result bytes to an external client at or above which the finding is critical.
    pub critical_bytes: u64,
    /// Failed logins from one client within `auth_failure_window_secs` that make a burst.
    pub auth_failures: u64,
    /// The sliding window for `auth_failures`, in seconds.
    pub auth_failure_window_secs: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            window_secs: 3600,
            bulk_rows: 10_000,
            bulk_bytes: 10 << 20,
            external_read_bytes: 1 << 20,
            external_read_bytes_per_window: 1 << 20,
            critical_bytes: 100 << 20,
            auth_failures: 5,
            auth_failure_window_secs: 300,
        }
    }
}

/// Field names of a JSON-lines access log. Each field also falls back to common aliases
/// (`request_uri`, `http_user_agent`, `bytes_sent`, …) when the configured name is absent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessLogFields {
    /// Request time: ISO-8601, `$time_local` or Unix seconds.
    pub time: String,
    /// The client address.
    pub remote_addr: String,
    /// The HTTP Basic user.
    pub remote_user: String,
    /// The method.
    pub method: String,
    /// The request target (path and query string).
    pub uri: String,
    /// The whole request line (`GET /x HTTP/1.1`), used when `uri` is absent.
    pub request: String,
    /// The status code.
    pub status: String,
    /// Response body bytes sent.
    pub bytes_sent: String,
    /// The User-Agent.
    pub user_agent: String,
    /// The `X-ClickHouse-User` request header.
    pub clickhouse_user: String,
}

impl Default for AccessLogFields {
    fn default() -> Self {
        Self {
            time: "time".to_owned(),
            remote_addr: "remote_addr".to_owned(),
            remote_user: "remote_user".to_owned(),
            method: "method".to_owned(),
            uri: "uri".to_owned(),
            request: "request".to_owned(),
            status: "status".to_owned(),
            bytes_sent: "body_bytes_sent".to_owned(),
            user_agent: "ua".to_owned(),
            clickhouse_user: "ch_user".to_owned(),
        }
    }
}

/// Findings that are expected: a finding is dropped when its user or client matches, and a
/// `table-function-egress` finding when every destination matches a host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Allowlist {
    /// Client addresses or CIDR ranges.
    pub clients: Vec<String>,
    /// User names.
    pub users: Vec<String>,
    /// Destination hosts of table functions (`backup.example.com`, or `*.example.com`).
    pub table_function_hosts: Vec<String>,
}

/// One rule's switch and severity override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleConfig {
    /// Whether the rule reports at all.
    pub enabled: bool,
    /// Report every finding of the rule at this severity (`info` … `critical`).
    pub severity: Option<String>,
}

impl Default for RuleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: None,
        }
    }
}

/// What identifies a client in a baseline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyMode {
    /// The user at one address (`alice@10.0.0.5`).
    #[default]
    UserAddress,
    /// The user, from wherever.
    User,
    /// The address, whoever logs in from it.
    Address,
}

/// Baseline settings; see [`crate::detect::baseline`] for the method they parameterise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BaselineConfig {
    /// What a client is.
    pub key: KeyMode,
    /// Bucket length in seconds (default one hour).
    pub bucket_secs: i64,
    /// Buckets of own history needed before a client is judged against itself (Sentinel: 20).
    pub min_history: u64,
    /// Days of own history after which hour-of-day seasonality is used.
    pub seasonal_days: i64,
    /// Buckets needed in one hour-of-day before that hour is used.
    pub min_seasonal_history: u64,
    /// Clients with own history needed before a population profile is used.
    pub min_population: usize,
    /// Robust Z (median/MAD) that must be exceeded, in hundredths (300 = 3.00).
    pub z_threshold_x100: i64,
    /// Quantile distance Q ((x − p99)/(p99 − p50 + 1)) that must be exceeded, in hundredths.
    pub q_threshold_x100: i64,
    /// Absolute floors per bucket: below these an observation is never anomalous.
    pub floor: MetricValues,
    /// Static per-bucket limits used when neither own history nor a population exists.
    pub static_limit: MetricValues,
    /// Clients kept in the state; the least recently seen are evicted beyond this.
    pub max_keys: usize,
    /// Tables remembered per client.
    pub max_tables_per_key: usize,
    /// Query shapes (normalized text) whose result sizes are remembered per client.
    pub max_queries_per_key: usize,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self {
            key: KeyMode::UserAddress,
            bucket_secs: 3600,
            min_history: 20,
            seasonal_days: 14,
            min_seasonal_history: 14,
            min_population: 3,
            z_threshold_x100: 300,
            q_threshold_x100: 300,
            floor: MetricValues {
                queries: 200,
                read_rows: 1_000_000,
                result_rows: 100_000,
                result_bytes: 10 << 20,
                sent_bytes: 10 << 20,
            },
            static_limit: MetricValues {
                queries: 5_000,
                read_rows: 1_000_000_000,
                result_rows: 10_000_000,
                result_bytes: 1 << 30,
                sent_bytes: 1 << 30,
            },
            max_keys: 10_000,
            max_tables_per_key: 256,
            max_queries_per_key: 64,
        }
    }
}

/// One number per baselined metric.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricValues {
    /// Query executions.
    pub queries: u64,
    /// Rows read on the client's behalf.
    pub read_rows: u64,
    /// Result rows sent.
    pub result_rows: u64,
    /// Result bytes sent.
    pub result_bytes: u64,
    /// Bytes sent by an HTTP front end (access logs).
    pub sent_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_empty_object_is_default() {
        let c: Config = serde_json::from_str("{}").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.passwordless, ["default"]);
    }

    #[test]
    fn ok_partial_thresholds() {
        let c: Config =
            serde_json::from_str(r#"{"internal":["10.8.0.0/16"],"thresholds":{"bulk_rows":5}}"#)
                .unwrap();
        assert_eq!(c.internal, ["10.8.0.0/16"]);
        assert_eq!(c.thresholds.bulk_rows, 5);
        assert_eq!(c.thresholds.window_secs, 3600);
    }

    #[test]
    fn err_unknown_field() {
        let e = serde_json::from_str::<Config>(r#"{"interal":[]}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `interal`"), "{e}");
    }
}
