//! Readers for the compact blobs Redis embeds in RDB values: listpacks and intsets (7.0),
//! and ziplists (what Redis 6 and older wrote, which 7.0 still loads). All are validated
//! in full, since a RESTORE payload is client input.

/// An entry's bytes; listpack integers come back in decimal, as Redis returns them.
pub type Entry = Vec<u8>;

/// The back-length field that follows an entry whose encoding and data take `len` bytes:
/// 7 bits per byte, most significant first, every byte but the first flagged with 0x80,
/// so it can be read backwards from the next entry.
pub(super) fn backlen(len: usize) -> Vec<u8> {
    let bytes = match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    };
    (0..bytes)
        .map(|i| {
            let digit = ((len >> (7 * (bytes - 1 - i))) & 0x7f) as u8;
            if i == 0 {
                digit
            } else {
                digit | 0x80
            }
        })
        .collect()
}

fn int_entry(v: i64) -> Entry {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

fn le_signed(b: &[u8]) -> i64 {
    let mut v: u64 = 0;
    for (i, &x) in b.iter().enumerate() {
        v |= u64::from(x) << (8 * i);
    }
    let bits = 8 * b.len() as u32;
    if bits < 64 {
        let shift = 64 - bits;
        ((v << shift) as i64) >> shift
    } else {
        v as i64
    }
}

/// Decodes one entry at the start of `b`: its value and the bytes of encoding + data.
fn entry(b: &[u8]) -> Option<(Entry, usize)> {
    let first = *b.first()?;
    let (value, size) = if first & 0x80 == 0 {
        (int_entry(i64::from(first & 0x7f)), 1)
    } else if first & 0xc0 == 0x80 {
        let n = usize::from(first & 0x3f);
        (b.get(1..1 + n)?.to_vec(), 1 + n)
    } else if first & 0xe0 == 0xc0 {
        let raw = (u16::from(first & 0x1f) << 8) | u16::from(*b.get(1)?);
        // 13-bit two's complement.
        let v = if raw >= 1 << 12 {
            i64::from(raw) - (1 << 13)
        } else {
            i64::from(raw)
        };
        (int_entry(v), 2)
    } else if first & 0xf0 == 0xe0 {
        let n = (usize::from(first & 0x0f) << 8) | usize::from(*b.get(1)?);
        (b.get(2..2 + n)?.to_vec(), 2 + n)
    } else {
        match first {
            0xf0 => {
                let n = u32::from_le_bytes(b.get(1..5)?.try_into().ok()?) as usize;
                let end = 5usize.checked_add(n)?;
                (b.get(5..end)?.to_vec(), end)
            }
            0xf1 => (int_entry(le_signed(b.get(1..3)?)), 3),
            0xf2 => (int_entry(le_signed(b.get(1..4)?)), 4),
            0xf3 => (int_entry(le_signed(b.get(1..5)?)), 5),
            0xf4 => (int_entry(le_signed(b.get(1..9)?)), 9),
            _ => return None,
        }
    };
    Some((value, size))
}

/// Every entry of a listpack, or None when it is malformed.
pub fn listpack(blob: &[u8]) -> Option<Vec<Entry>> {
    let total = u32::from_le_bytes(blob.get(0..4)?.try_into().ok()?) as usize;
    let count = u16::from_le_bytes(blob.get(4..6)?.try_into().ok()?);
    if total != blob.len() || blob.len() < 7 || blob.last() != Some(&0xff) {
        return None;
    }
    let body = &blob[6..blob.len() - 1];
    // Every entry takes at least two bytes (encoding and back-length).
    let mut out = Vec::with_capacity(body.len() / 2);
    let mut pos = 0;
    while pos < body.len() {
        let (v, size) = entry(&body[pos..])?;
        let back = backlen(size);
        if body.get(pos + size..pos + size + back.len())? != back.as_slice() {
            return None;
        }
        pos += size + back.len();
        out.push(v);
    }
    // 65535 means "too many to count in the header".
    if count != u16::MAX && usize::from(count) != out.len() {
        return None;
    }
    Some(out)
}

/// Every entry of a ziplist, or None when it is malformed. Each entry records the size of
/// the one before it, which is checked, as are the header's size, tail offset and count.
pub fn ziplist(blob: &[u8]) -> Option<Vec<Entry>> {
    let total = u32::from_le_bytes(blob.get(0..4)?.try_into().ok()?) as usize;
    let tail = u32::from_le_bytes(blob.get(4..8)?.try_into().ok()?) as usize;
    let count = u16::from_le_bytes(blob.get(8..10)?.try_into().ok()?);
    if total != blob.len() || blob.len() < 11 || blob.last() != Some(&0xff) {
        return None;
    }
    let end = blob.len() - 1;
    let mut out = Vec::with_capacity((end - 10) / 2);
    let (mut pos, mut prev, mut last) = (10, 0usize, 10);
    while pos < end {
        let b = &blob[pos..end];
        let (prevlen, hdr) = match *b.first()? {
            0xfe => (
                u32::from_le_bytes(b.get(1..5)?.try_into().ok()?) as usize,
                5,
            ),
            0xff => return None,
            n => (usize::from(n), 1),
        };
        if prevlen != prev {
            return None;
        }
        let e = b.get(hdr..)?;
        let first = *e.first()?;
        let (value, size) = match first >> 6 {
            0 => {
                let n = usize::from(first & 0x3f);
                (e.get(1..1 + n)?.to_vec(), 1 + n)
            }
            1 => {
                let n = (usize::from(first & 0x3f) << 8) | usize::from(*e.get(1)?);
                (e.get(2..2 + n)?.to_vec(), 2 + n)
            }
            2 if first == 0x80 => {
                let n = u32::from_be_bytes(e.get(1..5)?.try_into().ok()?) as usize;
                (e.get(5..5usize.checked_add(n)?)?.to_vec(), 5 + n)
            }
            2 => return None,
            _ => match first {
                0xc0 => (int_entry(le_signed(e.get(1..3)?)), 3),
                0xd0 => (int_entry(le_signed(e.get(1..5)?)), 5),
                0xe0 => (int_entry(le_signed(e.get(1..9)?)), 9),
                0xf0 => (int_entry(le_signed(e.get(1..4)?)), 4),
                0xfe => (int_entry(le_signed(e.get(1..2)?)), 2),
                0xf1..=0xfd => (int_entry(i64::from(first & 0x0f) - 1), 1),
                _ => return None,
            },
        };
        last = pos;
        prev = hdr + size;
        pos += prev;
        out.push(value);
    }
    let tail_ok = if out.is_empty() {
        tail == 10
    } else {
        tail == last
    };
    let count_ok = count == u16::MAX || usize::from(count) == out.len();
    (pos == end && tail_ok && count_ok).then_some(out)
}

/// The field/value pairs of a zipmap (Redis 2.4 and older hashes), flattened, or None
/// when it is malformed.
pub fn zipmap(blob: &[u8]) -> Option<Vec<Entry>> {
    fn len(b: &[u8], pos: &mut usize) -> Option<usize> {
        let first = *b.get(*pos)?;
        *pos += 1;
        match first {
            0..=253 => Some(usize::from(first)),
            254 => {
                let n = u32::from_le_bytes(b.get(*pos..*pos + 4)?.try_into().ok()?);
                *pos += 4;
                Some(n as usize)
            }
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(blob.len() / 2);
    let mut pos = 1;
    while *blob.get(pos)? != 0xff {
        let n = len(blob, &mut pos)?;
        out.push(blob.get(pos..pos.checked_add(n)?)?.to_vec());
        pos += n;
        let n = len(blob, &mut pos)?;
        let free = usize::from(*blob.get(pos)?);
        pos += 1;
        out.push(blob.get(pos..pos.checked_add(n)?)?.to_vec());
        pos += n + free;
    }
    (pos + 1 == blob.len()).then_some(out)
}

/// The members of an intset, which must be strictly ascending.
pub fn intset(blob: &[u8]) -> Option<Vec<i64>> {
    let width = u32::from_le_bytes(blob.get(0..4)?.try_into().ok()?) as usize;
    let len = u32::from_le_bytes(blob.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || len.checked_mul(width)?.checked_add(8)? != blob.len() {
        return None;
    }
    let out: Vec<i64> = blob[8..].chunks_exact(width).map(le_signed).collect();
    out.windows(2).all(|w| w[0] < w[1]).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlens_encode_like_redis() {
        assert_eq!(backlen(5), vec![5]);
        assert_eq!(backlen(500), vec![3, 0x80 | 116]);
        assert_eq!(backlen(16384), vec![1, 0x80, 0x80]);
        assert_eq!(backlen(16383), vec![0, 0xff, 0xff]);
    }

    fn pack(entries: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        for e in entries {
            assert!(e.len() < 64);
            body.push(0x80 | e.len() as u8);
            body.extend_from_slice(e);
            body.push(e.len() as u8 + 1);
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&((body.len() + 7) as u32).to_le_bytes());
        blob.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        blob.extend_from_slice(&body);
        blob.push(0xff);
        blob
    }

    #[test]
    fn reads_strings_and_integers() {
        let mut blob = pack(&[b"ab"]);
        // Insert a 7-bit uint (5), a 13-bit int (-2) and an int16 (1000) before the end.
        let extra = [0x05, 0x01, 0xdf, 0xfe, 0x02, 0xf1, 0xe8, 0x03, 0x03];
        blob.pop();
        blob.extend_from_slice(&extra);
        blob.push(0xff);
        let total = blob.len() as u32;
        blob[0..4].copy_from_slice(&total.to_le_bytes());
        blob[4..6].copy_from_slice(&4u16.to_le_bytes());
        let got = listpack(&blob).unwrap();
        let want: Vec<&[u8]> = vec![b"ab", b"5", b"-2", b"1000"];
        assert_eq!(got, want);
    }

    #[test]
    fn rejects_malformed_listpacks() {
        let good = pack(&[b"x", b"yz"]);
        assert!(listpack(&good).is_some());
        let mut short = good.clone();
        short.truncate(good.len() - 2);
        assert!(listpack(&short).is_none());
        let mut miscount = good.clone();
        miscount[4] = 3;
        assert!(listpack(&miscount).is_none());
        let mut huge = good;
        huge[6] = 0xf0;
        assert!(listpack(&huge).is_none());
    }

    #[test]
    fn reads_ziplists() {
        // "ab", the immediate 5, an int16 of -300.
        let mut body = vec![0x00, 0x02, b'a', b'b'];
        body.extend_from_slice(&[0x04, 0xf6]);
        body.extend_from_slice(&[0x02, 0xc0]);
        body.extend_from_slice(&(-300i16).to_le_bytes());
        let mut blob = Vec::new();
        blob.extend_from_slice(&((body.len() + 11) as u32).to_le_bytes());
        blob.extend_from_slice(&16u32.to_le_bytes());
        blob.extend_from_slice(&3u16.to_le_bytes());
        blob.extend_from_slice(&body);
        blob.push(0xff);
        let want: Vec<&[u8]> = vec![b"ab", b"5", b"-300"];
        assert_eq!(ziplist(&blob).unwrap(), want);
        let mut bad_prev = blob.clone();
        bad_prev[14] = 3;
        assert!(ziplist(&bad_prev).is_none());
        let mut bad_tail = blob;
        bad_tail[4] = 14;
        assert!(ziplist(&bad_tail).is_none());
    }

    #[test]
    fn headers_that_overlap_their_end_marker() {
        // Sizes that agree with the header but leave no room for the end marker after it.
        assert!(listpack(&[6, 0, 0, 0, 0, 0xff]).is_none());
        assert!(ziplist(&[10, 0, 0, 0, 10, 0, 0, 0, 0, 0xff]).is_none());
        assert_eq!(listpack(&[7, 0, 0, 0, 0, 0, 0xff]), Some(vec![]));
        assert_eq!(
            ziplist(&[11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xff]),
            Some(vec![])
        );
    }

    #[test]
    fn reads_zipmaps() {
        // {"f": "vv"} with one free byte after the value, then the end marker.
        let blob = [1, 1, b'f', 2, 1, b'v', b'v', 0, 0xff];
        let want: Vec<&[u8]> = vec![b"f", b"vv"];
        assert_eq!(zipmap(&blob).unwrap(), want);
        assert!(zipmap(&blob[..6]).is_none());
    }

    #[test]
    fn intsets_must_ascend() {
        let mut blob = vec![2, 0, 0, 0, 2, 0, 0, 0];
        blob.extend_from_slice(&(-3i16).to_le_bytes());
        blob.extend_from_slice(&7i16.to_le_bytes());
        assert_eq!(intset(&blob), Some(vec![-3, 7]));
        blob[8..10].copy_from_slice(&9i16.to_le_bytes());
        assert_eq!(intset(&blob), None);
        assert_eq!(intset(&blob[..11]), None);
    }
}
