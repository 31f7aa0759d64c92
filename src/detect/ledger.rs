//! The egress ledger: how much data left, to whom, when — per client, channel, destination
//! and UTC day. It counts, it does not judge: every external result and every
//! `INSERT INTO FUNCTION` is booked whether or not a rule fired.

use std::net::IpAddr;

use serde::Serialize;

use super::Observation;
use crate::memo::FastMap;
use crate::net::NetClass;
use crate::sql::{StatementKind, EGRESS_FUNCTIONS};
use crate::time::{civil_from_days, Timestamp};

/// Ledger lines kept; beyond this, bytes are still summed in [`Ledger::overflow_bytes`].
const MAX_ENTRIES: usize = 100_000;

/// How data left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// Query results delivered to an external client.
    ExternalClient,
    /// Data the server pushed out through a table function (`INSERT INTO FUNCTION`).
    TableFunction,
}

impl Channel {
    /// The kebab-case name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::ExternalClient => "external-client",
            Self::TableFunction => "table-function",
        }
    }
}

/// One line of the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The user.
    pub user: String,
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// Where the client sits.
    pub client_class: NetClass,
    /// How the data left.
    pub channel: Channel,
    /// The receiving address, or `function → host`.
    pub destination: String,
    /// Queries booked.
    pub queries: u64,
    /// Rows that left.
    pub rows: u64,
    /// Bytes that left (result bytes, or bytes written through the function).
    pub bytes: u64,
    /// First query.
    pub first_seen: Timestamp,
    /// Last query.
    pub last_seen: Timestamp,
}

/// A line of one user: day (since the epoch), client, channel and, for a table function,
/// its destination (an external client's destination is its address).
type LineKey = (i64, Option<IpAddr>, Channel, Option<String>);

/// The ledger under construction.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Per user, looked up by `&str` so booking on a known line allocates nothing.
    entries: FastMap<String, FastMap<LineKey, LedgerEntry>>,
    /// Lines in `entries`.
    count: usize,
    overflow_bytes: u64,
}

impl Ledger {
    pub(crate) fn observe(&mut self, obs: &Observation<'_, '_>) {
        let v = obs.event.volume;
        let kind = obs.kind();
        if obs.client_class == NetClass::External && kind.is_read() && v.result_bytes > 0 {
            self.book(
                obs,
                Channel::ExternalClient,
                None,
                v.result_rows,
                v.result_bytes,
            );
        }
        if kind == StatementKind::InsertIntoFunction {
            let f = obs
                .class()
                .table_functions
                .iter()
                .find(|f| EGRESS_FUNCTIONS.contains(&f.name.as_str()));
            let dest = match f {
                Some(f) => match &f.destination {
                    Some(d) => format!("{} → {d}", f.name),
                    None => f.name.clone(),
                },
                None => "table function".to_owned(),
            };
            self.book(
                obs,
                Channel::TableFunction,
                Some(dest),
                v.written_rows,
                v.written_bytes,
            );
        }
    }

    fn book(
        &mut self,
        obs: &Observation<'_, '_>,
        channel: Channel,
        dest: Option<String>,
        rows: u64,
        bytes: u64,
    ) {
        let e = obs.event;
        let day = e.start.secs().div_euclid(86_400);
        let key = (day, e.client, channel, dest);
        let count = |entry: &mut LedgerEntry| {
            entry.queries += 1;
            entry.rows = entry.rows.saturating_add(rows);
            entry.bytes = entry.bytes.saturating_add(bytes);
            entry.first_seen = entry.first_seen.min(e.start);
            entry.last_seen = entry.last_seen.max(e.start);
        };
        let known = self
            .entries
            .get_mut(e.user.as_ref())
            .and_then(|lines| lines.get_mut(&key));
        if let Some(entry) = known {
            count(entry);
            return;
        }
        if self.count >= MAX_ENTRIES {
            self.overflow_bytes = self.overflow_bytes.saturating_add(bytes);
            return;
        }
        self.count += 1;
        let (y, m, d) = civil_from_days(day);
        let destination = match &key.3 {
            Some(d) => d.clone(),
            None => e.client.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
        };
        let mut entry = LedgerEntry {
            day: format!("{y:04}-{m:02}-{d:02}"),
            user: e.user.to_string(),
            client_ip: e.client,
            client_class: obs.client_class,
            channel,
            destination,
            queries: 0,
            rows: 0,
            bytes: 0,
            first_seen: e.start,
            last_seen: e.start,
        };
        count(&mut entry);
        self.entries
            .entry(e.user.to_string())
            .or_default()
            .insert(key, entry);
    }

    /// Entries by day, then most bytes first; and bytes not itemized.
    pub(crate) fn finish(self) -> (Vec<LedgerEntry>, u64) {
        // The sort below orders by every field of the key: the maps' order cannot show.
        let mut v: Vec<LedgerEntry> = self
            .entries
            .into_values()
            .flat_map(FastMap::into_values)
            .collect();
        v.sort_by(|a, b| {
            a.day
                .cmp(&b.day)
                .then(b.bytes.cmp(&a.bytes))
                .then(a.user.cmp(&b.user))
                .then(a.client_ip.cmp(&b.client_ip))
                .then(a.channel.cmp(&b.channel))
                .then(a.destination.cmp(&b.destination))
        });
        (v, self.overflow_bytes)
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::event;
    use crate::detect::{Detector, Settings};
    use crate::event::Event;
    use crate::Config;

    #[test]
    fn ok_books_external_results_and_function_pushes() {
        let mut d = Detector::new(Settings::new(&Config::default()).unwrap());
        for e in [
            event("eve", "203.0.113.9", "SELECT * FROM t", 1000),
            event("eve", "203.0.113.9", "SELECT * FROM t", 500),
            event("bi", "10.0.0.6", "SELECT * FROM t", 7000),
        ] {
            d.observe(&Event::Query(e));
        }
        let mut push = event(
            "bi",
            "10.0.0.6",
            "INSERT INTO FUNCTION url('http://198.51.100.3/x', 'TSV', 'a String') SELECT * FROM t",
            0,
        );
        push.volume.written_bytes = 4096;
        d.observe(&Event::Query(push));
        let l = d.finish(&[]).ledger;
        assert_eq!(l.len(), 2, "{l:#?}");
        assert_eq!(l[0].bytes, 4096);
        assert_eq!(l[0].destination, "url → 198.51.100.3");
        assert_eq!((l[1].bytes, l[1].queries), (1500, 2));
        assert_eq!(l[1].day, "2025-01-29");
    }
}
