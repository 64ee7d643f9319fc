//! Raw RESP against the real binary: inline and multibulk requests, pipelining,
//! protocol errors (which close the connection, byte for byte as Redis does), and
//! requests that arrive in small pieces.

use std::thread;
use std::time::Duration;

use shoal_tests::client::RawClient;
use shoal_tests::resp::escape;
use shoal_tests::server::{ChildServer, RedisServer};
use shoal_tests::{Reply, Shard};

fn bulk(s: &[u8]) -> Reply {
    Reply::Bulk(s.to_vec())
}

#[test]
fn ping_inline_and_multibulk() {
    let shard = Shard::start();
    let mut c = shard.connect();
    c.write_raw(b"PING\r\n").unwrap();
    assert_eq!(c.read_reply().unwrap().raw, b"+PONG\r\n");
    c.write_raw(b"*1\r\n$4\r\nPING\r\n").unwrap();
    assert_eq!(c.read_reply().unwrap().raw, b"+PONG\r\n");
    c.write_raw(b"ping \"hello world\"\r\n").unwrap();
    assert_eq!(c.read_reply().unwrap().raw, b"$11\r\nhello world\r\n");
    c.write_raw(b"*2\r\n$4\r\nPING\r\n$0\r\n\r\n").unwrap();
    assert_eq!(c.read_reply().unwrap().raw, b"$0\r\n\r\n");
    // Inline requests may end in a bare LF; empty lines are skipped.
    c.write_raw(b"\r\n\r\nPING\n").unwrap();
    assert_eq!(c.read_reply().unwrap().raw, b"+PONG\r\n");
}

#[test]
fn pipeline_of_1000_commands_in_one_write() {
    let shard = Shard::start();
    let mut c = shard.connect();
    let mut batch = Vec::new();
    for i in 0..500 {
        let key = format!("key:{i}");
        let value = format!("value-{i}");
        batch.extend(shoal_tests::resp::encode_command(&["SET", &key, &value]));
        batch.extend(shoal_tests::resp::encode_command(&["GET", &key]));
    }
    c.write_raw(&batch).unwrap();
    for i in 0..500 {
        let set = c.read_reply().unwrap();
        assert_eq!(set.raw, b"+OK\r\n", "SET #{i}");
        let get = c.read_reply().unwrap();
        assert_eq!(get.reply, bulk(format!("value-{i}").as_bytes()), "GET #{i}");
    }
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(500));
}

/// Sends `bytes` to both servers and returns what each answered before closing.
fn both_close_after(redis: &ChildServer, shard: &ChildServer, bytes: &[u8]) -> [Vec<u8>; 2] {
    [redis, shard].map(|s| {
        let mut c = s.connect();
        c.write_raw(bytes).unwrap();
        let reply = c
            .read_reply()
            .unwrap_or_else(|e| panic!("{} after {}: {e}", s.addr(), escape(bytes)));
        c.expect_eof()
            .unwrap_or_else(|e| panic!("{} kept {} open: {e}", s.addr(), escape(bytes)));
        reply.raw
    })
}

#[test]
fn protocol_errors_reply_like_redis_then_close() {
    let shard = Shard::start();
    let mut direct = shard.connect();
    direct.write_raw(b"*x\r\n").unwrap();
    assert_eq!(
        direct.read_reply().unwrap().raw,
        b"-ERR Protocol error: invalid multibulk length\r\n"
    );
    direct.expect_eof().unwrap();

    let redis = RedisServer::start();
    let cases: &[&[u8]] = &[
        b"*x\r\n",
        b"*1\r\n$x\r\n",
        b"*1\r\nfoo\r\n",
        b"*1\r\n$-5\r\n",
        b"SET a \"b\r\n",
        b"*3000000000\r\n",
        b"*1\r\n$536870913\r\n",
    ];
    for &case in cases {
        let [from_redis, from_shoal] = both_close_after(&redis, &shard, case);
        assert_eq!(
            escape(&from_shoal),
            escape(&from_redis),
            "reply to {}",
            escape(case)
        );
    }
    // The shard is still serving other clients.
    assert_eq!(
        shard.connect().cmd(&["PING"]),
        Reply::Simple(b"PONG".to_vec())
    );
}

#[test]
fn unknown_command_keeps_the_connection_open() {
    let shard = Shard::start();
    let mut c = shard.connect();
    let reply = c.call(&["NOSUCHCOMMAND", "a", "b"]).unwrap();
    assert_eq!(
        reply.escaped(),
        escape(b"-ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'a' 'b' \r\n")
    );
    let reply = c.call(&["GET"]).unwrap();
    assert_eq!(
        reply.escaped(),
        escape(b"-ERR wrong number of arguments for 'get' command\r\n")
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Simple(b"PONG".to_vec()));
}

#[test]
fn big_bulk_in_small_pieces() {
    let shard = Shard::start();
    let mut c = shard.connect();
    let value: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let request = shoal_tests::resp::encode_command(&[b"SET".as_slice(), b"big", &value]);
    for (i, piece) in request.chunks(4_093).enumerate() {
        c.write_raw(piece).unwrap();
        // Let some pieces arrive on their own, so the parser sees partial frames.
        if i % 40 == 0 {
            thread::sleep(Duration::from_millis(2));
        }
    }
    assert_eq!(c.read_reply().unwrap().raw, b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "big"]), Reply::Bulk(value));
    // A request split inside its header line and inside its length prefix.
    for piece in [&b"*2\r"[..], b"\n$3", b"\r\nGET\r\n$", b"3\r\nbi", b"g\r\n"] {
        c.write_raw(piece).unwrap();
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        c.read_reply().unwrap().raw.len(),
        "$1000000\r\n".len() + 1_000_002
    );
}

#[test]
fn replies_come_back_in_order_across_connections() {
    let shard = Shard::start();
    let mut clients: Vec<RawClient> = (0..8).map(|_| shard.connect()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let mut batch = Vec::new();
        for j in 0..50 {
            batch.extend(shoal_tests::resp::encode_command(&[
                "SET".to_string(),
                format!("c{i}:{j}"),
                format!("{i}-{j}"),
            ]));
        }
        c.write_raw(&batch).unwrap();
    }
    for c in &mut clients {
        for _ in 0..50 {
            assert_eq!(c.read_reply().unwrap().raw, b"+OK\r\n");
        }
    }
    let mut c = shard.connect();
    assert_eq!(c.cmd(&["GET", "c7:49"]), bulk(b"7-49"));
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(400));
}
