//! BITFIELD and BITFIELD_RO: integers of 1 to 64 bits at any bit offset of a string, with
//! Redis's WRAP / SAT / FAIL overflow rules.

use bytes::Bytes;

use super::{grow, read_str, str_mut};
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};
use crate::db::{Sds, Value};
use crate::notify;

const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Set,
    IncrBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Op {
    kind: Kind,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

/// `i1`..`i64` or `u1`..`u63` (lower-case sign letter only, as Redis reads it).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BAD_TYPE.into()),
    };
    match shoal_proto::number::parse_i64(&arg[1..]) {
        Some(b) if b >= 1 && b <= if signed { 64 } else { 63 } => Ok((signed, b as u32)),
        _ => Err(BAD_TYPE.into()),
    }
}

/// A bit offset, or `#n` for the n-th field of this width.
fn field_offset(arg: &[u8], bits: u32, max_len: u64) -> Result<u64, CmdError> {
    let (hash, digits) = match arg.first() {
        Some(b'#') => (true, &arg[1..]),
        _ => (false, arg),
    };
    let n = shoal_proto::number::parse_i64(digits).ok_or(CmdError::Static(BAD_OFFSET))?;
    let n = if hash {
        n.checked_mul(bits as i64)
            .ok_or(CmdError::Static(BAD_OFFSET))?
    } else {
        n
    };
    if n < 0 || ((n as u64) >> 3) >= max_len {
        return Err(BAD_OFFSET.into());
    }
    Ok(n as u64)
}

fn parse_ops(argv: &[Bytes], max_len: u64) -> Result<Vec<Op>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let rem = argv.len() - j - 1;
        let sub = &argv[j][..];
        let kind = if args::is(sub, "get") && rem >= 2 {
            Kind::Get
        } else if args::is(sub, "set") && rem >= 3 {
            Kind::Set
        } else if args::is(sub, "incrby") && rem >= 3 {
            Kind::IncrBy
        } else if args::is(sub, "overflow") && rem >= 1 {
            let t = &argv[j + 1][..];
            overflow = if args::is(t, "wrap") {
                Overflow::Wrap
            } else if args::is(t, "sat") {
                Overflow::Sat
            } else if args::is(t, "fail") {
                Overflow::Fail
            } else {
                return Err("ERR Invalid OVERFLOW type specified".into());
            };
            j += 2;
            continue;
        } else {
            return Err(err::SYNTAX.into());
        };
        let (signed, bits) = field_type(&argv[j + 1])?;
        let offset = field_offset(&argv[j + 2], bits, max_len)?;
        let value = if kind == Kind::Get {
            0
        } else {
            args::int(&argv[j + 3])?
        };
        ops.push(Op {
            kind,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if kind == Kind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

/// The unsigned field at `offset`; bytes past the end of `p` read as zero.
fn get_bits(p: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..bits as u64 {
        let pos = offset + i;
        let bit = p
            .get((pos >> 3) as usize)
            .is_some_and(|b| b & (1 << (7 - (pos & 7))) != 0);
        v = (v << 1) | bit as u64;
    }
    v
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_bits(p, offset, bits);
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Writes a field; the string has already been grown to hold it.
fn set_bits(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..bits as u64 {
        let pos = offset + i;
        let on = value & (1 << (bits as u64 - 1 - i)) != 0;
        if let Some(b) = p.get_mut((pos >> 3) as usize) {
            let mask = 1u8 << (7 - (pos & 7));
            if on {
                *b |= mask;
            } else {
                *b &= !mask;
            }
        }
    }
}

/// Redis's overflow check for an unsigned field: None when `value + incr` fits, else
/// whether to write and what (WRAP wraps, SAT clamps, FAIL writes nothing).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<u64>> {
    let max = (1u64 << bits) - 1;
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let high = if value > max || (incr > 0 && incr > max_incr) {
        true
    } else if incr < 0 && incr < min_incr {
        false
    } else {
        return None;
    };
    Some(match ow {
        Overflow::Wrap => Some(value.wrapping_add(incr as u64) & max),
        Overflow::Sat => Some(if high { max } else { 0 }),
        Overflow::Fail => None,
    })
}

/// The same for a signed field, keeping Redis's exact edge cases at 64 bits.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<i64>> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let high = if value > max
        || (bits != 64 && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr)
    {
        true
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        false
    } else {
        return None;
    };
    Some(match ow {
        Overflow::Wrap => {
            let mut c = (value as u64).wrapping_add(incr as u64);
            if bits < 64 {
                let mask = u64::MAX << bits;
                if c & (1 << (bits - 1)) != 0 {
                    c |= mask;
                } else {
                    c &= !mask;
                }
            }
            Some(c as i64)
        }
        Overflow::Sat => Some(if high { max } else { min }),
        Overflow::Fail => None,
    })
}

/// Runs one SET or INCRBY on `p`: the reply value (None for a FAIL overflow) and whether
/// the field changed.
fn write_op(p: &mut [u8], op: &Op) -> (Option<i64>, bool) {
    if op.signed {
        let old = get_signed(p, op.offset, op.bits);
        let (new, reply) = match op.kind {
            Kind::IncrBy => match signed_overflow(old, op.value, op.bits, op.overflow) {
                None => (Some(old.wrapping_add(op.value)), None),
                Some(w) => (w, None),
            },
            _ => match signed_overflow(op.value, 0, op.bits, op.overflow) {
                None => (Some(op.value), Some(old)),
                Some(w) => (w, Some(old)),
            },
        };
        let Some(new) = new else {
            return (None, false);
        };
        set_bits(p, op.offset, op.bits, new as u64);
        (Some(reply.unwrap_or(new)), new != old)
    } else {
        let old = get_bits(p, op.offset, op.bits);
        let (base, incr) = match op.kind {
            Kind::IncrBy => (old, op.value),
            _ => (op.value as u64, 0),
        };
        let new = match unsigned_overflow(base, incr, op.bits, op.overflow) {
            None => base.wrapping_add(incr as u64),
            Some(Some(w)) => w,
            Some(None) => return (None, false),
        };
        set_bits(p, op.offset, op.bits, new);
        let reply = if op.kind == Kind::IncrBy { new } else { old };
        (Some(reply as i64), new != old)
    }
}

fn read_op(p: &[u8], op: &Op) -> i64 {
    if op.signed {
        get_signed(p, op.offset, op.bits)
    } else {
        get_bits(p, op.offset, op.bits) as i64
    }
}

/// BITFIELD key [GET type offset | [OVERFLOW WRAP|SAT|FAIL] SET type offset value |
/// [OVERFLOW WRAP|SAT|FAIL] INCRBY type offset increment ...]
pub(super) fn bitfield(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, argv, false)
}

/// BITFIELD_RO key [GET type offset ...]
pub(super) fn bitfield_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, argv, true)
}

fn bitfield_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], read_only: bool) -> CmdResult {
    let ops = parse_ops(argv, ctx.srv.config.proto_max_bulk_len)?;
    let now = ctx.now;
    let key = &argv[1][..];
    let highest = ops
        .iter()
        .filter(|o| o.kind != Kind::Get)
        .map(|o| o.offset + o.bits as u64 - 1)
        .max();
    let Some(highest) = highest else {
        let s: &[u8] = read_str(&mut ctx.srv.db, key, now)?.map_or(&[], |s| &s[..]);
        ctx.out.array(ops.len());
        for op in &ops {
            ctx.out.int(read_op(s, op));
        }
        return Ok(());
    };
    if read_only {
        return Err("ERR BITFIELD_RO only supports the GET subcommand".into());
    }
    let need = (highest >> 3) as usize + 1;
    let mut created = false;
    if str_mut(&mut ctx.srv.db, key, now)?.is_none() {
        ctx.srv
            .db
            .set(key, Value::Str(Sds::from_vec(vec![0; need])), false);
        created = true;
    }
    let Some(s) = str_mut(&mut ctx.srv.db, key, now)? else {
        return Err(err::NO_SUCH_KEY.into());
    };
    if s.len() < need {
        grow(s, |v| v.resize(need, 0));
        created = true;
    }
    let p = s.as_mut_slice();
    let mut changes = 0;
    ctx.out.array(ops.len());
    for op in &ops {
        if op.kind == Kind::Get {
            ctx.out.int(read_op(p, op));
            continue;
        }
        match write_op(p, op) {
            (Some(v), changed) => {
                ctx.out.int(v);
                if created || changed {
                    changes += 1;
                }
            }
            (None, _) => ctx.out.null(),
        }
    }
    ctx.srv.dirty += changes;
    if changes > 0 {
        notify::notify(ctx.srv, notify::STRING, "setbit", key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: Kind, ty: &str, offset: u64, value: i64, overflow: Overflow) -> Op {
        let (signed, bits) = field_type(ty.as_bytes()).unwrap();
        Op {
            kind,
            signed,
            bits,
            offset,
            value,
            overflow,
        }
    }

    #[test]
    fn types_and_offsets() {
        assert_eq!(field_type(b"i64"), Ok((true, 64)));
        assert_eq!(field_type(b"u63"), Ok((false, 63)));
        for bad in [&b"u64"[..], b"i0", b"I8", b"i", b"x8", b"i65"] {
            assert!(field_type(bad).is_err());
        }
        assert_eq!(field_offset(b"#3", 8, 512), Ok(24));
        assert!(field_offset(b"#-1", 8, 512).is_err());
        assert!(field_offset(b"4096", 8, 512).is_err());
    }

    #[test]
    fn overflow_rules() {
        let mut p = vec![0u8; 2];
        let set = op(Kind::Set, "u8", 0, 100, Overflow::Wrap);
        assert_eq!(write_op(&mut p, &set), (Some(0), true));
        let wrap = op(Kind::IncrBy, "u8", 0, 257, Overflow::Wrap);
        assert_eq!(write_op(&mut p, &wrap), (Some(101), true));
        let sat = op(Kind::IncrBy, "i8", 0, 257, Overflow::Sat);
        assert_eq!(write_op(&mut p, &sat), (Some(127), true));
        let fail = op(Kind::IncrBy, "i8", 0, 1, Overflow::Fail);
        assert_eq!(write_op(&mut p, &fail), (None, false));
        let neg = op(Kind::Set, "i8", 0, 255, Overflow::Wrap);
        assert_eq!(write_op(&mut p, &neg), (Some(127), true));
        assert_eq!(read_op(&p, &op(Kind::Get, "i8", 0, 0, Overflow::Wrap)), -1);
        let big = op(Kind::IncrBy, "i64", 0, i64::MAX, Overflow::Sat);
        let mut q = vec![0u8; 8];
        assert_eq!(write_op(&mut q, &big), (Some(i64::MAX), true));
        assert_eq!(write_op(&mut q, &big), (Some(i64::MAX), false));
    }

    #[test]
    fn unaligned_fields_past_the_end_read_zero() {
        let p = [0b1010_0000u8];
        assert_eq!(get_bits(&p, 0, 3), 0b101);
        assert_eq!(get_bits(&p, 6, 8), 0);
        assert_eq!(get_signed(&p, 0, 1), -1);
    }
}
