//! Command execution: the handler table, the per-command context, and dispatch.
//!
//! # Layout
//! - [`args`]: argument parsing helpers with Redis's error texts.
//! - one module per command family; each exports `COMMANDS`, a list of
//!   `(full name, handler)` pairs. Adding a command touches its family and, if Redis
//!   gained it, the generated table in `shoal_proto` only.
//!
//! A handler writes its whole reply into `ctx.out` and returns `Ok(())`, or returns an
//! error whose text becomes the reply. It must not write anything before returning an
//! error. A handler that changes the dataset adds to `ctx.srv.dirty`, which is how the
//! AOF and WATCH learn that it did.

pub mod args;
pub mod connection;
pub mod hash;
pub mod keys;
pub mod server;
pub mod set;
pub mod strings;

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use shoal_proto::command::{self, CommandSpec};
use shoal_proto::Reply;

use crate::client::Client;
use crate::state::{now_ms, Server};

/// A command's error reply, without the leading `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    Static(&'static str),
    Owned(String),
}

impl CmdError {
    pub fn text(&self) -> &str {
        match self {
            CmdError::Static(s) => s,
            CmdError::Owned(s) => s,
        }
    }
}

impl From<String> for CmdError {
    fn from(s: String) -> Self {
        CmdError::Owned(s)
    }
}

impl From<&'static str> for CmdError {
    fn from(s: &'static str) -> Self {
        CmdError::Static(s)
    }
}

pub type CmdResult = Result<(), CmdError>;
pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> CmdResult;

/// Redis 7.0's error texts, shared by every family.
pub mod err {
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const SYNTAX: &str = "ERR syntax error";
    pub const NOT_INT: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    pub const OUT_OF_RANGE: &str = "ERR index out of range";
    pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
    pub const NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";
    pub const STRING_TOO_LONG: &str =
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    pub const NOAUTH: &str = "NOAUTH Authentication required.";
}

/// Everything a handler may touch while it runs one command.
pub struct Ctx<'a> {
    pub srv: &'a mut Server,
    pub client: &'a mut Client,
    pub out: &'a mut Reply,
    /// The command's clock in Unix milliseconds, read once so that one command (or one
    /// EXEC) sees a single instant, as in Redis.
    pub now: i64,
    pub spec: &'static CommandSpec,
}

impl Ctx<'_> {
    pub fn db(&mut self) -> &mut crate::db::Db {
        &mut self.srv.db
    }
}

struct Entry {
    spec: &'static CommandSpec,
    handler: Handler,
}

/// Every family's handlers; one line per family.
static FAMILIES: &[&[(&str, Handler)]] = &[
    connection::COMMANDS,
    hash::COMMANDS,
    keys::COMMANDS,
    server::COMMANDS,
    set::COMMANDS,
    strings::COMMANDS,
];

fn families() -> &'static [&'static [(&'static str, Handler)]] {
    FAMILIES
}

fn table() -> &'static HashMap<&'static str, Entry> {
    static TABLE: OnceLock<HashMap<&'static str, Entry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = HashMap::new();
        for family in families() {
            for &(name, handler) in family.iter() {
                match command::lookup(name.as_bytes()) {
                    Some(spec) => {
                        map.insert(spec.name, Entry { spec, handler });
                    }
                    None => {
                        tracing::error!(command = name, "handler without a command-table entry")
                    }
                }
            }
        }
        map
    })
}

/// True when shoal implements `spec` (full name); `COMMAND` lists only these.
pub fn implemented(spec: &CommandSpec) -> bool {
    if spec.subcommands.is_empty() {
        table().contains_key(spec.name)
    } else {
        spec.subcommands
            .iter()
            .any(|s| table().contains_key(s.name))
    }
}

/// Resolves a request to its command (or subcommand) spec and handler, or the exact
/// error Redis gives for an unknown command, unknown subcommand or wrong arity.
pub fn resolve(args: &[Bytes]) -> Result<(&'static CommandSpec, Handler), CmdError> {
    let name = &args[0];
    let Some(spec) = command::lookup(name).filter(|s| implemented(s)) else {
        return Err(unknown_command(args));
    };
    let spec = if spec.subcommands.is_empty() {
        spec
    } else {
        if args.len() < 2 {
            return Err(wrong_arity(spec.name));
        }
        match command::lookup_subcommand(spec, &args[1]).filter(|s| table().contains_key(s.name)) {
            Some(sub) => sub,
            None => {
                return Err(CmdError::Owned(format!(
                    "ERR unknown subcommand '{}'. Try {} HELP.",
                    trunc(&args[1], 128),
                    spec.name.to_ascii_uppercase()
                )))
            }
        }
    };
    if !spec.arity_ok(args.len()) {
        return Err(wrong_arity(spec.name));
    }
    match table().get(spec.name) {
        Some(e) => Ok((e.spec, e.handler)),
        None => Err(unknown_command(args)),
    }
}

pub fn wrong_arity(full_name: &str) -> CmdError {
    CmdError::Owned(format!(
        "ERR wrong number of arguments for '{full_name}' command"
    ))
}

fn trunc(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
}

fn unknown_command(args: &[Bytes]) -> CmdError {
    let mut list = String::new();
    for a in &args[1..] {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push_str(&format!("'{}' ", trunc(a, room)));
    }
    CmdError::Owned(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        trunc(&args[0], 128),
        list
    ))
}

/// Runs one request and writes its reply.
pub fn execute(srv: &mut Server, client: &mut Client, out: &mut Reply, args: &[Bytes]) {
    srv.stats.total_commands_processed += 1;
    let (spec, handler) = match resolve(args) {
        Ok(found) => found,
        Err(e) => {
            reply_error(srv, out, &e);
            return;
        }
    };
    client.last_cmd = spec.name;
    if !client.authenticated && !spec.flags.has(shoal_proto::Flags::NO_AUTH) {
        reply_error(srv, out, &CmdError::Static(err::NOAUTH));
        return;
    }
    let mark = out.len();
    let mut ctx = Ctx {
        srv,
        client,
        out,
        now: now_ms(),
        spec,
    };
    if let Err(e) = handler(&mut ctx, args) {
        out.truncate(mark);
        reply_error(srv, out, &e);
    }
}

fn reply_error(srv: &mut Server, out: &mut Reply, e: &CmdError) {
    srv.stats.total_error_replies += 1;
    out.error(e.text());
}

/// Client names may not contain spaces, newlines or other special characters, since they
/// appear in CLIENT LIST's space-separated lines.
pub fn client_name_ok(name: &[u8]) -> CmdResult {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(
            "ERR Client names cannot contain spaces, newlines or special characters.".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_has_a_spec() {
        for family in families() {
            for (name, _) in family.iter() {
                assert!(
                    command::lookup(name.as_bytes()).is_some(),
                    "{name} missing from the table"
                );
            }
        }
    }

    #[test]
    fn errors_match_redis() {
        let a = |s: &str| {
            s.split(' ')
                .map(|x| Bytes::copy_from_slice(x.as_bytes()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            resolve(&a("foo bar baz"))
                .err()
                .map(|e| e.text().to_string()),
            Some("ERR unknown command 'foo', with args beginning with: 'bar' 'baz' ".to_string())
        );
        assert_eq!(
            resolve(&a("get")).err().map(|e| e.text().to_string()),
            Some("ERR wrong number of arguments for 'get' command".to_string())
        );
    }
}
