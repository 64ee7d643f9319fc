use super::*;

const LIMITS: NodeLimits = NodeLimits {
    max_bytes: 4096,
    max_entries: 100,
};

fn fv(f: &str, v: &str) -> Vec<Sds> {
    vec![Sds::new(f.as_bytes()), Sds::new(v.as_bytes())]
}

fn ids(s: &Stream) -> Vec<String> {
    s.entries().map(|(id, _)| id.to_string()).collect()
}

#[test]
fn add_orders_and_generates_ids() {
    let mut s = Stream::new();
    let a = s.add(fv("a", "1"), None, 1000, LIMITS).unwrap();
    let b = s.add(fv("a", "2"), None, 1000, LIMITS).unwrap();
    assert_eq!(a, StreamId::new(1000, 0));
    assert_eq!(b, StreamId::new(1000, 1));
    // A clock that went backwards does not move IDs back.
    let c = s.add(fv("a", "3"), None, 10, LIMITS).unwrap();
    assert_eq!(c, StreamId::new(1000, 2));
    assert_eq!(
        s.add(fv("a", "4"), Some((StreamId::new(999, 0), true)), 0, LIMITS),
        Err(AddError::NotGreater)
    );
    // <ms>-* continues the last sequence in the same millisecond.
    let d = s
        .add(
            fv("a", "5"),
            Some((StreamId::new(1000, 0), false)),
            0,
            LIMITS,
        )
        .unwrap();
    assert_eq!(d, StreamId::new(1000, 3));
    assert_eq!(s.len(), 4);
    assert_eq!(s.entries_added, 4);
    assert_eq!(s.first_id, a);
}

#[test]
fn range_and_delete() {
    let mut s = Stream::new();
    for i in 1..=250u64 {
        s.add(fv("f", "v"), Some((StreamId::new(i, 0), true)), 0, LIMITS)
            .unwrap();
    }
    assert_eq!(s.node_count(), 3);
    let r: Vec<u64> = s
        .range(StreamId::new(99, 0), StreamId::new(102, 0), false)
        .map(|(id, _)| id.ms)
        .collect();
    assert_eq!(r, [99, 100, 101, 102]);
    let r: Vec<u64> = s
        .range(StreamId::new(99, 0), StreamId::new(102, 0), true)
        .map(|(id, _)| id.ms)
        .collect();
    assert_eq!(r, [102, 101, 100, 99]);
    assert_eq!(s.delete(&[StreamId::new(1, 0), StreamId::new(1, 0)]), 1);
    assert_eq!(s.first_id, StreamId::new(2, 0));
    assert_eq!(s.max_deleted_id, StreamId::new(1, 0));
    assert!(s.get(StreamId::new(1, 0)).is_none());
    assert!(s.get(StreamId::new(2, 0)).is_some());
    let all: Vec<StreamId> = (201..=250).map(|i| StreamId::new(i, 0)).collect();
    assert_eq!(s.delete(&all), 50);
    assert_eq!(s.node_count(), 2);
    assert_eq!(s.len(), 199);
}

#[test]
fn approximate_trim_removes_whole_nodes() {
    let mut s = Stream::new();
    for _ in 0..1000 {
        s.add(fv("xitem", "v"), None, 1, LIMITS).unwrap();
    }
    assert_eq!(s.trim(Trim::MaxLen(444), true, 10_000), 500);
    assert_eq!(s.len(), 500);
    assert_eq!(s.trim(Trim::MaxLen(400), false, 0), 100);
    assert_eq!(s.len(), 400);
    assert_eq!(ids(&s).len(), 400);
    let first = s.edge_id(true).unwrap();
    assert_eq!(s.first_id, first);
    assert_eq!(s.trim(Trim::MinId(StreamId::new(1, 900)), false, 0), 300);
    assert_eq!(s.first_id, StreamId::new(1, 900));
}

#[test]
fn read_counters() {
    let mut s = Stream::new();
    for i in 1..=5u64 {
        s.add(fv("f", "v"), Some((StreamId::new(i, 0), true)), 0, LIMITS)
            .unwrap();
    }
    let mut g = Group::new(StreamId::ZERO, Some(0));
    let m = s.meta();
    assert_eq!(m.group_lag(&g), Some(5));
    m.advance_group(&mut g, StreamId::new(1, 0));
    assert_eq!(g.entries_read, Some(1));
    s.delete(&[StreamId::new(3, 0)]);
    let m = s.meta();
    assert_eq!(m.group_lag(&g), None);
    // Reads across the deleted entry lose the counter until the last entry.
    m.advance_group(&mut g, StreamId::new(2, 0));
    assert_eq!(g.entries_read, None);
    m.advance_group(&mut g, StreamId::new(4, 0));
    assert_eq!(g.entries_read, None);
    m.advance_group(&mut g, StreamId::new(5, 0));
    assert_eq!(g.entries_read, Some(5));
    assert_eq!(s.meta().group_lag(&g), Some(0));
}
