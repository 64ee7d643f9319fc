//! The wire side of shoal: everything about the Redis protocol that needs no I/O.
//!
//! # Layout
//! - [`request`]: incremental parser for client requests (RESP2 multibulk and inline), with
//!   Redis's limits and exact protocol-error texts. Arguments are zero-copy slices of the
//!   read buffer.
//! - [`frame`]: request frame scanner for the proxy: frame extent plus argument ranges,
//!   no copies. [`reply_scan`]: where one reply ends, for splitting upstream reads.
//! - [`reply`]: encoder for RESP2 and RESP3 replies, writing straight into a `BytesMut`.
//! - [`command`]: the command table (name, arity, flags, key positions) that drives
//!   dispatch, `COMMAND` and routing.
//! - [`slot`]: CRC16 hash slots with `{hash tags}`; [`slotmap`]: which shard owns each slot.
//! - [`cluster`]: one database's Redis Cluster view (nodes, slot ranges) and the CLUSTER
//!   replies built from it, shared by the shards and the agent.
//! - [`number`]: Redis-exact integer and double parsing and formatting.
#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]
// Tests may unwrap: a panic there is a failed assertion, not a crashed server.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod cluster;
pub mod command;
pub mod frame;
pub mod number;
pub mod reply;
pub mod reply_scan;
pub mod request;
pub mod slot;
pub mod slotmap;

pub use command::{lookup, lookup_subcommand, CommandSpec, Flags};
pub use reply::{Protocol, Reply};
pub use request::{ParseError, RequestParser};
pub use slot::{key_hash_slot, SLOT_COUNT};
pub use slotmap::SlotMap;
