//! `ACL <subcommand>` and `AUTH`, answered by the proxy from the database's [`Acl`], with
//! Redis 7.0's replies and error texts.

use std::sync::Arc;

use rand::RngCore;
use shoal_proto::{command, Reply};

use super::catalog::{category_bit, Catalog, CATEGORIES};
use super::log::Reason;
use super::user::{has_spaces, User};
use super::{describe, sha256, Acl, Session, AUTH_NO_PASSWORD};

const HELP: &[&str] = &[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// `AUTH [username] password`. A failure is logged for `ACL LOG` with `client_info`
/// (the client's `CLIENT LIST` line), made only then.
pub fn auth(
    acl: &Acl,
    s: &mut Session,
    args: &[&[u8]],
    out: &mut Reply,
    client_info: &dyn Fn() -> String,
) {
    let (name, password): (&[u8], &[u8]) = match args {
        &[_, pass] => {
            if acl.default_is_open() {
                out.error(AUTH_NO_PASSWORD);
                return;
            }
            (b"default", pass)
        }
        &[_, name, pass] => (name, pass),
        [_] | [] => {
            out.error("ERR wrong number of arguments for 'auth' command");
            return;
        }
        _ => {
            out.error("ERR syntax error");
            return;
        }
    };
    match acl.authenticate(s, name, password) {
        Ok(()) => out.ok(),
        Err(e) => {
            let object = args.first().copied().unwrap_or_default();
            acl.log
                .add(Reason::Auth, false, object, name, client_info());
            out.error(e)
        }
    }
}

/// `ACL <subcommand> ...` (`args[0]` is `ACL`).
pub fn acl(acl: &Acl, s: &Session, args: &[&[u8]], out: &mut Reply) {
    let Some(&sub) = args.get(1) else {
        out.error("ERR wrong number of arguments for 'acl' command");
        return;
    };
    let is = |name: &str| sub.eq_ignore_ascii_case(name.as_bytes());
    let argc = args.len();
    if is("setuser") && argc >= 3 {
        setuser(acl, args, out);
    } else if is("deluser") && argc >= 3 {
        deluser(acl, args, out);
    } else if is("getuser") && argc == 3 {
        match acl.user(args[2]) {
            Some(u) => getuser(&u, out),
            None => out.null(),
        }
    } else if (is("list") || is("users")) && argc == 2 {
        let users = acl.read();
        out.array(users.len());
        for u in users.values() {
            if is("users") {
                out.bulk(&u.name);
            } else {
                out.bulk(&describe::list_line(u));
            }
        }
    } else if is("whoami") && argc == 2 {
        out.bulk(&s.user.name);
    } else if (is("load") || is("save")) && argc == 2 {
        out.error(NO_ACL_FILE);
    } else if is("cat") && argc == 2 {
        out.bulks(CATEGORIES.iter());
    } else if is("cat") && argc == 3 {
        cat(args[2], out);
    } else if is("genpass") && (argc == 2 || argc == 3) {
        genpass(args.get(2).copied(), out);
    } else if is("log") && (argc == 2 || argc == 3) {
        match args.get(2) {
            Some(a) if a.eq_ignore_ascii_case(b"reset") => {
                acl.log.reset();
                out.ok();
            }
            Some(a) => match shoal_proto::number::parse_i64(a) {
                Some(n) => acl.log.reply(usize::try_from(n).unwrap_or(0), out),
                None => out.error("ERR value is not an integer or out of range"),
            },
            None => acl.log.reply(10, out),
        }
    } else if is("dryrun") && argc >= 4 {
        dryrun(acl, args, out);
    } else if is("help") && argc == 2 {
        out.array(HELP.len() + 3);
        out.simple("ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        for line in HELP {
            out.simple(line);
        }
        out.simple("HELP");
        out.simple("    Prints this help.");
    } else {
        out.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
            trunc(sub, 128)
        ));
    }
}

fn trunc(b: &[u8], n: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(n)]).into_owned()
}

fn setuser(acl: &Acl, args: &[&[u8]], out: &mut Reply) {
    let name = args[2];
    if has_spaces(name) {
        out.error("ERR Usernames can't contain spaces or null characters");
        return;
    }
    if args[3..].iter().any(|a| a.first() == Some(&b'(')) {
        out.error("ERR Error in ACL SETUSER modifier: selectors are not supported");
        return;
    }
    let mut users = acl.write();
    let mut u = users
        .get(name)
        .map(|u| User::clone(u))
        .unwrap_or_else(|| User::new(name));
    match u.apply_all(args[3..].iter().copied()) {
        Ok(()) => {
            users.insert(name.to_vec(), Arc::new(u));
            drop(users);
            acl.changed();
            out.ok();
        }
        Err((rule, e)) => out.error(&format!("ERR Error in ACL SETUSER modifier '{rule}': {e}")),
    }
}

fn deluser(acl: &Acl, args: &[&[u8]], out: &mut Reply) {
    if args[2..].iter().any(|n| *n == b"default") {
        out.error("ERR The 'default' user cannot be removed");
        return;
    }
    let mut users = acl.write();
    let deleted = args[2..]
        .iter()
        .filter(|n| users.remove(**n).is_some())
        .count();
    drop(users);
    if deleted > 0 {
        acl.changed();
    }
    out.int(deleted as i64);
}

fn getuser(u: &User, out: &mut Reply) {
    out.map(6);
    out.bulk(b"flags");
    let flags = describe::flags(u);
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(u.passwords.len());
    for p in &u.passwords {
        out.bulk(sha256::to_hex(p).as_bytes());
    }
    out.bulk(b"commands");
    out.bulk(describe::command_rules(u).as_bytes());
    out.bulk(b"keys");
    out.bulk(&describe::keys_field(u));
    out.bulk(b"channels");
    out.bulk(&describe::channels_field(u));
    out.bulk(b"selectors");
    out.array(0);
}

fn cat(name: &[u8], out: &mut Reply) {
    let bit = std::str::from_utf8(name).ok().and_then(category_bit);
    let Some(bit) = bit else {
        out.error(&format!("ERR Unknown category '{}'", trunc(name, 128)));
        return;
    };
    let catalog = Catalog::get();
    let names: Vec<&str> = catalog
        .entries
        .iter()
        .filter(|e| e.categories & bit != 0)
        .map(|e| e.spec.name)
        .collect();
    out.bulks(names.iter());
}

fn genpass(bits: Option<&[u8]>, out: &mut Reply) {
    const MAX_BITS: i64 = 4096;
    let bits = match bits {
        None => 256,
        Some(b) => match shoal_proto::number::parse_i64(b) {
            Some(n) => n,
            None => {
                out.error("ERR value is not an integer or out of range");
                return;
            }
        },
    };
    if !(1..=MAX_BITS).contains(&bits) {
        out.error(&format!("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to {MAX_BITS}"));
        return;
    }
    let chars = ((bits + 3) / 4) as usize;
    let mut raw = vec![0u8; chars.div_ceil(2)];
    rand::thread_rng().fill_bytes(&mut raw);
    let mut hex = String::with_capacity(raw.len() * 2);
    for b in raw {
        hex.push_str(&format!("{b:02x}"));
    }
    hex.truncate(chars);
    out.bulk(hex.as_bytes());
}

fn dryrun(acl: &Acl, args: &[&[u8]], out: &mut Reply) {
    let Some(user) = acl.user(args[2]) else {
        out.error(&format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(args[2])
        ));
        return;
    };
    let cmd = &args[3..];
    let Some(mut spec) = command::lookup(cmd[0]) else {
        out.error(&format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(cmd[0])
        ));
        return;
    };
    if !spec.subcommands.is_empty() && cmd.len() >= 2 {
        match command::lookup_subcommand(spec, cmd[1]) {
            Some(sub) => spec = sub,
            None => {
                out.error(&format!(
                    "ERR Command '{}' not found",
                    String::from_utf8_lossy(cmd[0])
                ));
                return;
            }
        }
    }
    if !spec.arity_ok(cmd.len()) {
        out.error(&format!(
            "ERR wrong number of arguments for '{}' command",
            spec.name
        ));
        return;
    }
    match super::check::check(&user, spec, cmd) {
        Ok(()) => out.ok(),
        Err(d) => out.bulk(d.dryrun_message(spec, cmd).as_bytes()),
    }
}
