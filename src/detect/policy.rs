//! What the configuration says about findings after the rules spoke: allowlisted users,
//! clients and table-function hosts drop findings; sensitive tables raise a finding one
//! level; rules can be switched off or pinned to a severity. Applied once, at the end.

use std::collections::{BTreeMap, BTreeSet};

use super::{Finding, RuleId, Severity};
use crate::config::Config;
use crate::error::ConfigError;
use crate::net::Cidr;

/// The compiled policy.
#[derive(Clone, Debug, Default)]
pub(crate) struct Policy {
    users: BTreeSet<String>,
    clients: Vec<Cidr>,
    hosts: Vec<String>,
    sensitive: Vec<String>,
    rules: BTreeMap<RuleId, (bool, Option<Severity>)>,
}

/// Case-insensitive match with `*` standing for any run of characters.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let t = text.to_ascii_lowercase();
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut rest = t.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = rest.get(at + part.len()..).unwrap_or(""),
                None => return false,
            }
        }
    }
    true
}

impl Policy {
    pub(crate) fn new(config: &Config) -> Result<Self, ConfigError> {
        let mut rules = BTreeMap::new();
        for (name, rc) in &config.rules {
            let id = RuleId::ALL
                .into_iter()
                .find(|r| r.name() == name)
                .ok_or_else(|| ConfigError::Rule(format!("unknown rule {name:?}")))?;
            let sev = match &rc.severity {
                Some(s) => Some(s.parse::<Severity>().map_err(ConfigError::Rule)?),
                None => None,
            };
            rules.insert(id, (rc.enabled, sev));
        }
        let clients = config
            .allow
            .clients
            .iter()
            .map(|c| c.parse::<Cidr>())
            .collect::<Result<_, _>>()?;
        Ok(Self {
            users: config.allow.users.iter().cloned().collect(),
            clients,
            hosts: config.allow.table_function_hosts.clone(),
            sensitive: config.sensitive_tables.clone(),
            rules,
        })
    }

    fn allowed(&self, f: &Finding) -> bool {
        if self.users.contains(&f.user) {
            return true;
        }
        if f.client_ip
            .is_some_and(|ip| self.clients.iter().any(|c| c.contains(ip)))
        {
            return true;
        }
        f.rule == RuleId::TableFunctionEgress
            && !f.targets.is_empty()
            && !self.hosts.is_empty()
            && f.targets.iter().all(|t| {
                t.split_once(" → ")
                    .is_some_and(|(_, host)| self.hosts.iter().any(|h| glob(h, host)))
            })
    }

    /// Drops, raises and pins findings as configured.
    pub(crate) fn apply(&self, findings: Vec<Finding>) -> Vec<Finding> {
        let mut out = Vec::with_capacity(findings.len());
        for mut f in findings {
            let (enabled, pinned) = self.rules.get(&f.rule).copied().unwrap_or((true, None));
            if !enabled || self.allowed(&f) {
                continue;
            }
            let hit = f.tables.iter().find_map(|t| {
                self.sensitive
                    .iter()
                    .find(|p| glob(p, t))
                    .map(|p| (t.clone(), p.clone()))
            });
            if let Some((table, pattern)) = hit {
                let i = Severity::ALL
                    .iter()
                    .position(|s| *s == f.severity)
                    .unwrap_or(0);
                f.severity = Severity::ALL
                    .get(i + 1)
                    .copied()
                    .unwrap_or(Severity::Critical);
                f.assumptions.push(format!(
                    "raised one level: {table} matches the sensitive pattern {pattern:?}"
                ));
            }
            if let Some(s) = pinned {
                f.severity = s;
            }
            out.push(f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RuleConfig;
    use crate::detect::tests::{event, run_with};

    #[test]
    fn ok_glob() {
        assert!(glob("*.example.com", "backup.Example.com"));
        assert!(glob("default.log_*", "default.log_stream"));
        assert!(glob("*secret*", "db.my_secrets"));
        assert!(!glob("default.log_*", "other.log_stream"));
        assert!(glob("t", "T"));
    }

    #[test]
    fn ok_allowlist_sensitive_and_overrides() {
        let e = || {
            vec![event(
                "default",
                "198.51.100.7",
                "SELECT * FROM default.log_stream",
                10,
            )]
        };
        let base = run_with(&Config::default(), &e());
        assert!(base.iter().any(|f| f.rule == RuleId::UnauthenticatedRead));
        let c = Config {
            allow: crate::config::Allowlist {
                clients: vec!["198.51.100.0/24".to_owned()],
                ..Default::default()
            },
            ..Config::default()
        };
        assert!(run_with(&c, &e()).is_empty());
        let mut c = Config::default();
        c.rules.insert(
            "unauthenticated-read".to_owned(),
            RuleConfig {
                enabled: true,
                severity: Some("low".to_owned()),
            },
        );
        let f = run_with(&c, &e());
        assert_eq!(f[0].severity, Severity::Low);
        let mut c = Config::default();
        c.rules.insert("nope".to_owned(), RuleConfig::default());
        assert!(Policy::new(&c).is_err());
        // Internal passwordless read of a user table is high; sensitive raises it.
        let i = || {
            vec![event(
                "default",
                "10.0.0.1",
                "SELECT * FROM default.log_stream",
                10,
            )]
        };
        assert_eq!(
            run_with(&Config::default(), &i())[0].severity,
            Severity::High
        );
        let c = Config {
            sensitive_tables: vec!["*.log_stream".to_owned()],
            ..Config::default()
        };
        let f = run_with(&c, &i());
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].assumptions.iter().any(|a| a.contains("sensitive")));
    }
}
