//! shoal's configuration: the raw TOML schema and its validation into a `Config`.
//! Filled in by the agent work; the shard takes its settings from flags.
#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]
