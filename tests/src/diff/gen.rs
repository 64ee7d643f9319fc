//! [`Gen`]: seeded randomness shaped into Redis arguments.
//!
//! The key space is small on purpose, so that commands keep meeting the same keys
//! (and keys of other types). Most arguments are valid, but every helper also returns,
//! now and then, the invalid shapes that exercise error paths: bad integers and
//! floats, overflow, negative counts, huge ranges, empty strings and binary bytes.
//!
//! Times to live come from grids that never tie between two commands, so that
//! GT/LT comparisons and expiry cannot depend on which millisecond each server saw:
//! relative times are multiples of 100 000 s; absolute times sit halfway between
//! multiples of 100 000 s after the run started; past times are in 1970.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The key that data-type streams keep for values of other types (strings).
pub const OTHER_TYPE_KEY: &str = "str";

pub struct Gen {
    rng: SmallRng,
    keys: Vec<Vec<u8>>,
    /// Unix seconds when the run started: the base of absolute expiry times.
    now_s: i64,
}

/// Values that are valid integers in Redis's eyes, and values that are not.
const GOOD_INTS: &[&str] = &[
    "0", "1", "2", "3", "5", "7", "10", "-1", "-2", "-7", "42", "100", "-100", "1000",
];
const BAD_INTS: &[&str] = &[
    "",
    "abc",
    "1.5",
    " 1",
    "1 ",
    "+1",
    "0x10",
    "01",
    "-0",
    "1e3",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999",
    "\x001",
];
/// Floats whose sums stay exact in binary, so that formatting is the only thing
/// compared (both `long double` and `double` arithmetic give the same digits).
const NICE_FLOATS: &[&str] = &[
    "0", "1", "-1", "0.5", "-0.5", "1.25", "-2.75", "3", "10.5", "100", "-0.125", "2.5e2", "1e3",
    "5.0", "-0",
];
const BAD_FLOATS: &[&str] = &[
    "", "abc", "nan", "NaN", "1.5x", " 1.5", "1.5 ", "--1", "1e", "0x", ".", "1..2",
];
const WORDS: &[&str] = &[
    "a", "b", "c", "foo", "bar", "hello", "x", "zz", "A", "Ab", "aa", "a b",
];

impl Gen {
    pub fn new(seed: u64, keys: &[&str], now_s: i64) -> Gen {
        Gen {
            rng: SmallRng::seed_from_u64(seed),
            keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
            now_s,
        }
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.gen_range(0..n.max(1))
    }

    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.gen_range(lo..=hi)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    /// `word` in a random letter case: options are case-insensitive.
    pub fn opt(&mut self, word: &str) -> Vec<u8> {
        match self.below(4) {
            0 => word.to_ascii_lowercase().into_bytes(),
            1 => word
                .bytes()
                .enumerate()
                .map(|(i, b)| {
                    if i % 2 == 0 {
                        b.to_ascii_lowercase()
                    } else {
                        b
                    }
                })
                .collect(),
            _ => word.as_bytes().to_vec(),
        }
    }

    /// One of the run's keys; rarely the empty key, a binary one, or
    /// [`OTHER_TYPE_KEY`].
    pub fn key(&mut self) -> Vec<u8> {
        match self.below(60) {
            0 => Vec::new(),
            1 => b"k\x00\xff\r\n".to_vec(),
            2..=4 => self.pick(&self.keys.clone()),
            _ => {
                let own: Vec<Vec<u8>> = self
                    .keys
                    .iter()
                    .filter(|k| *k != OTHER_TYPE_KEY.as_bytes())
                    .cloned()
                    .collect();
                if own.is_empty() {
                    self.pick(&self.keys.clone())
                } else {
                    self.pick(&own)
                }
            }
        }
    }

    /// [`OTHER_TYPE_KEY`] mostly: other keys get another type only now and then, or
    /// the whole key space would soon hold strings and the stream would test little
    /// but WRONGTYPE.
    pub fn other_type_key(&mut self) -> Vec<u8> {
        if self.chance(0.85) {
            OTHER_TYPE_KEY.as_bytes().to_vec()
        } else {
            self.key()
        }
    }

    /// Between `min` and `max` keys (duplicates allowed, as clients may send them).
    pub fn keys(&mut self, min: usize, max: usize) -> Vec<Vec<u8>> {
        let n = min + self.below(max - min + 1);
        (0..n).map(|_| self.key()).collect()
    }

    /// A string value: words, integers, floats, empty, binary, or longer runs.
    pub fn value(&mut self) -> Vec<u8> {
        match self.below(20) {
            0..=5 => self.pick(WORDS).as_bytes().to_vec(),
            6..=10 => self.pick(GOOD_INTS).as_bytes().to_vec(),
            11 | 12 => self.pick(NICE_FLOATS).as_bytes().to_vec(),
            13 => Vec::new(),
            14 => b"\x00\x01\xfe\xff\r\n$1\r\n".to_vec(),
            15 => {
                let n = 1 + self.below(70);
                vec![b'a' + self.below(26) as u8; n]
            }
            16 => self.pick(BAD_INTS).as_bytes().to_vec(),
            _ => self.range(-1_000_000, 1_000_000).to_string().into_bytes(),
        }
    }

    /// A member (hash field, set or zset member) from a small pool, so that members
    /// collide; integers keep small sets in their integer encoding.
    pub fn member(&mut self) -> Vec<u8> {
        match self.below(24) {
            0..=9 => format!("m{}", self.below(8)).into_bytes(),
            10..=16 => self.range(-3, 12).to_string().into_bytes(),
            17 => Vec::new(),
            18 => b"\x00\xff".to_vec(),
            19 => vec![b'L'; 65 + self.below(4)],
            20 => b"9223372036854775808".to_vec(),
            _ => self.pick(WORDS).as_bytes().to_vec(),
        }
    }

    pub fn members(&mut self, min: usize, max: usize) -> Vec<Vec<u8>> {
        let n = min + self.below(max - min + 1);
        (0..n).map(|_| self.member()).collect()
    }

    /// An integer argument: mostly small and valid, sometimes malformed or overflowing.
    pub fn int(&mut self) -> Vec<u8> {
        match self.below(10) {
            0..=6 => self.pick(GOOD_INTS).as_bytes().to_vec(),
            7 => self.range(-1000, 1000).to_string().into_bytes(),
            _ => self.pick(BAD_INTS).as_bytes().to_vec(),
        }
    }

    /// An index or offset: small (both signs) mostly, sometimes huge or invalid.
    pub fn index(&mut self) -> Vec<u8> {
        match self.below(24) {
            0..=21 => self.range(-12, 12).to_string().into_bytes(),
            22 => self
                .pick(&[
                    "9223372036854775807",
                    "-9223372036854775808",
                    "1000000",
                    "-1000000",
                ])
                .as_bytes()
                .to_vec(),
            _ => self.pick(BAD_INTS).as_bytes().to_vec(),
        }
    }

    /// A count: small and positive mostly; zero, negative, huge or invalid now and then.
    pub fn count(&mut self) -> Vec<u8> {
        match self.below(20) {
            0..=13 => self.range(1, 6).to_string().into_bytes(),
            14 => b"0".to_vec(),
            15 => self.range(-5, -1).to_string().into_bytes(),
            16 => b"9223372036854775807".to_vec(),
            17 => b"-9223372036854775808".to_vec(),
            _ => self.pick(BAD_INTS).as_bytes().to_vec(),
        }
    }

    /// An increment for INCRBYFLOAT-like commands: exact binary fractions, or invalid.
    pub fn float(&mut self) -> Vec<u8> {
        match self.below(12) {
            0..=9 => self.pick(NICE_FLOATS).as_bytes().to_vec(),
            10 => self.pick(&["inf", "-inf", "+inf"]).as_bytes().to_vec(),
            _ => self.pick(BAD_FLOATS).as_bytes().to_vec(),
        }
    }

    /// A sorted-set score.
    pub fn score(&mut self) -> Vec<u8> {
        match self.below(20) {
            0..=16 => self.pick(NICE_FLOATS).as_bytes().to_vec(),
            17 => self.range(-20, 20).to_string().into_bytes(),
            18 => self.pick(&["inf", "-inf", "+inf"]).as_bytes().to_vec(),
            _ => self.pick(BAD_FLOATS).as_bytes().to_vec(),
        }
    }

    /// A score range bound: inclusive, exclusive, infinite, or malformed.
    pub fn score_bound(&mut self) -> Vec<u8> {
        match self.below(14) {
            0..=4 => self.range(-3, 12).to_string().into_bytes(),
            5 | 6 => format!("({}", self.range(-3, 12)).into_bytes(),
            7 => self
                .pick(&["-inf", "+inf", "inf", "(-inf", "(+inf"])
                .as_bytes()
                .to_vec(),
            8 => self.pick(NICE_FLOATS).as_bytes().to_vec(),
            9..=11 => format!("({}", self.pick(NICE_FLOATS)).into_bytes(),
            _ => self
                .pick(&["", "(", "abc", "((1", "[1", "nan"])
                .as_bytes()
                .to_vec(),
        }
    }

    /// A lexicographic range bound: `-`, `+`, `[x`, `(x`, or malformed.
    pub fn lex_bound(&mut self) -> Vec<u8> {
        match self.below(14) {
            0 | 1 => b"-".to_vec(),
            2 | 3 => b"+".to_vec(),
            4..=7 => [b"[".as_slice(), &self.member()].concat(),
            8..=12 => [b"(".as_slice(), &self.member()].concat(),
            _ => self
                .pick(&["a", "", "-a", "+a", "[", "("])
                .as_bytes()
                .to_vec(),
        }
    }

    /// A relative time to live in seconds: far in the future, or zero, negative,
    /// overflowing or malformed.
    pub fn rel_secs(&mut self) -> Vec<u8> {
        match self.below(16) {
            0..=11 => (100_000 * self.range(1, 9)).to_string().into_bytes(),
            12 => self.pick(&["0", "-1", "-100"]).as_bytes().to_vec(),
            13 => self
                .pick(&[
                    "9223372036854775807",
                    "9223372036854775",
                    "-9223372036854775808",
                ])
                .as_bytes()
                .to_vec(),
            _ => self.pick(BAD_INTS).as_bytes().to_vec(),
        }
    }

    /// [`Gen::rel_secs`] in milliseconds.
    pub fn rel_ms(&mut self) -> Vec<u8> {
        match self.below(16) {
            0..=11 => (100_000_000 * self.range(1, 9)).to_string().into_bytes(),
            12 => self.pick(&["0", "-1", "-100000"]).as_bytes().to_vec(),
            13 => self
                .pick(&[
                    "9223372036854775807",
                    "9223372036854775000",
                    "-9223372036854775808",
                ])
                .as_bytes()
                .to_vec(),
            _ => self.pick(BAD_INTS).as_bytes().to_vec(),
        }
    }

    /// An absolute Unix time in seconds: far future, or the past (deletes the key).
    pub fn abs_secs(&mut self) -> Vec<u8> {
        match self.below(16) {
            0..=10 => (self.now_s + 50_000 + 100_000 * self.range(0, 9))
                .to_string()
                .into_bytes(),
            11 | 12 => self.pick(&["1", "1000", "0"]).as_bytes().to_vec(),
            13 => self
                .pick(&["9223372036854775807", "-1", "9223372036854775"])
                .as_bytes()
                .to_vec(),
            _ => self.pick(BAD_INTS).as_bytes().to_vec(),
        }
    }

    /// [`Gen::abs_secs`] in milliseconds.
    pub fn abs_ms(&mut self) -> Vec<u8> {
        match self.below(16) {
            0..=10 => ((self.now_s + 50_000 + 100_000 * self.range(0, 9)) * 1000 + 123)
                .to_string()
                .into_bytes(),
            11 | 12 => self.pick(&["1", "1000000", "0"]).as_bytes().to_vec(),
            13 => self
                .pick(&["9223372036854775807", "-1"])
                .as_bytes()
                .to_vec(),
            _ => self.pick(BAD_INTS).as_bytes().to_vec(),
        }
    }

    /// Junk for an unknown-option slot.
    pub fn junk(&mut self) -> Vec<u8> {
        self.pick(&["FOO", "", "x", "-1", "NX XX", "WITHSCORES"])
            .as_bytes()
            .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Gen::new(7, &["k1", "k2"], 1_700_000_000);
        let mut b = Gen::new(7, &["k1", "k2"], 1_700_000_000);
        let xa: Vec<Vec<u8>> = (0..50).map(|_| a.value()).collect();
        let xb: Vec<Vec<u8>> = (0..50).map(|_| b.value()).collect();
        assert_eq!(xa, xb);
        let mut c = Gen::new(8, &["k1", "k2"], 1_700_000_000);
        let xc: Vec<Vec<u8>> = (0..50).map(|_| c.value()).collect();
        assert_ne!(xa, xc);
    }

    #[test]
    fn expiry_grids_never_tie() {
        let mut g = Gen::new(1, &["k"], 1_700_000_000);
        // Relative times (added to any "now" within the run) stay 50 000 s away from
        // every absolute time, so GT/LT outcomes cannot depend on clock drift.
        for _ in 0..500 {
            let a = g.abs_secs();
            let Ok(a) = std::str::from_utf8(&a).unwrap_or("x").parse::<i64>() else {
                continue;
            };
            if a > 1_700_000_000 && a < 9_000_000_000 {
                assert_eq!((a - 1_700_000_000) % 100_000, 50_000);
            }
        }
    }

    #[test]
    fn keys_come_from_the_key_space() {
        let mut g = Gen::new(3, &["k1", "k2"], 0);
        for _ in 0..200 {
            let k = g.key();
            assert!(k == b"k1" || k == b"k2" || k.is_empty() || k.starts_with(b"k\x00"));
        }
    }
}
