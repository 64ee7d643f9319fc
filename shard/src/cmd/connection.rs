//! Connection commands.
//!
//! # Layout
//! - this file: PING, ECHO, QUIT, SELECT, SWAPDB, RESET, and the family's `COMMANDS`.
//! - [`hello`]: HELLO and AUTH, and the password check they share.
//! - [`client`]: CLIENT and its subcommands.
//! - [`acl`]: ACL and its subcommands.

pub mod acl;
pub mod client;
pub mod hello;

use bytes::Bytes;
use shoal_proto::Protocol;

use super::{args, err, CmdError, CmdResult, Ctx, Handler};

pub use hello::{check_auth, constant_time_eq};

pub static COMMANDS: &[(&str, Handler)] = &[
    ("ping", ping),
    ("echo", echo),
    ("quit", quit),
    ("select", select),
    ("swapdb", swapdb),
    ("reset", reset),
    ("hello", hello::hello),
    ("auth", hello::auth),
    ("client|id", client::id),
    ("client|setname", client::setname),
    ("client|getname", client::getname),
    ("client|list", client::list),
    ("client|info", client::info),
    ("client|kill", client::kill),
    ("client|reply", client::reply),
    ("client|no-evict", client::no_evict),
    ("client|help", client::help),
    ("acl|cat", acl::acl),
    ("acl|deluser", acl::acl),
    ("acl|dryrun", acl::acl),
    ("acl|genpass", acl::acl),
    ("acl|getuser", acl::acl),
    ("acl|help", acl::acl),
    ("acl|list", acl::acl),
    ("acl|load", acl::acl),
    ("acl|log", acl::acl),
    ("acl|save", acl::acl),
    ("acl|setuser", acl::acl),
    ("acl|users", acl::acl),
    ("acl|whoami", acl::acl),
];

/// PING [message]
fn ping(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 2 {
        return Err(super::wrong_arity("ping"));
    }
    // A RESP2 subscriber's replies share the stream with messages, so Redis answers
    // its PING in the message shape.
    if ctx.client.proto == shoal_proto::Protocol::Resp2
        && ctx.srv.pubsub.is_subscribed(ctx.client.id)
    {
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(argv.get(1).map_or(&b""[..], |m| &m[..]));
        return Ok(());
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
    if ctx.srv.config.cluster.is_some() && db != 0 {
        return Err("ERR SELECT is not allowed in cluster mode".into());
    }
    if db != 0 {
        return Err("ERR DB index is out of range".into());
    }
    ctx.out.ok();
    Ok(())
}

/// SWAPDB index1 index2 — with one database, only 0 and 0 are valid indexes, and
/// swapping a database with itself changes nothing.
fn swapdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let a = args::int(&argv[1]).map_err(|_| CmdError::Static("ERR invalid first DB index"))?;
    let b = args::int(&argv[2]).map_err(|_| CmdError::Static("ERR invalid second DB index"))?;
    if a != 0 || b != 0 {
        return Err("ERR DB index is out of range".into());
    }
    ctx.out.ok();
    Ok(())
}

/// RESET — back to a fresh connection's state: no name, RESP2, replies on, and
/// authenticated only if no password is required. Families that keep more per-client
/// state (MULTI, subscriptions, tracking) clear theirs here too.
fn reset(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let c = &mut *ctx.client;
    c.name = None;
    c.proto = Protocol::Resp2;
    c.reply_off = false;
    c.reply_skip_next = false;
    c.no_evict = false;
    let fresh = ctx.srv.acl.session();
    c.authenticated = !ctx.srv.acl.auth_required(&fresh);
    if let Some(s) = c.session.as_mut() {
        *s = fresh;
    }
    crate::cmd::multi::discard_transaction(ctx.srv, ctx.client);
    ctx.srv.pubsub.remove_client(ctx.client.id);
    ctx.out.proto = Protocol::Resp2;
    ctx.out.simple("RESET");
    Ok(())
}
