//! The proxy in front of a database's shards.
//!
//! # Layout
//! - [`acl`]: users, `AUTH`, `ACL`, and the per-command permission check.
//! - [`limits`]: protected mode, `maxclients`, query and output buffer limits, `timeout`.

pub mod acl;
pub mod limits;
