//! The rule catalog: one module per rule, each with `observe` (fold an event into a group)
//! and `judge` (decide, at the end, whether a group is a finding and how severe).
//!
//! | id | flags |
//! |---|---|
//! | `unauthenticated-read` | a passwordless principal reading data or metadata |
//! | `external-client-read` | results above a threshold delivered to an external address |
//! | `table-function-egress` | data moved through url/s3/remote/… table functions |

pub mod external_client_read;
pub mod table_function_egress;
pub mod unauthenticated_read;
