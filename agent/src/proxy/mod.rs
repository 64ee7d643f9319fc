//! The proxy: one client port per database in front of the database's shards.
//!
//! # Layout
//! - [`cluster`]: the agent's own answers to CLUSTER, READONLY, READWRITE and ASKING.
pub mod cluster;
