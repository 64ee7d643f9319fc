//! HELLO and AUTH against the shard's users ([`crate::acl`]): `default`, whose password is
//! `requirepass` (with none set it accepts any password, as Redis's `nopass` user does),
//! and the database's configured users.

use bytes::Bytes;
use shoal_proto::Protocol;

use crate::cmd::{args, err, CmdError, CmdResult, Ctx};

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// AUTH [username] password
pub fn auth(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (user, pass): (&[u8], &[u8]) = match argv.len() {
        2 => {
            if ctx.srv.acl.default_is_open() {
                return Err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into());
            }
            (b"default", &argv[1])
        }
        3 => (&argv[1], &argv[2]),
        _ => return Err(err::SYNTAX.into()),
    };
    check_auth(ctx, user, pass)?;
    ctx.out.ok();
    Ok(())
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut proto = None;
    let mut i = 1;
    if argv.len() >= 2 {
        let ver = args::int(&argv[1]).map_err(|_| {
            CmdError::Static("ERR Protocol version is not an integer or out of range")
        })?;
        if !(2..=3).contains(&ver) {
            return Err("NOPROTO unsupported protocol version".into());
        }
        proto = Some(if ver == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        });
        i = 2;
    }
    // Options take effect as they are read, as in Redis: an AUTH that succeeded stays
    // in force even if a later option is refused.
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if args::is(&argv[i], "auth") && more >= 2 {
            check_auth(ctx, &argv[i + 1], &argv[i + 2])?;
            i += 3;
        } else if args::is(&argv[i], "setname") && more >= 1 {
            super::client::set_name(ctx, &argv[i + 1])?;
            i += 2;
        } else {
            return Err(CmdError::Owned(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&argv[i])
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into());
    }
    if let Some(p) = proto {
        ctx.client.proto = p;
        ctx.out.proto = p;
    }
    let resp = if ctx.client.proto == Protocol::Resp3 {
        3
    } else {
        2
    };
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(resp);
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

/// Checks a username/password pair against the users (digests compared in constant
/// time), and marks the client authenticated, as that user, when it matches. A failure
/// goes to `ACL LOG`, as in Redis.
pub fn check_auth(ctx: &mut Ctx<'_>, user: &[u8], pass: &[u8]) -> CmdResult {
    let acl = &ctx.srv.acl;
    let mut session = ctx.client.session.clone().unwrap_or_else(|| acl.session());
    match acl.authenticate(&mut session, user, pass) {
        Ok(()) => {
            ctx.client.authenticated = true;
            // Only a client that is checked keeps a user; the Unix socket's is trusted.
            if ctx.client.session.is_some() {
                ctx.client.session = Some(session);
            }
            Ok(())
        }
        Err(_) => {
            let info = ctx.client.info_line();
            acl.log
                .add(crate::acl::log::Reason::Auth, false, b"AUTH", user, info);
            Err(WRONGPASS.into())
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret1"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
