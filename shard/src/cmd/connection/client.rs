//! CLIENT ID / SETNAME / GETNAME / LIST / INFO / KILL / REPLY / NO-EVICT / HELP.
//!
//! The running connection's own registry entry is mutably borrowed while its command
//! runs, so walks over the registry read that one client through `ctx.client`.

use bytes::Bytes;

use crate::client::Client;
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};

/// CLIENT ID
pub fn id(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.client.id as i64);
    Ok(())
}

/// Sets or (with an empty name) clears the connection's name.
pub fn set_name(ctx: &mut Ctx<'_>, name: &Bytes) -> CmdResult {
    if name.is_empty() {
        ctx.client.name = None;
        return Ok(());
    }
    crate::cmd::client_name_ok(name)?;
    // A copy: the argument is a view into the connection's whole read buffer.
    ctx.client.name = Some(Bytes::copy_from_slice(name));
    Ok(())
}

/// CLIENT SETNAME connection-name
pub fn setname(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_name(ctx, &argv[2])?;
    ctx.out.ok();
    Ok(())
}

/// CLIENT GETNAME
pub fn getname(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    match &ctx.client.name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    Ok(())
}

/// The client type names CLIENT LIST TYPE and CLIENT KILL TYPE accept.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    Pubsub,
    Master,
}

fn client_type(name: &[u8]) -> Result<ClientType, CmdError> {
    let t = String::from_utf8_lossy(name).to_ascii_lowercase();
    match t.as_str() {
        "normal" => Ok(ClientType::Normal),
        "slave" | "replica" => Ok(ClientType::Replica),
        "pubsub" => Ok(ClientType::Pubsub),
        "master" => Ok(ClientType::Master),
        _ => Err(CmdError::Owned(format!(
            "ERR Unknown client type '{}'",
            String::from_utf8_lossy(name)
        ))),
    }
}

/// A shard has neither replicas nor a master; subscribers are tracked by the broker.
fn type_of(_c: &Client) -> ClientType {
    ClientType::Normal
}

/// Calls `f` on every connected client in id order, the running one included.
fn for_each_client(ctx: &Ctx<'_>, mut f: impl FnMut(&Client)) {
    for (id, rc) in &ctx.srv.clients.clients {
        if *id == ctx.client.id {
            f(ctx.client);
        } else if let Ok(c) = rc.try_borrow() {
            f(&c);
        }
    }
}

/// CLIENT LIST [TYPE type | ID id [id ...]]
pub fn list(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut text = String::new();
    if argv.len() == 4 && args::is(&argv[2], "type") {
        let t = client_type(&argv[3])?;
        for_each_client(ctx, |c| {
            if type_of(c) == t {
                text.push_str(&c.info_line());
                text.push('\n');
            }
        });
    } else if argv.len() > 3 && args::is(&argv[2], "id") {
        let mut ids = Vec::with_capacity(argv.len().min(64));
        for a in &argv[3..] {
            ids.push(args::int(a).map_err(|_| CmdError::Static("ERR Invalid client ID"))?);
        }
        for want in ids {
            for_each_client(ctx, |c| {
                if c.id as i64 == want {
                    text.push_str(&c.info_line());
                    text.push('\n');
                }
            });
        }
    } else if argv.len() != 2 {
        return Err(err::SYNTAX.into());
    } else {
        for_each_client(ctx, |c| {
            text.push_str(&c.info_line());
            text.push('\n');
        });
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// CLIENT INFO
pub fn info(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let line = format!("{}\n", ctx.client.info_line());
    ctx.out.verbatim(line.as_bytes());
    Ok(())
}

#[derive(Default)]
struct KillFilter {
    addr: Option<Bytes>,
    laddr: Option<Bytes>,
    id: Option<u64>,
    kind: Option<ClientType>,
    skip_me: bool,
}

impl KillFilter {
    fn parse(argv: &[Bytes]) -> Result<KillFilter, CmdError> {
        if argv.len() == 3 {
            // The old form, which may kill the caller itself.
            return Ok(KillFilter {
                addr: Some(argv[2].clone()),
                ..KillFilter::default()
            });
        }
        let mut f = KillFilter {
            skip_me: true,
            ..KillFilter::default()
        };
        let mut i = 2;
        while i < argv.len() {
            let (opt, Some(val)) = (&argv[i], argv.get(i + 1)) else {
                return Err(err::SYNTAX.into());
            };
            if args::is(opt, "id") {
                match args::int(val) {
                    Ok(n) if n >= 1 => f.id = Some(n as u64),
                    _ => return Err("ERR client-id should be greater than 0".into()),
                }
            } else if args::is(opt, "type") {
                f.kind = Some(client_type(val)?);
            } else if args::is(opt, "addr") {
                f.addr = Some(val.clone());
            } else if args::is(opt, "laddr") {
                f.laddr = Some(val.clone());
            } else if args::is(opt, "user") {
                if &val[..] != b"default" {
                    return Err(CmdError::Owned(format!(
                        "ERR No such user '{}'",
                        String::from_utf8_lossy(val)
                    )));
                }
            } else if args::is(opt, "skipme") {
                f.skip_me = if args::is(val, "yes") {
                    true
                } else if args::is(val, "no") {
                    false
                } else {
                    return Err(err::SYNTAX.into());
                };
            } else {
                return Err(err::SYNTAX.into());
            }
            i += 2;
        }
        Ok(f)
    }

    fn matches(&self, c: &Client, me: u64) -> bool {
        self.addr
            .as_ref()
            .is_none_or(|a| a[..] == *c.addr.as_bytes())
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| a[..] == *c.laddr.as_bytes())
            && self.id.is_none_or(|id| id == c.id)
            && self.kind.is_none_or(|k| k == type_of(c))
            && !(self.skip_me && c.id == me)
    }
}

/// CLIENT KILL addr | CLIENT KILL [ID id] [TYPE type] [ADDR addr] [LADDR addr]
/// [USER user] [SKIPME yes|no]
pub fn kill(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let filter = KillFilter::parse(argv)?;
    let me = ctx.client.id;
    let mut victims = Vec::new();
    for_each_client(ctx, |c| {
        if filter.matches(c, me) {
            victims.push(c.id);
        }
    });
    let mut killed = 0;
    for id in victims {
        killed += 1;
        if id == me {
            // Closed once this reply has been sent.
            ctx.client.close_after_reply = true;
            continue;
        }
        // Gone from CLIENT LIST at once, as in Redis; the connection task closes the
        // socket when the signal wakes it.
        if let Some(rc) = ctx.srv.clients.clients.remove(&id) {
            if let Ok(mut c) = rc.try_borrow_mut() {
                c.killed = true;
                c.kill_signal.notify_one();
            }
        }
    }
    if argv.len() == 3 {
        if killed == 0 {
            return Err("ERR No such client".into());
        }
        ctx.out.ok();
    } else {
        ctx.out.int(killed);
    }
    Ok(())
}

/// CLIENT REPLY ON|OFF|SKIP — the dispatcher drops the replies this turns off.
pub fn reply(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let c = &mut *ctx.client;
    if args::is(&argv[2], "on") {
        c.reply_off = false;
        c.reply_skip_next = false;
        c.reply_skip = false;
        ctx.out.ok();
    } else if args::is(&argv[2], "off") {
        c.reply_off = true;
    } else if args::is(&argv[2], "skip") {
        if !c.reply_off {
            c.reply_skip_next = true;
        }
    } else {
        return Err(err::SYNTAX.into());
    }
    Ok(())
}

/// CLIENT NO-EVICT ON|OFF
pub fn no_evict(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.client.no_evict = if args::is(&argv[2], "on") {
        true
    } else if args::is(&argv[2], "off") {
        false
    } else {
        return Err(err::SYNTAX.into());
    };
    ctx.out.ok();
    Ok(())
}

/// CLIENT HELP
pub fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    crate::cmd::server::help_reply(
        ctx.out,
        "client",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    );
    Ok(())
}
