//! The raw Rust functions behind the `redis` table. Each returns `(value, failed)`;
//! `bootstrap.lua` wraps them so that a failure is raised as Redis raises it: as an
//! `{err=…}` table, which carries no position of its own.

use std::rc::Rc;

use bytes::Bytes;
use mlua::{Lua, MultiValue, Table, Value};

use super::convert;
use super::engine::Calls;

fn fail(lua: &Lua, msg: &str) -> mlua::Result<(Value, bool)> {
    Ok((Value::Table(convert::error_table(lua, msg.as_bytes())?), true))
}

fn done() -> mlua::Result<(Value, bool)> {
    Ok((Value::Nil, false))
}

/// The table handed to `bootstrap.lua` as `R`.
pub fn raw_functions(lua: &Lua, calls: Calls) -> mlua::Result<Table> {
    let r = lua.create_table()?;
    let call = calls.call.clone();
    r.set(
        "call",
        lua.create_function(move |lua, args: MultiValue| redis_call(lua, &call, args))?,
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
            Ok((Value::String(lua.create_string(hex)?), false))
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
                Some(Value::Integer(n)) => *n as i64,
                Some(Value::String(s)) => match s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()) {
                    Some(n) => n as i64,
                    None => return fail(lua, "First argument must be a number (log level)."),
                },
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
            Ok((Value::Boolean(true), false))
        })?,
    )?;
    r.set(
        "error_text",
        lua.create_function(|lua, s: mlua::String| lua.create_string(convert::error_text(&s.as_bytes())))?,
    )?;
    let killed = calls.killed.clone();
    r.set("killed", lua.create_function(move |_, ()| Ok(killed()))?)?;
    r.set("err_handler", lua.create_function(super::engine::error_handler)?)?;
    r.set("version", crate::REDIS_VERSION)?;
    r.set("version_num", version_num(crate::REDIS_VERSION))?;
    r.set("cjson", super::cjson::library(lua)?)?;
    r.set("bit", super::bit::library(lua)?)?;
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
        Value::Integer(n) => *n as i64,
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map_or(0, |n| n as i64),
        _ => 0,
    }
}

fn redis_call(
    lua: &Lua,
    call: &Rc<dyn Fn(Vec<Bytes>) -> Option<Vec<u8>>>,
    args: MultiValue,
) -> mlua::Result<(Value, bool)> {
    if args.is_empty() {
        return fail(
            lua,
            "Please specify at least one argument for this redis lib call",
        );
    }
    let mut argv = Vec::with_capacity(args.len());
    for v in args.iter() {
        match convert::arg_bytes(v) {
            Some(b) => argv.push(Bytes::from(b)),
            None => {
                return fail(
                    lua,
                    "Lua redis lib command arguments must be strings or integers",
                )
            }
        }
    }
    let Some(reply) = call(argv) else {
        return fail(lua, "the shard stopped serving scripts");
    };
    let failed = reply.first() == Some(&b'-');
    let v = convert::reply_to_lua(lua, &reply)?;
    Ok((v, failed))
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_number() {
        assert_eq!(super::version_num("7.0.15"), 0x0007000f);
    }
}
