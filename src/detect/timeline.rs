//! Per-client volume over time, for charts: queries and result bytes per client per window.
//!
//! Every initial query the client table counts also lands in one window of its client. The
//! window width is picked from a ladder (1 s, 5 s, 10 s, 30 s, 1 min, 5 min, 15 min, 30 min,
//! 1 h, 3 h, 6 h, 12 h, 1 d, 7 d, then ×4 each step) as the narrowest one that spans the
//! scan in at most [`MAX_WINDOWS`] windows and keeps at most [`MAX_CELLS`] (client, window)
//! cells in memory (unless more clients than that are tracked: then the scan fits in two
//! windows and each client holds at most two cells). Each width divides the next, so widening merges windows exactly, and the
//! result depends only on the set of events, never on their order or the chunking.
//!
//! The report keeps the series of the heaviest clients and of every client with a finding
//! (at most [`MAX_SERIES`]); everyone else is summed into `other`. Only active windows are
//! listed: a window missing from a series had no query of that client.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use serde::Serialize;

use super::{ClientSummary, Finding};
use crate::memo::FastMap;
use crate::time::Timestamp;

/// At most this many windows between the first and the last event.
pub const MAX_WINDOWS: i64 = 120;
/// At most this many (client, window) cells are held while scanning.
pub const MAX_CELLS: usize = 1 << 17;
/// At most this many client series in the report.
pub const MAX_SERIES: usize = 32;
/// The heaviest clients always get a series (clients with findings are added up to
/// [`MAX_SERIES`]).
pub const TOP_CLIENTS: usize = 12;

/// The window ladder, seconds; past its end each step is ×4.
const WIDTHS: [i64; 13] = [
    1, 5, 10, 30, 60, 300, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400,
];
/// The ladder's last step (7 days); ×4 from there on.
const WEEK: i64 = 604_800;

/// Cells of clients past the tracking cap.
const OTHER: u32 = u32::MAX;

/// One window of one series: `[start, queries, result_bytes]` in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Window(
    /// Start of the window (UTC).
    pub Timestamp,
    /// Initial queries that started in it.
    pub u64,
    /// Result bytes sent to the client by them (INSERTs count none).
    pub u64,
);

/// One client's windows, in time order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientSeries {
    /// The user.
    pub user: String,
    /// The address, if logged.
    pub client_ip: Option<IpAddr>,
    /// Its active windows.
    pub windows: Vec<Window>,
}

/// Queries and result bytes per client per window over the whole scan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// Width of every window in seconds (0 when no query was seen).
    pub window_secs: i64,
    /// The heaviest clients and those with findings, in the order of the client table.
    pub series: Vec<ClientSeries>,
    /// Every other client (and those past the tracking cap), summed per window.
    pub other: Vec<Window>,
}

/// Builds a [`Timeline`] while the detector observes queries.
#[derive(Debug, Default)]
pub(crate) struct TimelineBuilder {
    /// Index into the ladder (past its end: further ×4 steps).
    level: usize,
    /// Clients given an id so far (the detector's client table keeps each client's id).
    clients: u32,
    /// (client id, window start in seconds) → (queries, result bytes). A hash map: one
    /// probe per query where a B-tree of thousands of cells took a dozen comparisons; only
    /// [`Self::finish`] needs them in order, and sorts them once.
    cells: FastMap<(u32, i64), (u64, u64)>,
    /// Earliest and latest query start, seconds.
    span: Option<(i64, i64)>,
    /// The windows (start / width) of the first and the last query at the current width.
    span_windows: (i64, i64),
}

/// The window width at a ladder level.
fn width(level: usize) -> i64 {
    match WIDTHS.get(level) {
        Some(w) => *w,
        None => {
            let mut w = WEEK;
            for _ in WIDTHS.len()..level {
                w = w.saturating_mul(4);
            }
            w
        }
    }
}

impl TimelineBuilder {
    /// A new client's id (ids past `u32::MAX - 1` are shared by the last clients; the
    /// detector's tracking cap keeps far below that).
    pub(crate) fn new_client(&mut self) -> u32 {
        let id = self.clients.min(OTHER - 1);
        self.clients = self.clients.saturating_add(1);
        id
    }

    /// Counts one query of client `id` (`None`: past the tracking cap) starting at `start`.
    pub(crate) fn observe(&mut self, id: Option<u32>, start: Timestamp, result_bytes: u64) {
        let id = id.unwrap_or(OTHER);
        let t = start.secs();
        let w = width(self.level);
        let window = t.div_euclid(w);
        // Only a query outside the windows spanned so far, or a new cell, can make the
        // windows too fine (most queries land in a window that has been seen).
        let (first, last) = self.span_windows;
        let wider = self.span.is_none() || window < first || window > last;
        let (lo, hi) = self.span.map_or((t, t), |(a, b)| (a.min(t), b.max(t)));
        self.span = Some((lo, hi));
        let cells = self.cells.len();
        let cell = self.cells.entry((id, window * w)).or_insert((0, 0));
        cell.0 += 1;
        cell.1 = cell.1.saturating_add(result_bytes);
        if wider || self.cells.len() > cells {
            while self.too_fine(lo, hi) {
                self.widen();
            }
            let w = width(self.level);
            self.span_windows = (lo.div_euclid(w), hi.div_euclid(w));
        }
    }

    fn too_fine(&self, lo: i64, hi: i64) -> bool {
        let w = width(self.level);
        if w == i64::MAX {
            return false;
        }
        let windows = i128::from(hi.div_euclid(w)) - i128::from(lo.div_euclid(w)) + 1;
        // Past two windows, more clients than cells cannot be helped by widening.
        windows > i128::from(MAX_WINDOWS) || (self.cells.len() > MAX_CELLS && windows > 2)
    }

    fn widen(&mut self) {
        self.level += 1;
        let w = width(self.level);
        let mut merged = FastMap::default();
        merged.reserve(self.cells.len());
        // Sums, so the order cells come in does not matter.
        #[allow(clippy::iter_over_hash_type)]
        for ((id, start), (q, b)) in std::mem::take(&mut self.cells) {
            let cell: &mut (u64, u64) = merged.entry((id, start.div_euclid(w) * w)).or_default();
            cell.0 += q;
            cell.1 = cell.1.saturating_add(b);
        }
        self.cells = merged;
    }

    /// The report's timeline: series for the clients of `clients` (heaviest first; `ids[i]`
    /// is the id of `clients[i]`) that are among the first [`TOP_CLIENTS`] or have a finding,
    /// up to [`MAX_SERIES`].
    pub(crate) fn finish(
        self,
        clients: &[ClientSummary],
        ids: &[u32],
        findings: &[Finding],
    ) -> Timeline {
        let Some(_) = self.span else {
            return Timeline::default();
        };
        let flagged: HashSet<(&str, Option<IpAddr>)> = findings
            .iter()
            .map(|f| (f.user.as_str(), f.client_ip))
            .collect();
        // Chosen client id → its position in the series list.
        let mut chosen: HashMap<u32, usize> = HashMap::new();
        let mut series = Vec::new();
        for (i, (c, id)) in clients.iter().zip(ids).enumerate() {
            if series.len() >= MAX_SERIES {
                break;
            }
            if i >= TOP_CLIENTS && !flagged.contains(&(c.user.as_str(), c.client_ip)) {
                continue;
            }
            chosen.insert(*id, series.len());
            series.push(ClientSeries {
                user: c.user.clone(),
                client_ip: c.client_ip,
                windows: Vec::new(),
            });
        }
        let mut other: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        let mut cells: Vec<((u32, i64), (u64, u64))> = self.cells.into_iter().collect();
        cells.sort_unstable_by_key(|(key, _)| *key);
        for ((id, start), (q, b)) in cells {
            let window = Window(Timestamp::from_secs(start), q, b);
            match chosen.get(&id).and_then(|i| series.get_mut(*i)) {
                Some(s) => s.windows.push(window),
                None => {
                    let o = other.entry(start).or_insert((0, 0));
                    o.0 += q;
                    o.1 = o.1.saturating_add(b);
                }
            }
        }
        // Cells come in (client, start) order, so every series is already in time order.
        let other = other
            .into_iter()
            .map(|(start, (q, b))| Window(Timestamp::from_secs(start), q, b))
            .collect();
        Timeline {
            window_secs: width(self.level),
            series,
            other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: &str, ip: &str) -> (String, Option<IpAddr>) {
        (user.to_owned(), ip.parse().ok())
    }

    fn client(k: &(String, Option<IpAddr>), bytes: u64) -> ClientSummary {
        ClientSummary {
            user: k.0.clone(),
            client_ip: k.1,
            client_class: crate::net::NetClass::External,
            queries: 1,
            result_bytes: bytes,
            read_rows: 0,
            first_seen: Timestamp::from_secs(0),
            last_seen: Timestamp::from_secs(0),
        }
    }

    #[test]
    fn ok_widens_to_fit_and_merges_exactly() {
        let a = key("default", "198.51.100.7");
        let mut b = TimelineBuilder::default();
        let id = b.new_client();
        // One query a minute for three hours: 1-min windows would be 180 > MAX_WINDOWS.
        for m in 0..180 {
            b.observe(Some(id), Timestamp::from_secs(1_700_000_000 + m * 60), 10);
        }
        let t = b.finish(&[client(&a, 1800)], &[id], &[]);
        assert_eq!(t.window_secs, 300);
        let s = &t.series[0];
        assert_eq!(s.windows.iter().map(|w| w.1).sum::<u64>(), 180);
        assert_eq!(s.windows.iter().map(|w| w.2).sum::<u64>(), 1800);
        assert!(s.windows.len() as i64 <= MAX_WINDOWS);
        assert!(s.windows.windows(2).all(|p| p[0].0 < p[1].0));
        assert!(t.other.is_empty());
    }

    #[test]
    fn ok_order_does_not_matter() {
        let a = key("u", "10.0.0.1");
        let times = [5_i64, 90_000, 3, 7_000_000, -40, 12];
        let run = |order: &[i64]| {
            let mut b = TimelineBuilder::default();
            let id = b.new_client();
            for t in order {
                b.observe(Some(id), Timestamp::from_secs(*t), 1);
            }
            b.finish(&[client(&a, 6)], &[id], &[])
        };
        let mut rev = times;
        rev.reverse();
        assert_eq!(run(&times), run(&rev));
    }

    #[test]
    fn ok_others_and_untracked_are_summed() {
        let keys: Vec<_> = (0..40).map(|i| key("u", &format!("10.0.0.{i}"))).collect();
        let mut b = TimelineBuilder::default();
        let ids: Vec<u32> = keys.iter().map(|_| b.new_client()).collect();
        for id in &ids {
            b.observe(Some(*id), Timestamp::from_secs(0), 1);
        }
        b.observe(None, Timestamp::from_secs(0), 1);
        let clients: Vec<_> = keys.iter().map(|k| client(k, 1)).collect();
        let t = b.finish(&clients, &ids, &[]);
        assert_eq!(t.series.len(), TOP_CLIENTS);
        assert_eq!(t.other, vec![Window(Timestamp::from_secs(0), 29, 29)]);
    }

    #[test]
    fn ok_more_clients_than_cells_still_bounded() {
        let mut b = TimelineBuilder::default();
        let n = u32::try_from(MAX_CELLS).unwrap() / 2 + 10;
        for _ in 0..n {
            let id = b.new_client();
            // Each client twice, an hour apart: more cells than the cap at any width.
            b.observe(Some(id), Timestamp::from_secs(0), 1);
            b.observe(Some(id), Timestamp::from_secs(3600), 1);
        }
        // Widened to two windows, no further: each client keeps at most two cells.
        assert_eq!(width(b.level), 3600);
        assert_eq!(b.cells.len(), 2 * n as usize);
        assert_eq!(b.cells.values().map(|c| c.0).sum::<u64>(), 2 * u64::from(n));
    }

    #[test]
    fn ok_extreme_times_do_not_overflow() {
        let a = key("u", "10.0.0.1");
        let mut b = TimelineBuilder::default();
        let id = b.new_client();
        b.observe(Some(id), Timestamp::from_secs(i64::MIN / 2_000_000), 1);
        b.observe(
            Some(id),
            Timestamp::from_secs(i64::MAX / 2_000_000),
            u64::MAX,
        );
        let t = b.finish(&[client(&a, 1)], &[id], &[]);
        assert!(t.series[0].windows.len() <= 2);
        // Window starts at the far ends of time still serialize.
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.contains("\"window_secs\""), "{json}");
        let mut b = TimelineBuilder::default();
        b.observe(None, Timestamp(i64::MIN), 1);
        b.observe(None, Timestamp(i64::MAX), 1);
        let t = b.finish(&[], &[], &[]);
        assert_eq!(t.other.iter().map(|w| w.1).sum::<u64>(), 2);
        assert!(serde_json::to_string(&t).is_ok());
        assert_eq!(
            TimelineBuilder::default().finish(&[], &[], &[]),
            Timeline::default()
        );
    }
}
