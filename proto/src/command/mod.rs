//! The command table: each command's name, arity, flags, ACL categories and key
//! specifications, exactly as Redis 7.0 reports them in `COMMAND INFO`.
//!
//! The table is data (see [`table`], generated from a reference redis-server). The shard's
//! dispatcher, `COMMAND`, and the proxy's routing all read it, so they can never disagree
//! about where a command's keys are.

pub mod table;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use bytes::Bytes;

use crate::number::parse_i64;

/// Command flags as a bit set; names follow `COMMAND INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub u32);

macro_rules! flags {
    ($($name:ident = $bit:expr, $text:expr;)*) => {
        impl Flags {
            $(pub const $name: Flags = Flags(1 << $bit);)*
            /// Every flag with the text `COMMAND INFO` shows for it, in Redis's order.
            pub const NAMES: &'static [(Flags, &'static str)] = &[$((Flags::$name, $text),)*];
        }
    };
}

flags! {
    WRITE = 0, "write";
    READONLY = 1, "readonly";
    DENYOOM = 2, "denyoom";
    MODULE = 3, "module";
    ADMIN = 4, "admin";
    PUBSUB = 5, "pubsub";
    NOSCRIPT = 6, "noscript";
    BLOCKING = 7, "blocking";
    LOADING = 8, "loading";
    STALE = 9, "stale";
    SKIP_MONITOR = 10, "skip_monitor";
    SKIP_SLOWLOG = 11, "skip_slowlog";
    ASKING = 12, "asking";
    FAST = 13, "fast";
    NO_AUTH = 14, "no_auth";
    MAY_REPLICATE = 15, "may_replicate";
    SENTINEL = 16, "sentinel";
    ONLY_SENTINEL = 17, "only_sentinel";
    NO_MANDATORY_KEYS = 18, "no_mandatory_keys";
    PROTECTED = 19, "protected";
    NO_ASYNC_LOADING = 20, "no_async_loading";
    NO_MULTI = 21, "no_multi";
    MOVABLEKEYS = 22, "movablekeys";
    ALLOW_BUSY = 23, "allow_busy";
    ALLOW_OOM = 24, "allow_oom";
}

impl Flags {
    pub const NONE: Flags = Flags(0);

    pub fn has(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }
}

/// Where a key specification starts looking for keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginSearch {
    Index(i32),
    Keyword {
        keyword: &'static str,
        start_from: i32,
    },
    Unknown,
}

/// How a key specification finds its keys once it has started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindKeys {
    Range {
        last_key: i32,
        key_step: i32,
        limit: i32,
    },
    Keynum {
        keynum_idx: i32,
        first_key: i32,
        key_step: i32,
    },
    Unknown,
}

/// One of a command's key specifications (`COMMAND INFO`'s 9th element).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub flags: &'static [&'static str],
    pub begin: BeginSearch,
    pub find: FindKeys,
}

/// One command, or one subcommand of a container command (`client|setname`).
#[derive(Debug)]
pub struct CommandSpec {
    /// Lower-case full name: `get`, or `client|setname` for a subcommand.
    pub name: &'static str,
    /// Redis arity: `n` means exactly `n` arguments including the name, `-n` at least `n`.
    pub arity: i32,
    pub flags: Flags,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub acl: &'static [&'static str],
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub fn is_write(&self) -> bool {
        self.flags.has(Flags::WRITE)
    }

    /// True when `argc` (arguments including the name) fits the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity > 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// The subcommand's short name (`setname` for `client|setname`).
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit('|').next().unwrap_or(self.name)
    }

    /// Positions of the keys in `args` (args[0] is the command name), following Redis's
    /// `getKeysUsingKeySpecs`. `Err` means the arguments do not match the key
    /// specifications, which Redis reports as invalid arguments.
    pub fn key_positions(&self, args: &[Bytes]) -> Result<Vec<usize>, InvalidKeyArgs> {
        Ok(self
            .keys_with_flags(args)?
            .into_iter()
            .map(|(pos, _)| pos)
            .collect())
    }

    /// Like [`CommandSpec::key_positions`], with each key's flags (`RW`, `access` …) as
    /// `COMMAND GETKEYSANDFLAGS` reports them. SORT's STORE target has no key
    /// specification Redis can follow, so it is found the way Redis's own SORT parser does.
    pub fn keys_with_flags(
        &self,
        args: &[Bytes],
    ) -> Result<Vec<(usize, &'static [&'static str])>, InvalidKeyArgs> {
        match self.name {
            "sort" | "sort_ro" => return Ok(sort_keys(args)),
            // Keys whose specification says `variable_flags`: the options decide.
            "set" if args.len() > 1 => {
                let get = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
                let flags: &'static [&'static str] = if get {
                    &["RW", "access", "update"]
                } else {
                    &["OW", "update"]
                };
                return Ok(vec![(1, flags)]);
            }
            "bitfield" if args.len() > 1 => return Ok(vec![(1, bitfield_flags(args))]),
            _ => {}
        }
        let argc = args.len() as i64;
        let mut out = Vec::new();
        for spec in self.key_specs {
            if spec.flags.contains(&"not_key") {
                continue;
            }
            let mut first: i64 = match spec.begin {
                BeginSearch::Index(i) => i as i64,
                BeginSearch::Keyword {
                    keyword,
                    start_from,
                } => {
                    let sf = start_from as i64;
                    let (start, end) = if sf > 0 {
                        (sf, argc - 1)
                    } else {
                        (argc + sf, 1)
                    };
                    let mut found = 0;
                    let mut i = start;
                    loop {
                        if i >= argc || i < 1 {
                            break;
                        }
                        if args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                            found = i + 1;
                            break;
                        }
                        if i == end {
                            break;
                        }
                        i = if start <= end { i + 1 } else { i - 1 };
                    }
                    if found == 0 {
                        continue;
                    }
                    found
                }
                BeginSearch::Unknown => return Err(InvalidKeyArgs),
            };
            let (last, step) = match spec.find {
                FindKeys::Range {
                    last_key,
                    key_step,
                    limit,
                } => {
                    let last = if last_key >= 0 {
                        first + last_key as i64
                    } else if limit == 0 {
                        argc + last_key as i64
                    } else {
                        first + ((argc - first) / limit as i64 + last_key as i64)
                    };
                    (last, key_step as i64)
                }
                FindKeys::Keynum {
                    keynum_idx,
                    first_key,
                    key_step,
                } => {
                    let idx = first + keynum_idx as i64;
                    if keynum_idx as i64 >= argc || idx >= argc {
                        return Err(InvalidKeyArgs);
                    }
                    let numkeys = parse_i64(&args[idx as usize])
                        .filter(|&n| n >= 0)
                        .ok_or(InvalidKeyArgs)?;
                    first += first_key as i64;
                    (first + numkeys - 1, key_step as i64)
                }
                FindKeys::Unknown => return Err(InvalidKeyArgs),
            };
            if last >= argc || last < first || first >= argc {
                return Err(InvalidKeyArgs);
            }
            let mut i = first;
            while i <= last {
                out.push((i as usize, spec.flags));
                i += step.max(1);
            }
        }
        Ok(out)
    }
}

/// BITFIELD's key is read-only when every operation is a GET.
fn bitfield_flags(args: &[Bytes]) -> &'static [&'static str] {
    let mut i = 2;
    while i < args.len() {
        let rem = args.len() - i - 1;
        let a = &args[i];
        if a.eq_ignore_ascii_case(b"get") && rem >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && rem >= 1 {
            i += 2;
        } else {
            return &["RW", "access", "update"];
        }
    }
    &["RO", "access"]
}

/// SORT's keys: the sorted key, and the last STORE target, skipping the arguments of
/// LIMIT, GET and BY so a pattern named "store" is not taken for the option.
fn sort_keys(args: &[Bytes]) -> Vec<(usize, &'static [&'static str])> {
    let mut out: Vec<(usize, &'static [&'static str])> = vec![(1, &["RO", "access"])];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < args.len() {
            store = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    if let Some(s) = store {
        out.push((s, &["OW", "update"]));
    }
    out
}

/// The arguments do not hold keys where the command's key specifications say they should.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Invalid arguments specified for command")]
pub struct InvalidKeyArgs;

/// FNV-1a, for maps keyed by command names: every request is looked up by name, a name
/// is a few bytes, and the maps are fixed at start-up, so a keyed hash buys no protection
/// here and SipHash costs several times as much per lookup.
pub struct NameHasher(u64);

impl Default for NameHasher {
    fn default() -> Self {
        NameHasher(FNV_OFFSET)
    }
}

impl Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a(self.0, bytes.iter().copied());
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut h: u64, bytes: impl Iterator<Item = u8>) -> u64 {
    for b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A map keyed by command name.
pub type NameMap<V> = HashMap<&'static str, V, BuildHasherDefault<NameHasher>>;

struct Index {
    by_name: NameTable,
    all: Vec<&'static CommandSpec>,
}

/// Open addressing over the lower-case names, probed with the request's bytes as they
/// came: the name is hashed and compared case-insensitively in place, so a lookup copies
/// nothing and checks no UTF-8. It runs for every request, on the shard and in the proxy.
struct NameTable {
    /// Power-of-two slots, a quarter full at most, so probes are short.
    slots: Vec<Option<&'static CommandSpec>>,
}

impl NameTable {
    fn new(specs: &[&'static CommandSpec]) -> NameTable {
        let size = (specs.len() * 4).next_power_of_two();
        let mut slots = vec![None; size];
        for &spec in specs {
            let mut i = name_hash(spec.name.as_bytes()) as usize & (size - 1);
            while slots[i].is_some() {
                i = (i + 1) & (size - 1);
            }
            slots[i] = Some(spec);
        }
        NameTable { slots }
    }

    fn get(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mask = self.slots.len() - 1;
        let mut i = name_hash(name) as usize & mask;
        loop {
            let spec = self.slots[i]?;
            if spec.name.as_bytes().eq_ignore_ascii_case(name) {
                return Some(spec);
            }
            i = (i + 1) & mask;
        }
    }
}

/// FNV-1a over the ASCII-lower-cased bytes.
fn name_hash(name: &[u8]) -> u64 {
    fnv1a(FNV_OFFSET, name.iter().map(u8::to_ascii_lowercase))
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut named = Vec::new();
        let mut all = Vec::new();
        for (_, group) in table::GROUPS {
            for spec in group.iter() {
                named.push(spec);
                all.push(spec);
                named.extend(spec.subcommands.iter());
            }
        }
        Index {
            by_name: NameTable::new(&named),
            all,
        }
    })
}

/// Every top-level command, in table order.
pub fn all() -> &'static [&'static CommandSpec] {
    &index().all
}

/// Finds a command by name, case-insensitively, without allocating.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    index().by_name.get(name)
}

/// Finds `parent|sub`, case-insensitively.
pub fn lookup_subcommand(parent: &CommandSpec, sub: &[u8]) -> Option<&'static CommandSpec> {
    parent
        .subcommands
        .iter()
        .find(|s| s.short_name().as_bytes().eq_ignore_ascii_case(sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn every_command_and_subcommand_is_found_by_its_name_in_any_case() {
        let mut names = 0;
        for spec in all() {
            for s in std::iter::once(*spec).chain(spec.subcommands.iter()) {
                let upper = s.name.to_ascii_uppercase();
                assert!(
                    std::ptr::eq(lookup(s.name.as_bytes()).unwrap(), s),
                    "{}",
                    s.name
                );
                assert!(
                    std::ptr::eq(lookup(upper.as_bytes()).unwrap(), s),
                    "{upper}"
                );
                names += 1;
            }
        }
        assert!(names > 300, "{names} names");
        for miss in [&b""[..], b"ge", b"gett", b"\xff\xfe", &[b'x'; 200]] {
            assert!(lookup(miss).is_none(), "{miss:?}");
        }
    }

    #[test]
    fn lookup_is_case_insensitive() {
        let get = lookup(b"GeT").expect("get exists");
        assert_eq!(get.arity, 2);
        assert!(get.flags.has(Flags::READONLY));
        let client = lookup(b"client").expect("client exists");
        assert_eq!(
            lookup_subcommand(client, b"SETNAME").map(|s| s.name),
            Some("client|setname")
        );
        assert!(lookup(b"nosuchcommand").is_none());
    }

    #[test]
    fn key_positions_follow_specs() {
        let mset = lookup(b"mset").expect("mset");
        assert_eq!(
            mset.key_positions(&args("mset a 1 b 2")).expect("valid"),
            vec![1, 3]
        );
        let zu = lookup(b"zunionstore").expect("zunionstore");
        assert_eq!(
            zu.key_positions(&args("zunionstore d 2 a b weights 1 2"))
                .expect("valid"),
            vec![1, 3, 4]
        );
        let xread = lookup(b"xread").expect("xread");
        assert_eq!(
            xread
                .key_positions(&args("xread count 2 streams a b 0 0"))
                .expect("valid"),
            vec![4, 5]
        );
        assert!(zu.key_positions(&args("zunionstore d x a")).is_err());
        let eval = lookup(b"eval").expect("eval");
        assert_eq!(eval.key_positions(&args("eval s 0")).ok(), None);
        assert_eq!(
            eval.key_positions(&args("eval s 1 k a")).expect("valid"),
            vec![3]
        );
    }
}
