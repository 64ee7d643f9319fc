//! Finds where one RESP2/RESP3 reply ends, without decoding it: the proxy splits a read
//! of many replies into per-client frames by length alone and forwards their bytes.

/// A byte stream that is not RESP: the upstream connection must be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply at byte {at}")]
pub struct ReplyError {
    pub at: usize,
}

/// Length of the complete reply at the front of `buf`, `Ok(None)` when more bytes are
/// needed. Aggregates are walked with a counter of values still owed rather than
/// recursion, so nesting depth costs nothing.
pub fn reply_len(buf: &[u8]) -> Result<Option<usize>, ReplyError> {
    let mut pos = 0usize;
    // Values still to read before the frame is complete.
    let mut owed: u64 = 1;
    while owed > 0 {
        let Some(&kind) = buf.get(pos) else {
            return Ok(None);
        };
        let Some(cr) = find_crlf(buf, pos + 1) else {
            return Ok(None);
        };
        let line = &buf[pos + 1..cr];
        let next = cr + 2;
        let bad = ReplyError { at: pos };
        match kind {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
                owed -= 1;
                pos = next;
            }
            b'$' | b'=' | b'!' => {
                let n = int(line).ok_or(bad)?;
                owed -= 1;
                if n < 0 {
                    pos = next;
                } else {
                    let end = next
                        .checked_add(n as usize)
                        .and_then(|e| e.checked_add(2))
                        .ok_or(bad)?;
                    if buf.len() < end {
                        return Ok(None);
                    }
                    pos = end;
                }
            }
            b'*' | b'~' | b'>' => {
                let n = int(line).ok_or(bad)?;
                owed -= 1;
                if n > 0 {
                    // Saturating: a count no stream could satisfy must keep the frame
                    // incomplete, never wrap round to a short one.
                    owed = owed.saturating_add(n as u64);
                }
                pos = next;
            }
            b'%' => {
                let n = int(line).ok_or(bad)?;
                owed -= 1;
                if n > 0 {
                    owed = owed.saturating_add(2 * n as u64);
                }
                pos = next;
            }
            // An attribute map precedes the value it describes: its pairs are owed on top
            // of that value, which is still owed.
            b'|' => {
                let n = int(line).ok_or(bad)?;
                if n > 0 {
                    owed = owed.saturating_add(2 * n as u64);
                }
                pos = next;
            }
            _ => return Err(bad),
        }
    }
    Ok(Some(pos))
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    let cr = rest.iter().position(|&b| b == b'\r')? + from;
    (cr + 1 < buf.len()).then_some(cr)
}

fn int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', d)) => (true, d),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Some(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_nested_counts_stay_incomplete() {
        // Ten maps of 10^18 - 1 pairs each owe more values than a u64 counts.
        let frame = b"%999999999999999999\r\n".repeat(10);
        assert_eq!(reply_len(&frame), Ok(None));
        let arrays = b"*999999999999999999\r\n".repeat(20);
        assert_eq!(reply_len(&arrays), Ok(None));
    }

    #[test]
    fn every_type_and_every_cut() {
        let frames: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR x\r\n",
            b":12\r\n",
            b"$-1\r\n",
            b"$3\r\nfoo\r\n",
            b"$0\r\n\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
            b"%1\r\n+k\r\n~2\r\n,1.5\r\n#t\r\n",
            b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n",
            b"|1\r\n+a\r\n+b\r\n:5\r\n",
            b"=8\r\ntxt:abcd\r\n",
            b"_\r\n",
            b"(123\r\n",
            b"!3\r\nerr\r\n",
        ];
        for f in frames {
            let mut buf = f.to_vec();
            buf.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(
                reply_len(&buf),
                Ok(Some(f.len())),
                "{:?}",
                String::from_utf8_lossy(f)
            );
            for cut in 0..f.len() {
                assert_eq!(reply_len(&f[..cut]), Ok(None), "cut {cut} of {f:?}");
            }
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(reply_len(b"?\r\n"), Err(ReplyError { at: 0 }));
        assert_eq!(reply_len(b"*1\r\n$x\r\n"), Err(ReplyError { at: 4 }));
        assert_eq!(
            reply_len(b"$99999999999999999999\r\n"),
            Err(ReplyError { at: 0 })
        );
    }
}
