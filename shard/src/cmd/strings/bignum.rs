//! A small unsigned big integer for exact decimal and binary conversions: only the
//! operations `longdouble` needs, on little-endian 32-bit limbs.

use std::cmp::Ordering;

/// A small unsigned big integer, little-endian 32-bit limbs, with just what exact decimal
/// conversion needs.
#[derive(Debug, Clone)]
pub(super) struct Big(Vec<u32>);

impl Big {
    pub(super) fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }

    pub(super) fn from_u128(v: u128) -> Big {
        let mut b = Big((0..4).map(|i| (v >> (32 * i)) as u32).collect());
        b.trim();
        b
    }

    pub(super) fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    pub(super) fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn bits(&self) -> u32 {
        match self.0.last() {
            None => 0,
            Some(&top) => 32 * (self.0.len() as u32 - 1) + (32 - top.leading_zeros()),
        }
    }

    pub(super) fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let v = *limb as u64 * m as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    pub(super) fn add_small(&mut self, a: u32) {
        let mut carry = a as u64;
        for limb in &mut self.0 {
            if carry == 0 {
                break;
            }
            let v = *limb as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    pub(super) fn mul_pow10(&mut self, mut k: u32) {
        while k >= 9 {
            self.mul_small(1_000_000_000);
            k -= 9;
        }
        self.mul_small(10u32.pow(k));
    }

    pub(super) fn shl(&mut self, n: u32) {
        if self.is_zero() {
            return;
        }
        let (limbs, bits) = ((n / 32) as usize, n % 32);
        if bits != 0 {
            let mut carry = 0u32;
            for limb in &mut self.0 {
                let v = *limb;
                *limb = (v << bits) | carry;
                carry = v >> (32 - bits);
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        self.0.splice(0..0, vec![0; limbs]);
    }

    /// Shifts right by `n` bits; true when a non-zero bit was shifted out.
    pub(super) fn shr_sticky(&mut self, n: u32) -> bool {
        let (limbs, bits) = ((n / 32) as usize, n % 32);
        let limbs = limbs.min(self.0.len());
        let mut lost = self.0[..limbs].iter().any(|&l| l != 0);
        self.0.drain(..limbs);
        if bits != 0 {
            if let Some(&low) = self.0.first() {
                lost |= low & ((1 << bits) - 1) != 0;
            }
            let len = self.0.len();
            for i in 0..len {
                let hi = if i + 1 < len { self.0[i + 1] } else { 0 };
                self.0[i] = (self.0[i] >> bits) | (hi << (32 - bits));
            }
        }
        self.trim();
        lost
    }

    pub(super) fn or_low_bit(&mut self) {
        match self.0.first_mut() {
            Some(l) => *l |= 1,
            None => self.0.push(1),
        }
    }

    pub(super) fn low_u128(&self) -> u128 {
        self.0
            .iter()
            .take(4)
            .enumerate()
            .fold(0u128, |acc, (i, &l)| acc | (l as u128) << (32 * i))
    }

    pub(super) fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `self -= other`; `other` must not be larger.
    pub(super) fn sub(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let o = other.0.get(i).copied().unwrap_or(0) as i64;
            let mut v = *limb as i64 - o - borrow;
            borrow = 0;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            }
            *limb = v as u32;
        }
        self.trim();
    }

    pub(super) fn to_decimal(&self) -> String {
        let mut n = self.clone();
        let mut parts = Vec::new();
        while !n.is_zero() {
            let mut rem = 0u64;
            for limb in n.0.iter_mut().rev() {
                let v = (rem << 32) | *limb as u64;
                *limb = (v / 1_000_000_000) as u32;
                rem = v % 1_000_000_000;
            }
            n.trim();
            parts.push(rem as u32);
        }
        let mut s = match parts.pop() {
            Some(top) => top.to_string(),
            None => return "0".into(),
        };
        for p in parts.iter().rev() {
            s.push_str(&format!("{p:09}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        let mut n = Big::from_u64(1);
        n.mul_pow10(30);
        assert_eq!(n.to_decimal(), "1000000000000000000000000000000");
        assert_eq!(n.bits(), 100);
        let mut m = n.clone();
        m.shl(37);
        assert!(!m.clone().shr_sticky(37));
        let mut k = m.clone();
        k.shr_sticky(37);
        assert_eq!(k.cmp(&n), Ordering::Equal);
        m.add_small(1);
        assert!(m.shr_sticky(37));
        assert_eq!(m.cmp(&n), Ordering::Equal);
        let mut d = Big::from_u128(u128::MAX);
        d.sub(&Big::from_u64(u64::MAX));
        assert_eq!(d.low_u128(), u128::MAX - u64::MAX as u128);
        assert_eq!(Big::from_u64(0).to_decimal(), "0");
    }
}
