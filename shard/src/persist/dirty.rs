//! Which keys have writes that are not on disk yet, so that under `appendfsync always` a
//! read waits only for the fsync of what it actually read.
//!
//! A reply may only show state a crash cannot take back. Redis gets that by sending every
//! reply after the event loop's fsync, reads included, so a read queued behind a write
//! burst waits a whole fsync for nothing. A shard instead remembers, for each key with a
//! write that may not be durable yet, the AOF offset of that write. A plain read of
//! declared keys needs only those offsets to be durable; anything else (a keyless read
//! like DBSIZE, a script, a read that itself appended, such as a lazy expiry) waits for
//! everything applied, as before.
//!
//! Keys are tracked by a 64-bit hash of their name. Two names with one hash only make a
//! read wait when it need not; they can never make it skip a wait, because an entry's
//! offset only grows. Entries the disk has caught up with are dropped as the table grows,
//! so it holds about the writes of the last few syncs: an exact set, where a fixed table
//! of buckets would make a read wait whenever any unsynced key shared its bucket (with 50
//! writers on a 4,096-bucket table, about one read in 80, which is the whole p99).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use bytes::Bytes;
use shoal_proto::command::CommandSpec;
use shoal_proto::Flags;

/// "Everything applied so far": the gate clamps it to the writer's applied offset.
pub const ALL: u64 = u64::MAX;
/// Smallest table size that triggers a prune.
const MIN_PRUNE: usize = 1024;
/// Most keys tracked: past this (a disk that stopped syncing while writes go on), the
/// table is dropped and every read waits for everything, which is always safe.
const MAX_TRACKED: usize = 1 << 16;

pub struct DirtyKeys {
    /// Hash of a key name → offset of its last write.
    keys: HashMap<u64, u64, BuildHasherDefault<PassThrough>>,
    names: ahash::RandomState,
    /// Offset of the last write whose keys are not known (MULTI, FLUSHALL, a script's
    /// effects, writes made before `always` was switched on): every read waits for it.
    unkeyed: u64,
    /// The table is pruned when it reaches this size.
    prune_at: usize,
}

impl Default for DirtyKeys {
    fn default() -> Self {
        DirtyKeys {
            keys: HashMap::default(),
            names: ahash::RandomState::new(),
            unkeyed: 0,
            prune_at: MIN_PRUNE,
        }
    }
}

/// The table's keys are already hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl DirtyKeys {
    /// Records a command just appended to the AOF, ending at `offset`; `durable` is the
    /// writer's durable offset now, below which entries may be dropped. `args` is what was
    /// written (the propagated form), so expiries, evictions and a transaction's parts are
    /// all covered.
    /// `spec` is the command's, None if it names none.
    pub fn wrote<A: AsRef<[u8]>>(
        &mut self,
        spec: Option<&CommandSpec>,
        args: &[A],
        offset: u64,
        durable: u64,
    ) {
        let Some(spec) = spec else {
            self.unkeyed = offset;
            return;
        };
        match simple_keys(spec, args.len()) {
            Some(range) => {
                for i in range.step_by(step(spec)) {
                    let h = self.names.hash_one(args[i].as_ref());
                    self.keys.insert(h, offset);
                }
                if self.keys.len() >= self.prune_at {
                    self.prune(durable, offset);
                }
            }
            None => self.unkeyed = offset,
        }
    }

    /// Every read waits for everything up to `offset` (appendfsync was just set to
    /// `always`: what was written before is tracked nowhere).
    pub fn wait_all(&mut self, offset: u64) {
        self.unkeyed = self.unkeyed.max(offset);
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
            if let Some(&off) = self.keys.get(&self.names.hash_one(&args[i][..])) {
                need = need.max(off);
            }
        }
        need
    }

    fn prune(&mut self, durable: u64, offset: u64) {
        self.keys.retain(|_, off| *off > durable);
        if self.keys.len() >= MAX_TRACKED {
            self.keys = HashMap::default();
            self.unkeyed = offset;
        }
        self.prune_at = (self.keys.len() * 2).max(MIN_PRUNE);
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

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_proto::command;

    fn args(a: &[&str]) -> Vec<Bytes> {
        a.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn spec_of(a: &[&str]) -> Option<&'static CommandSpec> {
        command::lookup(a[0].as_bytes())
    }

    fn need(d: &DirtyKeys, a: &[&str]) -> u64 {
        let a = args(a);
        let spec = command::lookup(&a[0]).unwrap();
        d.read_need(spec, &a)
    }

    #[test]
    fn a_read_waits_only_for_writes_to_its_keys() {
        let mut d = DirtyKeys::default();
        d.wrote(spec_of(&["SET", "a", "1"]), &["SET", "a", "1"], 10, 0);
        d.wrote(spec_of(&["SET", "b", "1"]), &["SET", "b", "1"], 20, 0);
        assert_eq!(need(&d, &["GET", "a"]), 10);
        assert_eq!(need(&d, &["GET", "b"]), 20);
        assert_eq!(need(&d, &["MGET", "a", "b"]), 20);
        assert_eq!(need(&d, &["GET", "never-written"]), 0);
        d.wrote(
            spec_of(&["MSET", "c", "1", "d", "2"]),
            &["MSET", "c", "1", "d", "2"],
            30,
            0,
        );
        assert_eq!(need(&d, &["GET", "d"]), 30);
        assert_eq!(need(&d, &["HGET", "c", "f"]), 30);
    }

    #[test]
    fn unknown_keys_make_every_read_wait() {
        let mut d = DirtyKeys::default();
        d.wrote(spec_of(&["SET", "a", "1"]), &["SET", "a", "1"], 10, 0);
        d.wrote(spec_of(&["MULTI"]), &["MULTI"], 15, 0);
        assert_eq!(need(&d, &["GET", "x"]), 15);
        d.wrote(spec_of(&["FLUSHALL"]), &["FLUSHALL"], 25, 0);
        assert_eq!(need(&d, &["GET", "x"]), 25);
        d.wrote(
            spec_of(&["NOSUCHCOMMAND", "x"]),
            &["NOSUCHCOMMAND", "x"],
            35,
            0,
        );
        assert_eq!(need(&d, &["GET", "x"]), 35);
        d.wait_all(40);
        assert_eq!(need(&d, &["GET", "x"]), 40);
        d.wait_all(5);
        assert_eq!(need(&d, &["GET", "x"]), 40, "never moves back");
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
    fn thousands_of_unsynced_keys_leave_other_reads_alone() {
        let mut d = DirtyKeys::default();
        for i in 0..5000u64 {
            d.wrote(
                spec_of(&["SET", &format!("w{i}"), "v"]),
                &["SET", &format!("w{i}"), "v"],
                100 + i,
                0,
            );
        }
        let waits = (0..100_000)
            .filter(|i| need(&d, &["GET", &format!("r{i}")]) > 0)
            .count();
        assert_eq!(waits, 0, "no read of an unwritten key waits");
        assert_eq!(need(&d, &["GET", "w4999"]), 5099);
    }

    #[test]
    fn durable_entries_are_pruned_and_a_stalled_disk_falls_back_to_waiting_for_all() {
        let mut d = DirtyKeys::default();
        for i in 0..(MIN_PRUNE as u64 * 4) {
            // The disk keeps up: everything but the last write is durable.
            d.wrote(
                spec_of(&["SET", &format!("k{i}"), "v"]),
                &["SET", &format!("k{i}"), "v"],
                i + 1,
                i,
            );
        }
        assert!(d.keys.len() < MIN_PRUNE, "{} entries kept", d.keys.len());
        assert_eq!(
            need(&d, &["GET", &format!("k{}", MIN_PRUNE * 4 - 1)]),
            MIN_PRUNE as u64 * 4
        );
        let mut d = DirtyKeys::default();
        let n = MAX_TRACKED as u64 + 10;
        for i in 0..n {
            // Nothing ever becomes durable.
            d.wrote(
                spec_of(&["SET", &format!("k{i}"), "v"]),
                &["SET", &format!("k{i}"), "v"],
                i + 1,
                0,
            );
        }
        assert!(d.keys.len() <= MAX_TRACKED);
        assert!(
            need(&d, &["GET", "never-written"]) >= MAX_TRACKED as u64,
            "with the table dropped, reads wait for what it held"
        );
    }
}
