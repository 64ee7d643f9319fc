//! The `cmsgpack` library Redis bundles (lua-cmsgpack): `pack(...)`, `unpack(s)`,
//! `unpack_one(s, offset)` and `unpack_limit(s, limit, offset)`, with its encoding
//! choices (smallest integer form, float32 when exact, `str8` for short strings, a
//! table is an array when its keys are exactly 1..n, nesting cut at 16 levels).

use mlua::{Lua, MultiValue, Table, Value};

/// Deeper tables are packed as nil, which is how lua-cmsgpack survives cycles.
const MAX_NESTING: usize = 16;

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(mlua::Error::runtime("MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(v, &mut out, 0)?;
            }
            lua.create_string(out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| unpack(lua, &s.as_bytes(), 0, 0))?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(|lua, (s, offset): (mlua::String, Option<i64>)| {
            unpack(lua, &s.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(
            |lua, (s, limit, offset): (mlua::String, i64, Option<i64>)| {
                unpack(lua, &s.as_bytes(), limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    Ok(t)
}

fn encode(v: &Value, out: &mut Vec<u8>, level: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => int(*n, out),
        Value::Number(n) => {
            if n.is_finite() && *n == (*n as i64) as f64 {
                int(*n as i64, out);
            } else if *n == (*n as f32) as f64 {
                out.push(0xca);
                out.extend_from_slice(&(*n as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        Value::String(s) => {
            let b = s.as_bytes();
            let len = b.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len <= 0xff {
                out.push(0xd9);
                out.push(len as u8);
            } else if len <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(&b);
        }
        Value::Table(t) if level < MAX_NESTING => table(t, out, level)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2147483648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn header(out: &mut Vec<u8>, n: usize, fix: u8, b16: u8, b32: u8) {
    if n < 16 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Lua values are references held on a stack of limited size, so a table is walked
/// twice (shape, then contents) rather than collected.
fn table(t: &Table, out: &mut Vec<u8>, level: usize) -> mlua::Result<()> {
    let mut max = 0f64;
    let mut count = 0usize;
    let mut is_array = true;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        count += 1;
        match k {
            Value::Integer(i) if i > 0 => max = max.max(i as f64),
            Value::Number(n) if n > 0.0 && n.fract() == 0.0 => max = max.max(n),
            _ => is_array = false,
        }
    }
    if is_array && max == count as f64 {
        header(out, count, 0x90, 0xdc, 0xdd);
        for i in 1..=count {
            encode(&t.raw_get::<Value>(i)?, out, level + 1)?;
        }
    } else {
        header(out, count, 0x80, 0xde, 0xdf);
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            encode(&k, out, level + 1)?;
            encode(&v, out, level + 1)?;
        }
    }
    Ok(())
}

fn missing() -> mlua::Error {
    mlua::Error::runtime("Missing bytes in input.")
}

/// Decodes up to `limit` objects (0: all) from `offset`; with a limit, the next offset
/// (-1 at the end) comes first, as lua-cmsgpack returns it.
fn unpack(lua: &Lua, s: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    if offset < 0 || limit < 0 {
        return Err(mlua::Error::runtime(
            "Invalid request to unpack with offset of negative number or limit of negative number",
        ));
    }
    let mut d = Decoder {
        s,
        pos: (offset as usize).min(s.len()),
        lua,
    };
    let mut values = Vec::new();
    while d.pos < s.len() && (limit == 0 || (values.len() as i64) < limit) {
        values.push(d.value()?);
    }
    if limit > 0 {
        let next = if d.pos >= s.len() { -1 } else { d.pos as i64 };
        values.insert(0, Value::Integer(next as _));
    }
    Ok(MultiValue::from_iter(values))
}

struct Decoder<'a> {
    s: &'a [u8],
    pos: usize,
    lua: &'a Lua,
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> mlua::Result<&[u8]> {
        let b = self.s.get(self.pos..self.pos + n).ok_or_else(missing)?;
        self.pos += n;
        Ok(b)
    }

    fn uint(&mut self, n: usize) -> mlua::Result<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    fn value(&mut self) -> mlua::Result<Value> {
        let tag = self.take(1)?[0];
        let v = match tag {
            0x00..=0x7f => Value::Number(tag as f64),
            0xe0..=0xff => Value::Number(tag as i8 as f64),
            0x80..=0x8f => return self.map((tag & 0x0f) as usize),
            0x90..=0x9f => return self.array((tag & 0x0f) as usize),
            0xa0..=0xbf => self.string((tag & 0x1f) as usize)?,
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xca => {
                let b = self.take(4)?;
                Value::Number(f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64)
            }
            0xcb => Value::Number(f64::from_bits(self.uint(8)?)),
            0xcc => Value::Number(self.uint(1)? as f64),
            0xcd => Value::Number(self.uint(2)? as f64),
            0xce => Value::Number(self.uint(4)? as f64),
            0xcf => Value::Number(self.uint(8)? as f64),
            0xd0 => Value::Number(self.uint(1)? as u8 as i8 as f64),
            0xd1 => Value::Number(self.uint(2)? as u16 as i16 as f64),
            0xd2 => Value::Number(self.uint(4)? as u32 as i32 as f64),
            0xd3 => Value::Number(self.uint(8)? as i64 as f64),
            0xc4 | 0xd9 => {
                let n = self.uint(1)? as usize;
                self.string(n)?
            }
            0xc5 | 0xda => {
                let n = self.uint(2)? as usize;
                self.string(n)?
            }
            0xc6 | 0xdb => {
                let n = self.uint(4)? as usize;
                self.string(n)?
            }
            0xdc => {
                let n = self.uint(2)? as usize;
                return self.array(n);
            }
            0xdd => {
                let n = self.uint(4)? as usize;
                return self.array(n);
            }
            0xde => {
                let n = self.uint(2)? as usize;
                return self.map(n);
            }
            0xdf => {
                let n = self.uint(4)? as usize;
                return self.map(n);
            }
            _ => return Err(mlua::Error::runtime("Bad data format in input.")),
        };
        Ok(v)
    }

    fn string(&mut self, n: usize) -> mlua::Result<Value> {
        let b = self.take(n)?.to_vec();
        Ok(Value::String(self.lua.create_string(b)?))
    }

    fn array(&mut self, n: usize) -> mlua::Result<Value> {
        let t = self.lua.create_table()?;
        for i in 1..=n {
            let v = self.value()?;
            t.raw_set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, n: usize) -> mlua::Result<Value> {
        let t = self.lua.create_table()?;
        for _ in 0..n {
            let k = self.value()?;
            let v = self.value()?;
            if !k.is_nil() {
                t.raw_set(k, v)?;
            }
        }
        Ok(Value::Table(t))
    }
}
