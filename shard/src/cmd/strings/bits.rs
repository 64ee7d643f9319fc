//! Bitmaps over string values: SETBIT, GETBIT, BITCOUNT, BITPOS and BITOP. Bit 0 is the most
//! significant bit of the first byte, as in Redis.

use bytes::Bytes;

use super::{grow, read_str, str_mut};
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};
use crate::db::{Sds, Value};
use crate::notify;

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_BIT: &str = "ERR bit is not an integer or out of range";

/// A bit offset argument: a non-negative integer whose byte lies within
/// `proto-max-bulk-len`.
fn bit_offset(arg: &[u8], max_len: u64) -> Result<u64, CmdError> {
    match shoal_proto::number::parse_i64(arg) {
        Some(off) if off >= 0 && ((off as u64) >> 3) < max_len => Ok(off as u64),
        _ => Err(BAD_OFFSET.into()),
    }
}

/// SETBIT key offset value
pub(super) fn setbit(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let offset = bit_offset(&argv[2], ctx.srv.config.proto_max_bulk_len)?;
    let on = match shoal_proto::number::parse_i64(&argv[3]) {
        Some(v @ (0 | 1)) => v == 1,
        _ => return Err(BAD_BIT.into()),
    };
    let now = ctx.now;
    let key = &argv[1][..];
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let dirty = ctx.srv.dirty;
    let old_bit = match str_mut(&mut ctx.srv.db, key, now)? {
        None => {
            let mut buf = vec![0u8; byte + 1];
            if on {
                buf[byte] |= mask;
            }
            ctx.srv.db.set(key, Value::Str(Sds::from_vec(buf)), false);
            ctx.srv.dirty += 1;
            false
        }
        Some(s) => {
            let old_bit = s.get(byte).is_some_and(|b| b & mask != 0);
            let grows = byte >= s.len();
            if grows {
                grow(s, |v| v.resize(byte + 1, 0));
            }
            if old_bit != on {
                if let Some(b) = s.as_mut_slice().get_mut(byte) {
                    *b ^= mask;
                }
            }
            if grows || old_bit != on {
                ctx.srv.dirty += 1;
            }
            old_bit
        }
    };
    if ctx.srv.dirty != dirty {
        notify::notify(ctx.srv, notify::STRING, "setbit", key);
    }
    ctx.out.int(old_bit as i64);
    Ok(())
}

/// GETBIT key offset
pub(super) fn getbit(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let offset = bit_offset(&argv[2], ctx.srv.config.proto_max_bulk_len)?;
    let now = ctx.now;
    let bit = read_str(&mut ctx.srv.db, &argv[1], now)?
        .and_then(|s| s.get((offset >> 3) as usize).copied())
        .is_some_and(|b| b & (1 << (7 - (offset & 7))) != 0);
    ctx.out.int(bit as i64);
    Ok(())
}

/// Resolves a BITCOUNT/BITPOS range to inclusive bit positions, or None when empty.
/// `start`/`end` count bytes, or bits when `in_bits`; negative ones count from the end.
fn bit_range(len: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits { len as i64 * 8 } else { len as i64 };
    let start = if start < 0 { total + start } else { start }.max(0);
    let end = if end < 0 { total + end } else { end }
        .max(0)
        .min(total - 1);
    if start > end {
        return None;
    }
    let (s, e) = (start as u64, end as u64);
    Some(if in_bits { (s, e) } else { (s * 8, e * 8 + 7) })
}

/// The bytes covering bits `first..=last`, each masked so that bits outside the range read
/// as `fill`.
fn masked_bytes(s: &[u8], first: u64, last: u64, fill: bool) -> impl Iterator<Item = u8> + '_ {
    let (fb, lb) = ((first / 8) as usize, (last / 8) as usize);
    s[fb..=lb].iter().enumerate().map(move |(i, &b)| {
        let mut keep = 0xffu8;
        if i == 0 {
            keep &= 0xff >> (first % 8);
        }
        if fb + i == lb {
            keep &= 0xff << (7 - last % 8);
        }
        if fill {
            b | !keep
        } else {
            b & keep
        }
    })
}

/// BYTE or BIT, the unit of a BITCOUNT/BITPOS range.
fn unit(arg: &[u8]) -> Result<bool, CmdError> {
    if args::is(arg, "bit") {
        Ok(true)
    } else if args::is(arg, "byte") {
        Ok(false)
    } else {
        Err(err::SYNTAX.into())
    }
}

/// BITCOUNT key [start end [BYTE | BIT]]
pub(super) fn bitcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let Some(s) = read_str(&mut ctx.srv.db, &argv[1], now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let range = match argv.len() {
        2 => bit_range(s.len(), 0, -1, false),
        4 | 5 => {
            let start = args::int(&argv[2])?;
            let end = args::int(&argv[3])?;
            if start < 0 && end < 0 && start > end {
                None
            } else {
                let in_bits = match argv.get(4) {
                    Some(u) => unit(u)?,
                    None => false,
                };
                bit_range(s.len(), start, end, in_bits)
            }
        }
        _ => return Err(err::SYNTAX.into()),
    };
    let n: u64 = match range {
        Some((first, last)) => masked_bytes(s, first, last, false)
            .map(|b| b.count_ones() as u64)
            .sum(),
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

/// BITPOS key bit [start [end [BYTE | BIT]]]
pub(super) fn bitpos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let bit = match args::int(&argv[2])? {
        0 => false,
        1 => true,
        _ => return Err("ERR The bit argument must be 1 or 0.".into()),
    };
    let now = ctx.now;
    let Some(s) = read_str(&mut ctx.srv.db, &argv[1], now)? else {
        ctx.out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    if argv.len() > 6 {
        return Err(err::SYNTAX.into());
    }
    let mut end_given = false;
    let range = if argv.len() == 3 {
        bit_range(s.len(), 0, -1, false)
    } else {
        let start = args::int(&argv[3])?;
        let in_bits = match argv.get(5) {
            Some(u) => unit(u)?,
            None => false,
        };
        let end = match argv.get(4) {
            Some(e) => {
                end_given = true;
                args::int(e)?
            }
            None => -1,
        };
        bit_range(s.len(), start, end, in_bits)
    };
    let Some((first, last)) = range else {
        ctx.out.int(-1);
        return Ok(());
    };
    // Bits outside the range read as the opposite of the one sought, so they never match.
    let found = masked_bytes(s, first, last, !bit)
        .enumerate()
        .find_map(|(i, b)| {
            let v = if bit { b } else { !b };
            (v != 0).then(|| (first / 8 + i as u64) * 8 + v.leading_zeros() as u64)
        });
    let pos = match found {
        Some(p) => p as i64,
        // Past the end of the string there are only clear bits, unless the caller fixed
        // where the range ends.
        None if !bit && !end_given => ((last / 8 + 1) * 8) as i64,
        None => -1,
    };
    ctx.out.int(pos);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Folds one source into the result so far; bytes past a string's end count as zero.
fn bitop_fold(res: &mut Vec<u8>, src: &[u8], op: BitOp, first: bool) {
    if first {
        res.extend(src.iter().map(|&b| if op == BitOp::Not { !b } else { b }));
        return;
    }
    if res.len() < src.len() {
        res.resize(src.len(), 0);
    }
    for (i, r) in res.iter_mut().enumerate() {
        let b = src.get(i).copied().unwrap_or(0);
        match op {
            BitOp::And => *r &= b,
            BitOp::Or => *r |= b,
            BitOp::Xor => *r ^= b,
            BitOp::Not => {}
        }
    }
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
pub(super) fn bitop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let op = match &argv[1][..] {
        o if args::is(o, "and") => BitOp::And,
        o if args::is(o, "or") => BitOp::Or,
        o if args::is(o, "xor") => BitOp::Xor,
        o if args::is(o, "not") => BitOp::Not,
        _ => return Err(err::SYNTAX.into()),
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err("ERR BITOP NOT must be called with a single source key.".into());
    }
    let now = ctx.now;
    let mut res = Vec::new();
    for (j, key) in argv[3..].iter().enumerate() {
        let src: &[u8] = read_str(&mut ctx.srv.db, key, now)?.map_or(&[], |s| &s[..]);
        bitop_fold(&mut res, src, op, j == 0);
    }
    let dest = &argv[2][..];
    let len = res.len();
    if len > 0 {
        ctx.srv.db.set(dest, Value::Str(Sds::from_vec(res)), false);
        ctx.srv.dirty += 1;
        notify::notify(ctx.srv, notify::STRING, "set", dest);
    } else if ctx.srv.db.remove(dest).is_some() {
        ctx.srv.dirty += 1;
        notify::notify(ctx.srv, notify::GENERIC, "del", dest);
    }
    ctx.out.int(len as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_in_bytes_and_bits() {
        assert_eq!(bit_range(3, 0, -1, false), Some((0, 23)));
        assert_eq!(bit_range(3, 1, 1, false), Some((8, 15)));
        assert_eq!(bit_range(3, 5, 9, true), Some((5, 9)));
        assert_eq!(bit_range(3, -3, -1, true), Some((21, 23)));
        assert_eq!(bit_range(3, 2, 1, false), None);
        assert_eq!(bit_range(0, 0, -1, false), None);
    }

    #[test]
    fn masking_edges() {
        let s = [0xffu8, 0xff];
        let v: Vec<u8> = masked_bytes(&s, 3, 12, false).collect();
        assert_eq!(v, vec![0x1f, 0xf8]);
        let z = [0u8];
        let v: Vec<u8> = masked_bytes(&z, 2, 4, true).collect();
        assert_eq!(v, vec![0xc7]);
    }

    #[test]
    fn bitop_pads_with_zeros() {
        let run = |op, srcs: &[&[u8]]| {
            let mut r = Vec::new();
            for (i, s) in srcs.iter().enumerate() {
                bitop_fold(&mut r, s, op, i == 0);
            }
            r
        };
        assert_eq!(run(BitOp::And, &[b"\xff\xff", b"\x0f"]), b"\x0f\x00");
        assert_eq!(run(BitOp::And, &[b"\x0f", b"\xff\xff"]), b"\x0f\x00");
        assert_eq!(run(BitOp::Or, &[b"\x01", b"", b"\x10\x02"]), b"\x11\x02");
        assert_eq!(run(BitOp::Xor, &[b"\x03", b"\x01"]), b"\x02");
        assert_eq!(run(BitOp::Not, &[b"\x0f"]), b"\xf0");
    }

    #[test]
    fn offsets() {
        assert_eq!(bit_offset(b"7", 512), Ok(7));
        assert!(bit_offset(b"-1", 512).is_err());
        assert!(bit_offset(b"4096", 512).is_err());
        assert!(bit_offset(b"4095", 512).is_ok());
    }
}
