//! The `bit` library (LuaBitOp's API, which Redis bundles): bitwise operations on
//! numbers taken as 32-bit signed integers.

use mlua::{Lua, MultiValue, Table, Value};

/// A Lua number as LuaBitOp normalises it: rounded, then taken modulo 2^32.
fn tobit(v: &Value) -> mlua::Result<i32> {
    let n = match v {
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| mlua::Error::runtime("bad argument (number expected)"))?,
        _ => return Err(mlua::Error::runtime("bad argument (number expected)")),
    };
    if !n.is_finite() {
        return Ok(0);
    }
    let r = n.round_ties_even().rem_euclid(4294967296.0);
    Ok(r as u32 as i32)
}

fn first(args: &MultiValue) -> mlua::Result<i32> {
    tobit(args.front().unwrap_or(&Value::Nil))
}

fn second(args: &MultiValue) -> mlua::Result<u32> {
    Ok(tobit(args.get(1).unwrap_or(&Value::Nil))? as u32 & 31)
}

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("tobit", lua.create_function(|_, a: MultiValue| first(&a))?)?;
    t.set(
        "bnot",
        lua.create_function(|_, a: MultiValue| Ok(!first(&a)?))?,
    )?;
    t.set(
        "bswap",
        lua.create_function(|_, a: MultiValue| Ok(first(&a)?.swap_bytes()))?,
    )?;
    type Fold = fn(i32, i32) -> i32;
    let folds: [(&str, Fold); 3] = [
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for (name, op) in folds {
        t.set(
            name,
            lua.create_function(move |_, a: MultiValue| {
                let mut acc = first(&a)?;
                for v in a.iter().skip(1) {
                    acc = op(acc, tobit(v)?);
                }
                Ok(acc)
            })?,
        )?;
    }
    type Shift = fn(i32, u32) -> i32;
    let shifts: [(&str, Shift); 5] = [
        ("lshift", |a, n| ((a as u32) << n) as i32),
        ("rshift", |a, n| ((a as u32) >> n) as i32),
        ("arshift", |a, n| a >> n),
        ("rol", |a, n| (a as u32).rotate_left(n) as i32),
        ("ror", |a, n| (a as u32).rotate_right(n) as i32),
    ];
    for (name, op) in shifts {
        t.set(
            name,
            lua.create_function(move |_, a: MultiValue| Ok(op(first(&a)?, second(&a)?)))?,
        )?;
    }
    t.set(
        "tohex",
        lua.create_function(|_, a: MultiValue| {
            let x = first(&a)? as u32;
            let n = match a.get(1) {
                None | Some(Value::Nil) => 8,
                Some(v) => tobit(v)?,
            };
            let (upper, n) = if n < 0 { (true, -n) } else { (false, n) };
            let n = n.clamp(1, 8) as usize;
            let s = format!("{x:08x}");
            let s = &s[8 - n..];
            Ok(if upper {
                s.to_uppercase()
            } else {
                s.to_string()
            })
        })?,
    )?;
    Ok(t)
}
