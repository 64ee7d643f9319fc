//! The pub/sub broker: who listens to which channel, pattern and shard channel, and the
//! fan-out of published messages.
//!
//! It knows nothing of connections or keyspaces: a subscriber is an id plus a [`Sink`]
//! that accepts encoded frames. The shard plugs in its connections' outboxes, and the
//! agent's proxy can plug in its own client handles, so the same broker serves both
//! (pub/sub needs no keyspace and no persistence).
//!
//! # Layout
//! - [`outbox`]: a single-threaded `Sink` with an output-buffer limit, for connections.

pub mod outbox;

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use indexmap::IndexSet;
use shoal_proto::{Protocol, Reply};

use crate::glob;

/// Where a subscriber's messages go.
pub trait Sink {
    /// The protocol the subscriber speaks, which decides the frame shape.
    fn protocol(&self) -> Protocol;
    /// Queues one encoded frame. Returns false when the subscriber is gone or over its
    /// output limit; the broker still counts it as a receiver, as Redis does.
    fn deliver(&self, frame: &Bytes) -> bool;
}

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    pub fn subscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    pub fn unsubscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

struct Subscriber<S> {
    sink: S,
    channels: IndexSet<Bytes>,
    patterns: IndexSet<Bytes>,
    shard: IndexSet<Bytes>,
}

impl<S> Subscriber<S> {
    fn set(&mut self, kind: Kind) -> &mut IndexSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count Redis reports in (un)subscribe confirmations: channels plus patterns, or
    /// shard channels alone for the shard kind.
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }
}

pub struct Broker<S> {
    channels: HashMap<Bytes, Vec<u64>>,
    patterns: HashMap<Bytes, Vec<u64>>,
    shard: HashMap<Bytes, Vec<u64>>,
    subs: HashMap<u64, Subscriber<S>>,
}

impl<S> Default for Broker<S> {
    fn default() -> Self {
        Broker {
            channels: HashMap::new(),
            patterns: HashMap::new(),
            shard: HashMap::new(),
            subs: HashMap::new(),
        }
    }
}

impl<S: Sink> Broker<S> {
    fn index(&mut self, kind: Kind) -> &mut HashMap<Bytes, Vec<u64>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Subscribes `id` to `name`, registering the subscriber with `sink` if it is new.
    /// Returns the subscription count to report.
    pub fn subscribe(
        &mut self,
        id: u64,
        sink: impl FnOnce() -> S,
        kind: Kind,
        name: &Bytes,
    ) -> usize {
        let sub = self.subs.entry(id).or_insert_with(|| Subscriber {
            sink: sink(),
            channels: IndexSet::new(),
            patterns: IndexSet::new(),
            shard: IndexSet::new(),
        });
        let added = sub.set(kind).insert(name.clone());
        let count = sub.count(kind);
        if added {
            self.index(kind).entry(name.clone()).or_default().push(id);
        }
        count
    }

    /// Unsubscribes `id` from `name`. Returns the subscription count to report.
    pub fn unsubscribe(&mut self, id: u64, kind: Kind, name: &Bytes) -> usize {
        let Some(sub) = self.subs.get_mut(&id) else {
            return 0;
        };
        let removed = sub.set(kind).shift_remove(name);
        let count = sub.count(kind);
        if removed {
            let index = self.index(kind);
            if let Some(ids) = index.get_mut(name) {
                ids.retain(|&s| s != id);
                // Dropping empty entries keeps a flood of one-off channels from
                // growing the broker forever.
                if ids.is_empty() {
                    index.remove(name);
                }
            }
        }
        self.forget_if_idle(id);
        count
    }

    /// The names `id` is subscribed to, in subscription order (for a mass unsubscribe).
    pub fn subscriptions(&self, id: u64, kind: Kind) -> Vec<Bytes> {
        match self.subs.get(&id) {
            None => Vec::new(),
            Some(sub) => match kind {
                Kind::Channel => sub.channels.iter().cloned().collect(),
                Kind::Pattern => sub.patterns.iter().cloned().collect(),
                Kind::Shard => sub.shard.iter().cloned().collect(),
            },
        }
    }

    /// Subscriptions of `id` as Redis counts them: channels plus patterns, and shard
    /// channels.
    pub fn counts(&self, id: u64) -> (usize, usize) {
        match self.subs.get(&id) {
            None => (0, 0),
            Some(s) => (s.channels.len() + s.patterns.len(), s.shard.len()),
        }
    }

    /// True when `id` has any subscription (RESP2 subscribed mode).
    pub fn is_subscribed(&self, id: u64) -> bool {
        // Asked for every command: with no subscriber at all, skip the hashing.
        !self.subs.is_empty() && self.subs.contains_key(&id)
    }

    /// Removes every subscription of a client that went away.
    pub fn remove_client(&mut self, id: u64) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in self.subscriptions(id, kind) {
                self.unsubscribe(id, kind, &name);
            }
        }
        self.subs.remove(&id);
    }

    fn forget_if_idle(&mut self, id: u64) {
        if let Some(s) = self.subs.get(&id) {
            if s.channels.is_empty() && s.patterns.is_empty() && s.shard.is_empty() {
                self.subs.remove(&id);
            }
        }
    }

    /// PUBLISH: delivers to channel subscribers and matching patterns. Returns the number
    /// of receivers.
    pub fn publish(&mut self, channel: &Bytes, message: &Bytes) -> usize {
        let mut frames = Frames::default();
        let mut receivers = 0;
        if let Some(ids) = self.channels.get(channel) {
            for id in ids {
                if let Some(sub) = self.subs.get(id) {
                    let frame = frames.get(sub.sink.protocol(), || {
                        vec![&b"message"[..], channel, message]
                    });
                    sub.sink.deliver(frame);
                    receivers += 1;
                }
            }
        }
        for (pattern, ids) in &self.patterns {
            if !glob::matches(pattern, channel, false) {
                continue;
            }
            let mut pframes = Frames::default();
            for id in ids {
                if let Some(sub) = self.subs.get(id) {
                    let frame = pframes.get(sub.sink.protocol(), || {
                        vec![&b"pmessage"[..], pattern, channel, message]
                    });
                    sub.sink.deliver(frame);
                    receivers += 1;
                }
            }
        }
        receivers
    }

    /// SPUBLISH: delivers to shard-channel subscribers. Returns the number of receivers.
    pub fn spublish(&mut self, channel: &Bytes, message: &Bytes) -> usize {
        let mut frames = Frames::default();
        let mut receivers = 0;
        if let Some(ids) = self.shard.get(channel) {
            for id in ids {
                if let Some(sub) = self.subs.get(id) {
                    let frame = frames.get(sub.sink.protocol(), || {
                        vec![&b"smessage"[..], channel, message]
                    });
                    sub.sink.deliver(frame);
                    receivers += 1;
                }
            }
        }
        receivers
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: active channel names matching `pattern`.
    pub fn channel_names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let index = match kind {
            Kind::Shard => &self.shard,
            _ => &self.channels,
        };
        index
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob::matches(p, c, false)))
            .cloned()
            .collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB for one channel.
    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        let index = match kind {
            Kind::Shard => &self.shard,
            _ => &self.channels,
        };
        index.get(channel).map_or(0, Vec::len)
    }

    /// PUBSUB NUMPAT: distinct patterns with at least one subscriber.
    pub fn numpat(&self) -> usize {
        self.patterns.len()
    }

    /// Channels plus patterns across all clients (INFO's pubsub_channels/patterns).
    pub fn totals(&self) -> (usize, usize, usize) {
        (self.channels.len(), self.patterns.len(), self.shard.len())
    }
}

/// A message encoded at most once per protocol, however many subscribers receive it.
#[derive(Default)]
struct Frames {
    resp2: Option<Bytes>,
    resp3: Option<Bytes>,
}

impl Frames {
    fn get<'a, 'b>(
        &'a mut self,
        proto: Protocol,
        parts: impl FnOnce() -> Vec<&'b [u8]>,
    ) -> &'a Bytes {
        let slot = match proto {
            Protocol::Resp2 => &mut self.resp2,
            Protocol::Resp3 => &mut self.resp3,
        };
        slot.get_or_insert_with(|| encode_push(proto, &parts()))
    }
}

/// Encodes a push frame (`*n` in RESP2, `>n` in RESP3) of bulk strings.
pub fn encode_push(proto: Protocol, parts: &[&[u8]]) -> Bytes {
    let mut r = Reply {
        buf: BytesMut::new(),
        proto,
    };
    r.push(parts.len());
    for p in parts {
        r.bulk(p);
    }
    r.buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Clone, Default)]
    struct TestSink(Rc<RefCell<Vec<Bytes>>>, Protocol);

    impl Sink for TestSink {
        fn protocol(&self) -> Protocol {
            self.1
        }
        fn deliver(&self, frame: &Bytes) -> bool {
            self.0.borrow_mut().push(frame.clone());
            true
        }
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn publish_reaches_channels_and_patterns() {
        let mut broker = Broker::default();
        let s1 = TestSink::default();
        let s2 = TestSink(Default::default(), Protocol::Resp3);
        assert_eq!(
            broker.subscribe(1, || s1.clone(), Kind::Channel, &b("news")),
            1
        );
        assert_eq!(
            broker.subscribe(1, || s1.clone(), Kind::Channel, &b("news")),
            1
        );
        assert_eq!(
            broker.subscribe(2, || s2.clone(), Kind::Pattern, &b("n*")),
            1
        );
        assert_eq!(broker.publish(&b("news"), &b("hi")), 2);
        assert_eq!(
            &s1.0.borrow()[0][..],
            b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            &s2.0.borrow()[0][..],
            b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        assert_eq!(broker.numsub(Kind::Channel, b"news"), 1);
        assert_eq!(broker.numpat(), 1);
        broker.remove_client(1);
        assert_eq!(broker.numsub(Kind::Channel, b"news"), 0);
        assert!(broker.channel_names(Kind::Channel, None).is_empty());
        assert_eq!(broker.publish(&b("news"), &b("hi")), 1);
    }

    #[test]
    fn shard_channels_are_separate() {
        let mut broker = Broker::default();
        let s = TestSink::default();
        broker.subscribe(1, || s.clone(), Kind::Channel, &b("a"));
        assert_eq!(broker.subscribe(1, || s.clone(), Kind::Shard, &b("a")), 1);
        assert_eq!(broker.counts(1), (1, 1));
        assert_eq!(broker.spublish(&b("a"), &b("x")), 1);
        assert_eq!(broker.unsubscribe(1, Kind::Shard, &b("a")), 0);
        assert!(broker.is_subscribed(1));
        assert_eq!(broker.unsubscribe(1, Kind::Channel, &b("a")), 0);
        assert!(!broker.is_subscribed(1));
    }
}
