//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT.

use bytes::Bytes;

use super::run::{self, Invocation, Outcome, NOSCRIPT};
use super::sha1::sha1_hex;
use super::shebang;
use crate::cmd::{CmdError, CmdResult, Ctx, Handler};

pub static COMMANDS: &[(&str, Handler)] = &[
    ("eval", eval),
    ("evalsha", evalsha),
    ("eval_ro", eval_ro),
    ("evalsha_ro", evalsha_ro),
    ("script|load", script_load),
    ("script|exists", script_exists),
    ("script|flush", script_flush),
    ("script|kill", script_kill),
    ("script|help", script_help),
];

/// EVAL script numkeys [key ...] [arg ...]
fn eval(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    eval_generic(ctx, argv, false, false)
}

/// EVALSHA sha1 numkeys [key ...] [arg ...]
fn evalsha(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    eval_generic(ctx, argv, true, false)
}

/// EVAL_RO script numkeys [key ...] [arg ...]
fn eval_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    eval_generic(ctx, argv, false, true)
}

/// EVALSHA_RO sha1 numkeys [key ...] [arg ...]
fn evalsha_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    eval_generic(ctx, argv, true, true)
}

fn eval_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], by_sha: bool, ro: bool) -> CmdResult {
    let numkeys = shoal_proto::number::parse_i64(&argv[2])
        .ok_or(CmdError::Static(crate::cmd::err::NOT_INT))?;
    let rest = argv.len() as i64 - 3;
    if numkeys > rest {
        return Err("ERR Number of keys can't be greater than number of args".into());
    }
    if numkeys < 0 {
        return Err("ERR Number of keys can't be negative".into());
    }
    let (sha, body) = if by_sha {
        if argv[1].len() != 40 {
            return Err(NOSCRIPT.into());
        }
        let sha = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        match ctx.srv.scripts.cache.get(&sha) {
            Some(body) => (sha, body.clone()),
            None => return Err(NOSCRIPT.into()),
        }
    } else {
        (sha1_hex(&argv[1]), argv[1].clone())
    };
    let flags = shebang::parse(&body).map_err(CmdError::Owned)?;
    if !flags.compat {
        if !flags.no_writes {
            if let Some(text) = ctx.srv.persist.misconf() {
                return Err(CmdError::Owned(text));
            }
            if ro {
                return Err(
                    "ERR Can not execute a script with write flag using *_ro command.".into(),
                );
            }
        }
        if ctx.srv.config.maxmemory > 0
            && ctx.srv.evict.pre_command_oom
            && !flags.allow_oom
            && !flags.no_writes
        {
            return Err("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'".into());
        }
    }
    // The commands the script runs are recorded instead (see the module doc).
    ctx.no_propagate();
    let split = 3 + numkeys as usize;
    let inv = Invocation {
        sha,
        body,
        flags,
        keys: argv[3..split].to_vec(),
        args: argv[split..].to_vec(),
        read_only: ro,
        now: ctx.now,
        user: ctx.client.acl_user(),
    };
    // Inside EXEC, or while loading, the caller cannot wait: the script runs to its end.
    let may_yield =
        !ctx.client.deny_blocking && ctx.client.id != crate::persist::load::LOAD_CLIENT_ID;
    match run::start(ctx.srv, inv, ctx.client.proto, may_yield)? {
        Outcome::Done(done) => match done.error {
            // A top-level error goes through the dispatcher, which counts it.
            Some(text) if done.reply.first() == Some(&b'-') => Err(CmdError::Owned(text)),
            _ => {
                ctx.out.raw(&done.reply);
                Ok(())
            }
        },
        Outcome::Busy => {
            ctx.client.script_wait = true;
            Ok(())
        }
    }
}

/// SCRIPT LOAD script
fn script_load(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let body = argv[2].clone();
    let sha = sha1_hex(&body);
    if !ctx.srv.scripts.cache.contains_key(&sha) {
        let flags = shebang::parse(&body).map_err(CmdError::Owned)?;
        ctx.srv.scripts.load(&sha, &body, flags.shebang_len)?;
    }
    // Loading changes no data: nothing for the AOF.
    ctx.no_propagate();
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

/// SCRIPT EXISTS sha1 [sha1 ...]
fn script_exists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.out.array(argv.len() - 2);
    for sha in &argv[2..] {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        let known = ctx.srv.scripts.cache.contains_key(&sha);
        ctx.out.int(known as i64);
    }
    Ok(())
}

/// SCRIPT FLUSH [ASYNC|SYNC]
fn script_flush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mode_ok = match argv.get(2) {
        None => argv.len() == 2,
        Some(m) => {
            argv.len() == 3 && (m.eq_ignore_ascii_case(b"sync") || m.eq_ignore_ascii_case(b"async"))
        }
    };
    if !mode_ok {
        return Err("ERR SCRIPT FLUSH only support SYNC|ASYNC option".into());
    }
    ctx.srv.scripts.flush();
    ctx.no_propagate();
    ctx.out.ok();
    Ok(())
}

/// SCRIPT KILL
fn script_kill(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.srv.scripts.kill()?;
    ctx.out.ok();
    Ok(())
}

/// SCRIPT HELP
fn script_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    const HELP: &[&str] = &[
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    ];
    ctx.out.array(HELP.len());
    for line in HELP {
        ctx.out.simple(line);
    }
    Ok(())
}
