//! The Rust functions behind the `redis` table.
//!
//! They stay C functions to Lua, as in Redis, so that `return redis.call(…)` keeps the
//! script's frame (a Lua wrapper would be tail-called and hide the script's line from
//! the error). A failure is raised as a [`Raised`] error, which the error handler turns
//! into Redis's `{err=…}` table.

use std::rc::Rc;

use bytes::Bytes;
use mlua::{Lua, MultiValue, Table, Value};

use super::convert;
use super::engine::Calls;

/// An error a `redis.*` function raises: the text of its `err` field, with its code.
#[derive(Debug)]
pub struct Raised(pub String);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

/// The `Raised` inside an error that crossed Lua, if it is one.
pub fn raised(e: &mlua::Error) -> Option<&Raised> {
    match e {
        mlua::Error::CallbackError { cause, .. } => raised(cause),
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<Raised>(),
        _ => None,
    }
}

fn raise(raw: &[u8]) -> mlua::Error {
    let text = convert::error_text(raw);
    mlua::Error::external(Raised(String::from_utf8_lossy(&text).into_owned()))
}

/// The error SCRIPT KILL raises in the script.
pub fn killed_error() -> mlua::Error {
    mlua::Error::runtime("Script killed by user with SCRIPT KILL...")
}

fn fail(_lua: &Lua, msg: &str) -> mlua::Result<Value> {
    Err(raise(msg.as_bytes()))
}

fn done() -> mlua::Result<Value> {
    Ok(Value::Nil)
}

/// The table handed to `bootstrap.lua` as `R`.
pub fn raw_functions(lua: &Lua, calls: Calls) -> mlua::Result<Table> {
    let r = lua.create_table()?;
    let call = calls.call.clone();
    let killed = calls.killed.clone();
    r.set(
        "call",
        lua.create_function(move |lua, args: MultiValue| {
            // A script that mostly waits on commands reaches the count hook rarely;
            // SCRIPT KILL is noticed here too.
            if killed() {
                return Err(killed_error());
            }
            match redis_call(lua, &call, args)? {
                Ok(v) => Ok(v),
                Err(reply) => Err(raise(&reply)),
            }
        })?,
    )?;
    let call = calls.call.clone();
    let killed = calls.killed.clone();
    r.set(
        "pcall",
        lua.create_function(move |lua, args: MultiValue| {
            if killed() {
                return Err(killed_error());
            }
            match redis_call(lua, &call, args)? {
                Ok(v) => Ok(v),
                Err(reply) => {
                    let t = convert::error_table(lua, &reply)?;
                    t.raw_set("ignore_error_stats_update", true)?;
                    Ok(Value::Table(t))
                }
            }
        })?,
    )?;
    r.set(
        "message",
        lua.create_function(|lua, v: Value| match v {
            Value::Error(e) => match raised(&e) {
                Some(r) => Ok(Value::String(lua.create_string(&r.0)?)),
                None => Ok(Value::String(
                    lua.create_string(super::engine::root_message(&e))?,
                )),
            },
            other => Ok(other),
        })?,
    )?;
    r.set(
        "sha1hex",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return fail(lua, "wrong number of arguments");
            }
            let bytes = match args.front() {
                Some(v) => convert::arg_bytes(v).unwrap_or_default(),
                None => Vec::new(),
            };
            let hex = super::sha1::sha1_hex(&bytes);
            Ok(Value::String(lua.create_string(hex)?))
        })?,
    )?;
    r.set(
        "log",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() < 2 {
                return fail(lua, "redis.log() requires two arguments or more.");
            }
            let level = match args.front() {
                Some(Value::Number(n)) => *n as i64,
                Some(Value::Integer(n)) => *n,
                Some(Value::String(s)) => {
                    match s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()) {
                        Some(n) => n as i64,
                        None => return fail(lua, "First argument must be a number (log level)."),
                    }
                }
                _ => return fail(lua, "First argument must be a number (log level)."),
            };
            if !(0..=3).contains(&level) {
                return fail(lua, "Invalid debug level.");
            }
            let parts: Vec<String> = args
                .iter()
                .skip(1)
                .filter_map(convert::arg_bytes)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .collect();
            let text = parts.join(" ");
            match level {
                0 => tracing::debug!(target: "script", "{text}"),
                1 | 2 => tracing::info!(target: "script", "{text}"),
                _ => tracing::warn!(target: "script", "{text}"),
            }
            done()
        })?,
    )?;
    let resp3 = calls.resp3.clone();
    r.set(
        "setresp",
        lua.create_function(move |lua, args: MultiValue| {
            if args.len() != 1 {
                return fail(lua, "redis.setresp() requires one argument.");
            }
            match args.front().map(number) {
                Some(2) => resp3(Some(false)),
                Some(3) => resp3(Some(true)),
                _ => return fail(lua, "RESP version must be 2 or 3."),
            };
            done()
        })?,
    )?;
    r.set(
        "set_repl",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return fail(lua, "redis.set_repl() requires two arguments.");
            }
            // Effects always reach the AOF: a shard has no replicas to leave out.
            if args.front().map(number).is_none_or(|f| f & !3 != 0) {
                return fail(
                    lua,
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                );
            }
            done()
        })?,
    )?;
    r.set(
        "acl_check_cmd",
        lua.create_function(|lua, args: MultiValue| {
            let argv: Option<Vec<Bytes>> = args
                .iter()
                .map(|v| convert::arg_bytes(v).map(Bytes::from))
                .collect();
            let Some(argv) = argv.filter(|a| !a.is_empty()) else {
                return fail(
                    lua,
                    "Please specify at least one argument for this redis lib call",
                );
            };
            if crate::cmd::resolve_in_script(&argv).is_err() {
                return fail(lua, "Invalid command passed to redis.acl_check_cmd()");
            }
            // The only user is `default`, allowed everything.
            Ok(Value::Boolean(true))
        })?,
    )?;
    r.set(
        "error_text",
        lua.create_function(|lua, s: mlua::String| {
            lua.create_string(convert::error_text(&s.as_bytes()))
        })?,
    )?;
    let killed = calls.killed.clone();
    r.set("killed", lua.create_function(move |_, ()| Ok(killed()))?)?;
    r.set(
        "err_handler",
        lua.create_function(super::engine::error_handler)?,
    )?;
    r.set("version", crate::REDIS_VERSION)?;
    r.set("version_num", version_num(crate::REDIS_VERSION))?;
    r.set("cjson", super::cjson::library(lua)?)?;
    r.set("bit", super::bit::library(lua)?)?;
    r.set("cmsgpack", super::cmsgpack::library(lua)?)?;
    Ok(r)
}

/// `7.0.15` as Redis's `REDIS_VERSION_NUM`, `0x00MMmmpp`.
fn version_num(v: &str) -> i64 {
    v.split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0))
        .chain(std::iter::repeat(0))
        .take(3)
        .fold(0, |acc, p| (acc << 8) | (p & 0xff))
}

fn number(v: &Value) -> i64 {
    match v {
        Value::Number(n) => *n as i64,
        Value::Integer(n) => *n,
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map_or(0, |n| n as i64),
        _ => 0,
    }
}

/// Runs one command for `redis.call`/`redis.pcall`: Ok(Ok(value)) for a reply, Ok(Err(…))
/// with the error's raw text (`-CODE msg`, or a message Redis prefixes with ERR) when
/// the command or its arguments failed.
fn redis_call(
    lua: &Lua,
    call: &Rc<dyn Fn(Vec<Bytes>) -> Option<Vec<u8>>>,
    args: MultiValue,
) -> mlua::Result<Result<Value, Vec<u8>>> {
    if args.is_empty() {
        return Ok(Err(
            b"Please specify at least one argument for this redis lib call".to_vec(),
        ));
    }
    let mut argv = Vec::with_capacity(args.len());
    for v in args.iter() {
        match convert::arg_bytes(v) {
            Some(b) => argv.push(Bytes::from(b)),
            None => {
                return Ok(Err(
                    b"Lua redis lib command arguments must be strings or integers".to_vec(),
                ))
            }
        }
    }
    let Some(reply) = call(argv) else {
        return Ok(Err(b"the shard stopped serving scripts".to_vec()));
    };
    if reply.first() == Some(&b'-') {
        let line = reply.strip_suffix(b"\r\n").unwrap_or(&reply);
        return Ok(Err(line.to_vec()));
    }
    Ok(Ok(convert::reply_to_lua(lua, &reply)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_number() {
        assert_eq!(super::version_num("7.0.15"), 0x0007000f);
    }
}
