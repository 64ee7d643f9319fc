//! The request parser on arbitrary bytes: it must never panic, must give the same requests
//! whether the bytes arrive at once or in pieces, and what it parses must survive a round
//! trip through the multibulk encoding.
#![no_main]

use bytes::{BufMut, Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use shoal_proto::request::{ProtocolError, INLINE_MAX};
use shoal_proto::RequestParser;

type Parsed = (Vec<Vec<Bytes>>, Option<ProtocolError>);

/// Feeds `input` in pieces of `step` bytes (all at once when 0).
fn parse(input: &[u8], step: usize, auth_required: bool, max_bulk_len: usize) -> Parsed {
    let mut p = RequestParser::new();
    p.auth_required = auth_required;
    p.max_bulk_len = max_bulk_len;
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let step = if step == 0 { input.len().max(1) } else { step };
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match p.next(&mut buf) {
                Ok(Some(req)) => {
                    assert!(!req.is_empty(), "an empty request was returned");
                    out.push(req)
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn encode(reqs: &[Vec<Bytes>]) -> BytesMut {
    let mut b = BytesMut::new();
    for r in reqs {
        b.put_slice(format!("*{}\r\n", r.len()).as_bytes());
        for a in r {
            b.put_slice(format!("${}\r\n", a.len()).as_bytes());
            b.put_slice(a);
            b.put_slice(b"\r\n");
        }
    }
    b
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    let auth_required = ctl & 0x80 != 0;
    let step = (ctl & 0x7f) as usize;
    // Small enough that the fuzzer reaches the limit.
    let max_bulk_len = 1024;
    let whole = parse(input, 0, auth_required, max_bulk_len);
    // An inline line longer than INLINE_MAX is accepted when its newline is already
    // buffered (as in Redis) and refused otherwise, so only short inputs must agree.
    if input.len() < INLINE_MAX {
        let pieces = parse(input, step, auth_required, max_bulk_len);
        assert_eq!(whole, pieces, "split every {step} bytes");
    }
    // Whatever parsed re-encodes and parses back to itself (without the limits, which
    // inline requests are not subject to).
    let again = parse(&encode(&whole.0), 0, false, usize::MAX);
    assert_eq!(again.1, None);
    assert_eq!(again.0, whole.0);
});
