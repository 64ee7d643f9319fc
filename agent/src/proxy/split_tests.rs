use super::*;
use crate::proxy::testpeer::{args, Cluster};

/// Keys spread over every shard of a 4-shard map (and of 2), plus hash-tagged ones.
const KEYS: &[&str] = &[
    "a", "b", "c", "d", "e", "f", "g", "h", "foo", "bar", "{t}1", "{t}2", "k1", "k2", "k3",
];

fn plan_of(cmd: &str, shards: usize) -> Route {
    plan(&args(cmd), &SlotMap::even(shards)).expect("a split command")
}

#[test]
fn not_split_commands_are_left_alone() {
    assert!(plan(&args("get a"), &SlotMap::even(4)).is_none());
    assert!(plan(&args("msetx a"), &SlotMap::even(4)).is_none());
    assert!(plan(&[], &SlotMap::even(4)).is_none());
}

#[test]
fn one_shard_or_one_owner_forwards_the_frame() {
    assert!(matches!(plan_of("mget a b c d", 1), Route::Shard(0)));
    let map = SlotMap::even(4);
    let owner = map.key_owner(b"t");
    assert!(matches!(plan_of("del {t}1 {t}2 {t}1", 4), Route::Shard(s) if s == owner));
    assert!(matches!(plan_of("msetnx {t}1 x {t}2 y", 4), Route::Shard(s) if s == owner));
    // Wrong arity goes to a shard, which answers with Redis's error.
    assert!(matches!(plan_of("mset a 1 b", 4), Route::Shard(0)));
    assert!(matches!(plan_of("mget", 4), Route::Shard(0)));
}

#[test]
fn msetnx_across_shards_is_crossslot() {
    match plan_of("msetnx a 1 b 2 c 3 d 4", 4) {
        Route::Reply(r) => assert_eq!(r, CROSSSLOT),
        other => panic!("{other:?}"),
    }
}

#[test]
fn parts_keep_key_order_and_duplicates() {
    let map = SlotMap::even(4);
    let keys = ["a", "b", "a", "c", "d", "b"];
    let Route::Plan(p) = plan_of(&format!("MGET {}", keys.join(" ")), 4) else {
        panic!("expected a plan");
    };
    // Each part holds its shard's keys in request order, duplicates kept.
    for part in &p.parts {
        let mine: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| map.key_owner(k.as_bytes()) == part.shard)
            .collect();
        let want = frame(std::iter::once(&b"MGET"[..]).chain(mine.iter().map(|k| k.as_bytes())));
        assert_eq!(part.frame, want);
    }
    let Merger::Mget { order } = &p.merger else {
        panic!("mget merger")
    };
    assert_eq!(order.len(), keys.len());
    let Route::Plan(p) = plan_of("mset a 1 b 2 a 3", 4) else {
        panic!("expected a plan");
    };
    let a = map.key_owner(b"a");
    let part = p.parts.iter().find(|x| x.shard == a).unwrap();
    assert_eq!(
        part.frame,
        frame([&b"mset"[..], b"a", b"1", b"a", b"3"].into_iter())
    );
}

#[test]
fn merges_errors_and_shapes() {
    let m = Merger::Sum;
    assert_eq!(m.merge(&[b":1\r\n", b":2\r\n"], Protocol::Resp2), b":3\r\n");
    assert_eq!(
        m.merge(
            &[b":1\r\n", b"-TRYAGAIN x\r\n", b"-ERR y\r\n"],
            Protocol::Resp2
        ),
        b"-TRYAGAIN x\r\n"
    );
    assert_eq!(
        m.merge(&[b":1\r\n", b"+OK\r\n"], Protocol::Resp2),
        BAD_REPLY
    );
    assert_eq!(m.merge(&[b":1\r\n", b":2"], Protocol::Resp2), BAD_REPLY);
    assert_eq!(m.merge(&[], Protocol::Resp2), BAD_REPLY);
    let mget = Merger::Mget {
        order: vec![(1, 0), (0, 0), (1, 1)],
    };
    assert_eq!(
        mget.merge(
            &[b"*1\r\n$1\r\nx\r\n", b"*2\r\n_\r\n$1\r\ny\r\n"],
            Protocol::Resp3
        ),
        b"*3\r\n_\r\n$1\r\nx\r\n$1\r\ny\r\n"
    );
    // A part shorter than planned is a bad reply, not a panic.
    assert_eq!(
        mget.merge(&[b"*1\r\n$1\r\nx\r\n", b"*1\r\n_\r\n"], Protocol::Resp3),
        BAD_REPLY
    );
    assert_eq!(
        Merger::First.merge(&[b"+OK\r\n", b"+OK\r\n"], Protocol::Resp2),
        b"+OK\r\n"
    );
    assert_eq!(
        Merger::First.merge(&[b"+OK\r\n", b"-OOM no\r\n"], Protocol::Resp2),
        b"-OOM no\r\n"
    );
}

/// A mixed workload of split commands, each sent both to one Redis holding every key and,
/// planned, to one Redis per shard; the merged reply must be the same bytes.
#[test]
fn byte_exact_against_redis() {
    let mut cluster = Cluster::start(25510, 4);
    let mut checked = 0;
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        for shards in [1, 2, 4] {
            cluster.reset(proto);
            let map = SlotMap::even(shards);
            let mut rng: u64 = 0x2545_f491_4f6c_dd1d ^ shards as u64;
            let mut next = move |n: usize| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (rng % n as u64) as usize
            };
            for i in 0..600 {
                let nkeys = 1 + next(6);
                let keys: Vec<&str> = (0..nkeys).map(|_| KEYS[next(KEYS.len())]).collect();
                let cmd = match next(8) {
                    0 => format!("MGET {}", keys.join(" ")),
                    1 => {
                        let pairs: Vec<String> = keys.iter().map(|k| format!("{k} v{i}")).collect();
                        format!("MSET {}", pairs.join(" "))
                    }
                    2 => format!("DEL {}", keys.join(" ")),
                    3 => format!("unlink {}", keys.join(" ")),
                    4 => format!("EXISTS {}", keys.join(" ")),
                    5 => format!("touch {}", keys.join(" ")),
                    6 => format!("LPUSH {} x", keys[0]),
                    _ => format!("mget {} {}", keys.join(" "), keys[0]),
                };
                let a = args(&cmd);
                let want = cluster.reference.raw(&frame(a.iter().map(|x| &x[..])));
                let route = match plan(&a, &map) {
                    Some(r) => r,
                    None => Route::Shard(map.key_owner(&a[1])),
                };
                let got = cluster.through(&a, route, proto);
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want),
                    "{cmd} with {shards} shards, {proto:?}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * 3 * 600);
}

/// Replies of any shape, valid or not, never panic a merger: they give a reply or
/// [`BAD_REPLY`].
#[test]
fn mergers_survive_arbitrary_replies() {
    let pool: &[&[u8]] = &[
        b"+OK\r\n",
        b":3\r\n",
        b":-9223372036854775808\r\n",
        b":9223372036854775807\r\n",
        b"$-1\r\n",
        b"_\r\n",
        b"*0\r\n",
        b"*1\r\n$1\r\na\r\n",
        b"*2\r\n$1\r\n5\r\n*1\r\n$1\r\nk\r\n",
        b"*2\r\n$20\r\n99999999999999999999\r\n*0\r\n",
        b"*2\r\n:1\r\n:0\r\n",
        b"*1\r\n*6\r\n:1\r\n:2\r\n:3\r\n*0\r\n$0\r\n\r\n$0\r\n\r\n",
        b"=9\r\ntxt:# a\r\nb\r\n",
        b"%1\r\n+a\r\n+b\r\n",
        b"*3\r\n:1\r\n",
        b"garbage",
        b"",
    ];
    let mergers = || {
        vec![
            Merger::Mget {
                order: vec![(0, 0), (1, 0), (2, 5)],
            },
            Merger::First,
            Merger::Sum,
            Merger::Max,
            Merger::Concat,
            Merger::Scan(crate::proxy::fanout::ScanStep {
                shard: 1,
                shards: 2,
            }),
            Merger::Random { pick: 5 },
            Merger::AndInts,
            Merger::Slowlog { count: 1 },
            Merger::Info(Default::default()),
        ]
    };
    let mut seed = 1u64;
    for _ in 0..3000 {
        let n = 1 + (seed % 3) as usize;
        let replies: Vec<&[u8]> = (0..n)
            .map(|i| pool[((seed >> (8 * i)) % pool.len() as u64) as usize])
            .collect();
        for m in mergers() {
            for proto in [Protocol::Resp2, Protocol::Resp3] {
                let out = m.merge(&replies, proto);
                assert!(
                    reply_value::decode(&out).is_ok_and(|r| r.is_some()),
                    "{m:?} on {replies:?} gave an invalid frame"
                );
            }
        }
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
}
