//! Commands the proxy answers itself, because their state is the client's connection to
//! the proxy, not a shard's: PING, ECHO, HELLO, AUTH, SELECT, CLIENT …, and the error
//! texts the proxy must produce in Redis's words.

use shoal_proto::{Protocol, Reply};

use super::registry::ClientMeta;
use super::Database;

pub const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";

/// Redis formats these with `%s`, which stops at the first NUL byte.
fn trunc(b: &[u8], max: usize) -> String {
    let b = &b[..b.len().min(max)];
    let b = b.iter().position(|&c| c == 0).map_or(b, |nul| &b[..nul]);
    String::from_utf8_lossy(b).into_owned()
}

pub fn unknown_command(args: &[&[u8]]) -> String {
    let mut list = String::new();
    for a in args.iter().skip(1) {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push_str(&format!("'{}' ", trunc(a, room)));
    }
    format!(
        "ERR unknown command '{}', with args beginning with: {}",
        trunc(args.first().copied().unwrap_or_default(), 128),
        list
    )
}

pub fn wrong_arity(full_name: &str) -> String {
    format!("ERR wrong number of arguments for '{full_name}' command")
}

fn unknown_subcommand(sub: &[u8], parent: &str) -> String {
    format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        trunc(sub, 128),
        parent.to_ascii_uppercase()
    )
}

pub fn ping(args: &[&[u8]], resp2_subscribed: bool, out: &mut Reply) {
    if args.len() > 2 {
        out.error(&wrong_arity("ping"));
    } else if resp2_subscribed {
        out.array(2);
        out.bulk(b"pong");
        out.bulk(args.get(1).copied().unwrap_or_default());
    } else {
        match args.get(1) {
            Some(m) => out.bulk(m),
            None => out.simple("PONG"),
        }
    }
}

pub fn select(args: &[&[u8]], out: &mut Reply) {
    match args.get(1).and_then(|a| shoal_proto::number::parse_i64(a)) {
        _ if args.len() != 2 => out.error(&wrong_arity("select")),
        Some(0) => out.ok(),
        Some(_) => out.error("ERR SELECT is not allowed in cluster mode"),
        None => out.error("ERR value is not an integer or out of range"),
    }
}

/// What HELLO changed: the protocol and whether the client is now authenticated.
pub struct HelloOutcome {
    pub proto: Protocol,
    pub authed: bool,
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(
    db: &Database,
    meta: &ClientMeta,
    args: &[&[u8]],
    proto: Protocol,
    session: &mut super::acl::Session,
    out: &mut Reply,
) -> HelloOutcome {
    let authed = !db.access.acl.auth_required(session);
    let mut now = HelloOutcome { proto, authed };
    let mut want = None;
    let mut i = 1;
    if let Some(v) = args.get(1) {
        match shoal_proto::number::parse_i64(v) {
            None => {
                out.error("ERR Protocol version is not an integer or out of range");
                return now;
            }
            Some(2) => want = Some(Protocol::Resp2),
            Some(3) => want = Some(Protocol::Resp3),
            Some(_) => {
                out.error("NOPROTO unsupported protocol version");
                return now;
            }
        }
        i = 2;
    }
    while i < args.len() {
        let more = args.len() - i - 1;
        if args[i].eq_ignore_ascii_case(b"auth") && more >= 2 {
            if let Err(e) = db
                .access
                .acl
                .authenticate(session, args[i + 1], args[i + 2])
            {
                out.error(e);
                return now;
            }
            now.authed = true;
            i += 3;
        } else if args[i].eq_ignore_ascii_case(b"setname") && more >= 1 {
            if let Err(e) = set_name(meta, args[i + 1]) {
                out.error(&e);
                return now;
            }
            i += 2;
        } else {
            out.error(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(args[i])
            ));
            return now;
        }
    }
    if !now.authed {
        out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return now;
    }
    if let Some(p) = want {
        now.proto = p;
        out.proto = p;
    }
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(shoal_shard::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if now.proto == Protocol::Resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(meta.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    now
}

fn set_name(meta: &ClientMeta, name: &[u8]) -> Result<(), String> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(
            "ERR Client names cannot contain spaces, newlines or special characters.".into(),
        );
    }
    meta.set_name((!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned()));
    Ok(())
}

/// What the client loop must know about a CLIENT command's effect.
#[derive(Default)]
pub struct ClientOutcome {
    /// This very client was killed: close after the reply.
    pub close_self: bool,
}

/// CLIENT subcommands, over the proxy's own clients. `subs(id)` gives a client's
/// (channels+patterns, shard channels) counts for CLIENT LIST.
pub fn client(
    db: &Database,
    me: &ClientMeta,
    args: &[&[u8]],
    multi: i64,
    subs: &dyn Fn(u64) -> (usize, usize),
    out: &mut Reply,
) -> ClientOutcome {
    let mut outcome = ClientOutcome::default();
    let Some(sub) = args.get(1) else {
        out.error(&wrong_arity("client"));
        return outcome;
    };
    let sub_l = sub.to_ascii_lowercase();
    let arity = |n: usize, exact: bool| {
        if exact {
            args.len() == n
        } else {
            args.len() >= n
        }
    };
    match sub_l.as_slice() {
        b"id" if arity(2, true) => out.int(me.id as i64),
        b"getname" if arity(2, true) => match me.name() {
            Some(n) => out.bulk(n.as_bytes()),
            None => out.null(),
        },
        b"setname" if arity(3, true) => match set_name(me, args[2]) {
            Ok(()) => out.ok(),
            Err(e) => out.error(&e),
        },
        b"info" if arity(2, true) => {
            let mut line = me.line(subs(me.id), multi);
            line.push('\n');
            out.verbatim(line.as_bytes());
        }
        b"list" => {
            let mut ids: Option<Vec<u64>> = None;
            let mut i = 2;
            while i < args.len() {
                if args[i].eq_ignore_ascii_case(b"id") && i + 1 < args.len() {
                    let mut v = Vec::new();
                    for a in &args[i + 1..] {
                        match shoal_proto::number::parse_i64(a).filter(|&n| n > 0) {
                            Some(n) => v.push(n as u64),
                            None => {
                                out.error("ERR Invalid client ID");
                                return outcome;
                            }
                        }
                    }
                    ids = Some(v);
                    break;
                } else if args[i].eq_ignore_ascii_case(b"type") && i + 1 < args.len() {
                    // Every proxy client is a normal (or pubsub) client.
                    i += 2;
                } else {
                    out.error("ERR syntax error");
                    return outcome;
                }
            }
            let mut text = String::new();
            for c in db.clients.all() {
                if ids.as_ref().is_some_and(|v| !v.contains(&c.id)) {
                    continue;
                }
                let m = if c.id == me.id { multi } else { -1 };
                text.push_str(&c.line(subs(c.id), m));
                text.push('\n');
            }
            out.verbatim(text.as_bytes());
        }
        b"kill" if arity(3, false) => {
            if args.len() == 3 {
                // Old form: CLIENT KILL addr:port.
                let target = String::from_utf8_lossy(args[2]);
                match db.clients.all().into_iter().find(|c| c.addr == target) {
                    Some(c) => {
                        outcome.close_self = c.id == me.id;
                        c.kill();
                        out.ok();
                    }
                    None => out.error("ERR No such client"),
                }
                return outcome;
            }
            if !args.len().is_multiple_of(2) {
                out.error("ERR syntax error");
                return outcome;
            }
            let mut id = None;
            let mut addr = None;
            let mut laddr = None;
            let mut skipme = true;
            for pair in args[2..].chunks(2) {
                let (k, v) = (pair[0].to_ascii_lowercase(), pair[1]);
                match k.as_slice() {
                    b"id" => match shoal_proto::number::parse_i64(v).filter(|&n| n > 0) {
                        Some(n) => id = Some(n as u64),
                        None => {
                            out.error("ERR client-id should be greater than 0");
                            return outcome;
                        }
                    },
                    b"addr" => addr = Some(String::from_utf8_lossy(v).into_owned()),
                    b"laddr" => laddr = Some(String::from_utf8_lossy(v).into_owned()),
                    b"skipme" => {
                        if v.eq_ignore_ascii_case(b"yes") {
                            skipme = true
                        } else if v.eq_ignore_ascii_case(b"no") {
                            skipme = false
                        } else {
                            out.error("ERR syntax error");
                            return outcome;
                        }
                    }
                    b"user" | b"type" | b"maxage" => {}
                    _ => {
                        out.error("ERR syntax error");
                        return outcome;
                    }
                }
            }
            let mut n = 0;
            for c in db.clients.all() {
                if id.is_some_and(|i| i != c.id)
                    || addr.as_ref().is_some_and(|a| *a != c.addr)
                    || laddr.as_ref().is_some_and(|a| *a != c.laddr)
                    || (skipme && c.id == me.id)
                {
                    continue;
                }
                if c.id == me.id {
                    outcome.close_self = true;
                }
                c.kill();
                n += 1;
            }
            out.int(n);
        }
        b"no-evict" | b"no-touch" if arity(3, true) => {
            if args[2].eq_ignore_ascii_case(b"on") || args[2].eq_ignore_ascii_case(b"off") {
                out.ok()
            } else {
                out.error("ERR syntax error")
            }
        }
        // The proxy pauses nobody; shards are never paused by a client.
        b"pause" | b"unpause" => out.ok(),
        // A blocked client's CLIENT UNBLOCK goes to its shard before this; here the
        // target is not blocked, or the arguments are wrong.
        b"unblock" if arity(3, false) && args.len() <= 4 => {
            if shoal_proto::number::parse_i64(args[2]).is_none() {
                out.error("ERR value is not an integer or out of range");
            } else if args.get(3).is_some_and(|m| {
                !m.eq_ignore_ascii_case(b"timeout") && !m.eq_ignore_ascii_case(b"error")
            }) {
                out.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            } else {
                out.int(0)
            }
        }
        b"getredir" if arity(2, true) => out.int(-1),
        b"reply" if arity(3, true) => out.ok(),
        b"tracking" | b"caching" | b"trackinginfo" => {
            out.error("ERR client tracking is not supported through the proxy")
        }
        b"help" => {
            let lines: &[&str] = &[
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "GETNAME",
                "    Return the name of the current connection.",
                "KILL <ip:port>|<option> <value> [<option> <value> [...]]",
                "    Kill connections.",
                "LIST [TYPE <type>] [ID <id> [<id> ...]]",
                "    Return information about client connections.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "HELP",
                "    Print this help.",
            ];
            out.array(lines.len());
            for l in lines {
                out.simple(l);
            }
        }
        _ => {
            if shoal_proto::lookup(b"client")
                .and_then(|c| shoal_proto::lookup_subcommand(c, sub))
                .is_some()
            {
                out.error(&wrong_arity(&format!(
                    "client|{}",
                    String::from_utf8_lossy(&sub_l)
                )));
            } else {
                out.error(&unknown_subcommand(sub, "client"));
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts() {
        assert_eq!(
            unknown_command(&[b"NOPE", b"a", b"b"]),
            "ERR unknown command 'NOPE', with args beginning with: 'a' 'b' "
        );
        let mut out = Reply::default();
        select(&[b"select", b"1"], &mut out);
        select(&[b"select", b"0"], &mut out);
        select(&[b"select", b"x"], &mut out);
        assert_eq!(
            &out.buf[..],
            &b"-ERR SELECT is not allowed in cluster mode\r\n+OK\r\n-ERR value is not an integer or out of range\r\n"[..]
        );
    }
}
