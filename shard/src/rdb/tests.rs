use super::*;
use crate::db::hash::Hash;
use crate::db::list::{End, List};
use crate::db::set::Set;
use crate::db::zset::ZSet;

fn dump(v: &Value) -> Vec<u8> {
    super::dump(v)
}

fn limits() -> Limits {
    Limits {
        set_max_intset_entries: 512,
        ..Limits::default()
    }
}

fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

fn restore(payload: &[u8]) -> Result<Value, Error> {
    verify(payload)?;
    load(payload, &limits())
}

fn same(a: &Value, b: &Value) -> bool {
    dump(a) == dump(b)
}

#[test]
fn strings_round_trip_in_every_encoding() {
    let long = "abc".repeat(100);
    for s in ["", "x", "12", "-129", "40000", "3000000000", "007", &long] {
        let v = Value::str(s.as_bytes());
        let p = dump(&v);
        match restore(&p).unwrap() {
            Value::Str(got) => assert_eq!(got.as_slice(), s.as_bytes()),
            other => panic!("{other:?}"),
        }
    }
    // Small integers take the one-byte integer encoding, long repeats are compressed.
    assert_eq!(&dump(&Value::str(b"12"))[..3], &[0, 0xc0, 12]);
    assert_eq!(dump(&Value::str(long.as_bytes()))[1], 0xc3);
}

#[test]
fn collections_round_trip() {
    let mut l = List::new();
    for e in ["a", "1", "bb"] {
        l.push(e.as_bytes(), End::Tail);
    }
    let mut s = Set::new();
    s.add(b"1", 512);
    s.add(b"x", 512);
    let mut z = ZSet::default();
    z.insert(1.5, b"m", zset::Limits::default());
    z.insert(f64::NEG_INFINITY, b"n", zset::Limits::default());
    let mut h = Hash::new();
    h.set(b"f", b"v", HashLimits::default());
    h.set(b"g", b"12", HashLimits::default());
    for v in [
        Value::List(Box::new(l)),
        Value::Set(Box::new(s)),
        Value::ZSet(Box::new(z)),
        Value::Hash(Box::new(h)),
    ] {
        let back = restore(&dump(&v)).unwrap();
        assert_eq!(back.type_name(), v.type_name());
        assert!(same(&v, &back), "{v:?} vs {back:?}");
    }
}

#[test]
fn footer_is_checked() {
    let mut p = dump(&Value::str(b"hello"));
    assert_eq!(restore(&p[..5]).unwrap_err(), Error::Footer);
    let n = p.len();
    p[n - 1] ^= 1;
    assert_eq!(restore(&p).unwrap_err(), Error::Footer);
    let mut newer = vec![0, 1, b'a'];
    newer.extend_from_slice(&11u16.to_le_bytes());
    let crc = crc64::crc64(0, &newer);
    newer.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(restore(&newer).unwrap_err(), Error::Footer);
}

#[test]
fn malformed_bodies_are_format_errors() {
    // A list claiming 2^32 elements in a few bytes.
    assert_eq!(
        restore(&seal(vec![1, 0x80, 0xff, 0xff, 0xff, 0xff, 1, b'a'])).unwrap_err(),
        Error::Format
    );
    // An empty set, a duplicate set member, a duplicate hash field, a NaN score.
    assert_eq!(restore(&seal(vec![2, 0])).unwrap_err(), Error::Format);
    assert_eq!(
        restore(&seal(vec![2, 2, 1, b'a', 1, b'a'])).unwrap_err(),
        Error::Format
    );
    assert_eq!(
        restore(&seal(vec![4, 2, 1, b'f', 0, 1, b'f', 0])).unwrap_err(),
        Error::Format
    );
    let mut nan = vec![5, 1, 1, b'm'];
    nan.extend_from_slice(&f64::NAN.to_le_bytes());
    assert_eq!(restore(&seal(nan)).unwrap_err(), Error::Format);
    // An unknown type, Redis 7.2's stream form, and an LZF string whose data does not
    // expand right.
    assert_eq!(restore(&seal(vec![99, 0])).unwrap_err(), Error::Format);
    assert_eq!(restore(&seal(vec![21, 0])).unwrap_err(), Error::Format);
    assert_eq!(
        restore(&seal(vec![0, 0xc3, 2, 5, 0x00, b'a'])).unwrap_err(),
        Error::Format
    );
}

#[test]
fn truncations_and_noise_never_panic() {
    let mut h = Hash::new();
    for i in 0..50 {
        h.set(format!("f{i}").as_bytes(), b"value", HashLimits::default());
    }
    let body = dump(&Value::Hash(Box::new(h)));
    let body = &body[..body.len() - 10];
    for cut in 0..body.len() {
        let _ = restore(&seal(body[..cut].to_vec()));
    }
    let mut s = 7u64;
    for _ in 0..2000 {
        let mut b = Vec::new();
        for _ in 0..(s % 40) {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            b.push((s >> 56) as u8);
        }
        let _ = restore(&seal(b));
    }
}

#[test]
fn compact_types_load() {
    // Intset {1, 300}.
    let mut is = vec![2, 0, 0, 0, 2, 0, 0, 0, 1, 0];
    is.extend_from_slice(&300i16.to_le_bytes());
    let mut p = vec![types::SET_INTSET, is.len() as u8];
    p.extend_from_slice(&is);
    match restore(&seal(p)).unwrap() {
        Value::Set(s) => assert!(s.contains(b"300") && s.contains(b"1") && s.len() == 2),
        other => panic!("{other:?}"),
    }
    // A quicklist with one plain node and one packed node holding "x" and 7.
    let lp = [12, 0, 0, 0, 2, 0, 0x81, b'x', 2, 0x07, 1, 0xff];
    let mut p = vec![
        types::LIST_QUICKLIST_2,
        2,
        1,
        2,
        b'h',
        b'i',
        2,
        lp.len() as u8,
    ];
    p.extend_from_slice(&lp);
    match restore(&seal(p)).unwrap() {
        Value::List(l) => {
            let got: Vec<&[u8]> = l.iter().map(|e| e.as_slice()).collect();
            assert_eq!(got, vec![&b"hi"[..], b"x", b"7"]);
        }
        other => panic!("{other:?}"),
    }
}

/// Mutations of valid compact payloads: whatever they decode to, nothing may panic.
#[test]
fn mutated_compact_payloads_never_panic() {
    let lp = [12u8, 0, 0, 0, 2, 0, 0x81, b'x', 2, 0x07, 1, 0xff];
    let zl = [
        21u8, 0, 0, 0, 16, 0, 0, 0, 3, 0, 0x00, 0x02, b'a', b'b', 0x04, 0xf6, 0x02, 0xc0, 0xd4,
        0xfe, 0xff,
    ];
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for ty in [
        types::LIST_QUICKLIST_2,
        types::HASH_LISTPACK,
        types::ZSET_LISTPACK,
    ] {
        let mut p = vec![ty];
        if ty == types::LIST_QUICKLIST_2 {
            p.extend_from_slice(&[1, 2]);
        }
        p.push(lp.len() as u8);
        p.extend_from_slice(&lp);
        seeds.push(p);
    }
    // A pair for the hash and sorted-set forms: "ab" and 5.
    let pair = [
        17u8, 0, 0, 0, 14, 0, 0, 0, 2, 0, 0x00, 0x02, b'a', b'b', 0x04, 0xf6, 0xff,
    ];
    for (ty, blob) in [
        (types::LIST_ZIPLIST, &zl[..]),
        (types::LIST_QUICKLIST, &zl[..]),
        (types::HASH_ZIPLIST, &pair[..]),
        (types::ZSET_ZIPLIST, &pair[..]),
    ] {
        let mut p = vec![ty];
        if ty == types::LIST_QUICKLIST {
            p.push(1);
        }
        p.push(blob.len() as u8);
        p.extend_from_slice(blob);
        seeds.push(p);
    }
    seeds.push(vec![
        types::HASH_ZIPMAP,
        9,
        1,
        1,
        b'f',
        2,
        1,
        b'v',
        b'v',
        0,
        0xff,
    ]);
    seeds.push(vec![
        types::SET_INTSET,
        12,
        2,
        0,
        0,
        0,
        2,
        0,
        0,
        0,
        1,
        0,
        2,
        0,
    ]);
    let long = dump(&Value::str("abcdefgh".repeat(20).as_bytes()));
    seeds.push(long[..long.len() - 10].to_vec());
    let mut s = 99u64;
    let mut rand = |n: usize| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) % n as u64) as usize
    };
    for seed in &seeds {
        assert!(load(seed, &limits()).is_ok(), "seed {seed:?}");
        for _ in 0..3000 {
            let mut b = seed.clone();
            for _ in 0..1 + rand(3) {
                let at = rand(b.len());
                match rand(3) {
                    0 => b[at] = rand(256) as u8,
                    1 if b.len() > 1 => {
                        b.remove(at);
                    }
                    _ => b.insert(at, rand(256) as u8),
                }
            }
            let _ = load(&b, &limits());
        }
    }
}
