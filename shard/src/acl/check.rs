//! The per-command permission check (`ACLCheckAllUserCommandPerm` for the root selector):
//! the command bit (or an allowed first argument), then every key against the key
//! patterns with the access the key specification asks for, then the channels of the
//! pub/sub commands against the channel patterns.

use crate::glob;
use bytes::Bytes;
use shoal_proto::command::{CommandSpec, Flags};

use super::catalog::Catalog;
use super::user::{User, KEY_READ, KEY_WRITE};

/// Why a command was refused; `reply` gives Redis's error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Command,
    /// Position in the arguments of the first key no pattern allows.
    Key(usize),
    /// Position of the first channel no pattern allows.
    Channel(usize),
}

impl Denied {
    /// The error line (without `-` and CRLF) a client gets.
    pub fn message(&self, spec: &CommandSpec) -> String {
        match self {
            Denied::Command => format!(
                "NOPERM this user has no permissions to run the '{}' command",
                spec.name
            ),
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .to_string()
            }
            Denied::Channel(_) => "NOPERM this user has no permissions to access one of the channels used as arguments".to_string(),
        }
    }

    /// The error a script gets when its `redis.call` is refused (Redis's
    /// `scriptVerifyACL`), without the `ERR ` code.
    pub fn script_message(&self) -> &'static str {
        match self {
            Denied::Command => "The user executing the script can't run this command or subcommand",
            Denied::Key(_) => "The user executing the script can't access at least one of the keys mentioned in the command arguments",
            Denied::Channel(_) => "The user executing the script can't publish to the channel mentioned in the command",
        }
    }

    /// The `ACL DRYRUN` text, which names the key or channel.
    pub fn dryrun_message(&self, spec: &CommandSpec, args: &[&[u8]]) -> String {
        let arg = |i: &usize| String::from_utf8_lossy(args.get(*i).copied().unwrap_or_default());
        match self {
            Denied::Command => format!(
                "This user has no permissions to run the '{}' command",
                spec.name
            ),
            Denied::Key(i) => format!(
                "This user has no permissions to access the '{}' key",
                arg(i)
            ),
            Denied::Channel(i) => format!(
                "This user has no permissions to access the '{}' channel",
                arg(i)
            ),
        }
    }
}

/// May `user` run `spec` with `args` (`args[0]` is the command name)? `spec` is the
/// subcommand's spec for container commands (`client|setname`).
pub fn check(user: &User, spec: &CommandSpec, args: &[&[u8]]) -> Result<(), Denied> {
    if user.unrestricted() {
        return Ok(());
    }
    if !user.allcommands && !spec.flags.has(Flags::NO_AUTH) {
        let id = Catalog::get().id_of(spec).ok_or(Denied::Command)?;
        if !user.has_command(id) && !first_arg_allowed(user, id, spec, args) {
            return Err(Denied::Command);
        }
    }
    if !user.allkeys && !spec.key_specs.is_empty() {
        // The table's key finder takes owned arguments; only restricted users pay for
        // the copy. Arguments that do not fit the key specifications hold no keys to
        // check: the command itself then fails with its own error, as in Redis.
        let owned: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        if let Ok(keys) = spec.keys_with_flags(&owned) {
            for (pos, flags) in keys {
                let key = args.get(pos).copied().unwrap_or_default();
                if !key_allowed(user, key, access(flags)) {
                    return Err(Denied::Key(pos));
                }
            }
        }
    }
    if !user.allchannels {
        if let Some((first, last, pattern)) = channel_args(spec.name, args.len()) {
            for pos in first..=last {
                let ch = args.get(pos).copied().unwrap_or_default();
                if !channel_allowed(user, ch, pattern) {
                    return Err(Denied::Channel(pos));
                }
            }
        }
    }
    Ok(())
}

fn first_arg_allowed(user: &User, id: usize, spec: &CommandSpec, args: &[&[u8]]) -> bool {
    let idx = if spec.name.contains('|') { 2 } else { 1 };
    let Some(arg) = args.get(idx) else {
        return false;
    };
    user.firstargs
        .iter()
        .find(|(i, _)| *i == id)
        .is_some_and(|(_, list)| list.iter().any(|a| a.eq_ignore_ascii_case(arg)))
}

/// The permissions a key's specification flags ask for: `access` reads, `insert`,
/// `delete` and `update` write.
fn access(flags: &[&str]) -> u8 {
    let mut need = 0;
    for f in flags {
        match *f {
            "access" => need |= KEY_READ,
            "insert" | "delete" | "update" => need |= KEY_WRITE,
            _ => {}
        }
    }
    need
}

pub fn key_allowed(user: &User, key: &[u8], need: u8) -> bool {
    user.allkeys
        || user
            .keys
            .iter()
            .any(|p| p.flags & need == need && glob::matches(&p.pattern, key, false))
}

/// A channel is matched against the patterns; a PSUBSCRIBE pattern must equal one
/// literally, so a user allowed `news.*` cannot subscribe to `*`.
pub fn channel_allowed(user: &User, channel: &[u8], is_pattern: bool) -> bool {
    user.allchannels
        || user.channels.iter().any(|p| {
            if is_pattern {
                p == channel
            } else {
                glob::matches(p, channel, false)
            }
        })
}

/// The channel arguments of the commands that publish or subscribe (Redis's
/// `commands_with_channels`, minus the unsubscribes, which ACLs never refuse):
/// (first, last, is_pattern).
fn channel_args(name: &str, argc: usize) -> Option<(usize, usize, bool)> {
    if argc < 2 {
        return None;
    }
    match name {
        "subscribe" | "ssubscribe" => Some((1, argc - 1, false)),
        "psubscribe" => Some((1, argc - 1, true)),
        "publish" | "spublish" => Some((1, 1, false)),
        _ => None,
    }
}
