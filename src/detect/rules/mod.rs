//! The rule catalog: one module per rule, each with `observe` (fold an event into a group)
//! and `judge` (decide, at the end, whether a group is a finding and how severe).
//!
//! | id | flags |
//! |---|---|
//! | `unauthenticated-read` | a passwordless principal reading data or metadata |
//! | `external-client-read` | results above a threshold delivered to an external address |
//! | `table-function-egress` | data moved through url/s3/remote/… table functions |
//! | `recon` | metadata queries and endpoint probes |
//! | `auth-failure-burst` | many failed logins from one client, worst when a success follows |
//! | `secret-in-query` | plaintext secrets in queries and URLs (where, never what) |
//! | `server-file-access` | `file()` reads and `INTO OUTFILE` |
//! | `volume-anomaly` | a client's bucket far above its own baseline (needs a baseline) |
//! | `first-seen-client` | a user or address the baseline never saw, reading data |
//! | `first-seen-table` | a known client reading a table it never read |

pub mod auth_failure_burst;
pub mod external_client_read;
pub mod first_seen_client;
pub mod first_seen_table;
pub mod recon;
pub mod secret_in_query;
pub mod server_file_access;
pub mod table_function_egress;
pub mod unauthenticated_read;
pub mod volume_anomaly;
