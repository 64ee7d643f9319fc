//! The command table, one module per Redis command group (generated).

pub mod bitmap;
pub mod cluster;
pub mod connection;
pub mod generic;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod list;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sorted_set;
pub mod stream;
pub mod string;
pub mod transactions;

/// Every group's commands.
pub static GROUPS: &[(&str, &[super::CommandSpec])] = &[
    ("bitmap", bitmap::COMMANDS),
    ("cluster", cluster::COMMANDS),
    ("connection", connection::COMMANDS),
    ("generic", generic::COMMANDS),
    ("geo", geo::COMMANDS),
    ("hash", hash::COMMANDS),
    ("hyperloglog", hyperloglog::COMMANDS),
    ("list", list::COMMANDS),
    ("pubsub", pubsub::COMMANDS),
    ("scripting", scripting::COMMANDS),
    ("server", server::COMMANDS),
    ("set", set::COMMANDS),
    ("sorted_set", sorted_set::COMMANDS),
    ("stream", stream::COMMANDS),
    ("string", string::COMMANDS),
    ("transactions", transactions::COMMANDS),
];
