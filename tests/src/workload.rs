//! The client side of the linearizability runs: threads doing GET, SET and INCR on a few
//! shared keys, plus INCR on a counter of their own, against a server that is killed at
//! random moments (a shard directly, or the agent's proxy).
//!
//! Every operation on a shared key is recorded with its invocation and completion time
//! for [`crate::linearize::check`]. What a reply means:
//! - `-LOADING`: a restarted shard refused the command while replaying its AOF: it did
//!   not run, and is not recorded.
//! - `-TRYAGAIN` (from the proxy): the shard's connection broke with the command sent, or
//!   the command waited too long for a shard that was down; it may or may not have run.
//! - no reply (the connection broke): it may or may not have run.
//!
//! A write that may or may not have run is recorded as [`Outcome::Unknown`]; a read with
//! no answer constrains nothing and is dropped.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::client::RawClient;
use crate::linearize::{Event, Op, Outcome};
use crate::resp::Reply;

/// Shared keys, `lin:0` to `lin:<KEYS-1>`.
pub const KEYS: usize = 4;

/// What every client thread shares with the test.
#[derive(Clone)]
pub struct Run {
    pub port: u16,
    /// Times are nanoseconds since this.
    pub start: Instant,
    pub stop: Arc<AtomicBool>,
    /// Per client, the highest acknowledged value of its own counter.
    pub own_acked: Arc<Vec<AtomicI64>>,
}

impl Run {
    pub fn new(port: u16, clients: usize) -> Run {
        Run {
            port,
            start: Instant::now(),
            stop: Arc::new(AtomicBool::new(false)),
            own_acked: Arc::new((0..clients).map(|_| AtomicI64::new(0)).collect()),
        }
    }

    /// Every client's acknowledged counter value now.
    pub fn acked(&self) -> Vec<i64> {
        self.own_acked
            .iter()
            .map(|a| a.load(Ordering::SeqCst))
            .collect()
    }
}

/// How a reply that is an error is to be taken.
enum Refusal {
    /// The command did not run.
    NotRun,
    /// It may have run.
    Maybe,
}

fn refusal(r: &Reply) -> Option<Refusal> {
    match r {
        Reply::Error(e) if e.starts_with(b"LOADING") => Some(Refusal::NotRun),
        Reply::Error(e) if e.starts_with(b"TRYAGAIN") => Some(Refusal::Maybe),
        _ => None,
    }
}

/// Runs operations until `run.stop`, reconnecting while the server restarts; returns the
/// client's operations on the shared keys.
pub fn client(run: Run, id: usize) -> Vec<Event> {
    let mut rng = rand::thread_rng();
    let mut events = Vec::new();
    let own = format!("own:{id}");
    let mut conn: Option<RawClient> = None;
    let mut seq = 0i64;
    let ns = |t: Instant| t.duration_since(run.start).as_nanos() as u64;
    let pause = || thread::sleep(Duration::from_millis(5));
    while !run.stop.load(Ordering::Relaxed) {
        let Some(c) = conn.as_mut() else {
            match RawClient::connect(run.port) {
                Ok(c) => conn = Some(c),
                Err(_) => pause(),
            }
            continue;
        };
        // A client's own counter: only it increments it, so every acknowledged value
        // must survive.
        if rng.gen_ratio(1, 8) {
            match c.call(&["INCR", own.as_str()]) {
                Ok(f) => match f.reply {
                    Reply::Int(n) => {
                        run.own_acked[id].fetch_max(n, Ordering::SeqCst);
                    }
                    ref e if refusal(e).is_some() => pause(),
                    other => panic!("INCR {own}: {other:?}"),
                },
                Err(_) => conn = None,
            }
            continue;
        }
        let key = format!("lin:{}", rng.gen_range(0..KEYS));
        let op = match rng.gen_range(0..10) {
            0..=3 => Op::Get,
            4..=6 => {
                seq += 1;
                Op::Set(id as i64 * 1_000_000_000 + seq)
            }
            _ => Op::Incr,
        };
        let value;
        let args: Vec<&str> = match op {
            Op::Get => vec!["GET", &key],
            Op::Set(v) => {
                value = v.to_string();
                vec!["SET", &key, &value]
            }
            Op::Incr => vec!["INCR", &key],
        };
        let invoke = ns(Instant::now());
        let reply = c.call(&args);
        let complete = ns(Instant::now());
        let outcome = match reply {
            Ok(f) => match (op, f.reply) {
                (Op::Get, Reply::NullBulk) => Outcome::Value(None),
                (Op::Get, Reply::Bulk(b)) => Outcome::Value(Some(
                    String::from_utf8_lossy(&b)
                        .parse()
                        .unwrap_or_else(|_| panic!("GET {key} gave {b:?}")),
                )),
                (Op::Set(_), Reply::Simple(s)) if s == b"OK" => Outcome::Ok,
                (Op::Incr, Reply::Int(n)) => Outcome::Int(n),
                (_, ref e) => match refusal(e) {
                    Some(Refusal::Maybe) if op != Op::Get => {
                        pause();
                        Outcome::Unknown
                    }
                    Some(_) => {
                        pause();
                        continue;
                    }
                    None => panic!("{args:?} answered {e:?}"),
                },
            },
            Err(_) => {
                conn = None;
                // A read with no reply constrains nothing.
                if op == Op::Get {
                    continue;
                }
                Outcome::Unknown
            }
        };
        events.push(Event {
            client: id,
            key,
            op,
            outcome,
            invoke,
            complete,
        });
    }
    events
}

/// Client `id`'s counter, retrying (up to a minute) while the server is restarting.
pub fn counter(port: u16, id: usize) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let key = format!("own:{id}");
    loop {
        let reply = RawClient::connect(port).and_then(|mut c| c.call(&["GET", key.as_str()]));
        match reply.map(|f| f.reply) {
            Ok(Reply::NullBulk) => return 0,
            Ok(Reply::Bulk(b)) => {
                return String::from_utf8_lossy(&b)
                    .parse()
                    .unwrap_or_else(|_| panic!("GET {key} gave {b:?}"))
            }
            Ok(ref e) if refusal(e).is_some() => {}
            Ok(other) => panic!("GET {key}: {other:?}"),
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "GET {key} never answered");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Counts acknowledged increments missing from the counters: `acked[id]` against what
/// the server holds now.
pub fn lost(port: u16, acked: &[i64]) -> i64 {
    acked
        .iter()
        .enumerate()
        .map(|(id, &a)| (a - counter(port, id)).max(0))
        .sum()
}

/// Totals of a finished run, for the report line.
pub struct Tally {
    pub ops: usize,
    pub acked_writes: usize,
    pub unknown: usize,
}

pub fn tally(history: &[Event]) -> Tally {
    Tally {
        ops: history.len(),
        acked_writes: history
            .iter()
            .filter(|e| e.op != Op::Get && e.outcome != Outcome::Unknown)
            .count(),
        unknown: history
            .iter()
            .filter(|e| e.outcome == Outcome::Unknown)
            .count(),
    }
}
