//! The proxy's upstream reply scanner (`reply_len`) on arbitrary bytes: it must never
//! panic, must agree with a straightforward recursive parser on where the first reply
//! ends, and a reply it finds must need all of its bytes (no prefix is complete).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_proto::reply_scan::reply_len;

/// Where the reply at the front of `b` ends: `Ok(None)` when incomplete, `Err` when
/// malformed. Written for this check, recursion and all.
fn reference(b: &[u8], depth: usize) -> Result<Option<usize>, ()> {
    if depth > 10_000 {
        return Err(());
    }
    let Some(&kind) = b.first() else {
        return Ok(None);
    };
    let Some(cr) = b[1..].iter().position(|&c| c == b'\r').map(|p| p + 1) else {
        return Ok(None);
    };
    if cr + 1 >= b.len() {
        return Ok(None);
    }
    let head = &b[1..cr];
    let mut p = cr + 2;
    let int = || -> Result<i64, ()> {
        let (neg, digits) = match head.split_first() {
            Some((b'-', d)) => (true, d),
            _ => (false, head),
        };
        if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(());
        }
        let n: i64 = std::str::from_utf8(digits)
            .map_err(|_| ())?
            .parse()
            .map_err(|_| ())?;
        Ok(if neg { -n } else { n })
    };
    let items = |n: u64, p: &mut usize| -> Result<Option<()>, ()> {
        for _ in 0..n {
            match reference(&b[*p..], depth + 1)? {
                Some(len) => *p += len,
                None => return Ok(None),
            }
        }
        Ok(Some(()))
    };
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some(p)),
        b'$' | b'=' | b'!' => {
            let n = int()?;
            if n < 0 {
                return Ok(Some(p));
            }
            let end = p + n as usize + 2;
            Ok((b.len() >= end).then_some(end))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = int()?.max(0) as u64;
            let n = if matches!(kind, b'%' | b'|') {
                2 * n
            } else {
                n
            };
            if items(n, &mut p)?.is_none() {
                return Ok(None);
            }
            if kind == b'|' {
                // An attribute map is followed by the value it describes.
                return Ok(reference(&b[p..], depth + 1)?.map(|len| p + len));
            }
            Ok(Some(p))
        }
        _ => Err(()),
    }
}

fuzz_target!(|data: &[u8]| {
    let got = reply_len(data);
    match got {
        Ok(Some(len)) => {
            assert!(len <= data.len());
            assert_eq!(reply_len(&data[..len]), Ok(Some(len)), "the frame alone");
            for cut in [len - 1, len / 2] {
                assert_eq!(reply_len(&data[..cut]), Ok(None), "a prefix of {cut} bytes");
            }
            assert_eq!(reference(data, 0), Ok(Some(len)));
        }
        Ok(None) => assert!(
            !matches!(reference(data, 0), Ok(Some(_))),
            "the reference found a whole reply"
        ),
        Err(_) => {}
    }
});
