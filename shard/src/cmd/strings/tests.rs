//! Whole commands through the dispatcher, against replies recorded from Redis 7.0.15 byte
//! for byte.

use bytes::Bytes;
use shoal_proto::{Protocol, Reply};

use crate::client::Client;
use crate::cmd::execute;
use crate::config::ShardConfig;
use crate::state::Server;

struct Session {
    srv: Server,
    client: Client,
}

impl Session {
    fn new() -> Session {
        Session {
            srv: Server::new(ShardConfig::default()),
            client: Client::new(1, "127.0.0.1:1".into(), "127.0.0.1:2".into(), false, true),
        }
    }

    /// Runs a command whose arguments are separated by single spaces.
    fn run(&mut self, line: &str, proto: Protocol) -> String {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let mut out = Reply::new(proto);
        execute(&mut self.srv, &mut self.client, &mut out, &args);
        String::from_utf8_lossy(&out.buf).into_owned()
    }
}

#[test]
fn replies_match_redis() {
    let cases = [
        ("set k v", "+OK\r\n"),
        ("set k w nx", "$-1\r\n"),
        ("set k w xx get", "$1\r\nv\r\n"),
        ("get k", "$1\r\nw\r\n"),
        ("set k v ex 0", "-ERR invalid expire time in 'set' command\r\n"),
        ("set k v ex 10 px 10", "-ERR syntax error\r\n"),
        ("set k v keepttl ex 1", "-ERR syntax error\r\n"),
        ("set k v ex", "-ERR syntax error\r\n"),
        ("set k v persist", "-ERR syntax error\r\n"),
        ("set k v ex 9223372036854776", "-ERR invalid expire time in 'set' command\r\n"),
        ("set k v px 9223372036854775807", "-ERR invalid expire time in 'set' command\r\n"),
        ("set k v ex x", "-ERR value is not an integer or out of range\r\n"),
        ("setex k 0 v", "-ERR invalid expire time in 'setex' command\r\n"),
        ("psetex k -1 v", "-ERR invalid expire time in 'psetex' command\r\n"),
        ("setnx k v", ":0\r\n"),
        ("setnx n v", ":1\r\n"),
        ("getex k ex 1 px 1", "-ERR syntax error\r\n"),
        ("getex k keepttl", "-ERR syntax error\r\n"),
        ("getex nope ex x", "$-1\r\n"),
        ("getex k ex x", "-ERR value is not an integer or out of range\r\n"),
        ("getex k persist", "$1\r\nw\r\n"),
        ("getdel k", "$1\r\nw\r\n"),
        ("getdel k", "$-1\r\n"),
        ("getset g 1", "$-1\r\n"),
        ("getset g 2", "$1\r\n1\r\n"),
        ("mset a 1 b", "-ERR wrong number of arguments for 'mset' command\r\n"),
        ("mset a 1 b 2", "+OK\r\n"),
        ("msetnx a 1 c 2", ":0\r\n"),
        ("msetnx c 1 d 2", ":1\r\n"),
        ("mget a b c z", "*4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n1\r\n$-1\r\n"),
        ("append ap hello", ":5\r\n"),
        ("append ap world", ":10\r\n"),
        ("strlen ap", ":10\r\n"),
        ("getrange ap -3 -1", "$3\r\nrld\r\n"),
        ("getrange ap 5 3", "$0\r\n\r\n"),
        ("getrange ap 0 9223372036854775807", "$10\r\nhelloworld\r\n"),
        ("substr ap 1 2", "$2\r\nel\r\n"),
        ("setrange ap -1 x", "-ERR offset is out of range\r\n"),
        ("setrange ap 12 x", ":13\r\n"),
        ("get ap", "$13\r\nhelloworld\x00\x00x\r\n"),
        ("setrange sr 536870912 x", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"),
        ("setrange sr 0 ", ":0\r\n"),
        ("exists sr", ":0\r\n"),
        ("incr i", ":1\r\n"),
        ("incrby i 10", ":11\r\n"),
        ("decrby i -9223372036854775808", "-ERR decrement would overflow\r\n"),
        ("set i 9223372036854775807", "+OK\r\n"),
        ("incr i", "-ERR increment or decrement would overflow\r\n"),
        ("set i 1.5", "+OK\r\n"),
        ("incr i", "-ERR value is not an integer or out of range\r\n"),
        ("incrbyfloat f 0.1", "$3\r\n0.1\r\n"),
        ("incrbyfloat f 0.2", "$3\r\n0.3\r\n"),
        ("incrbyfloat f inf", "-ERR increment would produce NaN or Infinity\r\n"),
        ("incrbyfloat f x", "-ERR value is not a valid float\r\n"),
        ("set f 1e308", "+OK\r\n"),
        ("incrbyfloat f 1e308", "$309\r\n199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096\r\n"),
        ("set f 5.0e3", "+OK\r\n"),
        ("incrbyfloat f 2.0e2", "$4\r\n5200\r\n"),
        ("set l1 ohmytext", "+OK\r\n"),
        ("set l2 mynewtext", "+OK\r\n"),
        ("lcs l1 l2", "$6\r\nmytext\r\n"),
        ("lcs l1 l2 len", ":6\r\n"),
        ("lcs l1 l2 idx minmatchlen 4 withmatchlen", "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"),
        ("lcs l1 l2 len idx", "-ERR If you want both the length and indexes, please just use IDX.\r\n"),
        ("lcs l1 g2", "$0\r\n\r\n"),
        ("setbit b 7 1", ":0\r\n"),
        ("setbit b 7 1", ":1\r\n"),
        ("get b", "$1\r\n3\r\n"),
        ("setbit b 0 2", "-ERR bit is not an integer or out of range\r\n"),
        ("setbit b -1 1", "-ERR bit offset is not an integer or out of range\r\n"),
        ("getbit b 7", ":1\r\n"),
        ("set bc foobar", "+OK\r\n"),
        ("bitcount bc", ":26\r\n"),
        ("bitcount bc 1 1", ":6\r\n"),
        ("bitcount bc 5 30 bit", ":17\r\n"),
        ("bitcount bc 0", "-ERR syntax error\r\n"),
        ("bitpos bc 1", ":1\r\n"),
        ("bitpos bc 0 1 -1", ":8\r\n"),
        ("bitpos bc 1 7 15 bit", ":9\r\n"),
        ("bitpos bc 2", "-ERR The bit argument must be 1 or 0.\r\n"),
        ("bitop and dest bc nope", ":6\r\n"),
        ("get dest", "$6\r\n\x00\x00\x00\x00\x00\x00\r\n"),
        ("bitop not dest bc bc", "-ERR BITOP NOT must be called with a single source key.\r\n"),
        ("bitop foo dest bc", "-ERR syntax error\r\n"),
        ("bitfield bf set i8 0 255 get i8 0 overflow fail incrby u8 0 300", "*3\r\n:0\r\n:-1\r\n$-1\r\n"),
        ("bitfield bf get u64 0", "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n"),
        ("bitfield_ro bf set i8 0 1", "-ERR BITFIELD_RO only supports the GET subcommand\r\n"),
        ("bitfield bf overflow x", "-ERR Invalid OVERFLOW type specified\r\n"),
    ];
    let mut s = Session::new();
    for (cmd, want) in cases {
        assert_eq!(s.run(cmd, Protocol::Resp2), want, "{cmd}");
    }
}

#[test]
fn lcs_idx_is_a_map_in_resp3() {
    let mut s = Session::new();
    s.run("set l1 ohmytext", Protocol::Resp3);
    s.run("set l2 mynewtext", Protocol::Resp3);
    assert_eq!(
        s.run("lcs l1 l2 idx", Protocol::Resp3),
        "%2\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n"
    );
    assert_eq!(s.run("getex nope", Protocol::Resp3), "_\r\n");
}

#[test]
fn writes_count_as_changes() {
    let mut s = Session::new();
    let dirty = |s: &mut Session, cmd: &str| {
        let before = s.srv.dirty;
        s.run(cmd, Protocol::Resp2);
        s.srv.dirty - before
    };
    assert_eq!(dirty(&mut s, "setbit b 0 0"), 1);
    assert_eq!(dirty(&mut s, "setbit b 0 0"), 0);
    assert_eq!(dirty(&mut s, "setbit b 90 0"), 1);
    assert_eq!(dirty(&mut s, "bitfield f set i5 0 0"), 1);
    assert_eq!(dirty(&mut s, "bitfield f set i5 0 0"), 0);
    assert_eq!(dirty(&mut s, "bitfield f incrby i5 0 1 incrby i5 0 1"), 2);
    assert_eq!(dirty(&mut s, "mset a 1 b 2"), 2);
    assert_eq!(dirty(&mut s, "msetnx a 1 c 2"), 0);
    assert_eq!(dirty(&mut s, "setrange a 0 "), 0);
    assert_eq!(dirty(&mut s, "getex a persist"), 0);
    assert_eq!(dirty(&mut s, "set a 1 nx"), 0);
}

#[test]
fn expiry_options_set_and_clear_ttls() {
    let mut s = Session::new();
    s.run("set k v ex 100", Protocol::Resp2);
    assert!(s.srv.db.expire_at(b"k").is_some());
    s.run("set k v keepttl", Protocol::Resp2);
    assert!(s.srv.db.expire_at(b"k").is_some());
    s.run("incr n", Protocol::Resp2);
    s.run("append k x", Protocol::Resp2);
    assert!(s.srv.db.expire_at(b"k").is_some());
    s.run("set k v", Protocol::Resp2);
    assert!(s.srv.db.expire_at(b"k").is_none());
    s.run("set k v pxat 1", Protocol::Resp2);
    assert_eq!(s.run("get k", Protocol::Resp2), "$-1\r\n");
    s.run("set k v", Protocol::Resp2);
    assert_eq!(s.run("getex k exat 1", Protocol::Resp2), "$1\r\nv\r\n");
    assert_eq!(s.run("exists k", Protocol::Resp2), ":0\r\n");
}
