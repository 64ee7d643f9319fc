//! Stream entry IDs (`<ms>-<seq>`) and the ways commands spell them.

use std::fmt;

/// An entry ID. Field order makes the derived ordering the stream's order: by
/// milliseconds, then by sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

impl StreamId {
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        *self == StreamId::ZERO
    }

    /// The next ID, or None past the last possible one.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID, or None before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// The ID XADD generates at `now_ms` after `last`: time never goes backwards, and
    /// within one millisecond the sequence counts up.
    pub fn next_after(last: StreamId, now_ms: u64) -> Option<StreamId> {
        if now_ms > last.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            last.incr()
        }
    }

    pub fn to_bytes(self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// An unsigned decimal as Redis's `string2ull` reads it: digits only, no sign, no
/// overflow.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// How an ID argument was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub id: StreamId,
    /// False for `<ms>-*` (XADD only), whose sequence the stream picks.
    pub seq_given: bool,
}

/// Parses an ID argument. `missing_seq` fills in a bare `<ms>`; `strict` refuses the
/// `-` and `+` shorthands; `allow_seq_star` accepts `<ms>-*`.
pub fn parse(arg: &[u8], missing_seq: u64, strict: bool, allow_seq_star: bool) -> Option<Parsed> {
    // Redis copies into a 128-byte buffer first.
    if arg.len() > 127 {
        return None;
    }
    let given = |id| {
        Some(Parsed {
            id,
            seq_given: true,
        })
    };
    match arg {
        b"-" if !strict => return given(StreamId::ZERO),
        b"+" if !strict => return given(StreamId::MAX),
        b"-" | b"+" => return None,
        _ => {}
    }
    // Like Redis's `strchr` on a C string, the text ends at a NUL byte.
    let arg = arg.split(|&c| c == 0).next().unwrap_or(arg);
    match arg.iter().position(|&c| c == b'-') {
        None => given(StreamId::new(parse_u64(arg)?, missing_seq)),
        Some(dash) => {
            let ms = parse_u64(&arg[..dash])?;
            let rest = &arg[dash + 1..];
            if allow_seq_star && rest == b"*" {
                return Some(Parsed {
                    id: StreamId::new(ms, 0),
                    seq_given: false,
                });
            }
            given(StreamId::new(ms, parse_u64(rest)?))
        }
    }
}

/// A range bound: `-`, `+`, an ID, or `(ID` for an exclusive bound.
pub fn parse_interval(arg: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
    if arg.len() > 1 && arg[0] == b'(' {
        parse(&arg[1..], missing_seq, true, false).map(|p| (p.id, true))
    } else {
        parse(arg, missing_seq, false, false).map(|p| (p.id, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Option<StreamId> {
        parse(s.as_bytes(), 0, false, false).map(|p| p.id)
    }

    #[test]
    fn parses_like_redis() {
        assert_eq!(id("5"), Some(StreamId::new(5, 0)));
        assert_eq!(id("5-7"), Some(StreamId::new(5, 7)));
        assert_eq!(id("-"), Some(StreamId::ZERO));
        assert_eq!(id("+"), Some(StreamId::MAX));
        assert_eq!(
            id("18446744073709551615-18446744073709551615"),
            Some(StreamId::MAX)
        );
        assert_eq!(id("18446744073709551616-0"), None);
        assert_eq!(id("-5"), None);
        assert_eq!(id("5-"), None);
        assert_eq!(id("a-1"), None);
        assert_eq!(id("1-2-3"), None);
        assert_eq!(parse(b"+", 0, true, false), None);
        assert_eq!(
            parse(b"7", u64::MAX, false, false).map(|p| p.id),
            Some(StreamId::new(7, u64::MAX))
        );
        let star = parse(b"7-*", 0, true, true);
        assert_eq!(star.map(|p| p.seq_given), Some(false));
        assert_eq!(parse(b"7-*", 0, true, false), None);
        assert_eq!(
            parse_interval(b"(1-0", 0),
            Some((StreamId::new(1, 0), true))
        );
        assert_eq!(parse_interval(b"(-", 0), None);
    }

    #[test]
    fn ordering_and_steps() {
        assert!(StreamId::new(1, 5) < StreamId::new(2, 0));
        assert!(StreamId::new(2, 0) < StreamId::new(2, 1));
        assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::ZERO.decr(), None);
        assert_eq!(StreamId::new(2, 0).decr(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(
            StreamId::next_after(StreamId::new(10, 3), 5),
            Some(StreamId::new(10, 4))
        );
        assert_eq!(
            StreamId::next_after(StreamId::new(10, 3), 11),
            Some(StreamId::new(11, 0))
        );
        assert_eq!(StreamId::new(3, 4).to_string(), "3-4");
    }
}
