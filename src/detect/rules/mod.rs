//! The rule catalog: one module per rule, each with `observe` (fold an event into a group)
//! and `judge` (decide, at the end, whether a group is a finding and how severe).
//!
//! | id | flags |
//! |---|---|
//! | `unauthenticated-read` | a passwordless principal reading data or metadata |
//! | `external-client-read` | results above a threshold delivered to an external address |
//! | `table-function-egress` | data moved through url/s3/remote/… table functions |
//! | `volume-anomaly` | a client's bucket far above its own baseline (needs a baseline) |
//! | `first-seen-client` | a user or address the baseline never saw, reading data |
//! | `first-seen-table` | a known client reading a table it never read |

pub mod external_client_read;
pub mod first_seen_client;
pub mod first_seen_table;
pub mod table_function_egress;
pub mod unauthenticated_read;
pub mod volume_anomaly;
