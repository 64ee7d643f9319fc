//! RESP2/RESP3 replies as a tree that keeps what a comparison needs.
//!
//! The parser keeps element order (RESP3 maps and sets included) and the exact text of
//! doubles and big numbers, and it accepts every RESP2 and RESP3 type on any
//! connection: a server that sends a RESP2 null on a RESP3 connection should fail a
//! comparison, not derail the reader. [`Reply::encode`] gives back the exact bytes,
//! so a normalised tree can be compared byte for byte as well.
//!
//! `redis-protocol`'s decoder is not used for this: it keeps RESP3 maps and sets in
//! hash containers (losing the order a comparison must see), parses doubles to `f64`
//! (losing their text), and refuses RESP2 nulls on RESP3. The unit tests below check
//! this parser against its encoders instead.

use std::fmt::Write as _;

/// Nesting deeper than any command's reply; bounds the parser's recursion.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reply {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    /// RESP2 `$-1`.
    NullBulk,
    /// RESP2 `*-1`.
    NullArray,
    /// RESP3 `_`.
    Null,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Push(Vec<Reply>),
    /// The double's text as sent (`1.5`, `inf`, `-nan` …).
    Double(Vec<u8>),
    Bool(bool),
    BigNumber(Vec<u8>),
    BulkError(Vec<u8>),
    /// `fmt:payload`, as sent.
    Verbatim(Vec<u8>),
}

/// A reply that is not valid RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad RESP: {}", self.0)
    }
}

impl std::error::Error for ParseError {}

/// Parses one reply from the start of `buf`: `Ok(None)` when more bytes are needed,
/// else the reply and how many bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, ParseError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(r) => Ok(Some((r, pos))),
        None => Ok(None),
    }
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = buf.get(*pos..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    *pos += end + 2;
    Some(&rest[..end])
}

fn int(s: &[u8]) -> Result<i64, ParseError> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ParseError(format!("bad integer {:?}", String::from_utf8_lossy(s))))
}

fn blob(buf: &[u8], pos: &mut usize, len: i64) -> Result<Option<Vec<u8>>, ParseError> {
    let len = usize::try_from(len).map_err(|_| ParseError(format!("bad length {len}")))?;
    let Some(data) = buf.get(*pos..*pos + len) else {
        return Ok(None);
    };
    match buf.get(*pos + len..*pos + len + 2) {
        None => Ok(None),
        Some(b"\r\n") => {
            *pos += len + 2;
            Ok(Some(data.to_vec()))
        }
        Some(_) => Err(ParseError("bulk not followed by CRLF".into())),
    }
}

fn items(
    buf: &[u8],
    pos: &mut usize,
    n: i64,
    depth: usize,
) -> Result<Option<Vec<Reply>>, ParseError> {
    let n = usize::try_from(n).map_err(|_| ParseError(format!("bad count {n}")))?;
    // A count is only trusted as far as the bytes present can back it.
    let mut out = Vec::with_capacity(n.min(buf.len()));
    for _ in 0..n {
        match parse_at(buf, pos, depth + 1)? {
            Some(r) => out.push(r),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Reply>, ParseError> {
    if depth > MAX_DEPTH {
        return Err(ParseError("nested too deep".into()));
    }
    let Some(&kind) = buf.get(*pos) else {
        return Ok(None);
    };
    let start = *pos;
    *pos += 1;
    let Some(head) = line(buf, pos) else {
        *pos = start;
        return Ok(None);
    };
    let head = head.to_vec();
    let reply = match kind {
        b'+' => Some(Reply::Simple(head)),
        b'-' => Some(Reply::Error(head)),
        b':' => Some(Reply::Int(int(&head)?)),
        b',' => Some(Reply::Double(head)),
        b'(' => Some(Reply::BigNumber(head)),
        b'_' if head.is_empty() => Some(Reply::Null),
        b'#' if head == b"t" || head == b"f" => Some(Reply::Bool(head == b"t")),
        b'$' | b'!' | b'=' => {
            let n = int(&head)?;
            if n == -1 && kind == b'$' {
                Some(Reply::NullBulk)
            } else {
                blob(buf, pos, n)?.map(|d| match kind {
                    b'$' => Reply::Bulk(d),
                    b'!' => Reply::BulkError(d),
                    _ => Reply::Verbatim(d),
                })
            }
        }
        b'*' | b'~' | b'>' => {
            let n = int(&head)?;
            if n == -1 && kind == b'*' {
                Some(Reply::NullArray)
            } else {
                items(buf, pos, n, depth)?.map(|v| match kind {
                    b'*' => Reply::Array(v),
                    b'~' => Reply::Set(v),
                    _ => Reply::Push(v),
                })
            }
        }
        b'%' => {
            let n = int(&head)?;
            let n2 = n
                .checked_mul(2)
                .ok_or_else(|| ParseError(format!("bad map size {n}")))?;
            items(buf, pos, n2, depth)?.map(|v| {
                let mut pairs = Vec::with_capacity(v.len() / 2);
                let mut it = v.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Reply::Map(pairs)
            })
        }
        other => {
            return Err(ParseError(format!(
                "unknown type byte {:?} in {}",
                other as char,
                escape(&buf[start..*pos])
            )))
        }
    };
    if reply.is_none() {
        *pos = start;
    }
    Ok(reply)
}

impl Reply {
    /// The exact RESP bytes of this reply.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        fn head(out: &mut Vec<u8>, kind: u8, text: &[u8]) {
            out.push(kind);
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
        fn blob(out: &mut Vec<u8>, kind: u8, data: &[u8]) {
            head(out, kind, data.len().to_string().as_bytes());
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        fn agg(out: &mut Vec<u8>, kind: u8, items: &[Reply]) {
            head(out, kind, items.len().to_string().as_bytes());
            for i in items {
                i.encode_into(out);
            }
        }
        match self {
            Reply::Simple(s) => head(out, b'+', s),
            Reply::Error(s) => head(out, b'-', s),
            Reply::Int(n) => head(out, b':', n.to_string().as_bytes()),
            Reply::Bulk(d) => blob(out, b'$', d),
            Reply::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Reply::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Null => out.extend_from_slice(b"_\r\n"),
            Reply::Array(v) => agg(out, b'*', v),
            Reply::Set(v) => agg(out, b'~', v),
            Reply::Push(v) => agg(out, b'>', v),
            Reply::Map(pairs) => {
                head(out, b'%', pairs.len().to_string().as_bytes());
                for (k, v) in pairs {
                    k.encode_into(out);
                    v.encode_into(out);
                }
            }
            Reply::Double(s) => head(out, b',', s),
            Reply::Bool(b) => head(out, b'#', if *b { b"t" } else { b"f" }),
            Reply::BigNumber(s) => head(out, b'(', s),
            Reply::BulkError(d) => blob(out, b'!', d),
            Reply::Verbatim(d) => blob(out, b'=', d),
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_) | Reply::BulkError(_))
    }

    /// The payload of a bulk or simple string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) | Reply::Simple(b) | Reply::Verbatim(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The elements of an array, set or push reply.
    pub fn as_items(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => Some(v),
            _ => None,
        }
    }

    /// The reply with every payload dropped: only types and lengths remain. Used for
    /// commands whose content is random by design (SRANDMEMBER, HRANDFIELD …).
    pub fn shape(&self) -> Reply {
        match self {
            Reply::Simple(_) => Reply::Simple(Vec::new()),
            Reply::Bulk(_) => Reply::Bulk(Vec::new()),
            Reply::Double(_) => Reply::Double(Vec::new()),
            Reply::Int(_) => Reply::Int(0),
            Reply::Array(v) => Reply::Array(v.iter().map(Reply::shape).collect()),
            Reply::Set(v) => Reply::Set(v.iter().map(Reply::shape).collect()),
            Reply::Push(v) => Reply::Push(v.iter().map(Reply::shape).collect()),
            Reply::Map(p) => Reply::Map(p.iter().map(|(k, v)| (k.shape(), v.shape())).collect()),
            other => other.clone(),
        }
    }
}

/// Bytes as a readable, single-line string: printable ASCII as is, the rest escaped
/// (`\r`, `\n`, `\xNN`).
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}

/// A RESP multibulk request for `args`.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(bytes: &[u8]) -> Reply {
        let (r, n) = parse(bytes).unwrap().unwrap();
        assert_eq!(n, bytes.len(), "{}", escape(bytes));
        assert_eq!(r.encode(), bytes, "{}", escape(bytes));
        // Every strict prefix is incomplete, never an error or a shorter reply.
        for cut in 0..bytes.len() {
            assert_eq!(parse(&bytes[..cut]).unwrap(), None, "prefix {cut}");
        }
        r
    }

    #[test]
    fn resp2_types_roundtrip_exactly() {
        assert_eq!(roundtrip(b"+OK\r\n"), Reply::Simple(b"OK".to_vec()));
        assert_eq!(roundtrip(b"-ERR x\r\n"), Reply::Error(b"ERR x".to_vec()));
        assert_eq!(roundtrip(b":-42\r\n"), Reply::Int(-42));
        assert_eq!(roundtrip(b"$-1\r\n"), Reply::NullBulk);
        assert_eq!(roundtrip(b"*-1\r\n"), Reply::NullArray);
        assert_eq!(roundtrip(b"$0\r\n\r\n"), Reply::Bulk(vec![]));
        assert_eq!(
            roundtrip(b"$4\r\na\r\nb\r\n"),
            Reply::Bulk(b"a\r\nb".to_vec())
        );
        assert_eq!(
            roundtrip(b"*2\r\n:1\r\n*1\r\n$1\r\nx\r\n"),
            Reply::Array(vec![
                Reply::Int(1),
                Reply::Array(vec![Reply::Bulk(b"x".to_vec())])
            ])
        );
    }

    #[test]
    fn resp3_types_keep_order_and_text() {
        let m = roundtrip(b"%2\r\n$1\r\nz\r\n,1.50\r\n$1\r\na\r\n,inf\r\n");
        assert_eq!(
            m,
            Reply::Map(vec![
                (Reply::Bulk(b"z".to_vec()), Reply::Double(b"1.50".to_vec())),
                (Reply::Bulk(b"a".to_vec()), Reply::Double(b"inf".to_vec())),
            ])
        );
        roundtrip(b"~2\r\n$1\r\nb\r\n$1\r\na\r\n");
        roundtrip(b">2\r\n+message\r\n_\r\n");
        roundtrip(b"#t\r\n");
        roundtrip(b"(3492890328409238509324850943850943825024385\r\n");
        roundtrip(b"!5\r\nERR x\r\n");
        roundtrip(b"=8\r\ntxt:abcd\r\n");
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b":abc\r\n").is_err());
        assert!(parse(b"$1\r\nab\r\n").is_err());
        assert!(parse(b"*-2\r\n").is_err());
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn agrees_with_redis_protocol_crate() {
        use redis_protocol::resp2::encode::encode as enc2;
        use redis_protocol::resp2::types::OwnedFrame as F2;
        let frame = F2::Array(vec![
            F2::BulkString(b"a\x00b".to_vec()),
            F2::Integer(-7),
            F2::Null,
            F2::SimpleString(b"OK".to_vec()),
            F2::Error("ERR nope".into()),
        ]);
        let mut buf = vec![0u8; 256];
        let n = enc2(&mut buf, &frame, false).unwrap();
        buf.truncate(n);
        let (r, used) = parse(&buf).unwrap().unwrap();
        assert_eq!(used, n);
        assert_eq!(r.encode(), buf);
        let (back, used2) = redis_protocol::resp2::decode::decode(&r.encode())
            .unwrap()
            .unwrap();
        assert_eq!(used2, n);
        assert_eq!(back, frame);
    }

    #[test]
    fn reads_what_redis_protocol_encodes_as_resp3() {
        use redis_protocol::resp3::encode::complete::encode as enc3;
        use redis_protocol::resp3::types::OwnedFrame as F3;
        let frame = F3::Array {
            data: vec![
                F3::Double {
                    data: 1.5,
                    attributes: None,
                },
                F3::Null,
                F3::Boolean {
                    data: true,
                    attributes: None,
                },
                F3::BlobString {
                    data: b"x\r\ny".to_vec(),
                    attributes: None,
                },
                F3::Number {
                    data: i64::MIN,
                    attributes: None,
                },
            ],
            attributes: None,
        };
        let mut buf = vec![0u8; 256];
        let n = enc3(&mut buf, &frame, false).unwrap();
        buf.truncate(n);
        let (r, used) = parse(&buf).unwrap().unwrap();
        assert_eq!(used, n);
        assert_eq!(r.encode(), buf);
        assert_eq!(
            r,
            Reply::Array(vec![
                Reply::Double(b"1.5".to_vec()),
                Reply::Null,
                Reply::Bool(true),
                Reply::Bulk(b"x\r\ny".to_vec()),
                Reply::Int(i64::MIN),
            ])
        );
    }

    #[test]
    fn shape_drops_payloads_only() {
        let a = Reply::Array(vec![Reply::Bulk(b"x".to_vec()), Reply::Int(3)]);
        let b = Reply::Array(vec![Reply::Bulk(b"yy".to_vec()), Reply::Int(9)]);
        let c = Reply::Array(vec![Reply::Bulk(b"yy".to_vec())]);
        assert_eq!(a.shape(), b.shape());
        assert_ne!(a.shape(), c.shape());
    }
}
