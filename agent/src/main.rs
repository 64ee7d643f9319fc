//! The `shoal` binary. `shoal shard …` runs one shard; the agent that supervises many
//! shards behind a proxy runs as `shoal` / `shoal run`.
#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

// jemalloc both keeps fragmentation low for many small keys and gives INFO's
// `used_memory` an exact figure.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    cli::main()
}
