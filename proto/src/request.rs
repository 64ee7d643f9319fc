//! Incremental request parser.
//!
//! Written by hand rather than on `redis-protocol`'s decoder because a server must reproduce
//! Redis's exact limits and error texts (`Protocol error: invalid bulk length` …): clients and
//! Redis's own test suite match on them, and the pre-AUTH limits need to cut a frame off after
//! its header, before its body has been buffered.
//!
//! The parser keeps its place between calls, so a command that arrives in many reads is never
//! re-scanned, and each argument is split off the read buffer as a zero-copy `Bytes`.

use bytes::{Buf, Bytes, BytesMut};

/// Longest inline command, or multibulk/bulk header line, that Redis accepts (64 KiB).
pub const INLINE_MAX: usize = 64 * 1024;
/// Default `proto-max-bulk-len` (512 MB).
pub const DEFAULT_MAX_BULK_LEN: usize = 512 * 1024 * 1024;
/// Bulk strings bigger than this are given their own buffer reservation, so a large
/// argument is read with no reallocation as it trickles in.
const BIG_ARG: usize = 32 * 1024;

/// A malformed frame. The connection replies `-ERR <text>` and closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(msg: &str) -> Self {
        ProtocolError(msg.to_string())
    }
}

/// Outcome of one parse step.
pub type ParseError = ProtocolError;

#[derive(Debug, Default)]
pub struct RequestParser {
    /// Arguments still expected in the current multibulk; 0 when between requests.
    remaining: usize,
    /// Length of the bulk whose header has been read but whose body has not.
    bulk_len: Option<usize>,
    args: Vec<Bytes>,
    /// `proto-max-bulk-len`.
    pub max_bulk_len: usize,
    /// True until the client authenticates when a password is set: Redis then caps a
    /// request at 10 arguments of 16 KiB, so an unauthenticated peer cannot make the
    /// server buffer much.
    pub auth_required: bool,
}

impl RequestParser {
    pub fn new() -> Self {
        RequestParser {
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
            ..Default::default()
        }
    }

    /// Bytes the parser still needs for the bulk string it is in the middle of, if any;
    /// lets the reader reserve the whole argument at once.
    pub fn pending_bulk(&self) -> Option<usize> {
        self.bulk_len.filter(|&n| n >= BIG_ARG).map(|n| n + 2)
    }

    /// True while a multibulk request has been started but not finished.
    pub fn in_request(&self) -> bool {
        self.remaining > 0
    }

    /// Parses the next complete request from `buf`, consuming its bytes. `Ok(None)` means
    /// more input is needed. Empty requests (`*0`, blank inline lines) are skipped.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let mut args = Vec::new();
        Ok(self.next_into(buf, &mut args)?.then_some(args))
    }

    /// [`next`](Self::next) into `args`, which is cleared first; true when it holds a
    /// request. A server that passes the same vector for every request of a connection
    /// allocates none per request: the parser and the caller swap the two vectors.
    pub fn next_into(
        &mut self,
        buf: &mut BytesMut,
        args: &mut Vec<Bytes>,
    ) -> Result<bool, ProtocolError> {
        args.clear();
        loop {
            if self.remaining == 0 {
                if buf.is_empty() {
                    return Ok(false);
                }
                if buf[0] != b'*' {
                    match self.inline(buf)? {
                        None => return Ok(false),
                        Some(line) if line.is_empty() => continue,
                        Some(line) => {
                            *args = line;
                            return Ok(true);
                        }
                    }
                }
                let Some(line_end) = find_cr(buf, 0) else {
                    if buf.len() > INLINE_MAX {
                        return Err(ProtocolError::new(
                            "Protocol error: too big mbulk count string",
                        ));
                    }
                    return Ok(false);
                };
                if line_end + 1 >= buf.len() {
                    return Ok(false);
                }
                let count = parse_i64(&buf[1..line_end])
                    .filter(|&n| n <= i32::MAX as i64)
                    .ok_or_else(|| {
                        ProtocolError::new("Protocol error: invalid multibulk length")
                    })?;
                if count > 10 && self.auth_required {
                    return Err(ProtocolError::new(
                        "Protocol error: unauthenticated multibulk length",
                    ));
                }
                buf.advance(line_end + 2);
                if count <= 0 {
                    continue;
                }
                self.remaining = count as usize;
                // Never trust the header for the allocation: a peer can announce 2^31
                // arguments and send none.
                self.args.clear();
                self.args.reserve(self.remaining.min(1024));
            }
            while self.remaining > 0 {
                let len = match self.bulk_len {
                    Some(len) => len,
                    None => {
                        let Some(line_end) = find_cr(buf, 0) else {
                            if buf.len() > INLINE_MAX {
                                return Err(ProtocolError::new(
                                    "Protocol error: too big bulk count string",
                                ));
                            }
                            return Ok(false);
                        };
                        if line_end + 1 >= buf.len() {
                            return Ok(false);
                        }
                        if buf[0] != b'$' {
                            return Err(ProtocolError(format!(
                                "Protocol error: expected '$', got '{}'",
                                buf[0] as char
                            )));
                        }
                        let len = parse_i64(&buf[1..line_end])
                            .filter(|&n| n >= 0 && n as u64 <= self.max_bulk_len as u64)
                            .ok_or_else(|| {
                                ProtocolError::new("Protocol error: invalid bulk length")
                            })? as usize;
                        if len > 16384 && self.auth_required {
                            return Err(ProtocolError::new(
                                "Protocol error: unauthenticated bulk length",
                            ));
                        }
                        buf.advance(line_end + 2);
                        self.bulk_len = Some(len);
                        len
                    }
                };
                if buf.len() < len + 2 {
                    return Ok(false);
                }
                let arg = buf.split_to(len).freeze();
                buf.advance(2);
                self.args.push(arg);
                self.bulk_len = None;
                self.remaining -= 1;
            }
            std::mem::swap(&mut self.args, args);
            return Ok(true);
        }
    }

    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > INLINE_MAX {
                return Err(ProtocolError::new("Protocol error: too big inline request"));
            }
            return Ok(None);
        };
        let line_len = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        let args = split_args(&buf[..line_len])
            .ok_or_else(|| ProtocolError::new("Protocol error: unbalanced quotes in request"))?;
        buf.advance(nl + 1);
        Ok(Some(args.into_iter().map(Bytes::from).collect()))
    }
}

fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..]
        .iter()
        .position(|&b| b == b'\r')
        .map(|p| p + from)
}

/// Redis's `string2ll`: optional `-`, digits, no leading zeros, no `+`, no spaces.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    crate::number::parse_i64(s)
}

/// Splits an inline command line the way Redis's `sdssplitargs` does: whitespace separates
/// arguments, `"…"` understands `\n \r \t \b \a \\ \" \xHH`, `'…'` understands `\'`, and a
/// closing quote must be followed by whitespace or the end. `None` means unbalanced quotes.
///
/// Redis splits a C string, so a NUL byte ends the line: everything after it is ignored.
/// Whitespace is C's `isspace`, which includes the vertical tab.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_c_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if line[i] == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if line[i] == b'"' {
                    if i + 1 < n && !is_c_space(line[i + 1]) {
                        return None;
                    }
                    // The closing quote ends the argument.
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if line[i] == b'\'' {
                    if i + 1 < n && !is_c_space(line[i + 1]) {
                        return None;
                    }
                    // The closing quote ends the argument.
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(req) = p.next(&mut buf)? {
            out.push(req);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_in_pieces() {
        let full = b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n*1\r\n$4\r\nPING\r\n";
        for split in 0..full.len() {
            let mut p = RequestParser::new();
            let mut buf = BytesMut::from(&full[..split]);
            let mut got = Vec::new();
            while let Some(r) = p.next(&mut buf).expect("valid") {
                got.push(r);
            }
            buf.extend_from_slice(&full[split..]);
            while let Some(r) = p.next(&mut buf).expect("valid") {
                got.push(r);
            }
            assert_eq!(got.len(), 2, "split at {split}");
            assert_eq!(&got[0][1][..], b"foo");
            assert_eq!(&got[1][0][..], b"PING");
        }
    }

    #[test]
    fn inline_and_quotes() {
        let got = parse_all(b"set a \"b c\\x41\\n\"\r\n\r\nget 'it''s'x\n").unwrap_err();
        assert_eq!(got.0, "Protocol error: unbalanced quotes in request");
        let got = parse_all(b"set a \"b c\\x41\\n\"\r\n\r\nget 'it\\'s'\n").expect("valid");
        assert_eq!(got[0][2], Bytes::from_static(b"b cA\n"));
        assert_eq!(got[1][1], Bytes::from_static(b"it's"));
    }

    #[test]
    fn inline_nul_ends_the_line() {
        // Found by fuzzing: a NUL between arguments made the splitter push empty
        // arguments forever.
        let got = parse_all(b"un\0\0((\0\0\0\x0e\r\nPING\r\n").expect("valid");
        assert_eq!(
            got,
            vec![
                vec![Bytes::from_static(b"un")],
                vec![Bytes::from_static(b"PING")]
            ]
        );
        assert_eq!(split_args(b"a\0b"), Some(vec![b"a".to_vec()]));
        assert_eq!(split_args(b"\"a\0\""), None);
        assert_eq!(split_args(b"\x0ba\x0bb"), Some(vec![b"a\x0bb".to_vec()]));
        assert_eq!(
            split_args(b"'a'\x0bb"),
            Some(vec![b"a".to_vec(), b"b".to_vec()])
        );
    }

    #[test]
    fn limits_and_errors() {
        let err = |s: &[u8]| parse_all(s).unwrap_err().0;
        assert_eq!(
            err(b"*2147483648\r\n"),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(err(b"*x\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"*1\r\n$536870913\r\n"),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(err(b"*1\r\n$-1\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            err(b"*1\r\nfoo\r\n"),
            "Protocol error: expected '$', got 'f'"
        );
        assert!(parse_all(b"*-1\r\n*0\r\n").expect("valid").is_empty());
        let mut p = RequestParser {
            auth_required: true,
            ..RequestParser::new()
        };
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            p.next(&mut buf).unwrap_err().0,
            "Protocol error: unauthenticated multibulk length"
        );
        let long = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(err(&long), "Protocol error: too big inline request");
    }

    #[test]
    fn huge_count_allocates_little() {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::from(&b"*2147483647\r\n$1\r\na\r\n"[..]);
        assert!(p.next(&mut buf).expect("valid").is_none());
        assert!(p.args.capacity() <= 1024);
    }
}
