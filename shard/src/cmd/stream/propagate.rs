//! What the AOF records for the consumer-group commands whose effect depends on the
//! clock or on what the group held: the idempotent commands Redis 7.0 propagates in
//! their place (`streamPropagateXCLAIM`, `streamPropagateGroupID`,
//! `streamPropagateConsumerCreation`), so replay rebuilds the same PEL and group state.
//! Two records go beyond Redis, which loses this state on replay: XREADGROUP always
//! records the group's new last ID with its read counter, and a consumer XREADGROUP
//! creates without delivering it anything is recorded too.

use bytes::Bytes;

use crate::db::stream::{Group, Nack, StreamId};

fn id_arg(id: StreamId) -> Bytes {
    Bytes::from(id.to_string())
}

fn num(n: impl ToString) -> Bytes {
    Bytes::from(n.to_string())
}

/// `XCLAIM key group owner 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID last`: gives
/// `id` to its owner with its delivery time and count, creating the pending entry if
/// needed, or drops it when the entry is gone from the stream.
pub fn xclaim(
    key: &Bytes,
    group: &Bytes,
    id: StreamId,
    nack: &Nack,
    last_id: StreamId,
) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XCLAIM"),
        key.clone(),
        group.clone(),
        Bytes::copy_from_slice(&nack.consumer),
        Bytes::from_static(b"0"),
        id_arg(id),
        Bytes::from_static(b"TIME"),
        num(nack.delivery_time),
        Bytes::from_static(b"RETRYCOUNT"),
        num(nack.delivery_count),
        Bytes::from_static(b"FORCE"),
        Bytes::from_static(b"JUSTID"),
        Bytes::from_static(b"LASTID"),
        id_arg(last_id),
    ]
}

/// `XGROUP SETID key group last ENTRIESREAD n` (-1: unknown).
pub fn group_id(key: &Bytes, group: &Bytes, g: &Group) -> Vec<Bytes> {
    let read = g.entries_read.map_or(-1, |n| n as i64);
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"SETID"),
        key.clone(),
        group.clone(),
        id_arg(g.last_id),
        Bytes::from_static(b"ENTRIESREAD"),
        num(read),
    ]
}

/// `XGROUP CREATECONSUMER key group consumer`.
pub fn create_consumer(key: &Bytes, group: &Bytes, consumer: &[u8]) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"CREATECONSUMER"),
        key.clone(),
        group.clone(),
        Bytes::copy_from_slice(consumer),
    ]
}
