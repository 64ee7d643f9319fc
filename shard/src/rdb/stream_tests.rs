use super::super::{dump, load, verify, Limits, RDB_VERSION};
use super::*;
use crate::db::stream::NodeLimits;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex fixture"))
        .collect()
}

fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = super::super::crc64::crc64(0, &body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

fn stream_of(v: &Value) -> &Stream {
    match v {
        Value::Stream(s) => s,
        _ => panic!("not a stream"),
    }
}

fn ids(s: &Stream) -> Vec<String> {
    s.entries().map(|(id, _)| id.to_string()).collect()
}

/// Redis 7.0.15 after `CONFIG SET stream-node-max-entries 3`, XADD s 1-1 … 7-7 with
/// fields f and n, XADD s 8-0 other x, XDEL s 2-2 5-5, XGROUP CREATE s grp 0, XGROUP
/// CREATE s 7 $, XREADGROUP GROUP grp alice COUNT 2 STREAMS s >, XGROUP CREATECONSUMER
/// s grp idle, XTRIM s MAXLEN = 6.
const REDIS_70: &str = "130310000000000000000100000000000000014041410000001800020101010201816602816e020001020100010001827631036401050103010101010182763203c0c802050102010201020182763303c12c020501ff10000000000000000400000000000000044042420000001800020101010201816602816e02000102010001000182763403c19002050103010101010182763503c1f402050102010201020182763603c258020501ff100000000000000007000000000000000739390000001300020100010201816602816e02000102010001000182763703c2bc02050100010101dff9020101856f74686572068178020601ff060800010105050802c007080081ffffffffffffffff000003677270030381ffffffffffffffff0200000000000000010000000000000001701a3d10a20100000100000000000000030000000000000003701a3d10a2010000010205616c696365701a3d10a20100000200000000000000010000000000000001000000000000000300000000000000030469646c657d1a3d10a2010000000a00414d5019f7bfd039";

#[test]
fn loads_a_redis_70_stream_and_dumps_it_back_byte_for_byte() {
    let payload = unhex(REDIS_70);
    verify(&payload).expect("checksum");
    let v = load(&payload, &Limits::default()).expect("loads");
    let s = stream_of(&v);
    assert_eq!(ids(s), ["1-1", "3-3", "4-4", "6-6", "7-7", "8-0"]);
    assert_eq!(s.node_count(), 3);
    assert_eq!(s.last_id, StreamId::new(8, 0));
    assert_eq!(s.max_deleted_id, StreamId::new(5, 5));
    assert_eq!(s.first_id, StreamId::new(1, 1));
    assert_eq!(s.entries_added, 8);
    let grp = &s.groups[&Sds::new(b"grp")];
    assert_eq!(grp.last_id, StreamId::new(3, 3));
    assert_eq!(grp.entries_read, None);
    assert_eq!(grp.pel.len(), 2);
    let nack = &grp.pel[&StreamId::new(1, 1)];
    assert_eq!(&nack.consumer[..], b"alice");
    assert_eq!(nack.delivery_time, 1_795_568_769_648);
    assert_eq!(nack.delivery_count, 1);
    assert_eq!(grp.consumers[&Sds::new(b"idle")].pel.len(), 0);
    assert_eq!(grp.consumers[&Sds::new(b"alice")].pel.len(), 2);
    assert_eq!(s.groups[&Sds::new(b"7")].last_id, StreamId::new(8, 0));
    assert_eq!(dump(&v), payload);
}

/// The payload `unit/type/stream-cgroups` restores: a Redis 5 stream (no counters in
/// the payload), whose counters Redis 7.0 derives on load.
#[test]
fn loads_the_redis_5_form_with_derived_counters() {
    let body = b"\x0F\x01\x10\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\xC3\x40\x4A\x40\x57\x16\x57\x00\x00\x00\x23\x00\x02\x01\x04\x01\x01\x01\x84\x64\x61\x74\x61\x05\x00\x01\x03\x01\x00\x20\x01\x03\x81\x61\x02\x04\x20\x0A\x00\x01\x40\x0A\x00\x62\x60\x0A\x00\x02\x40\x0A\x00\x63\x60\x0A\x40\x22\x01\x81\x64\x20\x0A\x40\x39\x20\x0A\x00\x65\x60\x0A\x00\x05\x40\x0A\x00\x66\x20\x0A\x00\xFF\x02\x06\x00\x02\x02\x67\x31\x05\x00\x04\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x3E\xF7\x83\x43\x7A\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x3E\xF7\x83\x43\x7A\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x3E\xF7\x83\x43\x7A\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x3E\xF7\x83\x43\x7A\x01\x00\x00\x01\x01\x03\x63\x31\x31\x3E\xF7\x83\x43\x7A\x01\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x02\x67\x32\x00\x00\x00\x00\x09\x00\x3D\x52\xEF\x68\x67\x52\x1D\xFA";
    verify(body).expect("checksum");
    let v = load(body, &Limits::default()).expect("loads");
    let s = stream_of(&v);
    assert_eq!(ids(s), ["5-0", "6-0"]);
    assert_eq!(s.entries_added, 2);
    assert_eq!(s.max_deleted_id, StreamId::ZERO);
    assert_eq!(s.first_id, StreamId::new(5, 0));
    let g1 = &s.groups[&Sds::new(b"g1")];
    assert_eq!(g1.entries_read, Some(1));
    assert_eq!(g1.pel.len(), 4);
    assert_eq!(s.groups[&Sds::new(b"g2")].entries_read, Some(0));
    // What shoal writes back is the 7.0 form, which loads to the same stream.
    let again = load(&dump(&v), &Limits::default()).expect("reloads");
    assert_eq!(stream_of(&again).groups, s.groups);
    assert_eq!(ids(stream_of(&again)), ids(s));
}

fn sample() -> Stream {
    let limits = NodeLimits {
        max_bytes: 4096,
        max_entries: 4,
    };
    let mut s = Stream::new();
    for i in 1..=10u64 {
        let fields = if i % 3 == 0 {
            vec![
                Sds::new(b"x"),
                Sds::new(b"-0"),
                Sds::new(b"y"),
                Sds::new(b"12"),
            ]
        } else {
            vec![Sds::new(b"f"), Sds::new(&i.to_be_bytes())]
        };
        s.add(fields, Some((StreamId::new(i, 10 - i), true)), 0, limits)
            .expect("rising IDs");
    }
    s.delete(&[StreamId::new(2, 8), StreamId::new(9, 1)]);
    s.trim(crate::db::stream::Trim::MaxLen(6), false, 0);
    let mut g = Group::new(StreamId::new(7, 3), Some(5));
    g.consumer_or_create(b"c", 5);
    g.deliver(StreamId::new(6, 4), b"c", 77);
    s.groups.insert(Sds::new(b"g"), g);
    s
}

#[test]
fn round_trips_tombstones_counters_and_groups() {
    let v = Value::Stream(Box::new(sample()));
    let p = dump(&v);
    let back = load(&p, &Limits::default()).expect("loads");
    let (a, b) = (stream_of(&v), stream_of(&back));
    assert_eq!(ids(a), ids(b));
    assert_eq!(
        a.entries().map(|(_, f)| f.to_vec()).collect::<Vec<_>>(),
        b.entries().map(|(_, f)| f.to_vec()).collect::<Vec<_>>()
    );
    assert_eq!(a.groups, b.groups);
    assert_eq!(
        (a.last_id, a.first_id, a.max_deleted_id, a.entries_added),
        (b.last_id, b.first_id, b.max_deleted_id, b.entries_added)
    );
    assert_eq!(a.node_count(), b.node_count());
    assert_eq!(dump(&back), p);
}

#[test]
fn inconsistent_streams_are_refused_and_noise_never_panics() {
    let p = dump(&Value::Stream(Box::new(sample())));
    let body = &p[..p.len() - 10];
    // A last ID below the last entry would let XADD go backwards.
    let mut s = sample();
    s.last_id = StreamId::new(1, 0);
    let low = dump(&Value::Stream(Box::new(s)));
    assert!(matches!(load(&low, &Limits::default()), Err(Error::Format)));
    let mut seed = 7u64;
    let mut rand = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) % n as u64) as usize
    };
    for cut in 0..body.len() {
        let _ = load(&seal(body[..cut].to_vec()), &Limits::default());
    }
    for _ in 0..5000 {
        let mut b = body.to_vec();
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
        let _ = load(&seal(b), &Limits::default());
    }
}
