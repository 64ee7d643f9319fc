//! Runs one family's command stream against `redis-server` and a shoal shard.
//!
//! Every command goes to Redis first, then to shoal, and the two replies are compared
//! (see [`Cmp`]). Now and then, and at the end, the whole keyspace is compared too.
//! The first half of the stream runs on RESP2 connections, the second half on RESP3
//! (after `HELLO 3`), so both encodings of every reply are covered.

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use super::state::content_commands;
use super::{Cmd, Cmp, Gen};
use crate::client::{describe, Frame, RawClient};
use crate::resp::{escape, Reply};
use crate::server::{ChildServer, Proxy, RedisServer, Shard};

/// How many mismatches a report shows in full.
pub const SHOWN: usize = 20;
/// Commands between two full-keyspace comparisons.
const STATE_EVERY: usize = 250;
/// Replies longer than this are cut in reports.
const MAX_SHOWN_REPLY: usize = 400;

/// One reply that differed.
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// The command's position in the stream (state checks: the position they follow).
    pub index: usize,
    pub command: String,
    pub redis: String,
    pub shoal: String,
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub family: String,
    pub seed: u64,
    pub commands: usize,
    pub identical: usize,
    /// Per command name: (sent, identical, Redis errors).
    pub by_command: BTreeMap<String, (usize, usize, usize)>,
    pub mismatches: Vec<Mismatch>,
    pub state_checks: usize,
    pub state_identical: usize,
    pub state_mismatches: Vec<Mismatch>,
    /// Set when shoal stopped running; the rest of the stream was not sent.
    pub crashed: Option<String>,
    /// Replies Redis answered with an error: how much of the stream tests error paths.
    pub redis_errors: usize,
    /// Commands sent to neither server: lexicographic ones whose key's scores differed,
    /// and, through the proxy, ones it refuses with CROSSSLOT.
    pub skipped: usize,
}

/// The server a stream is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A shoal shard: the point of the harness.
    Shoal,
    /// A second `redis-server`: checks the harness itself, since any difference then
    /// comes from a generator or a comparison that is not deterministic.
    Redis,
    /// The agent's proxy in front of [`PROXY_SHARDS`] shards. Half the key space gets
    /// one hash tag, so multi-key commands often stay in one slot; a command that the
    /// proxy must refuse with CROSSSLOT is sent to neither server (see [`cross_slot`]).
    Proxy,
}

/// Shards behind the proxy in [`Peer::Proxy`] runs.
pub const PROXY_SHARDS: usize = 4;

/// The key space of a proxy run: every other key shares the `{p}` hash tag, the rest
/// spread over the shards by their own hash.
fn proxy_keys(keys: &[&str]) -> Vec<String> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            if i % 2 == 0 {
                format!("{{p}}{k}")
            } else {
                k.to_string()
            }
        })
        .collect()
}

/// DBSIZE counts keys whose TTL passed but that no expiry cycle has reached yet. Four
/// shards sample their expiring keys on their own clocks, so that count differs from one
/// server's by timing alone; the state checks compare the live keyspace instead.
fn counts_expired(args: &[Vec<u8>]) -> bool {
    args.first()
        .is_some_and(|c| c.eq_ignore_ascii_case(b"dbsize"))
}

/// Whether the proxy refuses `args` with CROSSSLOT: a multi-key command, other than the
/// ones it splits by shard, whose keys hash to several slots.
pub fn cross_slot(args: &[Vec<u8>]) -> bool {
    const SPLIT: &[&str] = &["mget", "mset", "del", "unlink", "exists", "touch"];
    let Some(name) = args.first() else {
        return false;
    };
    if SPLIT
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s.as_bytes()))
    {
        return false;
    }
    let Some(mut spec) = shoal_proto::lookup(name) else {
        return false;
    };
    if let Some(sub) = args.get(1).filter(|_| !spec.subcommands.is_empty()) {
        match shoal_proto::lookup_subcommand(spec, sub) {
            Some(s) => spec = s,
            None => return false,
        }
    }
    if !spec.arity_ok(args.len()) {
        return false;
    }
    let owned: Vec<bytes::Bytes> = args
        .iter()
        .map(|a| bytes::Bytes::copy_from_slice(a))
        .collect();
    let Ok(positions) = spec.key_positions(&owned) else {
        return false;
    };
    let mut slots = positions
        .iter()
        .filter_map(|&p| args.get(p))
        .map(|k| shoal_proto::key_hash_slot(k));
    match slots.next() {
        Some(first) => slots.any(|s| s != first),
        None => false,
    }
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.identical == self.commands
            && self.state_identical == self.state_checks
            && self.crashed.is_none()
    }

    /// `family: N commands, M identical …` in one line.
    pub fn summary(&self) -> String {
        format!(
            "{}: seed {}, {} commands, {} identical, {} differ ({} Redis errors); \
             {} skipped (lex on mixed scores, or cross-slot through the proxy); state checks {} of {} identical{}",
            self.family,
            self.seed,
            self.commands,
            self.identical,
            self.commands - self.identical,
            self.redis_errors,
            self.skipped,
            self.state_identical,
            self.state_checks,
            if self.crashed.is_some() {
                "; SHOAL STOPPED"
            } else {
                ""
            }
        )
    }

    /// The summary, the commands that differed most, and the first mismatches.
    pub fn report(&self) -> String {
        let mut s = format!(
            "== {}\n(replay with SHOAL_DIFF_SEED={})\n",
            self.summary(),
            self.seed
        );
        if let Some(why) = &self.crashed {
            let _ = writeln!(s, "shoal stopped: {why}");
        }
        let mut differing: Vec<(&String, usize, usize)> = self
            .by_command
            .iter()
            .filter(|(_, (n, same, _))| n != same)
            .map(|(name, (n, same, _))| (name, n - same, *n))
            .collect();
        differing.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        if !differing.is_empty() {
            s.push_str("differing, by command (differ/sent):");
            for (name, bad, n) in &differing {
                let _ = write!(s, " {name} {bad}/{n}");
            }
            s.push('\n');
        }
        let show = |s: &mut String, title: &str, list: &[Mismatch]| {
            if list.is_empty() {
                return;
            }
            let _ = writeln!(
                s,
                "{title} (first {} of {}):",
                list.len().min(SHOWN),
                list.len()
            );
            for m in list.iter().take(SHOWN) {
                let _ = writeln!(
                    s,
                    "  #{} {}\n      redis: {}\n      shoal: {}",
                    m.index, m.command, m.redis, m.shoal
                );
            }
        };
        let errors: Vec<String> = self
            .by_command
            .iter()
            .filter(|(_, t)| t.2 > 0)
            .map(|(name, t)| format!("{name} {}/{}", t.2, t.0))
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(
                s,
                "Redis errors, by command (errors/sent): {}",
                errors.join(" ")
            );
        }
        show(&mut s, "mismatched replies", &self.mismatches);
        show(&mut s, "mismatched keyspace", &self.state_mismatches);
        s
    }
}

/// The seed from `SHOAL_DIFF_SEED`: a number, or `random` for a fresh one. The default is
/// fixed so that a CI run is reproducible; new seeds are explored on purpose, and any
/// difference they find becomes a fix plus a regression test.
pub fn seed() -> u64 {
    const DEFAULT_SEED: u64 = 20261124;
    match env::var("SHOAL_DIFF_SEED") {
        Ok(s) if s.trim() == "random" => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("SHOAL_DIFF_SEED={s:?} is not a u64 or `random`")),
        Err(_) => DEFAULT_SEED,
    }
}

/// The number of commands for `family`: `SHOAL_DIFF_COMMANDS_<FAMILY>`, else
/// `SHOAL_DIFF_COMMANDS`, else `default`.
pub fn command_count(family: &str, default: usize) -> usize {
    let own = format!("SHOAL_DIFF_COMMANDS_{}", family.to_ascii_uppercase());
    for var in [own.as_str(), "SHOAL_DIFF_COMMANDS"] {
        if let Ok(s) = env::var(var) {
            return s
                .trim()
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("{var}={s:?} is not a count"));
        }
    }
    default
}

/// Runs `family`'s stream: `gen` makes each command over the key space `keys`.
pub fn run(
    family: &str,
    default_commands: usize,
    keys: &[&str],
    gen: fn(&mut Gen) -> Cmd,
) -> Outcome {
    let peer = match env::var("SHOAL_DIFF_TARGET") {
        Ok(t) if t.trim() == "proxy" => Peer::Proxy,
        _ => Peer::Shoal,
    };
    run_against(peer, family, default_commands, keys, gen)
}

/// [`run`], against `peer` instead of always shoal.
pub fn run_against(
    peer: Peer,
    family: &str,
    default_commands: usize,
    keys: &[&str],
    gen: fn(&mut Gen) -> Cmd,
) -> Outcome {
    let seed = seed();
    let count = command_count(family, default_commands);
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // One seed replays every family, yet each family gets its own stream.
    let family_seed = family.bytes().fold(seed, |h, b| {
        h.rotate_left(5) ^ u64::from(b).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    });
    let tagged = proxy_keys(keys);
    let tagged: Vec<&str> = tagged.iter().map(String::as_str).collect();
    let keys = if peer == Peer::Proxy {
        &tagged[..]
    } else {
        keys
    };
    let mut g = Gen::new(family_seed, keys, now_s);
    let mut pair = Pair::start(peer);
    let mut out = Outcome {
        family: family.to_string(),
        seed,
        ..Outcome::default()
    };
    for i in 0..count {
        if i == count / 2 {
            pair.switch_to_resp3(i, &mut out);
        }
        let mut cmd = gen(&mut g);
        mutate(&mut g, &mut cmd);
        let defined = match cmd.lex_key.and_then(|i| cmd.args.get(i)) {
            Some(key) => pair.uniform_scores(key),
            None => true,
        } && !(peer == Peer::Proxy
            && (cross_slot(&cmd.args) || counts_expired(&cmd.args)));
        if defined {
            let follow = std::mem::take(&mut cmd.then);
            for c in std::iter::once(cmd).chain(follow) {
                pair.compare(i, &c, &mut out);
            }
        } else {
            out.skipped += 1;
        }
        if out.crashed.is_some() {
            break;
        }
        if (i + 1) % STATE_EVERY == 0 || i + 1 == count {
            pair.compare_state(i, &mut out);
        }
    }
    out
}

/// Now and then, breaks a command the way clients do: a missing or extra argument,
/// an unknown name. Also randomises the name's letter case.
fn mutate(g: &mut Gen, cmd: &mut Cmd) {
    let roll = if cmd.mutable { g.below(100) } else { 100 };
    match roll {
        0 | 1 if cmd.args.len() > 1 => {
            cmd.args.pop();
        }
        2 | 3 => cmd.args.push(g.junk()),
        4 => {
            if let Some(name) = cmd.args.first_mut() {
                name.extend_from_slice(b"X");
            }
        }
        _ => {}
    }
    if let Some(name) = cmd.args.first_mut() {
        let word = String::from_utf8_lossy(name).into_owned();
        *name = g.opt(&word);
    }
}

/// A command for a report, cut like replies are.
fn shown_command(args: &[Vec<u8>]) -> String {
    let text = describe(args);
    match text.char_indices().nth(MAX_SHOWN_REPLY) {
        Some((cut, _)) => format!("{} … ({} arguments)", &text[..cut], args.len()),
        None => text,
    }
}

fn shown(r: &Result<Frame, String>) -> String {
    match r {
        Ok(f) if f.raw.len() > MAX_SHOWN_REPLY => {
            format!(
                "{} … ({} bytes)",
                escape(&f.raw[..MAX_SHOWN_REPLY]),
                f.raw.len()
            )
        }
        Ok(f) => f.escaped(),
        Err(e) => format!("<{e}>"),
    }
}

/// The two servers and one connection to each.
struct Pair {
    redis_server: ChildServer,
    shoal_server: ChildServer,
    redis: RawClient,
    shoal: RawClient,
    resp3: bool,
    /// Shoal's I/O failures in a row; a shard that keeps timing out is treated as
    /// stopped, or a hung shard would cost the read timeout once per command.
    failures_in_row: usize,
}

/// I/O failures in a row after which shoal counts as stopped.
const MAX_FAILURES_IN_ROW: usize = 3;

impl Pair {
    fn start(peer: Peer) -> Pair {
        // DEBUG is refused by default since Redis 7; the runs below need
        // DEBUG SET-ACTIVE-EXPIRE.
        let reference = || RedisServer::start_with(&["--enable-debug-command", "local"]);
        let redis_server = reference();
        let shoal_server = match peer {
            Peer::Shoal => Shard::start(),
            Peer::Redis => reference(),
            Peer::Proxy => Proxy::start(PROXY_SHARDS),
        };
        let mut redis = redis_server.connect();
        let mut shoal = shoal_server.connect();
        if peer != Peer::Proxy {
            // A key given a time already past (SET … EXAT 1) stays in DBSIZE until an
            // expiry cycle samples it, and each server's cycle runs on its own clock.
            // With only lazy expiry, what DBSIZE counts follows from the stream alone.
            // The proxy's runs leave DBSIZE out instead (see `counts_expired`).
            for (name, client) in [("redis-server", &mut redis), ("shoal", &mut shoal)] {
                match client.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]) {
                    Ok(f) if !f.reply.is_error() => {}
                    Ok(f) => panic!("{name} refused DEBUG SET-ACTIVE-EXPIRE 0: {:?}", f.reply),
                    Err(e) => panic!("{name} failed on DEBUG SET-ACTIVE-EXPIRE 0: {e}"),
                }
            }
        }
        Pair {
            redis_server,
            shoal_server,
            redis,
            shoal,
            resp3: false,
            failures_in_row: 0,
        }
    }

    /// Whether every member of the sorted set at `key` has the same score (asked of
    /// Redis only; a missing key or another type counts as uniform).
    fn uniform_scores(&mut self, key: &[u8]) -> bool {
        fn last_leaf(r: &Reply) -> Option<Reply> {
            match r.as_items() {
                Some(items) => items.last().and_then(last_leaf),
                None => Some(r.clone()),
            }
        }
        let mut score = |at: &[u8]| {
            let args: [&[u8]; 5] = [b"ZRANGE", key, at, at, b"WITHSCORES"];
            let f = self
                .redis
                .call(&args)
                .unwrap_or_else(|e| panic!("redis-server failed on ZRANGE: {e}"));
            last_leaf(&f.reply)
        };
        let (lo, hi) = (score(b"0"), score(b"-1"));
        match (lo, hi) {
            (Some(lo), Some(hi)) if !lo.is_error() => lo == hi,
            _ => true,
        }
    }

    fn switch_to_resp3(&mut self, at: usize, out: &mut Outcome) {
        self.resp3 = true;
        let hello = Cmd::new("HELLO").arg("3").cmp(Cmp::Outcome);
        self.compare(at, &hello, out);
    }

    /// Sends `args` to both; Redis failing is a broken harness, shoal failing is a
    /// finding (the connection is reopened so that the run can go on).
    fn exchange(&mut self, args: &[Vec<u8>]) -> (Frame, Result<Frame, String>) {
        let redis = self.redis.call(args).unwrap_or_else(|e| {
            panic!(
                "redis-server failed on {}: {e}\n{}",
                describe(args),
                self.redis_server.log()
            )
        });
        let shoal = self.shoal.call(args).map_err(|e| e.to_string());
        if shoal.is_err() {
            self.failures_in_row += 1;
            self.reconnect_shoal();
        } else {
            self.failures_in_row = 0;
        }
        (redis, shoal)
    }

    fn reconnect_shoal(&mut self) {
        if !self.shoal_server.is_running() {
            return;
        }
        if let Ok(c) = RawClient::connect(self.shoal_server.port()) {
            self.shoal = c;
            if self.resp3 {
                let _ = self.shoal.call(&["HELLO", "3"]);
            }
        }
    }

    fn compare(&mut self, index: usize, cmd: &Cmd, out: &mut Outcome) {
        let (redis, shoal) = self.exchange(&cmd.args);
        if redis.reply.is_error() {
            out.redis_errors += 1;
        }
        let same = match &shoal {
            Ok(s) => cmd.cmp.same(&redis.reply, &redis.raw, &s.reply, &s.raw),
            Err(_) => false,
        };
        out.commands += 1;
        let tally = out.by_command.entry(cmd.name()).or_default();
        tally.0 += 1;
        if redis.reply.is_error() {
            tally.2 += 1;
        }
        if same {
            out.identical += 1;
            tally.1 += 1;
        } else {
            out.mismatches.push(Mismatch {
                index,
                command: shown_command(&cmd.args),
                redis: shown(&Ok(redis.clone())),
                shoal: shown(&shoal),
            });
        }
        let stopped = !self.shoal_server.is_running();
        if (stopped || self.failures_in_row >= MAX_FAILURES_IN_ROW) && out.crashed.is_none() {
            out.crashed = Some(format!(
                "{} after #{index} {}\n{}",
                if stopped {
                    "exited"
                } else {
                    "stopped answering"
                },
                describe(&cmd.args),
                self.shoal_server.log()
            ));
        }
    }

    fn state_step(
        &mut self,
        index: usize,
        args: Vec<Vec<u8>>,
        cmp: Cmp,
        out: &mut Outcome,
    ) -> Frame {
        let (redis, shoal) = self.exchange(&args);
        out.state_checks += 1;
        let same = match &shoal {
            Ok(s) => cmp.same(&redis.reply, &redis.raw, &s.reply, &s.raw),
            Err(_) => false,
        };
        if same {
            out.state_identical += 1;
        } else {
            out.state_mismatches.push(Mismatch {
                index,
                command: shown_command(&args),
                redis: shown(&Ok(redis.clone())),
                shoal: shown(&shoal),
            });
        }
        redis
    }

    /// Compares the whole keyspace, key by key, in Redis's terms: its key list, each
    /// key's type, content and time to live.
    fn compare_state(&mut self, index: usize, out: &mut Outcome) {
        let keys = self.state_step(
            index,
            vec![b"KEYS".to_vec(), b"*".to_vec()],
            Cmp::Unordered,
            out,
        );
        let mut names: Vec<Vec<u8>> = keys
            .reply
            .as_items()
            .unwrap_or_default()
            .iter()
            .filter_map(|k| k.as_bytes().map(<[u8]>::to_vec))
            .collect();
        names.sort();
        for key in names {
            let kind = self.state_step(index, vec![b"TYPE".to_vec(), key.clone()], Cmp::Exact, out);
            let kind = match kind.reply {
                Reply::Simple(t) => t,
                _ => continue,
            };
            for (args, cmp) in content_commands(&key, &kind) {
                self.state_step(index, args, cmp, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn cross_slot_follows_the_proxy_rule() {
        assert!(cross_slot(&args("RENAME a b")));
        assert!(cross_slot(&args("sinterstore {p}d {p}a b")));
        assert!(!cross_slot(&args("sinterstore {p}d {p}a {p}b")));
        assert!(!cross_slot(&args("MGET a b c")));
        assert!(!cross_slot(&args("del a b")));
        assert!(!cross_slot(&args("get a")));
        assert!(cross_slot(&args("lmpop 2 a b left")));
        assert!(!cross_slot(&args("lmpop 2 a")));
        assert!(!cross_slot(&args("nosuch a b")));
    }

    #[test]
    fn proxy_keys_tag_every_other_key() {
        assert_eq!(proxy_keys(&["a", "b", "c"]), vec!["{p}a", "b", "{p}c"]);
    }
}
