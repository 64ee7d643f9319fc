//! Connection commands: PING, ECHO, QUIT, SELECT, HELLO.

use bytes::Bytes;
use shoal_proto::Protocol;

use super::{args, err, CmdError, CmdResult, Ctx, Handler};

pub static COMMANDS: &[(&str, Handler)] = &[
    ("ping", ping),
    ("echo", echo),
    ("quit", quit),
    ("select", select),
    ("hello", hello),
];

/// PING [message]
fn ping(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 2 {
        return Err(super::wrong_arity("ping"));
    }
    match argv.get(1) {
        Some(msg) => ctx.out.bulk(msg),
        None => ctx.out.simple("PONG"),
    }
    Ok(())
}

/// ECHO message
fn echo(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.out.bulk(&argv[1]);
    Ok(())
}

/// QUIT
fn quit(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.client.close_after_reply = true;
    ctx.out.ok();
    Ok(())
}

/// SELECT index — a shard has one database, as a Redis Cluster node does.
fn select(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let db = args::int(&argv[1]).map_err(|_| CmdError::Static(err::NOT_INT))?;
    if db != 0 {
        return Err("ERR DB index is out of range".into());
    }
    ctx.out.ok();
    Ok(())
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
fn hello(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut proto = ctx.client.proto;
    let mut i = 1;
    if argv.len() >= 2 {
        let ver = args::int(&argv[1]).map_err(|_| {
            CmdError::Static("ERR Protocol version is not an integer or out of range")
        })?;
        if !(2..=3).contains(&ver) {
            return Err("NOPROTO unsupported protocol version".into());
        }
        proto = if ver == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        i = 2;
    }
    let mut name = None;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if args::is(&argv[i], "auth") && more >= 2 {
            let user = &argv[i + 1];
            let pass = &argv[i + 2];
            check_auth(ctx, user, pass)?;
            i += 3;
        } else if args::is(&argv[i], "setname") && more >= 1 {
            super::client_name_ok(&argv[i + 1])?;
            name = Some(argv[i + 1].clone());
            i += 2;
        } else {
            return Err(CmdError::Owned(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&argv[i])
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into());
    }
    if let Some(n) = name {
        ctx.client.name = Some(n);
    }
    ctx.client.proto = proto;
    ctx.out.proto = proto;
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if proto == Protocol::Resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

/// Checks a username/password pair against `requirepass` in constant time, and marks the
/// client authenticated when it matches.
pub fn check_auth(ctx: &mut Ctx<'_>, user: &[u8], pass: &[u8]) -> CmdResult {
    let ok = match &ctx.srv.config.requirepass {
        None => false,
        Some(pw) => user == b"default" && constant_time_eq(pw, pass),
    };
    if ctx.srv.config.requirepass.is_none() && user == b"default" {
        ctx.client.authenticated = true;
        return Ok(());
    }
    if ok {
        ctx.client.authenticated = true;
        Ok(())
    } else {
        Err("WRONGPASS invalid username-password pair or user is disabled.".into())
    }
}

/// Compares without an early exit, so response time does not reveal how much of a guess
/// was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0 && a.len() == b.len()
}

#[allow(dead_code)]
const _: &str = err::SYNTAX;
