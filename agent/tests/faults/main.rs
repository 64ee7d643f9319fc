//! Fault injection against the real agent: a stopped shard, a stalled disk, a second agent
//! on the same data, a full disk during an AOF rewrite, and the agent killed while it
//! stops. Each test prints its figures. Ports 30100-30599.

#[path = "../common/mod.rs"]
mod common;

mod agents;
mod disk;
mod stopped_shard;
mod support;
