//! The differential harness: random command streams sent to a real `redis-server` and
//! to a shoal shard, reply by reply.
//!
//! # Layout
//! - [`gen`]: [`Gen`], the seeded source of keys, values and argument shapes (valid and
//!   invalid) that every family draws from.
//! - one generator module per command family ([`strings`], [`keys`], [`hash`],
//!   [`list`], [`set`], [`zset`], [`script`]); each exposes `command(&mut Gen) -> Cmd`. A new
//!   family adds a module here and a test in `tests/differential.rs`.
//! - [`compare`]: how two replies are compared ([`Cmp`]): byte for byte, except what
//!   Redis itself leaves unordered, random or time-dependent.
//! - [`state`]: a canonical dump of the whole keyspace, compared now and then so that a
//!   silent divergence (a wrong write with a right reply) is caught near its cause.
//! - [`runner`]: runs a stream against both servers and reports. Run against a second
//!   `redis-server` ([`Peer::Redis`]), it checks the harness itself: any difference
//!   then is a generator or comparison that depends on timing or randomness.
//!
//! # Environment
//! - `SHOAL_DIFF_SEED`: the seed, or `random` (default: a fixed seed, so CI is
//!   reproducible; the seed is always printed so a failure can be replayed).
//! - `SHOAL_DIFF_COMMANDS`: commands per family test (defaults per test).
//! - `SHOAL_DIFF_FOREIGN=basic`: see [`foreign`].

pub mod compare;
pub mod gen;
pub mod hash;
pub mod keys;
pub mod list;
pub mod runner;
pub mod script;
pub mod set;
pub mod state;
pub mod strings;
pub mod zset;

pub use compare::Cmp;
pub use gen::Gen;
pub use runner::{run, run_against, Outcome, Peer};

/// One generated command, how to compare its replies, and commands to run after it
/// on both servers (for example to drop a key a random command left in different
/// states).
#[derive(Debug, Clone)]
pub struct Cmd {
    pub args: Vec<Vec<u8>>,
    pub cmp: Cmp,
    pub then: Vec<Cmd>,
    /// False for commands the runner must not break at random: dropping an argument
    /// could turn a rejected request into a very expensive one.
    pub mutable: bool,
    /// For lexicographic sorted-set commands, the argument holding the key they read.
    /// Redis leaves their result unspecified unless all scores are equal, so the
    /// runner skips them (on both servers) when they are not.
    pub lex_key: Option<usize>,
}

impl Cmd {
    pub fn new(name: &str) -> Cmd {
        Cmd {
            args: vec![name.as_bytes().to_vec()],
            cmp: Cmp::Exact,
            then: Vec::new(),
            mutable: true,
            lex_key: None,
        }
    }

    pub fn arg(mut self, a: impl AsRef<[u8]>) -> Cmd {
        self.args.push(a.as_ref().to_vec());
        self
    }

    pub fn args<I, A>(mut self, items: I) -> Cmd
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        self.args
            .extend(items.into_iter().map(|a| a.as_ref().to_vec()));
        self
    }

    pub fn push(&mut self, a: impl AsRef<[u8]>) {
        self.args.push(a.as_ref().to_vec());
    }

    pub fn cmp(mut self, cmp: Cmp) -> Cmd {
        self.cmp = cmp;
        self
    }

    /// Keeps the runner from breaking this command (see [`Cmd::mutable`]).
    pub fn fixed(mut self) -> Cmd {
        self.mutable = false;
        self
    }

    /// Marks a lexicographic command whose key is argument `index`.
    pub fn lex(mut self, index: usize) -> Cmd {
        self.lex_key = Some(index);
        self
    }

    pub fn then(mut self, cmd: Cmd) -> Cmd {
        self.then.push(cmd);
        self
    }

    /// The command's name, lower case (for per-command tallies).
    pub fn name(&self) -> String {
        self.args
            .first()
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .unwrap_or_default()
    }
}

/// Commands from outside a data-type family that every data-type stream mixes in, so
/// that types collide (WRONGTYPE) and generic key commands meet every type.
///
/// With `SHOAL_DIFF_FOREIGN=basic` only SET, GET, DEL and EXISTS are mixed in (the
/// commands every shard has served from the start), so that one family can be checked
/// on a branch where the generic key commands have not landed yet.
pub fn foreign(g: &mut Gen) -> Cmd {
    static BASIC: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let basic = *BASIC
        .get_or_init(|| std::env::var("SHOAL_DIFF_FOREIGN").is_ok_and(|v| v.trim() == "basic"));
    let roll = if basic {
        [0, 1, 2, 3, 5][g.below(5)]
    } else {
        g.below(12)
    };
    match roll {
        0 | 1 => Cmd::new("SET").arg(g.other_type_key()).arg(g.value()),
        2 => Cmd::new("GET").arg(g.key()),
        3 => Cmd::new("DEL").args(g.keys(1, 3)),
        4 => Cmd::new("TYPE").arg(g.key()),
        5 => Cmd::new("EXISTS").args(g.keys(1, 3)),
        6 => Cmd::new("RENAME").arg(g.key()).arg(g.key()),
        7 => {
            let c = Cmd::new("COPY").arg(g.key()).arg(g.key());
            if g.chance(0.5) {
                c.arg(g.opt("REPLACE"))
            } else {
                c
            }
        }
        8 => Cmd::new("EXPIRE").arg(g.key()).arg(g.rel_secs()),
        9 => Cmd::new("PTTL").arg(g.key()).cmp(Cmp::TTL_MS),
        10 => Cmd::new("PERSIST").arg(g.key()),
        _ => Cmd::new("APPEND").arg(g.other_type_key()).arg(g.value()),
    }
}
