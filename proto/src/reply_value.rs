//! Decodes one RESP2/RESP3 reply frame into a tree that borrows from the input, and encodes
//! it back byte for byte. The proxy uses it to merge the replies of a split or fanned-out
//! command; it is not on the forwarding hot path, which never decodes replies.
//!
//! Shard replies are trusted but the decoder is still bounded: nesting depth and the total
//! number of elements are limited, and no allocation is sized from a length header larger
//! than the bytes that could back it, so malformed input costs at most its own size.

use crate::number::parse_i64;

/// One reply value. Strings borrow from the decoded buffer. Every variant keeps what is
/// needed to write the same bytes back (`encode`), so a merge can copy parts untouched.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `+text`
    Simple(&'a [u8]),
    /// `-text` (code included, as `ERR …`)
    Error(&'a [u8]),
    /// `:n`
    Int(i64),
    /// `$n` string
    Bulk(&'a [u8]),
    /// `$-1`, RESP2's null string.
    NullBulk,
    /// `*-1`, RESP2's null array.
    NullArray,
    /// `_`, RESP3's null.
    Null,
    /// `*n`
    Array(Vec<Value<'a>>),
    /// `%n`
    Map(Vec<(Value<'a>, Value<'a>)>),
    /// `~n`
    Set(Vec<Value<'a>>),
    /// `>n`
    Push(Vec<Value<'a>>),
    /// `,text`, kept as text so `inf`, `-nan` and exponent forms survive.
    Double(&'a [u8]),
    /// `#t` / `#f`
    Bool(bool),
    /// `(digits`
    BigNumber(&'a [u8]),
    /// `=n` with a three-letter format (`txt`, `mkd`) and the text after `fmt:`.
    Verbatim { format: &'a [u8], text: &'a [u8] },
    /// `!n`
    BlobError(&'a [u8]),
    /// `|n` attributes, followed by the value they describe.
    Attribute {
        attrs: Vec<(Value<'a>, Value<'a>)>,
        value: Box<Value<'a>>,
    },
}

impl Value<'_> {
    /// True for `-` and `!` errors.
    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_) | Value::BlobError(_))
    }

    /// True for every kind of null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null | Value::NullBulk | Value::NullArray)
    }

    /// The elements of an array, set or push.
    pub fn items(&self) -> Option<&[Self]> {
        match self {
            Value::Array(v) | Value::Set(v) | Value::Push(v) => Some(v),
            _ => None,
        }
    }

    /// The bytes of a string-like value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Simple(s) | Value::Bulk(s) | Value::BigNumber(s) | Value::Double(s) => Some(s),
            Value::Verbatim { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Appends the value's wire form, exactly as it was decoded.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Simple(s) => line(out, b'+', s),
            Value::Error(s) => line(out, b'-', s),
            Value::Int(n) => header(out, b':', *n),
            Value::Bulk(s) => blob(out, b'$', s),
            Value::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Value::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Value::Null => out.extend_from_slice(b"_\r\n"),
            Value::Array(v) => seq(out, b'*', v),
            Value::Set(v) => seq(out, b'~', v),
            Value::Push(v) => seq(out, b'>', v),
            Value::Map(pairs) => pairs_out(out, b'%', pairs),
            Value::Double(s) => line(out, b',', s),
            Value::Bool(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Value::BigNumber(s) => line(out, b'(', s),
            Value::BlobError(s) => blob(out, b'!', s),
            Value::Verbatim { format, text } => {
                header(out, b'=', (format.len() + 1 + text.len()) as i64);
                out.extend_from_slice(format);
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Value::Attribute { attrs, value } => {
                pairs_out(out, b'|', attrs);
                value.encode(out);
            }
        }
    }

    /// The value's wire form as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

fn header(out: &mut Vec<u8>, prefix: u8, n: i64) {
    out.push(prefix);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn line(out: &mut Vec<u8>, prefix: u8, s: &[u8]) {
    out.push(prefix);
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

fn blob(out: &mut Vec<u8>, prefix: u8, s: &[u8]) {
    header(out, prefix, s.len() as i64);
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

fn seq(out: &mut Vec<u8>, prefix: u8, items: &[Value<'_>]) {
    header(out, prefix, items.len() as i64);
    for v in items {
        v.encode(out);
    }
}

fn pairs_out(out: &mut Vec<u8>, prefix: u8, pairs: &[(Value<'_>, Value<'_>)]) {
    header(out, prefix, pairs.len() as i64);
    for (k, v) in pairs {
        k.encode(out);
        v.encode(out);
    }
}

/// Bounds on what one frame may contain.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Aggregates nested deeper than this are rejected (recursion is bounded by it).
    pub max_depth: usize,
    /// Total values in the frame, aggregates included.
    pub max_elements: usize,
}

impl Default for Limits {
    /// Deeper than any reply a command builds (scripts could nest further, but their
    /// replies are forwarded, never merged), and shallow enough that the recursion fits
    /// a small thread stack even in a debug build.
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_elements: 64 << 20,
        }
    }
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid reply frame: {0}")]
    Invalid(&'static str),
    #[error("reply frame nested too deeply")]
    TooDeep,
    #[error("reply frame has too many elements")]
    TooManyElements,
}

/// Decodes the first frame of `buf`. `Ok(None)` means the frame is not complete yet;
/// `Ok(Some((value, n)))` means it occupies the first `n` bytes.
pub fn decode(buf: &[u8]) -> Result<Option<(Value<'_>, usize)>, DecodeError> {
    decode_with(buf, Limits::default())
}

/// [`decode`] with explicit limits.
pub fn decode_with(buf: &[u8], limits: Limits) -> Result<Option<(Value<'_>, usize)>, DecodeError> {
    let mut d = Decoder {
        buf,
        pos: 0,
        limits,
        elements: 0,
    };
    match d.value(0) {
        Ok(v) => Ok(Some((v, d.pos))),
        Err(Stop::Incomplete) => Ok(None),
        Err(Stop::Bad(e)) => Err(e),
    }
}

enum Stop {
    Incomplete,
    Bad(DecodeError),
}

impl From<DecodeError> for Stop {
    fn from(e: DecodeError) -> Self {
        Stop::Bad(e)
    }
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: Limits,
    elements: usize,
}

impl<'a> Decoder<'a> {
    /// The bytes up to the next CRLF, which is consumed.
    fn line(&mut self) -> Result<&'a [u8], Stop> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
            return Err(Stop::Incomplete);
        };
        match rest.get(cr + 1) {
            None => return Err(Stop::Incomplete),
            Some(b'\n') => {}
            Some(_) => return Err(DecodeError::Invalid("CR without LF").into()),
        }
        self.pos += cr + 2;
        Ok(&rest[..cr])
    }

    fn length(&mut self) -> Result<i64, Stop> {
        let text = self.line()?;
        parse_i64(text)
            .filter(|&n| n >= -1)
            .ok_or(Stop::Bad(DecodeError::Invalid("bad length")))
    }

    /// A `$`/`!`/`=` payload of `len` bytes plus its CRLF.
    fn payload(&mut self, len: i64) -> Result<&'a [u8], Stop> {
        let len = usize::try_from(len).map_err(|_| DecodeError::Invalid("bad length"))?;
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let end = len
            .checked_add(2)
            .ok_or(DecodeError::Invalid("bad length"))?;
        if rest.len() < end {
            return Err(Stop::Incomplete);
        }
        if &rest[len..end] != b"\r\n" {
            return Err(DecodeError::Invalid("blob not followed by CRLF").into());
        }
        self.pos += end;
        Ok(&rest[..len])
    }

    /// Room for `n` elements. Every element takes at least three bytes, so a count the
    /// remaining input cannot back is either incomplete or a lie; allocating from it
    /// would let one header claim gigabytes.
    fn capacity(&self, n: usize) -> usize {
        let remaining = self.buf.len().saturating_sub(self.pos);
        n.min(remaining / 3)
    }

    fn count(&mut self, n: usize) -> Result<(), Stop> {
        self.elements = self.elements.saturating_add(n);
        if self.elements > self.limits.max_elements {
            return Err(DecodeError::TooManyElements.into());
        }
        Ok(())
    }

    fn values(&mut self, n: i64, depth: usize) -> Result<Vec<Value<'a>>, Stop> {
        let n = usize::try_from(n).map_err(|_| DecodeError::Invalid("bad length"))?;
        self.count(n)?;
        let mut out = Vec::with_capacity(self.capacity(n));
        for _ in 0..n {
            out.push(self.value(depth + 1)?);
        }
        Ok(out)
    }

    fn pairs(&mut self, n: i64, depth: usize) -> Result<Vec<(Value<'a>, Value<'a>)>, Stop> {
        let n = usize::try_from(n).map_err(|_| DecodeError::Invalid("bad length"))?;
        self.count(n.saturating_mul(2))?;
        let mut out = Vec::with_capacity(self.capacity(n.saturating_mul(2)) / 2);
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            let v = self.value(depth + 1)?;
            out.push((k, v));
        }
        Ok(out)
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, Stop> {
        if depth > self.limits.max_depth {
            return Err(DecodeError::TooDeep.into());
        }
        let Some(&prefix) = self.buf.get(self.pos) else {
            return Err(Stop::Incomplete);
        };
        self.pos += 1;
        Ok(match prefix {
            b'+' => Value::Simple(self.line()?),
            b'-' => Value::Error(self.line()?),
            b':' => {
                let text = self.line()?;
                Value::Int(parse_i64(text).ok_or(DecodeError::Invalid("bad integer"))?)
            }
            b'$' => match self.length()? {
                -1 => Value::NullBulk,
                n => Value::Bulk(self.payload(n)?),
            },
            b'!' => match self.length()? {
                -1 => return Err(DecodeError::Invalid("null blob error").into()),
                n => Value::BlobError(self.payload(n)?),
            },
            b'=' => {
                let n = self.length()?;
                let body = self.payload(n)?;
                match body.get(3) {
                    Some(b':') => Value::Verbatim {
                        format: &body[..3],
                        text: &body[4..],
                    },
                    _ => return Err(DecodeError::Invalid("verbatim without format").into()),
                }
            }
            b'*' => match self.length()? {
                -1 => Value::NullArray,
                n => Value::Array(self.values(n, depth)?),
            },
            b'~' => Value::Set(self.non_null_len().and_then(|n| self.values(n, depth))?),
            b'>' => Value::Push(self.non_null_len().and_then(|n| self.values(n, depth))?),
            b'%' => Value::Map(self.non_null_len().and_then(|n| self.pairs(n, depth))?),
            b'|' => {
                let n = self.non_null_len()?;
                let attrs = self.pairs(n, depth)?;
                let value = Box::new(self.value(depth + 1)?);
                Value::Attribute { attrs, value }
            }
            b'_' => {
                if !self.line()?.is_empty() {
                    return Err(DecodeError::Invalid("text after null").into());
                }
                Value::Null
            }
            b'#' => match self.line()? {
                b"t" => Value::Bool(true),
                b"f" => Value::Bool(false),
                _ => return Err(DecodeError::Invalid("bad boolean").into()),
            },
            b',' => Value::Double(self.line()?),
            b'(' => {
                let text = self.line()?;
                let digits = text.strip_prefix(b"-").unwrap_or(text);
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return Err(DecodeError::Invalid("bad big number").into());
                }
                Value::BigNumber(text)
            }
            _ => return Err(DecodeError::Invalid("unknown type byte").into()),
        })
    }

    fn non_null_len(&mut self) -> Result<i64, Stop> {
        match self.length()? {
            -1 => Err(DecodeError::Invalid("null aggregate").into()),
            n => Ok(n),
        }
    }
}

#[cfg(test)]
#[path = "reply_value_tests.rs"]
mod tests;
