//! The proxy in front of a database's shards.
//!
//! # Layout
//! - [`access`]: a database's users and limits, as the client loop calls them.
//! - [`acl`]: users, `AUTH`, `ACL`, and the per-command permission check.
//! - [`limits`]: protected mode, `maxclients`, query and output buffer limits, `timeout`.

pub mod access;
pub mod acl;
pub mod limits;
