//! Reply encoding for RESP2 and RESP3, written straight into the connection's output buffer
//! so a reply costs no intermediate allocation.
//!
//! Methods take the RESP3 view of a reply (map, set, double, null …) and degrade it to RESP2
//! the way Redis does, so command code never branches on the protocol.

use bytes::{BufMut, BytesMut};

use crate::number::fmt_g17;

/// Protocol version a client negotiated with HELLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// An output buffer plus the protocol its client speaks.
#[derive(Debug, Default)]
pub struct Reply {
    pub buf: BytesMut,
    pub proto: Protocol,
}

impl Reply {
    pub fn new(proto: Protocol) -> Self {
        Reply {
            buf: BytesMut::with_capacity(4096),
            proto,
        }
    }

    pub fn is_resp3(&self) -> bool {
        self.proto == Protocol::Resp3
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Drops everything written after `mark` (a value of [`Reply::len`]); used to replace a
    /// half-written reply with an error.
    pub fn truncate(&mut self, mark: usize) {
        self.buf.truncate(mark);
    }

    fn line(&mut self, prefix: u8, n: i64) {
        self.buf.put_u8(prefix);
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.buf.put_u8(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply. `msg` is the text after `-`, including its code (`ERR …`,
    /// `WRONGTYPE …`). Newlines would break framing, so they become spaces.
    pub fn error(&mut self, msg: &str) {
        self.buf.put_u8(b'-');
        for &b in msg.as_bytes() {
            self.buf
                .put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.line(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.line(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        let s = b.format(n);
        self.bulk(s.as_bytes());
    }

    /// A verbatim string (RESP3 `=`), a bulk string in RESP2. Used by INFO and friends.
    pub fn verbatim(&mut self, data: &[u8]) {
        if self.is_resp3() {
            self.line(b'=', data.len() as i64 + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(data);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(data);
        }
    }

    /// The null of a missing string: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null of a missing array (timeouts, EXEC abort): `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, len: usize) {
        self.line(b'*', len as i64);
    }

    /// A map of `len` pairs; a flat array of `2 * len` in RESP2.
    pub fn map(&mut self, len: usize) {
        if self.is_resp3() {
            self.line(b'%', len as i64);
        } else {
            self.line(b'*', 2 * len as i64);
        }
    }

    /// A set; an array in RESP2.
    pub fn set(&mut self, len: usize) {
        if self.is_resp3() {
            self.line(b'~', len as i64);
        } else {
            self.line(b'*', len as i64);
        }
    }

    /// An out-of-band push (pub/sub messages); an array in RESP2.
    pub fn push(&mut self, len: usize) {
        if self.is_resp3() {
            self.line(b'>', len as i64);
        } else {
            self.line(b'*', len as i64);
        }
    }

    /// A double (`,` in RESP3), or its `%.17g` text as a bulk string in RESP2.
    pub fn double(&mut self, d: f64) {
        let text = fmt_g17(d);
        if self.is_resp3() {
            self.buf.put_u8(b',');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// A boolean (`#t`/`#f` in RESP3), `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        if self.is_resp3() {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    pub fn bulks<I, T>(&mut self, items: I)
    where
        I: ExactSizeIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.array(items.len());
        for item in items {
            self.bulk(item.as_ref());
        }
    }

    /// Raw, already-encoded bytes.
    pub fn raw(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_both_protocols() {
        let mut r2 = Reply::new(Protocol::Resp2);
        let mut r3 = Reply::new(Protocol::Resp3);
        for r in [&mut r2, &mut r3] {
            r.map(1);
            r.bulk(b"k");
            r.double(1.5);
            r.null();
            r.int(i64::MIN);
            r.int(-1);
            r.boolean(true);
        }
        assert_eq!(
            &r2.buf[..],
            b"*2\r\n$1\r\nk\r\n$3\r\n1.5\r\n$-1\r\n:-9223372036854775808\r\n:-1\r\n:1\r\n"
        );
        assert_eq!(
            &r3.buf[..],
            b"%1\r\n$1\r\nk\r\n,1.5\r\n_\r\n:-9223372036854775808\r\n:-1\r\n#t\r\n"
        );
    }

    #[test]
    fn errors_have_no_newlines() {
        let mut r = Reply::new(Protocol::Resp2);
        r.error("ERR bad\r\nthing");
        assert_eq!(&r.buf[..], b"-ERR bad  thing\r\n");
    }
}
