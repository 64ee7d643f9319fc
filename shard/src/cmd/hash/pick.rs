//! HRANDFIELD, and the rules for random picks with a count that SRANDMEMBER shares.

use bytes::Bytes;
use rand::Rng;

use super::read;
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};

/// A count argument limited to ±LONG_MAX, with Redis's range error.
pub(crate) fn signed_count(arg: &[u8]) -> Result<i64, CmdError> {
    let n = args::int(arg)?;
    if n == i64::MIN {
        return Err(format!(
            "ERR value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )
        .into());
    }
    Ok(n)
}

/// The most picks a negative count (repeats allowed) may ask for. Redis has no bound and
/// will build a reply of any size, stalling the shard; past this a request is refused
/// rather than allowed to exhaust memory.
pub(crate) const MAX_REPEATED_PICKS: u64 = 1 << 24;

/// Refuses a repeated-pick count beyond [`MAX_REPEATED_PICKS`].
pub(crate) fn check_picks(l: i64) -> CmdResult {
    if l < 0 && l.unsigned_abs() > MAX_REPEATED_PICKS {
        return Err("ERR value is out of range".into());
    }
    Ok(())
}

/// Positions to return for a distinct random sample of `count` out of `size`
/// (count < size), without materialising more than `count` indices.
pub(crate) fn sample(rng: &mut impl Rng, size: usize, count: usize) -> Vec<usize> {
    rand::seq::index::sample(rng, size, count.min(size)).into_vec()
}

/// HRANDFIELD key [count [WITHVALUES]]
pub(super) fn hrandfield(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    if argv.len() == 2 {
        let srv = &mut *ctx.srv;
        match read(&mut srv.db, &argv[1], now)? {
            Some(h) if !h.is_empty() => {
                let i = srv.rng.gen_range(0..h.len());
                match h.get_index(i) {
                    Some((f, _)) => ctx.out.bulk(f),
                    None => ctx.out.null(),
                }
            }
            _ => ctx.out.null(),
        }
        return Ok(());
    }
    let l = signed_count(&argv[2])?;
    let withvalues = match argv.get(3) {
        None => false,
        Some(a) if argv.len() == 4 && args::is(a, "withvalues") => true,
        Some(_) => return Err(err::SYNTAX.into()),
    };
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err("ERR value is out of range".into());
    }
    check_picks(l)?;
    let srv = &mut *ctx.srv;
    let out = &mut *ctx.out;
    let Some(h) = read(&mut srv.db, &argv[1], now)? else {
        out.array(0);
        return Ok(());
    };
    let resp3 = out.is_resp3();
    // Positions in the compact form cost a walk each, so it is walked once here.
    let pairs: Vec<(&[u8], &[u8])> = if h.is_compact() {
        h.iter().collect()
    } else {
        Vec::new()
    };
    let at = |i: usize| {
        if h.is_compact() {
            pairs.get(i).copied()
        } else {
            h.get_index(i)
        }
    };
    let emit = |out: &mut shoal_proto::Reply, i: usize| {
        if let Some((f, v)) = at(i) {
            if withvalues && resp3 {
                out.array(2);
            }
            out.bulk(f);
            if withvalues {
                out.bulk(v);
            }
        }
    };
    let header = |out: &mut shoal_proto::Reply, n: usize| {
        out.array(if withvalues && !resp3 { n * 2 } else { n });
    };
    let count = l.unsigned_abs() as usize;
    if count == 0 || h.is_empty() {
        out.array(0);
    } else if l < 0 || count == 1 {
        // Repeats allowed: each pick is independent, so nothing is buffered.
        header(out, count);
        for _ in 0..count {
            let i = srv.rng.gen_range(0..h.len());
            emit(out, i);
        }
    } else if count >= h.len() {
        header(out, h.len());
        for i in 0..h.len() {
            emit(out, i);
        }
    } else {
        header(out, count);
        for i in sample(&mut srv.rng, h.len(), count) {
            emit(out, i);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn count_range() {
        assert!(signed_count(b"-9223372036854775808").is_err());
        assert_eq!(signed_count(b"-9223372036854775807").ok(), Some(-i64::MAX));
        assert!(signed_count(b"x").is_err());
    }

    #[test]
    fn sample_is_distinct_and_bounded() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut s = sample(&mut rng, 100, 40);
        assert_eq!(s.len(), 40);
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 40);
        assert!(s.iter().all(|&i| i < 100));
    }
}
