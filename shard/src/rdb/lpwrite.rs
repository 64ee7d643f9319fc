//! Building a listpack the way Redis 7.0's `lpAppend` / `lpAppendInteger` do: strings
//! that are canonical 64-bit decimals become integers, each element gets the smallest
//! encoding that holds it, and the header carries the total size and element count.

use super::listpack::backlen;

pub struct Listpack {
    buf: Vec<u8>,
    count: usize,
}

impl Listpack {
    pub fn new() -> Listpack {
        // Total size (u32) and element count (u16), filled in by `finish`.
        Listpack {
            buf: vec![0; 6],
            count: 0,
        }
    }

    fn element(&mut self, start: usize) {
        let size = self.buf.len() - start;
        self.buf.extend_from_slice(&backlen(size));
        self.count += 1;
    }

    pub fn int(&mut self, v: i64) {
        let start = self.buf.len();
        match v {
            0..=127 => self.buf.push(v as u8),
            -4096..=4095 => {
                let u = (v as u16) & 0x1fff;
                self.buf.push(0xc0 | (u >> 8) as u8);
                self.buf.push(u as u8);
            }
            -32768..=32767 => {
                self.buf.push(0xf1);
                self.buf.extend_from_slice(&(v as i16).to_le_bytes());
            }
            -8_388_608..=8_388_607 => {
                self.buf.push(0xf2);
                self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            -2_147_483_648..=2_147_483_647 => {
                self.buf.push(0xf3);
                self.buf.extend_from_slice(&(v as i32).to_le_bytes());
            }
            _ => {
                self.buf.push(0xf4);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.element(start);
    }

    pub fn string(&mut self, s: &[u8]) {
        if s.len() < 21 {
            if let Some(v) = shoal_proto::number::parse_i64(s) {
                if itoa::Buffer::new().format(v).as_bytes() == s {
                    self.int(v);
                    return;
                }
            }
        }
        let start = self.buf.len();
        let n = s.len();
        if n < 64 {
            self.buf.push(0x80 | n as u8);
        } else if n < 4096 {
            self.buf.push(0xe0 | (n >> 8) as u8);
            self.buf.push(n as u8);
        } else {
            self.buf.push(0xf0);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.element(start);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xff);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_reader() {
        let mut lp = Listpack::new();
        let ints = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -32768,
            40000,
            -8_388_608,
            1 << 31,
            i64::MIN,
            i64::MAX,
        ];
        for v in ints {
            lp.int(v);
        }
        lp.string(b"007");
        lp.string(b"-0");
        lp.string(b"12");
        lp.string(&[b'x'; 100]);
        lp.string(&[b'y'; 5000]);
        let got = super::super::listpack::listpack(&lp.finish()).unwrap();
        let mut want: Vec<Vec<u8>> = ints.iter().map(|v| v.to_string().into_bytes()).collect();
        want.extend([
            b"007".to_vec(),
            b"-0".to_vec(),
            b"12".to_vec(),
            vec![b'x'; 100],
            vec![b'y'; 5000],
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn small_values_take_redis_sizes() {
        let mut lp = Listpack::new();
        lp.int(5);
        lp.string(b"abc");
        // Header 6, "5" 1+1, "abc" 4+1, terminator 1.
        assert_eq!(lp.finish().len(), 14);
    }
}
