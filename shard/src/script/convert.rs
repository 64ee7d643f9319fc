//! Conversions between Lua values and RESP, exactly as Redis 7.0 makes them.
//!
//! - A command's reply (RESP2 or RESP3 bytes) becomes a Lua value for `redis.call`:
//!   integers are numbers, a null bulk or null array is `false` (RESP3 null is `nil`),
//!   statuses and errors are `{ok=…}` / `{err=…}` tables, RESP3 maps, sets, doubles,
//!   big numbers and verbatim strings are tables with a `map`/`set`/`double`/
//!   `big_number`/`verbatim_string` field.
//! - A script's result becomes the reply: numbers are truncated to integers, `false` is a
//!   null (RESP2) or a boolean (when the script chose RESP3), tables are arrays up to their
//!   first nil unless they carry one of the fields above.

use mlua::{Lua, Table, Value};
use shoal_proto::Reply;

/// Nesting beyond this is refused, as Redis refuses it when the Lua stack runs out; a
/// table that contains itself would otherwise recurse forever.
const MAX_DEPTH: usize = 1000;

/// The text of a script error as Redis puts it in an `err` field: a leading `-CODE` is
/// kept as the code, a message without one gets `ERR`; surrounding CR/LF are trimmed.
pub fn error_text(raw: &[u8]) -> Vec<u8> {
    let raw = c_string(raw);
    let (code, msg): (&[u8], &[u8]) = match raw.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", raw),
    };
    let msg = trim_crlf(msg);
    let mut out = Vec::with_capacity(code.len() + 1 + msg.len());
    out.extend_from_slice(code);
    out.push(b' ');
    out.extend_from_slice(msg);
    out
}

/// Redis handles status and error texts as C strings: they end at the first NUL.
fn c_string(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == 0).map_or(s, |nul| &s[..nul])
}

/// A status or error line with its bytes as they are, CR and LF made spaces.
fn line(out: &mut Reply, prefix: u8, text: &[u8]) {
    out.raw(&[prefix]);
    for &b in text {
        out.raw(&[if b == b'\r' || b == b'\n' { b' ' } else { b }]);
    }
    out.raw(b"\r\n");
}

fn trim_crlf(mut s: &[u8]) -> &[u8] {
    while let [b'\r' | b'\n', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b'\r' | b'\n'] = s {
        s = rest;
    }
    s
}

/// An `{err=…}` table (what `redis.error_reply` and failed commands produce).
pub fn error_table(lua: &Lua, raw: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(error_text(raw))?)?;
    Ok(t)
}

/// Parses one reply into a Lua value; None if the bytes are not one whole reply.
pub fn reply_to_lua(lua: &Lua, buf: &[u8]) -> mlua::Result<Value> {
    let mut p = Parser { buf, pos: 0 };
    p.value(lua, Some(lua)).map(|v| v.unwrap_or(Value::Nil))
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn malformed() -> mlua::Error {
    mlua::Error::runtime("malformed reply from command")
}

impl<'a> Parser<'a> {
    fn line(&mut self) -> mlua::Result<&'a [u8]> {
        let rest = self.buf.get(self.pos..).ok_or_else(malformed)?;
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(malformed)?;
        self.pos += end + 2;
        Ok(&rest[..end])
    }

    fn int(&mut self) -> mlua::Result<i64> {
        let l = self.line()?;
        std::str::from_utf8(l)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(malformed)
    }

    fn bytes(&mut self, len: usize) -> mlua::Result<&'a [u8]> {
        let s = self
            .buf
            .get(self.pos..self.pos + len)
            .ok_or_else(malformed)?;
        self.pos += len + 2;
        Ok(s)
    }

    /// One value; with `lua` None the value is parsed and dropped (RESP3 attributes).
    fn value(&mut self, lua: &Lua, keep: Option<&Lua>) -> mlua::Result<Option<Value>> {
        let kind = *self.buf.get(self.pos).ok_or_else(malformed)?;
        self.pos += 1;
        let v = match kind {
            b'+' => {
                let s = self.line()?;
                let t = lua.create_table()?;
                t.raw_set("ok", lua.create_string(s)?)?;
                Value::Table(t)
            }
            b'-' => {
                let s = self.line()?;
                let mut raw = Vec::with_capacity(s.len() + 1);
                raw.push(b'-');
                raw.extend_from_slice(s);
                let t = error_table(lua, &raw)?;
                t.raw_set("ignore_error_stats_update", true)?;
                Value::Table(t)
            }
            b':' => Value::Number(self.int()? as f64),
            b'$' => match self.int()? {
                n if n < 0 => Value::Boolean(false),
                n => Value::String(lua.create_string(self.bytes(n as usize)?)?),
            },
            b'*' | b'>' => match self.int()? {
                n if n < 0 => Value::Boolean(false),
                n => {
                    let t = lua.create_table()?;
                    for i in 1..=n {
                        let v = self.value(lua, keep)?.unwrap_or(Value::Nil);
                        t.raw_set(i, v)?;
                    }
                    Value::Table(t)
                }
            },
            b'%' => {
                let n = self.int()?;
                let inner = lua.create_table()?;
                for _ in 0..n {
                    let k = self.value(lua, keep)?.unwrap_or(Value::Nil);
                    let v = self.value(lua, keep)?.unwrap_or(Value::Nil);
                    if !k.is_nil() {
                        inner.raw_set(k, v)?;
                    }
                }
                wrap(lua, "map", Value::Table(inner))?
            }
            b'~' => {
                let n = self.int()?;
                let inner = lua.create_table()?;
                for _ in 0..n {
                    let k = self.value(lua, keep)?.unwrap_or(Value::Nil);
                    if !k.is_nil() {
                        inner.raw_set(k, true)?;
                    }
                }
                wrap(lua, "set", Value::Table(inner))?
            }
            b'_' => {
                self.line()?;
                Value::Nil
            }
            b'#' => Value::Boolean(self.line()? == b"t"),
            b',' => {
                let l = self.line()?;
                let d = shoal_proto::number::parse_f64(l).ok_or_else(malformed)?;
                wrap(lua, "double", Value::Number(d))?
            }
            b'(' => {
                let l = self.line()?;
                wrap(lua, "big_number", Value::String(lua.create_string(l)?))?
            }
            b'=' => {
                let n = self.int()?;
                let s = self.bytes(n.max(0) as usize)?;
                let (format, text) = if s.len() >= 4 {
                    (&s[..3], &s[4..])
                } else {
                    (&b"txt"[..], s)
                };
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(text)?)?;
                inner.raw_set("format", lua.create_string(format)?)?;
                wrap(lua, "verbatim_string", Value::Table(inner))?
            }
            b'|' => {
                // Attributes are not shown to scripts; the reply they annotate is.
                let n = self.int()?;
                for _ in 0..2 * n {
                    self.value(lua, None)?;
                }
                return self.value(lua, keep);
            }
            _ => return Err(malformed()),
        };
        Ok(keep.map(|_| v))
    }
}

fn wrap(lua: &Lua, field: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(field, v)?;
    Ok(Value::Table(t))
}

/// A script's result as the reply to its caller: `out.proto` is the caller's protocol,
/// `script_resp3` whether the script switched itself to RESP3 (which decides how
/// booleans are sent). Returns the text of a top-level error reply, for error stats.
pub fn lua_to_reply(out: &mut Reply, v: &Value, script_resp3: bool) -> Option<String> {
    let mark = out.len();
    write_value(out, v, script_resp3, 0);
    let written = out.buf.get(mark..).unwrap_or_default();
    written
        .strip_prefix(b"-")
        .map(|e| String::from_utf8_lossy(e.strip_suffix(b"\r\n").unwrap_or(e)).into_owned())
}

fn write_value(out: &mut Reply, v: &Value, resp3: bool, depth: usize) {
    if depth > MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if resp3 {
                out.boolean(*b);
            } else if *b {
                out.int(1);
            } else {
                out.null();
            }
        }
        Value::Integer(n) => out.int(*n),
        Value::Number(n) => out.int(lua_number_to_i64(*n)),
        Value::Table(t) => write_table(out, t, resp3, depth),
        _ => out.null(),
    }
}

/// C's `(long long)` cast of a double as x86-64 performs it: a value out of range (or
/// NaN) becomes the minimum, which is what Redis replies for it.
pub fn lua_number_to_i64(n: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn write_table(out: &mut Reply, t: &Table, resp3: bool, depth: usize) {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        line(out, b'-', c_string(&e.as_bytes()));
        return;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        line(out, b'+', c_string(&s.as_bytes()));
        return;
    }
    if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
        out.double(d);
        return;
    }
    if let Ok(Value::Integer(d)) = t.raw_get::<Value>("double") {
        out.double(d as f64);
        return;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        let text = String::from_utf8_lossy(&s.as_bytes()).replace(['\r', '\n'], " ");
        if out.is_resp3() {
            out.raw(format!("({text}\r\n").as_bytes());
        } else {
            out.bulk(text.as_bytes());
        }
        return;
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Ok(Value::String(f)), Ok(Value::String(s))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
        {
            let (f, s) = (f.as_bytes(), s.as_bytes());
            if out.is_resp3() {
                let mut head = f.to_vec();
                head.resize(3, b' ');
                out.raw(format!("={}\r\n", s.len() + 4).as_bytes());
                out.raw(&head);
                out.raw(b":");
                out.raw(&s);
                out.raw(b"\r\n");
            } else {
                out.bulk(&s);
            }
            return;
        }
    }
    // Lua values are references held on a stack of limited size, so big tables are
    // counted in one pass and written in a second rather than collected.
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        out.map(m.pairs::<Value, Value>().count());
        for (k, v) in m.pairs::<Value, Value>().filter_map(Result::ok) {
            write_value(out, &k, resp3, depth + 1);
            write_value(out, &v, resp3, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        out.set(s.pairs::<Value, Value>().count());
        for (k, _) in s.pairs::<Value, Value>().filter_map(Result::ok) {
            write_value(out, &k, resp3, depth + 1);
        }
        return;
    }
    let mut len = 0;
    while matches!(t.raw_get::<Value>(len + 1), Ok(v) if !v.is_nil()) {
        len += 1;
    }
    out.array(len);
    for i in 1..=len {
        let v = t.raw_get::<Value>(i).unwrap_or(Value::Nil);
        write_value(out, &v, resp3, depth + 1);
    }
}

/// A `redis.call` argument as Redis builds it: strings as they are, numbers in `%.17g`
/// (Lua's own conversion would lose precision); None for any other type.
pub fn arg_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(n) => Some(n.to_string().into_bytes()),
        Value::Number(n) => Some(shoal_proto::number::fmt_g17(*n).into_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_proto::Protocol;

    fn to_resp(lua: &Lua, code: &str, proto: Protocol, resp3: bool) -> String {
        let v: Value = lua.load(code).eval().unwrap();
        let mut out = Reply::new(proto);
        lua_to_reply(&mut out, &v, resp3);
        String::from_utf8_lossy(&out.buf).into_owned()
    }

    #[test]
    fn lua_values_become_redis_replies() {
        let lua = Lua::new();
        let r2 = Protocol::Resp2;
        assert_eq!(to_resp(&lua, "3.99", r2, false), ":3\r\n");
        assert_eq!(to_resp(&lua, "-3.99", r2, false), ":-3\r\n");
        assert_eq!(to_resp(&lua, "'x'", r2, false), "$1\r\nx\r\n");
        assert_eq!(to_resp(&lua, "true", r2, false), ":1\r\n");
        assert_eq!(to_resp(&lua, "false", r2, false), "$-1\r\n");
        assert_eq!(to_resp(&lua, "false", Protocol::Resp3, true), "#f\r\n");
        assert_eq!(to_resp(&lua, "nil", Protocol::Resp3, false), "_\r\n");
        // Arrays stop at the first nil.
        assert_eq!(to_resp(&lua, "{1,nil,3}", r2, false), "*1\r\n:1\r\n");
        assert_eq!(
            to_resp(&lua, "{1,{2,'a'}}", r2, false),
            "*2\r\n:1\r\n*2\r\n:2\r\n$1\r\na\r\n"
        );
        assert_eq!(
            to_resp(&lua, "{err='E x\\r\\ny'}", r2, false),
            "-E x  y\r\n"
        );
        assert_eq!(to_resp(&lua, "{ok='fine'}", r2, false), "+fine\r\n");
        assert_eq!(to_resp(&lua, "{double=1.5}", r2, false), "$3\r\n1.5\r\n");
        assert_eq!(
            to_resp(&lua, "{map={a=1}}", Protocol::Resp3, false),
            "%1\r\n$1\r\na\r\n:1\r\n"
        );
    }

    #[test]
    fn a_table_that_contains_itself_stops_at_the_depth_limit() {
        // The engine thread has a big stack for this; a test thread does not.
        let run = || {
            let lua = Lua::new();
            let code = "(function() local t = {} t[1] = t return t end)()";
            to_resp(&lua, code, Protocol::Resp2, false)
        };
        let cyclic = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(run)
            .unwrap()
            .join()
            .unwrap();
        assert!(cyclic.ends_with("-ERR reached lua stack limit\r\n"));
        assert_eq!(cyclic.matches("*1\r\n").count(), MAX_DEPTH + 1);
    }

    #[test]
    fn redis_replies_become_lua_values() {
        let lua = Lua::new();
        let check = |resp: &str, expr: &str| {
            let v = reply_to_lua(&lua, resp.as_bytes()).unwrap();
            lua.globals().set("v", v).unwrap();
            let ok: bool = lua.load(expr).eval().unwrap();
            assert!(ok, "{resp:?} failed {expr}");
        };
        check(":42\r\n", "v == 42");
        check("$3\r\nabc\r\n", "v == 'abc'");
        check("$-1\r\n", "v == false");
        check("*-1\r\n", "v == false");
        check("_\r\n", "v == nil");
        check("+OK\r\n", "v.ok == 'OK'");
        check("-WRONGTYPE bad\r\n", "v.err == 'WRONGTYPE bad'");
        check("-oops\r\n", "v.err == 'ERR oops'");
        check("*2\r\n:1\r\n$1\r\nx\r\n", "v[1] == 1 and v[2] == 'x'");
        check("%1\r\n$1\r\nk\r\n:2\r\n", "v.map.k == 2");
        check("~1\r\n$1\r\nm\r\n", "v.set.m == true");
        check(",2.5\r\n", "v.double == 2.5");
        check("#t\r\n", "v == true");
        check("(123\r\n", "v.big_number == '123'");
        check(
            "=7\r\ntxt:abc\r\n",
            "v.verbatim_string.format == 'txt' and v.verbatim_string.string == 'abc'",
        );
        check("|1\r\n$1\r\na\r\n$1\r\nb\r\n:5\r\n", "v == 5");
        assert!(reply_to_lua(&lua, b"*2\r\n:1\r\n").is_err());
    }

    #[test]
    fn error_texts_get_a_code() {
        assert_eq!(error_text(b"-MY code here"), b"MY code here".to_vec());
        assert_eq!(error_text(b"plain\r\n"), b"ERR plain".to_vec());
        assert_eq!(error_text(b"-ALONE"), b"ERR ALONE".to_vec());
        assert_eq!(error_text(b"-\x00\xff x"), b"ERR ".to_vec());
        assert_eq!(lua_number_to_i64(9.3e18), i64::MIN);
        assert_eq!(lua_number_to_i64(-3.99), -3);
    }

    #[test]
    fn arguments_use_17_digits() {
        assert_eq!(arg_bytes(&Value::Number(1.0)), Some(b"1".to_vec()));
        assert_eq!(
            arg_bytes(&Value::Number(0.1)),
            Some(b"0.10000000000000001".to_vec())
        );
        assert_eq!(arg_bytes(&Value::Boolean(true)), None);
    }
}
