//! The keyspace of one shard: keys, values, expiry times and access metadata.
//!
//! # Layout
//! - [`sds`]: the compact byte string used for keys and string values.
//! - [`value`]: the value types and their Redis type and encoding names.
//! - [`expire`]: Redis's active expiry cycle.
//!
//! Keys live in an `IndexMap` so that a random key (RANDOMKEY, expiry sampling, eviction)
//! costs O(1), and SCAN can walk positions. Removal is `swap_remove`, which moves the last
//! entry into the hole; SCAN therefore walks from the end towards the start, so an entry
//! that moves always moves from the visited part into a part still to visit, and no key
//! present for the whole scan is ever missed.

pub mod expire;
pub mod hash;
pub mod list;
pub mod sds;
pub mod set;
pub mod stream;
pub mod value;
pub mod zset;

use ahash::RandomState;
use indexmap::IndexMap;

pub use sds::Sds;
pub use value::Value;

/// One key's value and the access clock Redis keeps in its object header (LRU seconds).
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    pub lru: u32,
}

#[derive(Debug, Default)]
pub struct KeyStats {
    pub expired_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

/// Keyspace events that the keyspace itself produces, as Redis raises them from its
/// lookup, add and expiry functions rather than from commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    /// A key was created (`new`).
    New = 1,
    /// A read found no key (`keymiss`).
    Miss = 2,
    /// Lazy or active expiry deleted a key (`expired`).
    Expired = 4,
}

pub struct Db {
    keys: IndexMap<Sds, Entry, RandomState>,
    /// Absolute expiry in Unix milliseconds, for volatile keys only, as Redis keeps them in
    /// a separate dict so the expiry cycle samples volatile keys alone.
    expires: IndexMap<Sds, i64, RandomState>,
    pub stats: KeyStats,
    /// Keys removed by lazy or active expiry since the caller last drained the list; the
    /// server turns them into DELs for the AOF and invalidates WATCHes on them.
    pub expired: Vec<Sds>,
    /// Which [`KeyEvent`]s to record in `events` (bits of `KeyEvent as u8`): only those
    /// whose notification class is on, so that nothing is recorded while it is off.
    pub record: u8,
    /// Key events in the order they happened, since the server last drained the list
    /// (see `crate::notify`).
    pub events: Vec<(KeyEvent, Sds)>,
    /// Seconds clock for the LRU field, set by the server once per event-loop turn.
    pub lru_clock: u32,
    /// Whether the cron's active expiry cycle runs (DEBUG SET-ACTIVE-EXPIRE); lazy expiry
    /// on access is unaffected.
    pub active_expire_enabled: bool,
    /// Where the active expiry cycle resumes its walk over `expires`.
    expire_cursor: usize,
    pub expire_stats: expire::ExpireStats,
}

impl Default for Db {
    fn default() -> Self {
        Db::new()
    }
}

impl Db {
    pub fn new() -> Db {
        Db {
            keys: IndexMap::with_hasher(RandomState::new()),
            expires: IndexMap::with_hasher(RandomState::new()),
            stats: KeyStats::default(),
            expired: Vec::new(),
            record: 0,
            events: Vec::new(),
            lru_clock: 0,
            active_expire_enabled: true,
            expire_cursor: 0,
            expire_stats: expire::ExpireStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// The expiry time of `key`, without checking whether it has passed.
    pub fn expire_at(&self, key: &[u8]) -> Option<i64> {
        self.expires.get(key).copied()
    }

    /// Looks a key up for reading without touching its access clock, but counting a hit
    /// or a miss (TYPE, EXISTS, TTL, OBJECT).
    pub fn lookup_notouch(&mut self, key: &[u8], now: i64) -> Option<&Entry> {
        self.expire_if_needed(key, now);
        match self.keys.get(key) {
            Some(e) => {
                self.stats.keyspace_hits += 1;
                Some(e)
            }
            None => {
                self.stats.keyspace_misses += 1;
                // Field by field: the entry borrow of the other arm still holds `keys`.
                if self.record & KeyEvent::Miss as u8 != 0 {
                    self.events.push((KeyEvent::Miss, Sds::new(key)));
                }
                None
            }
        }
    }

    /// True when `key` has a TTL that has passed; deletes nothing (KEYS).
    pub fn is_expired(&self, key: &[u8], now: i64) -> bool {
        matches!(self.expires.get(key), Some(&at) if at <= now)
    }

    /// Deletes `key` if its time has passed. Returns true when it did.
    fn expire_if_needed(&mut self, key: &[u8], now: i64) -> bool {
        match self.expires.get(key) {
            Some(&at) if at <= now => {
                self.remove(key);
                self.stats.expired_keys += 1;
                self.expired.push(Sds::new(key));
                self.record(KeyEvent::Expired, key);
                true
            }
            _ => false,
        }
    }

    /// Looks a key up for reading: expires it if due, counts a hit or a miss, and
    /// updates its access clock.
    pub fn get(&mut self, key: &[u8], now: i64) -> Option<&Value> {
        self.expire_if_needed(key, now);
        let clock = self.lru_clock;
        match self.keys.get_mut(key) {
            Some(e) => {
                self.stats.keyspace_hits += 1;
                e.lru = clock;
                Some(&e.value)
            }
            None => {
                self.stats.keyspace_misses += 1;
                // Field by field: the entry borrow of the other arm still holds `keys`.
                if self.record & KeyEvent::Miss as u8 != 0 {
                    self.events.push((KeyEvent::Miss, Sds::new(key)));
                }
                None
            }
        }
    }

    /// Looks a key up for writing (no hit/miss accounting).
    pub fn get_mut(&mut self, key: &[u8], now: i64) -> Option<&mut Value> {
        self.expire_if_needed(key, now);
        let clock = self.lru_clock;
        self.keys.get_mut(key).map(|e| {
            e.lru = clock;
            &mut e.value
        })
    }

    /// Looks a key up without touching its access clock or the hit counters (OBJECT,
    /// TYPE-free internal checks).
    pub fn peek(&mut self, key: &[u8], now: i64) -> Option<&Entry> {
        self.expire_if_needed(key, now);
        self.keys.get(key)
    }

    /// A value already looked up with [`Db::get`] in the same command: no expiry check,
    /// no accounting. Lets multi-key commands (SINTER …) borrow several values at once.
    pub fn value_ref(&self, key: &[u8]) -> Option<&Value> {
        self.keys.get(key).map(|e| &e.value)
    }

    pub fn contains(&mut self, key: &[u8], now: i64) -> bool {
        self.expire_if_needed(key, now);
        self.keys.contains_key(key)
    }

    /// Deletes `key` if its TTL has passed (a write about to replace it).
    pub fn expire_due(&mut self, key: &[u8], now: i64) {
        self.expire_if_needed(key, now);
    }

    /// True when `key` is stored, even if logically expired (WATCH's bookkeeping).
    pub fn contains_raw(&self, key: &[u8]) -> bool {
        self.keys.contains_key(key)
    }

    /// Stores `value` under `key`. Like Redis's `setKey`, this clears any TTL unless
    /// `keep_ttl` is set.
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool) {
        let entry = Entry {
            value,
            lru: self.lru_clock,
        };
        // One probe whether the key is new or not: a SET into a keyspace larger than the
        // cache pays a miss on the probe, and hashing twice to insert would pay more.
        use indexmap::map::{raw_entry_v1::RawEntryMut, RawEntryApiV1};
        let hash = self.keys.hasher().hash_one(key);
        match self
            .keys
            .raw_entry_mut_v1()
            .from_key_hashed_nocheck(hash, key)
        {
            RawEntryMut::Occupied(mut slot) => *slot.get_mut() = entry,
            RawEntryMut::Vacant(slot) => {
                slot.insert_hashed_nocheck(hash, Sds::new(key), entry);
                self.created(key);
            }
        }
        if !keep_ttl {
            self.expires.swap_remove(key);
        }
    }

    /// Adds a key that must not exist yet.
    pub fn insert_new(&mut self, key: &[u8], value: Value) {
        self.keys.insert(
            Sds::new(key),
            Entry {
                value,
                lru: self.lru_clock,
            },
        );
        self.created(key);
    }

    #[inline]
    fn created(&mut self, key: &[u8]) {
        self.record(KeyEvent::New, key);
    }

    #[inline]
    fn record(&mut self, event: KeyEvent, key: &[u8]) {
        if self.record & event as u8 != 0 {
            self.events.push((event, Sds::new(key)));
        }
    }

    /// Removes a key and its TTL, returning its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        let e = self.keys.swap_remove(key)?;
        self.expires.swap_remove(key);
        Some(e.value)
    }

    /// Removes a key and returns its whole entry and TTL (RENAME, MOVE).
    pub fn take(&mut self, key: &[u8], now: i64) -> Option<(Entry, Option<i64>)> {
        self.expire_if_needed(key, now);
        let e = self.keys.swap_remove(key)?;
        let ttl = self.expires.swap_remove(key);
        Some((e, ttl))
    }

    /// Puts back an entry taken with [`Db::take`] under a (possibly new) name.
    pub fn put_entry(&mut self, key: &[u8], entry: Entry, expire_at: Option<i64>) {
        if self.keys.insert(Sds::new(key), entry).is_none() {
            self.created(key);
        }
        match expire_at {
            Some(at) => {
                self.expires.insert(Sds::new(key), at);
            }
            None => {
                self.expires.swap_remove(key);
            }
        }
    }

    /// Sets the TTL of an existing key. Returns false when the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], at_ms: i64) -> bool {
        if !self.keys.contains_key(key) {
            return false;
        }
        match self.expires.get_mut(key) {
            Some(at) => *at = at_ms,
            None => {
                self.expires.insert(Sds::new(key), at_ms);
            }
        }
        true
    }

    /// Removes the TTL of a key. Returns true when there was one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.expires.swap_remove(key).is_some()
    }

    pub fn flush(&mut self) -> usize {
        let n = self.keys.len();
        self.keys = IndexMap::with_hasher(RandomState::new());
        self.expires = IndexMap::with_hasher(RandomState::new());
        n
    }

    /// A random live key, or None. Expired keys met on the way are deleted, so every
    /// miss shrinks the keyspace and the loop ends after at most `len` draws.
    pub fn random_key(&mut self, now: i64, rng: &mut impl rand::Rng) -> Option<Sds> {
        while !self.keys.is_empty() {
            let i = rng.gen_range(0..self.keys.len());
            let key = self.keys.get_index(i)?.0.clone();
            if !self.expire_if_needed(&key, now) {
                return Some(key);
            }
        }
        None
    }

    /// One SCAN step: visits positions below `cursor` (0 starts a new scan) downwards,
    /// calling `visit` for each key, until `count` positions have been seen. Returns the
    /// next cursor, 0 when the scan is complete.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&Sds, &Entry)) -> u64 {
        let len = self.keys.len() as u64;
        let mut pos = if cursor == 0 || cursor > len {
            len
        } else {
            cursor
        };
        let mut seen = 0;
        while pos > 0 && seen < count.max(1) {
            pos -= 1;
            if let Some((k, e)) = self.keys.get_index(pos as usize) {
                visit(k, e);
            }
            seen += 1;
        }
        pos
    }

    /// Every key, in storage order (KEYS).
    pub fn iter(&self) -> impl Iterator<Item = (&Sds, &Entry)> {
        self.keys.iter()
    }

    /// The key and entry at storage position `i` (eviction sampling).
    pub fn entry_at(&self, i: usize) -> Option<(&Sds, &Entry)> {
        self.keys.get_index(i)
    }

    /// The volatile key and its expiry at position `i` of the expiry table.
    pub fn volatile_at(&self, i: usize) -> Option<(&Sds, i64)> {
        self.expires.get_index(i).map(|(k, &at)| (k, at))
    }

    /// A key's entry, without expiry, statistics or touching its clock.
    pub fn entry_raw(&self, key: &[u8]) -> Option<&Entry> {
        self.keys.get(key)
    }

    /// Gives back table memory once a table is under a tenth full (as Redis resizes
    /// sparse dicts), or whenever it has spare room if `always`: removal never shrinks
    /// the tables, and eviction must be able to get under `maxmemory` with them.
    /// Returns whether anything was shrunk.
    pub fn shrink_if_sparse(&mut self, always: bool) -> bool {
        fn sparse(len: usize, cap: usize, always: bool) -> bool {
            cap > 64 && (len * 10 < cap || (always && len < cap))
        }
        let mut shrunk = false;
        if sparse(self.keys.len(), self.keys.capacity(), always) {
            self.keys.shrink_to_fit();
            shrunk = true;
        }
        if sparse(self.expires.len(), self.expires.capacity(), always) {
            self.expires.shrink_to_fit();
            shrunk = true;
        }
        shrunk
    }

    /// Expires `key` if due; used by the active cycle and by scans.
    pub fn expire_key_if_due(&mut self, key: &[u8], now: i64) -> bool {
        self.expire_if_needed(key, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_survives_deletes() {
        let mut db = Db::new();
        for i in 0..1000 {
            db.set(format!("k{i}").as_bytes(), Value::str(b"v"), false);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut deleted = 0;
        loop {
            let mut batch = Vec::new();
            cursor = db.scan(cursor, 10, |k, _| batch.push(k.clone()));
            for k in batch {
                seen.insert(k);
            }
            // Delete keys that have not been seen yet, as another client might.
            if deleted < 300 {
                let victim = format!("k{}", deleted * 3);
                if !seen.contains(&Sds::new(victim.as_bytes())) {
                    db.remove(victim.as_bytes());
                }
                deleted += 1;
            }
            if cursor == 0 {
                break;
            }
        }
        for (k, _) in db.iter() {
            assert!(
                seen.contains(k),
                "{k:?} present throughout but not returned"
            );
        }
    }

    #[test]
    fn lazy_expiry() {
        let mut db = Db::new();
        db.set(b"a", Value::str(b"1"), false);
        db.set_expire(b"a", 100);
        assert!(db.get(b"a", 99).is_some());
        assert!(db.get(b"a", 100).is_none());
        assert_eq!(db.stats.expired_keys, 1);
        assert_eq!(db.expired.len(), 1);
    }
}
