//! The x87 80-bit extended float (C's `long double` on x86-64) in software: parsing as
//! `strtold` does, addition, and `%.17Lf` printing.
//!
//! INCRBYFLOAT's results are strings that clients compare byte for byte, and Redis computes
//! them in `long double`: `INCRBYFLOAT k 0.2` on `0.1` gives `0.3` there, where `f64`
//! arithmetic gives `0.30000000000000004`. Rust has no such type, so this module carries
//! the 64-bit significand and rounds (to nearest, ties to even) exactly as the hardware does.
//! Every step is exact big-integer arithmetic followed by one rounding, which is also what
//! glibc's `strtold` and `printf` do.

use std::cmp::Ordering;

use super::bignum::Big;

/// The smallest exponent of a significand's lowest bit (subnormals included).
const EXP_MIN: i32 = -16445;
/// The largest exponent of a normal significand's lowest bit.
const EXP_MAX: i32 = 16320;
/// Input longer than this is refused, as Redis refuses it (`MAX_LONG_DOUBLE_CHARS`).
const MAX_CHARS: usize = 5 * 1024;

/// A finite value is `mant * 2^exp`, `mant` normalized (top bit set) unless subnormal or 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongDouble {
    Finite { neg: bool, mant: u64, exp: i32 },
    Inf { neg: bool },
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble::Finite {
        neg: false,
        mant: 0,
        exp: 0,
    };

    pub fn is_finite(&self) -> bool {
        matches!(self, LongDouble::Finite { .. })
    }

    /// Redis's `string2ld`: the whole input must be one number for `strtold`, with no
    /// leading space; NaN, and values that overflow or underflow to zero, are refused.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_CHARS {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble::Inf { neg });
        }
        let v = if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
            parse_hex(neg, &body[2..])?
        } else {
            parse_dec(neg, body)?
        };
        match v {
            // strtold reports ERANGE for both, and Redis refuses the number then.
            LongDouble::Inf { .. } => None,
            LongDouble::Finite { mant: 0, .. } if !all_zero_digits(body) => None,
            v => Some(v),
        }
    }

    /// `self + other`, rounded once. None for NaN (infinities of opposite signs).
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        use LongDouble::*;
        let (
            Finite {
                neg: na,
                mant: ma,
                exp: ea,
            },
            Finite {
                neg: nb,
                mant: mb,
                exp: eb,
            },
        ) = (self, other)
        else {
            return match (self, other) {
                (Inf { neg: a }, Inf { neg: b }) if a != b => None,
                (Inf { neg }, _) | (_, Inf { neg }) => Some(Inf { neg }),
                _ => None,
            };
        };
        if ma == 0 && mb == 0 {
            return Some(Finite {
                neg: na && nb,
                mant: 0,
                exp: 0,
            });
        }
        if ma == 0 {
            return Some(other);
        }
        if mb == 0 {
            return Some(self);
        }
        // Order by magnitude so the subtraction below never goes negative.
        let ((nx, mx, ex), (ny, my, ey)) = if (ea, ma) >= (eb, mb) {
            ((na, ma, ea), (nb, mb, eb))
        } else {
            ((nb, mb, eb), (na, ma, ea))
        };
        // 62 guard bits below each significand, and a sticky bit for what the alignment
        // shift drops: enough for one correctly rounded result.
        let x = (mx as u128) << 62;
        let y = (my as u128) << 62;
        let d = (ex - ey) as u32;
        let y = if d >= 128 {
            1
        } else {
            (y >> d) | ((y & ((1u128 << d) - 1) != 0) as u128)
        };
        let exp = ex - 62;
        if nx == ny {
            Some(round_pack(nx, x + y, exp, false))
        } else if x == y {
            Some(LongDouble::ZERO)
        } else {
            Some(round_pack(nx, x - y, exp, false))
        }
    }

    /// C's `%.17Lf` with the trailing zeros (and a bare `.`) removed, and `-0` printed as
    /// `0`: Redis's human-friendly form of INCRBYFLOAT results.
    pub fn to_human(self) -> String {
        let (neg, mant, exp) = match self {
            LongDouble::Inf { neg } => return if neg { "-inf" } else { "inf" }.into(),
            LongDouble::Finite { neg, mant, exp } => (neg, mant, exp),
        };
        let mut s = String::new();
        if neg {
            s.push('-');
        }
        if exp >= 0 {
            let mut n = Big::from_u64(mant);
            n.shl(exp as u32);
            s.push_str(&n.to_decimal());
        } else {
            const SCALE: u128 = 100_000_000_000_000_000;
            let k = (-exp) as u32;
            let n = mant as u128 * SCALE;
            let q = if k > 127 {
                0
            } else {
                let q = n >> k;
                let rem = n & ((1u128 << k) - 1);
                let half = 1u128 << (k - 1);
                if rem > half || (rem == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            };
            s.push_str(&format!("{}.{:017}", q / SCALE, q % SCALE));
            let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
            s.truncate(trimmed);
        }
        if s == "-0" {
            s = "0".into();
        }
        s
    }
}

fn all_zero_digits(body: &[u8]) -> bool {
    body.iter()
        .take_while(|c| !matches!(c, b'e' | b'E' | b'p' | b'P'))
        .all(|c| matches!(c, b'0' | b'.' | b'x' | b'X'))
}

/// Rounds `m * 2^exp` (plus a sliver more when `sticky`) to a 64-bit significand.
fn round_pack(neg: bool, m: u128, exp: i32, sticky: bool) -> LongDouble {
    if m == 0 {
        return LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        };
    }
    let bits = 128 - m.leading_zeros() as i32;
    let shift = (bits - 64).max(EXP_MIN - exp);
    let (mut mant, mut shift) = if shift <= 0 {
        (m << (-shift) as u32, shift)
    } else {
        let s = shift as u32;
        let (q, rem, half) = if s > 128 {
            (0, 1, 2)
        } else if s == 128 {
            (0, m, 1u128 << 127)
        } else {
            (m >> s, m & ((1u128 << s) - 1), 1u128 << (s - 1))
        };
        let up = rem > half || (rem == half && (sticky || q & 1 == 1));
        (q + up as u128, shift)
    };
    if mant >> 64 != 0 {
        mant >>= 1;
        shift += 1;
    }
    let exp = exp + shift;
    if mant == 0 {
        return LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        };
    }
    if exp > EXP_MAX {
        return LongDouble::Inf { neg };
    }
    LongDouble::Finite {
        neg,
        mant: mant as u64,
        exp,
    }
}

/// Rounds a big integer times `2^exp` (plus a sliver when `sticky`).
fn round_big(neg: bool, mut n: Big, exp: i64, sticky: bool) -> LongDouble {
    let bits = n.bits() as i64;
    let mut sticky = sticky;
    let mut exp = exp;
    if bits > 128 {
        let drop = (bits - 128) as u32;
        sticky |= n.shr_sticky(drop);
        exp += drop as i64;
    }
    if exp > EXP_MAX as i64 + 128 {
        return LongDouble::Inf { neg };
    }
    if exp < EXP_MIN as i64 - 256 {
        // Far below the smallest subnormal: rounds to zero.
        return round_pack(neg, 0, 0, false);
    }
    round_pack(neg, n.low_u128(), exp as i32, sticky)
}

fn parse_dec(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let mut i = 0;
    let mut digits = Vec::new();
    let mut frac = 0i64;
    let mut seen = false;
    while i < s.len() && s[i].is_ascii_digit() {
        digits.push(s[i] - b'0');
        seen = true;
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            digits.push(s[i] - b'0');
            frac += 1;
            seen = true;
            i += 1;
        }
    }
    if !seen {
        return None;
    }
    let mut e10: i64 = 0;
    if i < s.len() && (s[i] | 0x20) == b'e' {
        let (eneg, mut j) = match s.get(i + 1) {
            Some(b'-') => (true, i + 2),
            Some(b'+') => (false, i + 2),
            _ => (false, i + 1),
        };
        if j >= s.len() {
            return None;
        }
        while j < s.len() && s[j].is_ascii_digit() {
            // Saturate: anything this large over- or underflows anyway.
            e10 = (e10 * 10 + (s[j] - b'0') as i64).min(1 << 40);
            j += 1;
        }
        if j != s.len() || !s[i + 1..].iter().any(u8::is_ascii_digit) {
            return None;
        }
        if eneg {
            e10 = -e10;
        }
        i = j;
    }
    if i != s.len() {
        return None;
    }
    let first = digits.iter().position(|&d| d != 0);
    let Some(first) = first else {
        return Some(round_pack(neg, 0, 0, false));
    };
    let digits = &digits[first..];
    e10 -= frac;
    // The decimal exponent of the leading digit bounds the result well outside the range
    // where exact arithmetic would be needed to tell overflow or underflow.
    let lead = e10 + digits.len() as i64 - 1;
    if lead > 4940 {
        return Some(LongDouble::Inf { neg });
    }
    if lead < -4970 {
        return Some(round_pack(neg, 0, 0, false));
    }
    let mut d = Big::from_u64(0);
    for chunk in digits.chunks(9) {
        let mut v = 0u32;
        for &c in chunk {
            v = v * 10 + c as u32;
        }
        d.mul_small(10u32.pow(chunk.len() as u32));
        d.add_small(v);
    }
    if e10 >= 0 {
        d.mul_pow10(e10 as u32);
        return Some(round_big(neg, d, 0, false));
    }
    // value = d / 10^k: take a quotient of 66 to 68 bits and the remainder as sticky.
    let mut den = Big::from_u64(1);
    den.mul_pow10((-e10) as u32);
    let s2 = 67 + den.bits() as i64 - d.bits() as i64;
    if s2 >= 0 {
        d.shl(s2 as u32);
    } else {
        den.shl((-s2) as u32);
    }
    let mut q: u128 = 0;
    for bit in (0..=68u32).rev() {
        let mut t = den.clone();
        t.shl(bit);
        if d.cmp(&t) != Ordering::Less {
            d.sub(&t);
            q |= 1u128 << bit;
        }
    }
    let sticky = !d.is_zero();
    Some(round_big(neg, Big::from_u128(q), -s2, sticky))
}

fn parse_hex(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let mut n = Big::from_u64(0);
    let mut exp: i64 = 0;
    let mut seen = false;
    let mut i = 0;
    let mut after_point = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !after_point {
            after_point = true;
        } else if let Some(v) = (c as char).to_digit(16) {
            seen = true;
            // Digits past what any rounding can see only matter as sticky bits; keep the
            // number bounded by folding them into the lowest one.
            if n.bits() < 256 {
                n.mul_small(16);
                n.add_small(v);
                if after_point {
                    exp -= 4;
                }
            } else {
                if v != 0 {
                    n.or_low_bit();
                }
                if !after_point {
                    exp += 4;
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    if !seen {
        return None;
    }
    if i < s.len() {
        if (s[i] | 0x20) != b'p' {
            return None;
        }
        let rest = &s[i + 1..];
        let (eneg, digits) = match rest.first() {
            Some(b'-') => (true, &rest[1..]),
            Some(b'+') => (false, &rest[1..]),
            _ => (false, rest),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut e: i64 = 0;
        for &c in digits {
            e = (e * 10 + (c - b'0') as i64).min(1 << 40);
        }
        exp += if eneg { -e } else { e };
    }
    Some(round_big(neg, n, exp, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> String {
        let a = LongDouble::parse(a.as_bytes()).unwrap();
        let b = LongDouble::parse(b.as_bytes()).unwrap();
        a.checked_add(b).unwrap().to_human()
    }

    #[test]
    fn sums_match_long_double() {
        // Each expected string was printed by C's long double arithmetic.
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("1.1", "2.2"), "3.3");
        assert_eq!(sum("10.50", "0.1"), "10.6");
        assert_eq!(sum("5.0e3", "2.0e2"), "5200");
        assert_eq!(sum("17179869184", "1.5"), "17179869185.5");
        assert_eq!(sum("1", "-1.1"), "-0.1");
        assert_eq!(sum("0.024390243902439025", "-0.024390243902439025"), "0");
        assert_eq!(sum("1e20", "1"), "100000000000000000000");
        assert_eq!(sum("3", "0.1"), "3.1");
        assert_eq!(sum("0", "1e-20"), "0");
        assert_eq!(sum("0", "-1e-20"), "0");
        assert_eq!(sum("0x10", "0x1p-1"), "16.5");
        assert_eq!(sum("1.5", "1.5"), "3");
    }

    #[test]
    fn parse_refuses_what_string2ld_refuses() {
        for bad in [
            "", " 1", "1 ", "nan", "-nan", "1e", "e5", ".", "+", "1x", "0x", "1e99999", "1e-99999",
            "1\x002", "--1",
        ] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        for good in [
            "inf",
            "-Infinity",
            ".5",
            "5.",
            "+1E+3",
            "0",
            "-0.0",
            "1e4000",
        ] {
            assert!(LongDouble::parse(good.as_bytes()).is_some(), "{good:?}");
        }
        assert_eq!(
            LongDouble::parse(b"inf")
                .unwrap()
                .checked_add(LongDouble::parse(b"-inf").unwrap()),
            None
        );
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        // 2^64 + 1 is a tie between 2^64 and 2^64 + 2; even wins.
        assert_eq!(sum("18446744073709551616", "1"), "18446744073709551616");
        assert_eq!(sum("18446744073709551616", "3"), "18446744073709551620");
        let big = LongDouble::parse(b"1e4932").unwrap();
        assert_eq!(big.checked_add(big), Some(LongDouble::Inf { neg: false }));
    }
}
