use std::collections::BTreeSet;

use shoal_proto::reply_value::decode;
use shoal_proto::Protocol;

use super::*;
use crate::proxy::testpeer::{args, Cluster};

fn plan_of(cmd: &str, shards: usize) -> Option<Route> {
    plan(&args(cmd), &SlotMap::even(shards), 7)
}

#[test]
fn what_fans_out() {
    for cmd in [
        "dbsize",
        "KEYS *",
        "randomkey",
        "flushall async",
        "flushdb",
        "config set maxmemory 1",
        "CONFIG RESETSTAT",
        "script load x",
        "script exists a b",
        "SCRIPT FLUSH",
        "lastsave",
        "bgsave",
        "slowlog get",
        "slowlog len",
        "slowlog reset",
        "latency reset",
    ] {
        match plan_of(cmd, 4) {
            Some(Route::Plan(p)) => {
                assert_eq!(p.parts.len(), 4, "{cmd}");
                let want = frame(args(cmd).iter().map(|a| &a[..]));
                assert!(p.parts.iter().all(|x| x.frame == want), "{cmd}");
                assert_eq!(
                    p.parts.iter().map(|x| x.shard).collect::<Vec<_>>(),
                    vec![0, 1, 2, 3]
                );
            }
            other => panic!("{cmd}: {other:?}"),
        }
        // One shard needs no merge.
        assert!(matches!(plan_of(cmd, 1), Some(Route::Shard(0))), "{cmd}");
    }
    assert!(matches!(
        plan_of("config get maxmemory", 4),
        Some(Route::Shard(0))
    ));
    assert!(matches!(plan_of("info", 1), Some(Route::Plan(p)) if p.parts.len() == 1));
    assert!(matches!(plan_of("slowlog get x", 4), Some(Route::Shard(0))));
    // SCRIPT KILL reaches every shard: the script runs on one of them.
    assert!(matches!(plan_of("script kill", 4), Some(Route::Plan(p)) if p.parts.len() == 4));
    for cmd in ["get a", "config help", "function list", "memory stats"] {
        assert!(plan_of(cmd, 4).is_none(), "{cmd}");
    }
}

#[test]
fn scan_cursor_carries_the_shard() {
    let step = |cmd: &str| match plan_of(cmd, 4) {
        Some(Route::Plan(p)) => (p.parts[0].shard, p.parts[0].frame.clone()),
        other => panic!("{cmd}: {other:?}"),
    };
    assert_eq!(step("scan 0"), (0, frame([&b"scan"[..], b"0"].into_iter())));
    assert_eq!(
        step("SCAN 17 count 5"),
        (0, frame([&b"SCAN"[..], b"17", b"count", b"5"].into_iter()))
    );
    let c = (2u64 << SCAN_SHIFT) | 9;
    assert_eq!(
        step(&format!("scan {c} match a* type string")),
        (
            2,
            frame([&b"scan"[..], b"9", b"match", b"a*", b"type", b"string"].into_iter())
        )
    );
    // Past the last shard: the scan is over.
    let past = 4u64 << SCAN_SHIFT;
    assert!(matches!(plan_of(&format!("scan {past}"), 4), Some(Route::Reply(r)) if r == SCAN_DONE));
    assert!(matches!(plan_of("scan -1", 4), Some(Route::Reply(_))));
    // A cursor the shard would refuse goes to it for the error.
    assert!(matches!(plan_of("scan x", 4), Some(Route::Shard(0))));
    assert!(matches!(plan_of("scan 5", 1), Some(Route::Shard(0))));

    let merge = |shard: usize, reply: &[u8]| {
        Merger::Scan(ScanStep { shard, shards: 4 }).merge(&[reply], Protocol::Resp2)
    };
    assert_eq!(
        merge(1, b"*2\r\n$2\r\n12\r\n*1\r\n$1\r\na\r\n"),
        format!(
            "*2\r\n$15\r\n{}\r\n*1\r\n$1\r\na\r\n",
            (1u64 << SCAN_SHIFT) | 12
        )
        .into_bytes()
    );
    assert_eq!(
        merge(1, b"*2\r\n$1\r\n0\r\n*0\r\n"),
        format!("*2\r\n$15\r\n{}\r\n*0\r\n", 2u64 << SCAN_SHIFT).into_bytes()
    );
    assert_eq!(merge(3, b"*2\r\n$1\r\n0\r\n*0\r\n"), SCAN_DONE);
    assert_eq!(merge(0, b"-ERR syntax error\r\n"), b"-ERR syntax error\r\n");
    assert_eq!(
        merge(0, b"*1\r\n$1\r\n0\r\n"),
        crate::proxy::split::BAD_REPLY
    );
}

#[test]
fn small_mergers() {
    let r2 = Protocol::Resp2;
    assert_eq!(
        Merger::Max.merge(&[b":5\r\n", b":9\r\n", b":7\r\n"], r2),
        b":9\r\n"
    );
    assert_eq!(
        Merger::Concat.merge(&[b"*1\r\n$1\r\na\r\n", b"*0\r\n", b"*1\r\n$1\r\nb\r\n"], r2),
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        Merger::AndInts.merge(
            &[b"*3\r\n:1\r\n:0\r\n:1\r\n", b"*3\r\n:1\r\n:1\r\n:0\r\n"],
            r2
        ),
        b"*3\r\n:1\r\n:0\r\n:0\r\n"
    );
    let rnd = |pick| {
        Merger::Random { pick }.merge(
            &[b"$-1\r\n", b"$1\r\na\r\n", b"$-1\r\n", b"$1\r\nb\r\n"],
            r2,
        )
    };
    assert_eq!(rnd(0), b"$1\r\na\r\n");
    assert_eq!(rnd(1), b"$1\r\nb\r\n");
    assert_eq!(rnd(2), b"$1\r\na\r\n");
    assert_eq!(
        Merger::Random { pick: 3 }.merge(&[b"_\r\n", b"_\r\n"], Protocol::Resp3),
        b"_\r\n"
    );
    let entry = |id: i64, t: i64| {
        format!("*6\r\n:{id}\r\n:{t}\r\n:1\r\n*1\r\n$4\r\nping\r\n$0\r\n\r\n$0\r\n\r\n")
    };
    let a = format!("*2\r\n{}{}", entry(1, 20), entry(0, 10));
    let b = format!("*1\r\n{}", entry(0, 15));
    assert_eq!(
        Merger::Slowlog { count: 2 }.merge(&[a.as_bytes(), b.as_bytes()], r2),
        format!("*2\r\n{}{}", entry(1, 20), entry(0, 15)).into_bytes()
    );
    assert_eq!(
        Merger::Slowlog { count: -1 }
            .merge(&[a.as_bytes(), b.as_bytes()], r2)
            .len(),
        4 + 3 * entry(0, 10).len()
    );
}

fn all_keys_of(reply: &[u8]) -> Vec<String> {
    let (v, _) = decode(reply).unwrap().unwrap();
    v.items()
        .unwrap()
        .iter()
        .map(|k| String::from_utf8_lossy(k.as_bytes().unwrap()).into_owned())
        .collect()
}

/// Fans commands out to one Redis per shard and compares with one Redis holding all keys.
#[test]
fn against_redis() {
    let mut cluster = Cluster::start(25520, 4);
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        for shards in [1, 2, 4] {
            cluster.reset(proto);
            let map = SlotMap::even(shards);
            let run = |cluster: &mut Cluster, cmd: &str| -> (Vec<u8>, Vec<u8>) {
                let a = args(cmd);
                let want = cluster.reference.raw(&frame(a.iter().map(|x| &x[..])));
                let route = plan(&a, &map, 3)
                    .or_else(|| crate::proxy::split::plan(&a, &map))
                    .unwrap_or_else(|| Route::Shard(map.key_owner(&a[1])));
                let got = cluster.through(&a, route, proto);
                (want, got)
            };
            let ctx = format!("{shards} shards {proto:?}");
            for i in 0..300 {
                let cmd = match i % 4 {
                    0 => format!("SET key:{i} v"),
                    1 => format!("HSET hash:{i} f v"),
                    2 => format!("SET tmp:{i} v EX 1000"),
                    _ => format!("LPUSH list:{i} v"),
                };
                let (want, got) = run(&mut cluster, &cmd);
                assert_eq!(want, got, "{cmd} {ctx}");
            }
            for cmd in [
                "DBSIZE",
                "EXISTS key:0 hash:1 tmp:2 nosuch key:0",
                "config set slowlog-max-len 200",
                "config set nosuch 1",
                "config get slowlog-max-len",
                "script load return'1'",
                "script exists e0e1f9fabfc9d4800c877a703b823ac0578ff8db aaaa",
                "SLOWLOG LEN",
                "slowlog reset",
                "config resetstat",
                "scan x",
                "scan 0 count 0",
                "keys",
            ] {
                let (want, got) = run(&mut cluster, cmd);
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want),
                    "{cmd} {ctx}"
                );
            }
            // KEYS: the same set, in whatever order the shards keep them.
            for pattern in ["*", "key:*", "*:1?", "nomatch*"] {
                let (want, got) = run(&mut cluster, &format!("KEYS {pattern}"));
                let want: BTreeSet<String> = all_keys_of(&want).into_iter().collect();
                let got_list = all_keys_of(&got);
                assert_eq!(got_list.len(), want.len(), "KEYS {pattern} {ctx}");
                assert_eq!(got_list.into_iter().collect::<BTreeSet<_>>(), want);
            }
            // SCAN visits every key exactly once, whatever the options.
            for opts in [
                "",
                " COUNT 7",
                " MATCH key:* COUNT 3",
                " TYPE hash",
                " type list count 1000",
            ] {
                let (want, _) = run(&mut cluster, "KEYS *");
                let mut expected: BTreeSet<String> = all_keys_of(&want).into_iter().collect();
                if opts.contains("MATCH") {
                    expected.retain(|k| k.starts_with("key:"));
                }
                if opts.contains("hash") {
                    expected.retain(|k| k.starts_with("hash:"));
                }
                if opts.contains("list") {
                    expected.retain(|k| k.starts_with("list:"));
                }
                let mut seen = Vec::new();
                let mut cursor = "0".to_string();
                let mut steps = 0;
                loop {
                    let a = args(&format!("SCAN {cursor}{opts}"));
                    let route = plan(&a, &map, 0).unwrap();
                    let reply = cluster.through(&a, route, proto);
                    let (v, _) = decode(&reply).unwrap().unwrap();
                    let items = v.items().unwrap();
                    cursor = String::from_utf8_lossy(items[0].as_bytes().unwrap()).into_owned();
                    for k in items[1].items().unwrap() {
                        seen.push(String::from_utf8_lossy(k.as_bytes().unwrap()).into_owned());
                    }
                    steps += 1;
                    assert!(steps < 10_000, "SCAN{opts} never ends");
                    if cursor == "0" {
                        break;
                    }
                }
                assert_eq!(seen.len(), expected.len(), "SCAN{opts} {ctx}: {seen:?}");
                assert_eq!(
                    seen.into_iter().collect::<BTreeSet<_>>(),
                    expected,
                    "SCAN{opts} {ctx}"
                );
            }
            // RANDOMKEY gives an existing key.
            let (_, got) = run(&mut cluster, "RANDOMKEY");
            let (v, _) = decode(&got).unwrap().unwrap();
            let key = v.as_bytes().expect("a key");
            assert!(key.starts_with(b"key:") || key.contains(&b':'), "{ctx}");
            // INFO keyspace: the same figures as one server.
            let (want, got) = run(&mut cluster, "INFO keyspace");
            let text = |r: &[u8]| {
                let (v, _) = decode(r).unwrap().unwrap();
                String::from_utf8_lossy(v.as_bytes().unwrap()).into_owned()
            };
            let (want_t, got_t) = (text(&want), text(&got));
            let db0 = |t: &str| {
                t.lines()
                    .find(|l| l.starts_with("db0:"))
                    .map(|l| l.split(",avg_ttl").next().unwrap_or("").to_string())
            };
            assert_eq!(db0(&got_t), db0(&want_t), "{ctx}");
            assert_eq!(got[0], want[0], "INFO reply type {ctx}");
            for cmd in [
                "FLUSHALL",
                "DBSIZE",
                "RANDOMKEY",
                "KEYS *",
                "FLUSHDB",
                "LASTSAVE",
            ] {
                let (want, got) = run(&mut cluster, cmd);
                if cmd == "LASTSAVE" {
                    assert_eq!(got[0], b':', "{ctx}");
                } else {
                    assert_eq!(
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(&want),
                        "{cmd} {ctx}"
                    );
                }
            }
        }
    }
}
