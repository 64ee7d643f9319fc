//! The `cjson` library Redis bundles (lua-cjson): `cjson.encode`, `cjson.decode` and
//! `cjson.null`, with lua-cjson's choices: numbers in `%.14g`, `/` escaped, a table whose
//! keys are all positive integers is an array, an empty table is `{}`.

use std::cell::Cell;
use std::rc::Rc;

use mlua::{LightUserData, Lua, Table, Value};

/// lua-cjson's default nesting limit, for encoding and decoding alike.
const MAX_DEPTH: usize = 1000;

/// The settings scripts may change (`cjson.encode_max_depth` …), per Lua state.
#[derive(Clone)]
struct Settings {
    encode_depth: Rc<Cell<usize>>,
    decode_depth: Rc<Cell<usize>>,
    invalid_numbers: Rc<Cell<bool>>,
}

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let cfg = Settings {
        encode_depth: Rc::new(Cell::new(MAX_DEPTH)),
        decode_depth: Rc::new(Cell::new(MAX_DEPTH)),
        invalid_numbers: Rc::new(Cell::new(false)),
    };
    let c = cfg.clone();
    t.set(
        "encode",
        lua.create_function(move |lua, v: Value| {
            let mut out = Vec::new();
            let mut enc = Encoder {
                out: &mut out,
                max_depth: c.encode_depth.get(),
                invalid_numbers: c.invalid_numbers.get(),
            };
            enc.value(&v, 0)?;
            lua.create_string(out)
        })?,
    )?;
    for (name, cell) in [
        ("encode_max_depth", cfg.encode_depth.clone()),
        ("decode_max_depth", cfg.decode_depth.clone()),
    ] {
        t.set(
            name,
            lua.create_function(move |_, n: Option<i64>| {
                if let Some(n) = n {
                    cell.set(n.clamp(1, i32::MAX as i64) as usize);
                }
                Ok(cell.get() as i64)
            })?,
        )?;
    }
    let c = cfg.invalid_numbers.clone();
    t.set(
        "encode_invalid_numbers",
        lua.create_function(move |_, v: Value| {
            match v {
                Value::Boolean(b) => c.set(b),
                Value::String(s) => c.set(&*s.as_bytes() != b"off"),
                _ => {}
            }
            Ok(c.get())
        })?,
    )?;
    // lua-cjson reuses its buffer across calls; there is nothing to keep here.
    t.set(
        "encode_keep_buffer",
        lua.create_function(|_, v: Value| Ok(!matches!(v, Value::Boolean(false))))?,
    )?;
    let c = cfg.clone();
    t.set(
        "decode",
        lua.create_function(move |lua, s: mlua::String| {
            let bytes = s.as_bytes();
            let mut p = Decoder {
                s: &bytes,
                pos: 0,
                lua,
                max_depth: c.decode_depth.get(),
            };
            p.ws();
            let v = p.value(0)?;
            p.ws();
            if p.pos < p.s.len() {
                return Err(p.err("the end"));
            }
            Ok(v)
        })?,
    )?;
    t.set("null", null())?;
    Ok(t)
}

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    max_depth: usize,
    invalid_numbers: bool,
}

impl Encoder<'_> {
    fn value(&mut self, v: &Value, depth: usize) -> mlua::Result<()> {
        match v {
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Boolean(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Integer(n) => self.out.extend_from_slice(n.to_string().as_bytes()),
            Value::Number(n) => {
                if !n.is_finite() && !self.invalid_numbers {
                    return Err(mlua::Error::runtime(
                        "Cannot serialise number: must not be NaN or Inf",
                    ));
                }
                let text = shoal_proto::number::fmt_g(*n, 14);
                self.out.extend_from_slice(text.as_bytes());
            }
            Value::String(s) => string(&s.as_bytes(), self.out),
            Value::Table(t) => {
                if depth + 1 > self.max_depth {
                    return Err(mlua::Error::runtime(format!(
                        "Cannot serialise, excessive nesting ({})",
                        depth + 1
                    )));
                }
                self.table(t, depth + 1)?
            }
            other => {
                return Err(mlua::Error::runtime(format!(
                    "Cannot serialise {}: type not supported",
                    other.type_name()
                )))
            }
        }
        Ok(())
    }

    /// Walked twice (shape, then contents) rather than collected: Lua values are
    /// references held on a stack of limited size.
    fn table(&mut self, t: &Table, depth: usize) -> mlua::Result<()> {
        let mut max = 0usize;
        let mut count = 0usize;
        let mut numeric = true;
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair?;
            count += 1;
            match k {
                Value::Integer(i) if i >= 1 => max = max.max(i as usize),
                Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => max = max.max(n as usize),
                _ => numeric = false,
            }
        }
        // lua-cjson's sparse-array rule: too many holes make an object.
        let is_array = count > 0 && numeric && (max <= count * 2 || max <= 10);
        if is_array {
            self.out.push(b'[');
            for i in 1..=max {
                if i > 1 {
                    self.out.push(b',');
                }
                self.value(&t.raw_get::<Value>(i)?, depth)?;
            }
            self.out.push(b']');
            return Ok(());
        }
        self.out.push(b'{');
        for (i, pair) in t.pairs::<Value, Value>().enumerate() {
            let (k, v) = pair?;
            if i > 0 {
                self.out.push(b',');
            }
            match &k {
                Value::String(s) => string(&s.as_bytes(), self.out),
                Value::Integer(n) => string(n.to_string().as_bytes(), self.out),
                Value::Number(n) => string(shoal_proto::number::fmt_g(*n, 14).as_bytes(), self.out),
                _ => {
                    return Err(mlua::Error::runtime(
                        "Cannot serialise table: table key must be a number or string",
                    ))
                }
            }
            self.out.push(b':');
            self.value(&v, depth)?;
        }
        self.out.push(b'}');
        Ok(())
    }
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

struct Decoder<'a> {
    s: &'a [u8],
    pos: usize,
    lua: &'a Lua,
    max_depth: usize,
}

impl Decoder<'_> {
    fn err(&self, expected: &str) -> mlua::Error {
        let found = match self.s.get(self.pos) {
            None => "the end".to_string(),
            Some(_) => "invalid token".to_string(),
        };
        mlua::Error::runtime(format!(
            "Expected {expected} but found {found} at character {}",
            self.pos + 1
        ))
    }

    fn ws(&mut self) {
        while matches!(self.s.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> mlua::Result<Value> {
        if depth >= self.max_depth && matches!(self.s.get(self.pos), Some(b'{' | b'[')) {
            return Err(mlua::Error::runtime(format!(
                "Found too many nested data structures ({}) at character {}",
                depth + 1,
                self.pos + 1
            )));
        }
        match self.s.get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                let t = self.lua.create_table()?;
                self.ws();
                if self.s.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                loop {
                    self.ws();
                    if self.s.get(self.pos) != Some(&b'"') {
                        return Err(self.err("object key string"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.pos) != Some(&b':') {
                        return Err(self.err("colon"));
                    }
                    self.pos += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    t.raw_set(k, v)?;
                    self.ws();
                    match self.s.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Value::Table(t));
                        }
                        _ => return Err(self.err("comma or object end")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let t = self.lua.create_table()?;
                self.ws();
                if self.s.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                let mut i = 1;
                loop {
                    self.ws();
                    let v = self.value(depth + 1)?;
                    t.raw_set(i, v)?;
                    i += 1;
                    self.ws();
                    match self.s.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::Table(t));
                        }
                        _ => return Err(self.err("comma or array end")),
                    }
                }
            }
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') if self.s[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                Ok(Value::Boolean(true))
            }
            Some(b'f') if self.s[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                Ok(Value::Boolean(false))
            }
            Some(b'n') if self.s[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Ok(null())
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while matches!(
                    self.s.get(self.pos),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.pos += 1;
                }
                std::str::from_utf8(&self.s[start..self.pos])
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .map(Value::Number)
                    .ok_or_else(|| {
                        self.pos = start;
                        self.err("value")
                    })
            }
            _ => Err(self.err("value")),
        }
    }

    fn string(&mut self) -> mlua::Result<mlua::String> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err(self.err("string end"));
            };
            self.pos += 1;
            match c {
                b'"' => return self.lua.create_string(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Err(self.err("escape"));
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'u' => {
                            let hex = self.s.get(self.pos..self.pos + 4).unwrap_or_default();
                            let code = std::str::from_utf8(hex)
                                .ok()
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or_else(|| self.err("unicode escape"))?;
                            self.pos += 4;
                            let ch = char::from_u32(code).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
    }
}
