//! The real `redis` crate as a client, over RESP2 and RESP3, against the binary.

use redis::{Commands, Value};
use shoal_tests::{RedisServer, Shard};

fn connect(port: u16, resp3: bool) -> redis::Connection {
    let url = if resp3 {
        format!("redis://127.0.0.1:{port}/?protocol=resp3")
    } else {
        format!("redis://127.0.0.1:{port}/")
    };
    let client = redis::Client::open(url).expect("a valid URL");
    client
        .get_connection()
        .expect("connect with the redis crate")
}

#[test]
fn set_get_over_resp2_and_resp3() {
    let shard = Shard::start();
    for resp3 in [false, true] {
        let mut con = connect(shard.port(), resp3);
        let key = format!("greeting:{resp3}");
        let _: () = con.set(&key, "hello").unwrap();
        let got: String = con.get(&key).unwrap();
        assert_eq!(got, "hello");
        let missing: Option<String> = con.get("no such key").unwrap();
        assert_eq!(missing, None);
        let raw: Value = con.get("no such key").unwrap();
        assert_eq!(raw, Value::Nil);
        let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert!(n >= 1);
    }
}

#[test]
fn hello_3_switches_to_resp3() {
    let shard = Shard::start();
    let mut con = connect(shard.port(), true);
    let hello: Value = redis::cmd("HELLO").arg(3).query(&mut con).unwrap();
    let Value::Map(fields) = hello else {
        panic!("HELLO 3 should answer a map, got {hello:?}");
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| matches!(k, Value::BulkString(b) if b == name.as_bytes()))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("proto"), Some(Value::Int(3)));
    assert!(field("server").is_some());
    assert!(field("version").is_some());
    // On RESP3 a missing key is the RESP3 null, which the crate reads as Nil.
    let raw: Value = con.get("nothing here").unwrap();
    assert_eq!(raw, Value::Nil);
}

#[test]
fn incr_expire_mget() {
    let shard = Shard::start();
    incr_expire_mget_on(shard.port());
}

/// The same test against Redis itself, so that the test is known to be right before
/// shoal has to pass it.
#[test]
fn incr_expire_mget_reference_redis() {
    let redis = RedisServer::start();
    incr_expire_mget_on(redis.port());
}

fn incr_expire_mget_on(port: u16) {
    for resp3 in [false, true] {
        let mut con = connect(port, resp3);
        let counter = format!("counter:{resp3}");
        let n: i64 = con.incr(&counter, 1).unwrap();
        assert_eq!(n, 1);
        let n: i64 = con.incr(&counter, 41).unwrap();
        assert_eq!(n, 42);
        let set: bool = con.expire(&counter, 1000).unwrap();
        assert!(set);
        let ttl: i64 = con.ttl(&counter).unwrap();
        assert!((990..=1000).contains(&ttl), "ttl {ttl}");
        let _: () = con.set("a", "1").unwrap();
        let got: Vec<Option<String>> = con.mget(&["a", "missing", &counter]).unwrap();
        assert_eq!(got, vec![Some("1".into()), None, Some("42".into())]);
        let _: () = con.set("a-string", "x").unwrap();
        let err = con
            .incr::<_, _, i64>("a-string", 1)
            .expect_err("INCR on a non-number fails");
        assert!(err.to_string().contains("not an integer"), "{err}");
    }
}
