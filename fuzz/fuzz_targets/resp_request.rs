//! The request parser on arbitrary bytes: it must never panic, must give the same requests
//! whether the bytes arrive at once or in pieces, and what it parses must survive a round
//! trip through the multibulk encoding. The proxy's frame scanner must split the same
//! bytes into the same requests, or fail with the same error: the proxy and the shard must
//! never disagree on where a request ends.
#![no_main]

use bytes::{BufMut, Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use shoal_proto::frame::{self, Limits, Scanned};
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

/// The requests the proxy's scanner finds in `input`, as the shard's parser reports them.
fn scan_all(input: &[u8], auth_required: bool, max_bulk_len: usize) -> Parsed {
    let limits = Limits {
        max_bulk_len,
        auth_required,
    };
    let mut out = Vec::new();
    let mut pos = 0;
    let mut ranges = Vec::new();
    loop {
        match frame::scan(&input[pos..], limits, &mut ranges) {
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
            Ok(Some(Scanned::Empty { len })) => pos += len,
            Ok(Some(Scanned::Multibulk { len })) => {
                let base = pos;
                out.push(
                    ranges
                        .iter()
                        .map(|&(a, b)| Bytes::copy_from_slice(&input[base + a..base + b]))
                        .collect(),
                );
                pos += len;
            }
            Ok(Some(Scanned::Inline { len, encoded })) => {
                if !ranges.is_empty() {
                    out.push(
                        ranges
                            .iter()
                            .map(|&(a, b)| Bytes::copy_from_slice(&encoded[a..b]))
                            .collect(),
                    );
                }
                pos += len;
            }
        }
        assert!(pos <= input.len());
    }
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
    assert_eq!(
        scan_all(input, auth_required, max_bulk_len),
        whole,
        "proxy vs shard framing"
    );
    // Whatever parsed re-encodes and parses back to itself (without the limits, which
    // inline requests are not subject to).
    let again = parse(&encode(&whole.0), 0, false, usize::MAX);
    assert_eq!(again.1, None);
    assert_eq!(again.0, whole.0);
});
