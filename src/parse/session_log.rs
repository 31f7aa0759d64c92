//! `system.session_log` rows → [`LoginEvent`]s, in any export format query_log is read in.
//!
//! ```text
//! type          event_time_microseconds     user     auth_type           client_address    interface failure_reason
//! LoginSuccess  2026-11-25 22:28:37.839448  default  PLAINTEXT_PASSWORD  ::ffff:127.0.0.1  Local
//! ```
//!
//! Two traps the events must not repeat as facts: every `LoginFailure` row says
//! `auth_type = NO_PASSWORD` whatever was tried, so the type is dropped from failures; and the
//! stock `users.xml` `default` with an empty `<password></password>` logs in as
//! `PLAINTEXT_PASSWORD`, so a plaintext login is not proof of a password. Detection infers
//! "no password" from the configured passwordless users, and says so.
//! Columns are found by name (`shared/docs/clickhouse-formats.md` §3).

use std::borrow::Cow;
use std::sync::LazyLock;

use super::common::{parse_address, parse_datetime, LogTime};
use super::table::{Raw, Row, Schema};
use crate::error::ParseErrorKind;
use crate::event::{Interface, Location, LoginEvent, LoginOutcome};
use crate::time::{Timestamp, Zone};

const COLUMNS: &[&str] = &[
    "type",
    "event_time",
    "event_time_microseconds",
    "user",
    "auth_type",
    "client_address",
    "interface",
    "failure_reason",
];
const TYPE: usize = 0;
const EVENT_TIME: usize = 1;
const EVENT_TIME_US: usize = 2;
const USER: usize = 3;
const AUTH_TYPE: usize = 4;
const CLIENT_ADDRESS: usize = 5;
const INTERFACE: usize = 6;
const FAILURE_REASON: usize = 7;

/// The schema of the session_log columns we read.
pub(crate) static SCHEMA: LazyLock<Schema> = LazyLock::new(|| Schema::new(COLUMNS));

/// Whether a header of these slots is a session_log header (checked before query_log's,
/// which it would also pass).
pub(crate) fn is_session_log_header(has: impl Fn(usize) -> bool) -> bool {
    has(TYPE) && (has(AUTH_TYPE) || has(CLIENT_ADDRESS))
}

/// Checks that a header can yield events at all.
pub(crate) fn check_header(has: impl Fn(usize) -> bool) -> Result<(), ParseErrorKind> {
    if !has(EVENT_TIME) && !has(EVENT_TIME_US) {
        return Err(ParseErrorKind::MissingColumn("event_time"));
    }
    if !has(TYPE) {
        return Err(ParseErrorKind::MissingColumn("type"));
    }
    Ok(())
}

fn bad(column: &'static str, expected: &'static str) -> ParseErrorKind {
    ParseErrorKind::BadValue { column, expected }
}

/// Converts one row.
pub(crate) fn row_event<'a>(
    row: &Row<'a>,
    zone: &Zone,
    location: Location,
) -> Result<LoginEvent<'a>, ParseErrorKind> {
    let text = |slot: usize| row.get(slot).and_then(Raw::text);
    let outcome = match row.get(TYPE) {
        Some(raw) => match (raw.u64(), raw.text().as_deref()) {
            (Some(0), _) | (_, Some("LoginFailure")) => LoginOutcome::Failure,
            (Some(1), _) | (_, Some("LoginSuccess")) => LoginOutcome::Success,
            (Some(2), _) | (_, Some("Logout")) => LoginOutcome::Logout,
            _ => return Err(bad("type", "LoginFailure, LoginSuccess or Logout")),
        },
        None => return Err(ParseErrorKind::MissingColumn("type")),
    };
    let time = |slot: usize, name: &'static str| -> Result<Option<Timestamp>, ParseErrorKind> {
        match row.get(slot).and_then(Raw::bytes) {
            None => Ok(None),
            Some(b) => match parse_datetime(&b) {
                Some(LogTime::Civil(c)) => Ok(Some(zone.to_utc(c))),
                Some(LogTime::Utc(t)) => Ok(Some(t)),
                None => Err(bad(name, "a date-time such as 2025-01-29 10:11:12")),
            },
        }
    };
    let time = match time(EVENT_TIME_US, "event_time_microseconds")? {
        Some(t) => t,
        None => {
            time(EVENT_TIME, "event_time")?.ok_or(ParseErrorKind::MissingColumn("event_time"))?
        }
    };
    let client = match row.get(CLIENT_ADDRESS).and_then(Raw::bytes) {
        None => None,
        Some(b) if b.is_empty() => None,
        Some(b) => Some(parse_address(&b).ok_or(bad("client_address", "an IP address"))?),
    };
    let interface = row.get(INTERFACE).and_then(|raw| match raw.u64() {
        Some(n) => u8::try_from(n).ok().map(Interface::from_code),
        None => raw.text().as_deref().and_then(Interface::from_name),
    });
    Ok(LoginEvent {
        time,
        user: text(USER)
            .filter(|u| !u.is_empty())
            .unwrap_or(Cow::Borrowed("default")),
        client,
        outcome,
        interface,
        // LoginFailure rows always say NO_PASSWORD: not evidence of anything.
        auth_type: if outcome == LoginOutcome::Failure {
            None
        } else {
            text(AUTH_TYPE).filter(|a| !a.is_empty())
        },
        reason: text(FAILURE_REASON).filter(|r| !r.is_empty()),
        location,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SourceId;
    use crate::parse::table::{fill_tsv, tsv_fields, Header};

    #[test]
    fn ok_rows_and_the_no_password_trap() {
        let header = Header::from_names(
            &SCHEMA,
            tsv_fields(
                b"type\tevent_time\tuser\tauth_type\tclient_address\tinterface\tfailure_reason",
            )
            .map(Cow::Borrowed),
        );
        assert!(is_session_log_header(|s| header.has(s)));
        let loc = Location {
            source: SourceId(0),
            line: 2,
        };
        let mut row = Row::new();
        fill_tsv(
            b"LoginFailure\t2026-11-25 22:28:37\talice\tNO_PASSWORD\t::ffff:198.51.100.7\tHTTP\tWRONG_PASSWORD\n",
            &header,
            &mut row,
        )
        .unwrap();
        let e = row_event(&row, &Zone::utc(), loc).unwrap();
        assert_eq!(e.outcome, LoginOutcome::Failure);
        assert_eq!(e.auth_type, None);
        assert_eq!(e.client, "198.51.100.7".parse().ok());
        assert_eq!(e.interface, Some(Interface::Http));
        let mut row = Row::new();
        fill_tsv(
            b"LoginSuccess\t2026-11-25 22:28:37\tdefault\tPLAINTEXT_PASSWORD\t::ffff:127.0.0.1\tLocal\t\n",
            &header,
            &mut row,
        )
        .unwrap();
        let e = row_event(&row, &Zone::utc(), loc).unwrap();
        assert_eq!(e.auth_type.as_deref(), Some("PLAINTEXT_PASSWORD"));
        let mut row = Row::new();
        fill_tsv(b"Nope\t2026-11-25 22:28:37\tx\t\t\t\t\n", &header, &mut row).unwrap();
        assert!(row_event(&row, &Zone::utc(), loc).is_err());
    }
}
