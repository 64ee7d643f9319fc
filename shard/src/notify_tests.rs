use std::rc::Rc;

use shoal_proto::Protocol;

use super::*;
use crate::cmd::hash::testkit::Kit;
use crate::config::parse::{keyspace_events, keyspace_events_string};
use crate::pubsub::outbox::Outbox;
use crate::pubsub::Kind;

#[test]
fn flags_round_trip_in_canonical_order() {
    for (input, shown) in [
        ("gKE", "gKE"),
        ("$lshzxeKE", "$lshzxeKE"),
        ("KA", "AK"),
        ("EA", "AE"),
        ("nEx", "xnE"),
        ("mK", "Km"),
        ("dt", "td"),
        // `A` covers neither `n` nor `m`, yet Redis shows `A` alone even with `n` on.
        ("AnK", "AK"),
        ("gg", "g"),
    ] {
        assert_eq!(
            keyspace_events(input)
                .map(keyspace_events_string)
                .as_deref(),
            Some(shown),
            "{input}"
        );
    }
    let all_and_new = keyspace_events("An").unwrap();
    assert_ne!(all_and_new & NEW, 0);
    assert_eq!(keyspace_events("Kq"), None);
    assert_eq!(keyspace_events(""), Some(0));
}

/// A server with a `*` pattern subscriber, and the (channel, message) pairs it received.
struct Listener {
    kit: Kit,
    outbox: Rc<Outbox>,
}

impl Listener {
    fn new(classes: &str) -> Listener {
        let mut kit = Kit::new();
        kit.srv.config.notify_keyspace_events = keyspace_events(classes).unwrap();
        let outbox = Rc::new(Outbox::new(Protocol::Resp2, 1 << 20));
        let sink = outbox.clone();
        let pattern = Bytes::from_static(b"*");
        kit.srv
            .pubsub
            .subscribe(7, || sink, Kind::Pattern, &pattern);
        Listener { kit, outbox }
    }

    fn run(&mut self, cmd: &str) {
        self.kit.run(cmd);
    }

    /// Each pmessage as "channel message"; keys in these tests hold no CR or LF.
    fn events(&self) -> Vec<String> {
        let buf = self.outbox.take();
        let text = String::from_utf8(buf.to_vec()).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        lines
            .chunks(9)
            .filter(|f| f.len() == 9)
            .map(|f| {
                assert_eq!(f[2], "pmessage");
                format!("{} {}", f[6], f[8])
            })
            .collect()
    }
}

#[test]
fn keyspace_and_keyevent_channels() {
    let mut l = Listener::new("KEA");
    l.run("set foo bar");
    assert_eq!(
        l.events(),
        ["__keyspace@0__:foo set", "__keyevent@0__:set foo"]
    );
}

#[test]
fn disabled_classes_publish_nothing() {
    let mut l = Listener::new("Kl");
    l.run("set foo bar");
    l.run("lpush mylist a");
    assert_eq!(l.events(), ["__keyspace@0__:mylist lpush"]);
    // Classes without K or E reach no channel at all.
    let mut l = Listener::new("A");
    l.run("set foo bar");
    assert!(l.events().is_empty());
}

#[test]
fn set_with_expiry_and_emptied_collections() {
    let mut l = Listener::new("KA");
    l.run("set k v ex 100");
    l.run("rpush list a");
    l.run("rpoplpush list other");
    l.run("hset h f 1");
    l.run("hdel h f");
    assert_eq!(
        l.events(),
        [
            "__keyspace@0__:k set",
            "__keyspace@0__:k expire",
            "__keyspace@0__:list rpush",
            "__keyspace@0__:other lpush",
            "__keyspace@0__:list rpop",
            "__keyspace@0__:list del",
            "__keyspace@0__:h hset",
            "__keyspace@0__:h hdel",
            "__keyspace@0__:h del",
        ]
    );
}

#[test]
fn new_comes_before_the_command_event_and_only_once() {
    let mut l = Listener::new("KEAn");
    l.run("set foo bar");
    l.run("set foo baz");
    assert_eq!(
        l.events(),
        [
            "__keyspace@0__:foo new",
            "__keyevent@0__:new foo",
            "__keyspace@0__:foo set",
            "__keyevent@0__:set foo",
            "__keyspace@0__:foo set",
            "__keyevent@0__:set foo",
        ]
    );
    // Keys are not recorded at all while `n` is off.
    let mut l = Listener::new("KA");
    l.run("set a 1");
    assert!(l.kit.srv.db.events.is_empty());
}

#[test]
fn lazy_expiry_publishes_expired() {
    let mut l = Listener::new("Ex");
    l.kit.srv.db.set(b"k", crate::db::Value::str(b"v"), false);
    l.kit.srv.db.set_expire(b"k", 1);
    l.run("get k");
    assert_eq!(l.events(), ["__keyevent@0__:expired k"]);
}

#[test]
fn keymiss_is_opt_in_and_ordered_after_expired() {
    let mut l = Listener::new("KA");
    l.run("get nothere");
    assert!(l.events().is_empty());
    let mut l = Listener::new("KEm");
    l.run("get nothere");
    l.run("set k v");
    assert_eq!(
        l.events(),
        [
            "__keyspace@0__:nothere keymiss",
            "__keyevent@0__:keymiss nothere"
        ]
    );
    // A read of an expired key: the expiry comes first, then the miss, as in Redis.
    let mut l = Listener::new("Kxm");
    l.kit.srv.db.set(b"old", crate::db::Value::str(b"v"), false);
    l.kit.srv.db.set_expire(b"old", 1);
    l.run("get old");
    assert_eq!(
        l.events(),
        ["__keyspace@0__:old expired", "__keyspace@0__:old keymiss"]
    );
}
