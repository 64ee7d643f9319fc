//! Which keys have writes that are not on disk yet, so that under `appendfsync always` a
//! read waits only for the fsync of what it actually read.
//!
//! A reply may only show state a crash cannot take back. Redis gets that by sending every
//! reply after the event loop's fsync, reads included, so a read queued behind a write
//! burst waits a whole fsync for nothing. A shard instead remembers, for each of
//! [`SLOTS`] hash buckets of key names, the AOF offset of the last write to a key in the
//! bucket. A plain read of declared keys needs only those offsets to be durable; anything
//! else (a keyless read like DBSIZE, a script, a read that itself appended, such as a lazy
//! expiry) waits for everything applied, as before.
//!
//! Buckets, not keys: the table is fixed size and never pruned. Two keys sharing a bucket
//! only make a read wait when it need not; they can never make it skip a wait, because a
//! bucket's offset only grows.

use bytes::Bytes;
use shoal_proto::command::{self, CommandSpec};
use shoal_proto::Flags;

/// Buckets of key names: 32 KiB, small enough to stay in cache next to the keyspace.
const SLOTS: usize = 4096;

/// "Everything applied so far": the gate clamps it to the writer's applied offset.
pub const ALL: u64 = u64::MAX;

pub struct DirtyKeys {
    slots: Box<[u64]>,
    /// Offset of the last write whose keys are not known (MULTI, FLUSHALL, a script's
    /// effects): every read waits for it.
    unkeyed: u64,
}

impl Default for DirtyKeys {
    fn default() -> Self {
        DirtyKeys {
            slots: vec![0; SLOTS].into_boxed_slice(),
            unkeyed: 0,
        }
    }
}

impl DirtyKeys {
    /// Records a command just appended to the AOF, ending at `offset`. `args` is what was
    /// written (the propagated form), so expiries, evictions and a transaction's parts are
    /// all covered.
    pub fn wrote<A: AsRef<[u8]>>(&mut self, args: &[A], offset: u64) {
        let Some(spec) = args.first().and_then(|n| command::lookup(n.as_ref())) else {
            self.unkeyed = offset;
            return;
        };
        match simple_keys(spec, args.len()) {
            Some(range) => {
                for i in range.step_by(step(spec)) {
                    self.slots[bucket(args[i].as_ref())] = offset;
                }
            }
            None => self.unkeyed = offset,
        }
    }

    /// The offset a read-only command's reply must see durable, or [`ALL`] if the command
    /// is not a plain read of the keys its spec declares.
    pub fn read_need(&self, spec: &CommandSpec, args: &[Bytes]) -> u64 {
        // SORT_RO's BY and GET patterns read keys it does not declare.
        if !spec.flags.has(Flags::READONLY) || spec.name == "sort_ro" {
            return ALL;
        }
        let Some(range) = simple_keys(spec, args.len()) else {
            return ALL;
        };
        let mut need = self.unkeyed;
        for i in range.step_by(step(spec)) {
            need = need.max(self.slots[bucket(&args[i])]);
        }
        need
    }
}

/// The argument positions of a command whose keys sit at fixed positions (first, last,
/// step), as most commands' do; None for keyless or movable-key commands.
fn simple_keys(spec: &CommandSpec, argc: usize) -> Option<std::ops::RangeInclusive<usize>> {
    if spec.first_key <= 0 || spec.flags.has(Flags::MOVABLEKEYS) || !spec.subcommands.is_empty() {
        return None;
    }
    let first = spec.first_key as usize;
    let last = if spec.last_key < 0 {
        argc as i64 + spec.last_key as i64
    } else {
        spec.last_key as i64
    };
    if last < first as i64 || last as usize >= argc {
        return None;
    }
    Some(first..=last as usize)
}

fn step(spec: &CommandSpec) -> usize {
    spec.step.max(1) as usize
}

/// FNV-1a: short keys hash in a few nanoseconds, and buckets need no stronger mix.
fn bucket(key: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for &b in key {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    (h as usize) & (SLOTS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<Bytes> {
        a.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn need(d: &DirtyKeys, a: &[&str]) -> u64 {
        let a = args(a);
        let spec = command::lookup(&a[0]).unwrap();
        d.read_need(spec, &a)
    }

    #[test]
    fn a_read_waits_only_for_writes_to_its_keys() {
        let mut d = DirtyKeys::default();
        d.wrote(&["SET", "a", "1"], 10);
        d.wrote(&["SET", "b", "1"], 20);
        assert_eq!(need(&d, &["GET", "a"]), 10);
        assert_eq!(need(&d, &["GET", "b"]), 20);
        assert_eq!(need(&d, &["MGET", "a", "b"]), 20);
        assert_eq!(need(&d, &["GET", "never-written"]), 0);
        d.wrote(&["MSET", "c", "1", "d", "2"], 30);
        assert_eq!(need(&d, &["GET", "d"]), 30);
        assert_eq!(need(&d, &["HGET", "c", "f"]), 30);
    }

    #[test]
    fn unknown_keys_make_every_read_wait() {
        let mut d = DirtyKeys::default();
        d.wrote(&["SET", "a", "1"], 10);
        d.wrote(&["MULTI"], 15);
        assert_eq!(need(&d, &["GET", "x"]), 15);
        d.wrote(&["FLUSHALL"], 25);
        assert_eq!(need(&d, &["GET", "x"]), 25);
        d.wrote(&["NOSUCHCOMMAND", "x"], 35);
        assert_eq!(need(&d, &["GET", "x"]), 35);
    }

    #[test]
    fn reads_that_are_not_plain_wait_for_everything() {
        let d = DirtyKeys::default();
        for cmd in [
            &["DBSIZE"][..],
            &["KEYS", "*"],
            &["SCAN", "0"],
            &["RANDOMKEY"],
            &["SET", "a", "b"],
            &["SORT_RO", "a", "BY", "w_*"],
            &["EVAL_RO", "return 1", "0"],
            &["OBJECT", "ENCODING", "a"],
        ] {
            assert_eq!(need(&d, cmd), ALL, "{cmd:?}");
        }
    }

    #[test]
    fn offsets_only_grow_in_a_shared_bucket() {
        let mut d = DirtyKeys::default();
        // Find two keys in one bucket.
        let first = bucket(b"k0");
        let other = (1..100_000)
            .map(|i| format!("k{i}"))
            .find(|k| bucket(k.as_bytes()) == first)
            .unwrap();
        d.wrote(&["SET", "k0", "v"], 100);
        assert_eq!(
            need(&d, &["GET", &other]),
            100,
            "a shared bucket waits, never skips"
        );
    }
}
