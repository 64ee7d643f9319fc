//! DEBUG: the subset of Redis's debugging subcommands that tests and tools rely on.

use std::time::Duration;

use bytes::Bytes;

use crate::cmd::{args, err, CmdError, CmdResult, Ctx};

const HELP: &[&str] = &[
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "JMAP",
    "    Does nothing in shoal (there is no JVM-style heap map to print).",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about the <key> and associated value.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "RELOAD [option ...]",
    "    Save and reload the dataset; the keyspace is unchanged by a round trip.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
];

/// DEBUG subcommand [argument ...]
pub fn debug(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    match (sub.as_str(), argv.len()) {
        ("help", 2) => super::help_reply(ctx.out, "debug", HELP),
        ("sleep", 3) => {
            // Blocking the whole shard is the point: tests use it to stall the server.
            let secs = strtod(&argv[2]);
            if secs > 0.0 && secs.is_finite() {
                std::thread::sleep(Duration::from_secs_f64(secs.min(3600.0)));
            }
            ctx.out.ok();
        }
        ("set-active-expire", 3) => {
            ctx.srv.db.active_expire_enabled = atoi(&argv[2]) != 0;
            ctx.out.ok();
        }
        ("object", 3) => object(ctx, &argv[2])?,
        ("log", 3) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&argv[2]));
            ctx.out.ok();
        }
        ("change-repl-id", 2) => {
            ctx.srv.replid = crate::state::random_hex(&mut ctx.srv.rng);
            ctx.out.ok();
        }
        ("jmap", 2) => ctx.out.ok(),
        ("reload", _) => ctx.out.ok(),
        ("quicklist-packed-threshold", 3) => {
            let ok = std::str::from_utf8(&argv[2])
                .ok()
                .and_then(crate::config::parse::memory)
                .is_some_and(|n| n < (4u128 << 30));
            if !ok {
                return Err(
                    "ERR argument must be a memory value bigger than 1 and smaller than 4gb".into(),
                );
            }
            ctx.out.ok();
        }
        ("protocol", 3) => protocol(ctx, &argv[2])?,
        _ => {
            return Err(CmdError::Owned(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)])
            )))
        }
    }
    Ok(())
}

/// DEBUG OBJECT key: Redis's one-line description of a value.
fn object(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult {
    let clock = ctx.srv.db.lru_clock;
    let Some(entry) = ctx.srv.db.peek(key, ctx.now) else {
        return Err(err::NO_SUCH_KEY.into());
    };
    let idle = clock.saturating_sub(entry.lru);
    let line = format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        &entry.value as *const _,
        entry.value.encoding(),
        entry.value.heap_size().max(1),
        entry.lru,
        idle
    );
    ctx.out.simple(&line);
    Ok(())
}

/// DEBUG PROTOCOL type: one reply of each RESP type, for client tests.
fn protocol(ctx: &mut Ctx<'_>, kind: &[u8]) -> CmdResult {
    let out = &mut *ctx.out;
    let resp3 = out.is_resp3();
    match String::from_utf8_lossy(kind).to_ascii_lowercase().as_str() {
        "string" => out.bulk(b"Hello World"),
        "integer" => out.int(12345),
        // The value Redis sends, not π.
        #[allow(clippy::approx_constant)]
        "double" => out.double(3.141),
        "bignum" if resp3 => out.raw(b"(1234567999999999999999999999999999999\r\n"),
        "bignum" => out.bulk(b"1234567999999999999999999999999999999"),
        "null" => out.null(),
        "array" | "set" => {
            if args::is(kind, "set") {
                out.set(3);
            } else {
                out.array(3);
            }
            for j in 0..3 {
                out.int(j);
            }
        }
        "map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        "attrib" => {
            if resp3 {
                out.raw(b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n");
            }
            out.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if !resp3 {
                return Err("ERR RESP2 is not supported by this command".into());
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        "true" => out.boolean(true),
        "false" => out.boolean(false),
        "verbatim" => out.verbatim(b"This is a verbatim\nstring"),
        _ => return Err("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false".into()),
    }
    Ok(())
}

/// C's `strtod` as Redis uses it here: the longest numeric prefix, 0 if none.
fn strtod(b: &[u8]) -> f64 {
    // Only the characters a number can hold, and few of them, so the prefix search
    // below stays cheap whatever the client sends.
    let s: String = String::from_utf8_lossy(b)
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || "+-.eE".contains(*c))
        .take(64)
        .collect();
    (1..=s.len())
        .rev()
        .find_map(|i| s[..i].parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// C's `atoi`: optional sign and leading digits, 0 if none.
fn atoi(b: &[u8]) -> i64 {
    let s = String::from_utf8_lossy(b);
    let s = s.trim_start();
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    s[..end].parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_number_prefixes() {
        assert_eq!(strtod(b"0.5"), 0.5);
        assert_eq!(strtod(b"2abc"), 2.0);
        assert_eq!(strtod(b"abc"), 0.0);
        assert_eq!(atoi(b"1"), 1);
        assert_eq!(atoi(b"0"), 0);
        assert_eq!(atoi(b"12x"), 12);
        assert_eq!(atoi(b"x"), 0);
    }
}
