//! Request frame scanner for the proxy: finds one complete request at the front of a
//! buffer and reports its length plus where each argument lies, without copying.
//!
//! The proxy forwards a frame's bytes as they came, so it needs the frame's extent and the
//! arguments as ranges into it (for the command name and the keys), never owned copies.
//! Inline commands have no multibulk bytes to forward; they are split as Redis splits them
//! and re-encoded. Limits and error texts are those of [`crate::request`], which are
//! Redis's.

use crate::request::{parse_i64, split_args, ProtocolError, DEFAULT_MAX_BULK_LEN, INLINE_MAX};

/// Limits the scanner enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: usize,
    /// Before AUTH: at most 10 arguments, no bulk string over 16 KiB.
    pub auth_required: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
            auth_required: false,
        }
    }
}

/// One request found at the front of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Scanned {
    /// A multibulk frame of `len` bytes; its arguments' byte ranges were pushed to `args`.
    Multibulk { len: usize },
    /// An inline command of `len` bytes (the line and its newline), already re-encoded as
    /// a multibulk frame; `args` holds ranges into `encoded`. Empty lines give no args.
    Inline { len: usize, encoded: Vec<u8> },
    /// `*0` or a negative count: `len` bytes to skip, nothing to run.
    Empty { len: usize },
}

/// Scans the request at the front of `buf`. `Ok(None)` means more bytes are needed.
/// `args` is cleared, then filled with `(start, end)` ranges of the arguments (into `buf`
/// for multibulk, into the re-encoded frame for inline). Each call starts over; a reader
/// that calls again as bytes trickle in uses a [`Scanner`], which resumes.
pub fn scan(
    buf: &[u8],
    limits: Limits,
    args: &mut Vec<(usize, usize)>,
) -> Result<Option<Scanned>, ProtocolError> {
    Scanner::default().scan(buf, limits, args)
}

/// A scan that remembers how far it got into an incomplete multibulk frame, so that
/// scanning it again once more bytes arrived resumes there. Starting over instead walks
/// every argument already seen on each read: quadratic for a frame of many arguments
/// delivered in small reads.
#[derive(Debug, Default, Clone)]
pub struct Scanner {
    /// The frame's argument count once its header was read; 0 before.
    count: usize,
    /// Where the next argument's header starts.
    pos: usize,
    /// The argument whose header was read but whose body is not all in yet.
    body: Option<(usize, usize)>,
}

impl Scanner {
    /// Like [`scan`]. After `Ok(None)`, call again with a buffer that starts with the same
    /// frame (more bytes may follow) and the same `args`, which hold the arguments found
    /// so far. Any other result leaves the scanner ready for the next frame.
    pub fn scan(
        &mut self,
        buf: &[u8],
        limits: Limits,
        args: &mut Vec<(usize, usize)>,
    ) -> Result<Option<Scanned>, ProtocolError> {
        let r = self.step(buf, limits, args);
        if !matches!(r, Ok(None)) {
            *self = Scanner::default();
        }
        r
    }

    /// Bytes still missing before the bulk string being read is complete, when it is
    /// large (32 KiB or more); lets the reader reserve them at once.
    pub fn pending_bulk(&self, buffered: usize) -> Option<usize> {
        let (body, end) = self.body?;
        let need = end + 2;
        (need > buffered && end - body >= 32 * 1024).then(|| need - buffered)
    }

    fn step(
        &mut self,
        buf: &[u8],
        limits: Limits,
        args: &mut Vec<(usize, usize)>,
    ) -> Result<Option<Scanned>, ProtocolError> {
        if self.count == 0 {
            args.clear();
            let Some(&first) = buf.first() else {
                return Ok(None);
            };
            if first != b'*' {
                return inline(buf, args);
            }
            let Some((count, pos)) =
                line_int(buf, 0, "Protocol error: too big mbulk count string")?
            else {
                return Ok(None);
            };
            let count = match count {
                Some(n) if n <= i32::MAX as i64 => n,
                _ => {
                    return Err(ProtocolError(
                        "Protocol error: invalid multibulk length".into(),
                    ))
                }
            };
            if count > 10 && limits.auth_required {
                return Err(ProtocolError(
                    "Protocol error: unauthenticated multibulk length".into(),
                ));
            }
            if count <= 0 {
                return Ok(Some(Scanned::Empty { len: pos }));
            }
            self.count = count as usize;
            self.pos = pos;
        }
        while args.len() < self.count {
            if let Some((body, end)) = self.body {
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                args.push((body, end));
                self.pos = end + 2;
                self.body = None;
                continue;
            }
            let pos = self.pos;
            if pos >= buf.len() {
                return Ok(None);
            }
            if buf[pos] != b'$' {
                // Only a whole header line tells a bad byte from a short read in Redis; it
                // reports the byte as soon as the line is complete.
                if find_cr(buf, pos).is_none_or(|cr| cr + 1 >= buf.len()) {
                    if buf.len() - pos > INLINE_MAX {
                        return Err(ProtocolError(
                            "Protocol error: too big bulk count string".into(),
                        ));
                    }
                    return Ok(None);
                }
                return Err(ProtocolError(format!(
                    "Protocol error: expected '$', got '{}'",
                    buf[pos] as char
                )));
            }
            let Some((len, body)) =
                line_int(buf, pos, "Protocol error: too big bulk count string")?
            else {
                return Ok(None);
            };
            let len = match len {
                Some(n) if n >= 0 && n as u64 <= limits.max_bulk_len as u64 => n as usize,
                _ => return Err(ProtocolError("Protocol error: invalid bulk length".into())),
            };
            if len > 16384 && limits.auth_required {
                return Err(ProtocolError(
                    "Protocol error: unauthenticated bulk length".into(),
                ));
            }
            self.body = Some((body, body + len));
        }
        Ok(Some(Scanned::Multibulk { len: self.pos }))
    }
}

/// Reads the integer line starting at `at` (after its type byte). `Ok(None)`: incomplete.
/// The inner `None` is a malformed number.
#[allow(clippy::type_complexity)]
fn line_int(
    buf: &[u8],
    at: usize,
    too_big: &str,
) -> Result<Option<(Option<i64>, usize)>, ProtocolError> {
    let Some(cr) = find_cr(buf, at) else {
        if buf.len() - at > INLINE_MAX {
            return Err(ProtocolError(too_big.into()));
        }
        return Ok(None);
    };
    if cr + 1 >= buf.len() {
        return Ok(None);
    }
    Ok(Some((parse_i64(&buf[at + 1..cr]), cr + 2)))
}

fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&b| b == b'\r')
        .map(|p| p + from)
}

fn inline(buf: &[u8], args: &mut Vec<(usize, usize)>) -> Result<Option<Scanned>, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError(
                "Protocol error: too big inline request".into(),
            ));
        }
        return Ok(None);
    };
    let line_len = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let words = split_args(&buf[..line_len])
        .ok_or_else(|| ProtocolError("Protocol error: unbalanced quotes in request".into()))?;
    if words.is_empty() {
        return Ok(Some(Scanned::Empty { len: nl + 1 }));
    }
    let mut encoded = Vec::with_capacity(line_len + 16 * words.len());
    encoded.push(b'*');
    encoded.extend_from_slice(itoa::Buffer::new().format(words.len()).as_bytes());
    encoded.extend_from_slice(b"\r\n");
    for w in &words {
        encoded.push(b'$');
        encoded.extend_from_slice(itoa::Buffer::new().format(w.len()).as_bytes());
        encoded.extend_from_slice(b"\r\n");
        let start = encoded.len();
        encoded.extend_from_slice(w);
        args.push((start, encoded.len()));
        encoded.extend_from_slice(b"\r\n");
    }
    Ok(Some(Scanned::Inline {
        len: nl + 1,
        encoded,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(buf: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut args = Vec::new();
        while let Some(s) = scan(&buf[pos..], Limits::default(), &mut args)? {
            match s {
                Scanned::Multibulk { len } => {
                    let f = &buf[pos..pos + len];
                    out.push(args.iter().map(|&(a, b)| f[a..b].to_vec()).collect());
                    pos += len;
                }
                Scanned::Inline { len, encoded } => {
                    out.push(args.iter().map(|&(a, b)| encoded[a..b].to_vec()).collect());
                    pos += len;
                }
                Scanned::Empty { len } => pos += len,
            }
        }
        Ok(out)
    }

    #[test]
    fn frames_in_every_split() {
        let full = b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n*1\r\n$4\r\nPING\r\n";
        let mut args = Vec::new();
        for cut in 0..full.len() {
            let got = scan(&full[..cut], Limits::default(), &mut args).unwrap();
            if cut < 22 {
                assert_eq!(got, None, "cut {cut}");
            } else {
                assert_eq!(got, Some(Scanned::Multibulk { len: 22 }));
            }
        }
        let all = scan_all(full).unwrap();
        assert_eq!(
            all,
            vec![
                vec![b"GET".to_vec(), b"foo".to_vec()],
                vec![b"PING".to_vec()]
            ]
        );
    }

    #[test]
    fn inline_is_reencoded() {
        let mut args = Vec::new();
        let got = scan(b"set a \"b c\"\r\n", Limits::default(), &mut args).unwrap();
        let Some(Scanned::Inline { len, encoded }) = got else {
            panic!("inline expected");
        };
        assert_eq!(len, 13);
        assert_eq!(&encoded[..], b"*3\r\n$3\r\nset\r\n$1\r\na\r\n$3\r\nb c\r\n");
        assert_eq!(args.len(), 3);
        assert_eq!(
            scan_all(b"\r\n\n*0\r\nping\n").unwrap(),
            vec![vec![b"ping".to_vec()]]
        );
    }

    #[test]
    fn errors_match_redis() {
        let err = |s: &[u8]| scan_all(s).unwrap_err().0;
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
        assert_eq!(
            err(b"get \"a\n"),
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(&vec![b'a'; INLINE_MAX + 1]),
            "Protocol error: too big inline request"
        );
        let mut args = Vec::new();
        let limits = Limits {
            auth_required: true,
            ..Limits::default()
        };
        assert_eq!(
            scan(b"*11\r\n", limits, &mut args).unwrap_err().0,
            "Protocol error: unauthenticated multibulk length"
        );
        assert_eq!(
            scan(b"*1\r\n$16385\r\n", limits, &mut args).unwrap_err().0,
            "Protocol error: unauthenticated bulk length"
        );
        // A huge announced frame is only "incomplete", never an allocation.
        assert_eq!(
            scan(b"*2147483647\r\n$1\r\na\r\n", Limits::default(), &mut args).unwrap(),
            None
        );
    }

    #[test]
    fn pending_bulk_hint() {
        let buf = b"*2\r\n$3\r\nSET\r\n$100000\r\nabc";
        let mut sc = Scanner::default();
        let mut args = Vec::new();
        assert_eq!(sc.scan(buf, Limits::default(), &mut args).unwrap(), None);
        assert_eq!(sc.pending_bulk(buf.len()), Some(100000 + 2 - 3));
        let small = b"*1\r\n$4\r\nPI";
        let mut sc = Scanner::default();
        assert_eq!(sc.scan(small, Limits::default(), &mut args).unwrap(), None);
        assert_eq!(sc.pending_bulk(small.len()), None);
    }

    /// Fed one more byte at a time, a resuming scanner finds what a fresh scan of the
    /// whole input finds, errors included.
    #[test]
    fn resuming_matches_a_fresh_scan() {
        let inputs: &[&[u8]] = &[
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n0123456789\r\n*1\r\n$4\r\nPING\r\n",
            b"*2\r\n$0\r\n\r\n$2\r\nab\r\n*0\r\nget x\r\n*-1\r\n",
            b"*2\r\n$3\r\nGET\r\nfoo\r\n",
            b"*2\r\n$3\r\nGET\r\n$x\r\n",
        ];
        for input in inputs {
            let fresh = scan_all(input);
            let mut resumed: Vec<Vec<Vec<u8>>> = Vec::new();
            let mut err = None;
            let mut sc = Scanner::default();
            let mut args = Vec::new();
            let mut start = 0;
            let mut end = 0;
            while end <= input.len() && err.is_none() {
                match sc.scan(&input[start..end], Limits::default(), &mut args) {
                    Ok(None) => end += 1,
                    Ok(Some(Scanned::Multibulk { len })) => {
                        let f = &input[start..start + len];
                        resumed.push(args.iter().map(|&(a, b)| f[a..b].to_vec()).collect());
                        start += len;
                    }
                    Ok(Some(Scanned::Inline { len, encoded })) => {
                        resumed.push(args.iter().map(|&(a, b)| encoded[a..b].to_vec()).collect());
                        start += len;
                    }
                    Ok(Some(Scanned::Empty { len })) => start += len,
                    Err(e) => err = Some(e),
                }
            }
            match (fresh, err) {
                (Ok(all), None) => assert_eq!(all, resumed, "{input:?}"),
                (Err(a), Some(b)) => assert_eq!(a.0, b.0, "{input:?}"),
                (a, b) => panic!("{input:?}: fresh {a:?}, resumed error {b:?}"),
            }
        }
    }

    /// A frame of many arguments arriving in small reads, resumed over a thousand times,
    /// comes out whole, each read adding just the arguments it completed.
    #[test]
    fn many_arguments_in_small_reads() {
        let n = 20_000;
        let mut frame = format!("*{n}\r\n").into_bytes();
        for i in 0..n {
            let a = format!("{i:08}");
            frame.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        let mut sc = Scanner::default();
        let mut args = Vec::new();
        let mut calls = 0;
        let mut got = None;
        for end in (64..frame.len()).step_by(64).chain([frame.len()]) {
            calls += 1;
            let before = args.len();
            match sc
                .scan(&frame[..end], Limits::default(), &mut args)
                .unwrap()
            {
                None => assert!(args.len() - before <= 64 / 14 + 1, "{}", args.len()),
                Some(s) => {
                    got = Some(s);
                    break;
                }
            }
        }
        assert_eq!(got, Some(Scanned::Multibulk { len: frame.len() }));
        assert_eq!(args.len(), n);
        let last = args[n - 1];
        assert_eq!(&frame[last.0..last.1], format!("{:08}", n - 1).as_bytes());
        assert!(calls > 1000);
    }
}
