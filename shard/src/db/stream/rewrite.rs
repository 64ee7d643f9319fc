//! A stream as the commands that rebuild it, in the order and shape Redis's AOF rewrite
//! writes them: its entries, its counters, then each group with its consumers and
//! pending entries. AOF rewrite and any command-based serializer use this.

use super::{Stream, StreamId};

fn id(id: StreamId) -> Vec<u8> {
    id.to_bytes()
}

fn num(n: impl ToString) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// Calls `emit` with each command (an argv) that recreates `s` under `key`.
pub fn commands(key: &[u8], s: &Stream, mut emit: impl FnMut(Vec<Vec<u8>>)) {
    if s.is_empty() {
        // An empty stream still exists and keeps its counters: an entry trimmed away at
        // once creates it, and the XSETID below restores the rest.
        emit(vec![
            b"XADD".to_vec(),
            key.to_vec(),
            b"MAXLEN".to_vec(),
            b"0".to_vec(),
            id(StreamId::new(0, 1)),
            b"x".to_vec(),
            b"y".to_vec(),
        ]);
    }
    for (entry_id, fields) in s.entries() {
        let mut argv = Vec::with_capacity(3 + fields.len());
        argv.push(b"XADD".to_vec());
        argv.push(key.to_vec());
        argv.push(id(entry_id));
        argv.extend(fields.iter().map(|f| f.to_vec()));
        emit(argv);
    }
    emit(vec![
        b"XSETID".to_vec(),
        key.to_vec(),
        id(s.last_id),
        b"ENTRIESADDED".to_vec(),
        num(s.entries_added),
        b"MAXDELETEDID".to_vec(),
        id(s.max_deleted_id),
    ]);
    for (name, g) in &s.groups {
        let read = g.entries_read.map_or(-1, |n| n as i64);
        emit(vec![
            b"XGROUP".to_vec(),
            b"CREATE".to_vec(),
            key.to_vec(),
            name.to_vec(),
            id(g.last_id),
            b"ENTRIESREAD".to_vec(),
            num(read),
        ]);
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                emit(vec![
                    b"XGROUP".to_vec(),
                    b"CREATECONSUMER".to_vec(),
                    key.to_vec(),
                    name.to_vec(),
                    cname.to_vec(),
                ]);
                continue;
            }
            for pending in &c.pel {
                let Some(nack) = g.pel.get(pending) else {
                    continue;
                };
                emit(vec![
                    b"XCLAIM".to_vec(),
                    key.to_vec(),
                    name.to_vec(),
                    cname.to_vec(),
                    b"0".to_vec(),
                    id(*pending),
                    b"TIME".to_vec(),
                    num(nack.delivery_time),
                    b"RETRYCOUNT".to_vec(),
                    num(nack.delivery_count),
                    b"JUSTID".to_vec(),
                    b"FORCE".to_vec(),
                ]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::stream::{Group, NodeLimits};
    use crate::db::Sds;

    #[test]
    fn emits_entries_counters_and_groups() {
        let limits = NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        };
        let mut s = Stream::new();
        let f = vec![Sds::new(b"f"), Sds::new(b"v")];
        s.add(f.clone(), Some((StreamId::new(1, 0), true)), 0, limits)
            .unwrap();
        s.add(f, Some((StreamId::new(2, 0), true)), 0, limits)
            .unwrap();
        let mut g = Group::new(StreamId::new(2, 0), Some(2));
        g.consumer_or_create(b"idle", 5);
        g.consumer_or_create(b"busy", 5);
        g.deliver(StreamId::new(2, 0), b"busy", 7);
        s.groups.insert(Sds::new(b"g"), g);
        let mut out = Vec::new();
        commands(b"k", &s, |argv| {
            out.push(
                argv.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        });
        assert_eq!(
            out,
            [
                "XADD k 1-0 f v",
                "XADD k 2-0 f v",
                "XSETID k 2-0 ENTRIESADDED 2 MAXDELETEDID 0-0",
                "XGROUP CREATE k g 2-0 ENTRIESREAD 2",
                "XCLAIM k g busy 0 2-0 TIME 7 RETRYCOUNT 1 JUSTID FORCE",
                "XGROUP CREATECONSUMER k g idle",
            ]
        );
    }
}
