//! One fixture that fires and one that does not for every rule, from genuine exports
//! (ClickHouse 26.9 via chdb-core, and 18.16 with genuine external addresses), with a
//! snapshot of what the rule reports.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod common;

use chaudit::{Analysis, RuleId};

fn of_rule(a: &Analysis, rule: RuleId) -> Vec<&chaudit::Finding> {
    a.findings.iter().filter(|f| f.rule == rule).collect()
}

fn check(rule: RuleId) {
    let dir = format!("fixtures/rules/{}", rule.name());
    for version in ["", ".18.16"] {
        let flags = common::analyze_fixture(&format!("{dir}/flags{version}.TSVWithNames.tsv"));
        let clean = common::analyze_fixture(&format!("{dir}/clean{version}.TSVWithNames.tsv"));
        assert_eq!(flags.summary.rejected + clean.summary.rejected, 0);
        let fired = of_rule(&flags, rule);
        assert!(!fired.is_empty(), "{rule} did not fire on flags{version}");
        assert!(
            of_rule(&clean, rule).is_empty(),
            "{rule} fired on clean{version}: {:?}",
            of_rule(&clean, rule)
        );
        let name = format!("{}{}", rule.name(), version.replace('.', "_"));
        insta::assert_json_snapshot!(name, fired);
    }
}

#[test]
fn ok_unauthenticated_read() {
    check(RuleId::UnauthenticatedRead);
}

#[test]
fn ok_external_client_read() {
    check(RuleId::ExternalClientRead);
}

#[test]
fn ok_table_function_egress() {
    check(RuleId::TableFunctionEgress);
}
