//! COMMAND and its subcommands, answered from the shared command table. Only commands
//! shoal implements are listed, so a client that discovers commands through COMMAND
//! never sends one that would fail as unknown.

use bytes::Bytes;
use shoal_proto::command::{self, table::GROUPS, BeginSearch, CommandSpec, FindKeys};
use shoal_proto::{Flags, Reply};

use crate::cmd::{args, err, implemented, CmdError, CmdResult, Ctx};

/// Flags Redis keeps internal and never shows in COMMAND's replies.
const HIDDEN_FLAGS: Flags = Flags(
    Flags::MAY_REPLICATE.0
        | Flags::SENTINEL.0
        | Flags::ONLY_SENTINEL.0
        | Flags::PROTECTED.0
        | Flags::ALLOW_OOM.0,
);

fn listed() -> impl Iterator<Item = &'static CommandSpec> {
    command::all().iter().copied().filter(|c| implemented(c))
}

fn subcommands(spec: &'static CommandSpec) -> impl Iterator<Item = &'static CommandSpec> {
    spec.subcommands.iter().filter(|s| implemented(s))
}

/// COMMAND
pub fn command(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let all: Vec<_> = listed().collect();
    ctx.out.array(all.len());
    for spec in all {
        write_info(ctx.out, spec);
    }
    Ok(())
}

/// COMMAND COUNT
pub fn count(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(listed().count() as i64);
    Ok(())
}

/// COMMAND INFO [command-name ...]
pub fn info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() == 2 {
        return command(ctx, argv);
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match by_full_name(name) {
            Some(spec) => write_info(ctx.out, spec),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// A command by its full name (`get`, `config|get`), if shoal implements it.
fn by_full_name(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut parts = name.split(|&b| b == b'|');
    let top = command::lookup(parts.next()?)?;
    let spec = match parts.next() {
        None => top,
        Some(sub) => command::lookup_subcommand(top, sub)?,
    };
    if parts.next().is_some() || !implemented(spec) {
        return None;
    }
    Some(spec)
}

fn write_info(out: &mut Reply, spec: &'static CommandSpec) {
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.int(spec.arity as i64);
    let flags: Vec<&str> = Flags::NAMES
        .iter()
        .filter(|(f, _)| spec.flags.has(*f) && !HIDDEN_FLAGS.has(*f))
        .map(|(_, n)| *n)
        .collect();
    out.set(flags.len());
    for f in flags {
        out.simple(f);
    }
    out.int(spec.first_key as i64);
    out.int(spec.last_key as i64);
    out.int(spec.step as i64);
    out.set(spec.acl.len());
    for cat in spec.acl {
        out.simple(cat);
    }
    out.set(spec.tips.len());
    for tip in spec.tips {
        out.bulk(tip.as_bytes());
    }
    out.set(spec.key_specs.len());
    for ks in spec.key_specs {
        out.map(3);
        out.bulk(b"flags");
        out.set(ks.flags.len());
        for f in ks.flags {
            out.simple(f);
        }
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        match ks.begin {
            BeginSearch::Index(pos) => {
                out.bulk(b"index");
                out.bulk(b"spec");
                out.map(1);
                out.bulk(b"index");
                out.int(pos as i64);
            }
            BeginSearch::Keyword {
                keyword,
                start_from,
            } => {
                out.bulk(b"keyword");
                out.bulk(b"spec");
                out.map(2);
                out.bulk(b"keyword");
                out.bulk(keyword.as_bytes());
                out.bulk(b"startfrom");
                out.int(start_from as i64);
            }
            BeginSearch::Unknown => {
                out.bulk(b"unknown");
                out.bulk(b"spec");
                out.map(0);
            }
        }
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        match ks.find {
            FindKeys::Range {
                last_key,
                key_step,
                limit,
            } => {
                out.bulk(b"range");
                out.bulk(b"spec");
                out.map(3);
                for (k, v) in [
                    ("lastkey", last_key),
                    ("keystep", key_step),
                    ("limit", limit),
                ] {
                    out.bulk(k.as_bytes());
                    out.int(v as i64);
                }
            }
            FindKeys::Keynum {
                keynum_idx,
                first_key,
                key_step,
            } => {
                out.bulk(b"keynum");
                out.bulk(b"spec");
                out.map(3);
                for (k, v) in [
                    ("keynumidx", keynum_idx),
                    ("firstkey", first_key),
                    ("keystep", key_step),
                ] {
                    out.bulk(k.as_bytes());
                    out.int(v as i64);
                }
            }
            FindKeys::Unknown => {
                out.bulk(b"unknown");
                out.bulk(b"spec");
                out.map(0);
            }
        }
    }
    if spec.subcommands.is_empty() {
        out.set(0);
    } else {
        let subs: Vec<_> = subcommands(spec).collect();
        out.array(subs.len());
        for sub in subs {
            write_info(out, sub);
        }
    }
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]
pub fn list(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    enum Filter<'a> {
        None,
        Module,
        AclCat(&'a [u8]),
        Pattern(&'a [u8]),
    }
    let filter = match argv.len() {
        2 => Filter::None,
        5 if args::is(&argv[2], "filterby") => {
            if args::is(&argv[3], "module") {
                Filter::Module
            } else if args::is(&argv[3], "aclcat") {
                Filter::AclCat(&argv[4])
            } else if args::is(&argv[3], "pattern") {
                Filter::Pattern(&argv[4])
            } else {
                return Err(err::SYNTAX.into());
            }
        }
        _ => return Err(err::SYNTAX.into()),
    };
    let keep = |spec: &CommandSpec| match filter {
        Filter::None => true,
        // shoal loads no modules.
        Filter::Module => false,
        Filter::AclCat(cat) => spec.acl.iter().any(|c| {
            c.strip_prefix('@')
                .is_some_and(|c| c.as_bytes().eq_ignore_ascii_case(cat))
        }),
        Filter::Pattern(p) => crate::glob::matches(p, spec.name.as_bytes(), true),
    };
    let mut names = Vec::new();
    for spec in listed() {
        if keep(spec) {
            names.push(spec.name);
        }
        names.extend(subcommands(spec).filter(|s| keep(s)).map(|s| s.name));
    }
    ctx.out.bulks(names.iter());
    Ok(())
}

/// The group COMMAND DOCS reports, with Redis's spelling.
fn group_of(spec: &CommandSpec) -> &'static str {
    let top = spec.name.split('|').next().unwrap_or(spec.name);
    GROUPS
        .iter()
        .find(|(_, cmds)| cmds.iter().any(|c| c.name == top))
        .map(|(g, _)| if *g == "sorted_set" { "sorted-set" } else { *g })
        .unwrap_or("generic")
}

/// COMMAND DOCS [command-name ...] — the group and subcommands of each command; shoal
/// does not carry Redis's prose documentation.
pub fn docs(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let specs: Vec<&'static CommandSpec> = if argv.len() == 2 {
        listed().collect()
    } else {
        argv[2..].iter().filter_map(|n| by_full_name(n)).collect()
    };
    ctx.out.map(specs.len());
    for spec in specs {
        ctx.out.bulk(spec.name.as_bytes());
        write_docs(ctx.out, spec);
    }
    Ok(())
}

fn write_docs(out: &mut Reply, spec: &'static CommandSpec) {
    let has_subs = !spec.subcommands.is_empty();
    out.map(1 + has_subs as usize);
    out.bulk(b"group");
    out.bulk(group_of(spec).as_bytes());
    if has_subs {
        out.bulk(b"subcommands");
        let subs: Vec<_> = subcommands(spec).collect();
        out.map(subs.len());
        for sub in subs {
            out.bulk(sub.name.as_bytes());
            write_docs(out, sub);
        }
    }
}

/// COMMAND GETKEYS command [arg ...]
pub fn getkeys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    get_keys(ctx, argv, false)
}

/// COMMAND GETKEYSANDFLAGS command [arg ...]
pub fn getkeysandflags(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    get_keys(ctx, argv, true)
}

/// Any command in the table answers here, implemented or not: key extraction is pure
/// table data, and a proxy may ask about commands this shard does not serve.
fn get_keys(ctx: &mut Ctx<'_>, argv: &[Bytes], with_flags: bool) -> CmdResult {
    let req = &argv[2..];
    let top = command::lookup(&req[0]).ok_or(CmdError::Static("ERR Invalid command specified"))?;
    let spec = match (top.subcommands.is_empty(), req.get(1)) {
        (false, Some(sub)) => command::lookup_subcommand(top, sub)
            .ok_or(CmdError::Static("ERR Invalid command specified"))?,
        _ => top,
    };
    if spec.key_specs.is_empty() {
        return Err("ERR The command has no key arguments".into());
    }
    if !spec.arity_ok(req.len()) {
        return Err("ERR Invalid number of arguments specified for command".into());
    }
    let keys = match spec.keys_with_flags(req) {
        Ok(k) => k,
        Err(_) if spec.flags.has(Flags::NO_MANDATORY_KEYS) => Vec::new(),
        Err(_) => return Err("ERR Invalid arguments specified for command".into()),
    };
    let out = &mut *ctx.out;
    out.array(keys.len());
    for (pos, flags) in keys {
        let key = req.get(pos).map(|k| &k[..]).unwrap_or_default();
        if with_flags {
            out.array(2);
            out.bulk(key);
            out.set(flags.len());
            for f in flags {
                out.simple(f);
            }
        } else {
            out.bulk(key);
        }
    }
    Ok(())
}

/// COMMAND HELP
pub fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx.out,
        "command",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}
