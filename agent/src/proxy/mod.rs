//! The proxy in front of the shards.
//!
//! - [`split`]: MGET/MSET/DEL/UNLINK/EXISTS/TOUCH split by shard and merged.
//! - [`fanout`]: DBSIZE, KEYS, SCAN, INFO, CONFIG SET, SCRIPT LOAD … to every shard.
//! - [`crossslot`]: the same-slot rule for every other multi-key command.
#![allow(dead_code)]

pub mod crossslot;
pub mod fanout;
mod info_merge;
pub mod split;
#[cfg(test)]
mod testpeer;
