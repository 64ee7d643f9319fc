//! LZF, the compression RDB uses for long strings.
//!
//! A stream is a sequence of runs. A control byte below 32 starts a literal run of
//! `ctrl + 1` bytes. Otherwise its top three bits are a match length (7 means "plus the
//! next byte"), and its low five bits with the following byte are a distance back into
//! the output; a match copies `length + 2` bytes from there and may overlap itself.

const MAX_LITERAL: usize = 32;
const MAX_OFFSET: usize = 1 << 13;
const MAX_MATCH: usize = 7 + 255 + 2;
const HASH_LOG: u32 = 14;

/// Decompresses `input`, which must expand to exactly `len` bytes. Memory grows with the
/// output actually produced, so a lying length cannot reserve more than a small buffer.
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(len.min(1 << 20));
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < MAX_LITERAL {
            let run = input.get(ip..ip + ctrl + 1)?;
            if out.len() + run.len() > len {
                return None;
            }
            out.extend_from_slice(run);
            ip += ctrl + 1;
            continue;
        }
        let mut n = ctrl >> 5;
        if n == 7 {
            n += usize::from(*input.get(ip)?);
            ip += 1;
        }
        let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(ip)?) + 1;
        ip += 1;
        n += 2;
        if back > out.len() || out.len() + n > len {
            return None;
        }
        let from = out.len() - back;
        for i in 0..n {
            let b = out[from + i];
            out.push(b);
        }
    }
    (out.len() == len).then_some(out)
}

fn hash(b: &[u8]) -> usize {
    let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
    (v.wrapping_mul(2_654_435_761) >> (32 - HASH_LOG)) as usize
}

/// Compresses `input`, or None when the result would exceed `max_out` bytes (RDB stores
/// such strings as they are).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let mut table = vec![0usize; 1 << HASH_LOG];
    let mut out = Vec::with_capacity(max_out.min(input.len()));
    // Index of the pending literal run's control byte, and its length so far.
    let mut ctrl_at = out.len();
    out.push(0);
    let mut lit = 0usize;
    let mut ip = 0;
    while ip < input.len() {
        let mut matched = None;
        if ip + 3 <= input.len() {
            let h = hash(&input[ip..ip + 3]);
            let cand = table[h];
            table[h] = ip + 1;
            if cand > 0 {
                let r = cand - 1;
                if ip - r <= MAX_OFFSET && input[r..r + 3] == input[ip..ip + 3] {
                    let mut ml = 3;
                    while ml < MAX_MATCH && ip + ml < input.len() && input[r + ml] == input[ip + ml]
                    {
                        ml += 1;
                    }
                    matched = Some((ip - r - 1, ml));
                }
            }
        }
        match matched {
            Some((off, ml)) => {
                if lit > 0 {
                    out[ctrl_at] = (lit - 1) as u8;
                } else {
                    out.pop();
                }
                let l = ml - 2;
                if l < 7 {
                    out.push(((l << 5) | (off >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (off >> 8)) as u8);
                    out.push((l - 7) as u8);
                }
                out.push((off & 0xff) as u8);
                ctrl_at = out.len();
                out.push(0);
                lit = 0;
                ip += ml;
            }
            None => {
                out.push(input[ip]);
                lit += 1;
                ip += 1;
                if lit == MAX_LITERAL {
                    out[ctrl_at] = (lit - 1) as u8;
                    ctrl_at = out.len();
                    out.push(0);
                    lit = 0;
                }
            }
        }
        if out.len() > max_out + 1 {
            return None;
        }
    }
    if lit > 0 {
        out[ctrl_at] = (lit - 1) as u8;
    } else {
        out.pop();
    }
    (out.len() <= max_out && !out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        let c = compress(data, data.len() + data.len() / 16 + 64).expect("compressible");
        assert_eq!(decompress(&c, data.len()).as_deref(), Some(data));
    }

    #[test]
    fn round_trips() {
        round_trip(b"a");
        round_trip(&[b'x'; 1000]);
        round_trip(b"abcabcabcabcabcabcabcabc hello hello hello world");
        let mut noise = Vec::new();
        let mut s = 12345u32;
        for i in 0..20000u32 {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            noise.push(if i % 3 == 0 {
                (s >> 16) as u8
            } else {
                b'a' + (i % 7) as u8
            });
        }
        round_trip(&noise);
    }

    #[test]
    fn repetitive_input_shrinks() {
        let c = compress(&[b'z'; 5000], 5000).expect("compressible");
        assert!(c.len() < 100, "{}", c.len());
    }

    #[test]
    fn rejects_bad_streams() {
        // A back reference before the start of the output.
        assert_eq!(decompress(&[0x20, 0x05], 3), None);
        // A literal run cut short.
        assert_eq!(decompress(&[0x05, b'a'], 6), None);
        // The wrong declared length.
        assert_eq!(decompress(&[0x00, b'a'], 2), None);
        assert_eq!(decompress(&[0x00, b'a'], 1).as_deref(), Some(&b"a"[..]));
    }
}
