//! Replies checked byte for byte against what Redis 7.0 answers to the same script, in
//! both protocols and with both encodings.

use bytes::Bytes;
use shoal_proto::{Protocol, Reply};

use crate::client::Client;
use crate::config::ShardConfig;
use crate::state::Server;

fn run_script(script: &[(&str, &[u8])], proto: Protocol, max_entries: u64) {
    let mut srv = Server::new(ShardConfig {
        zset_max_listpack_entries: max_entries,
        ..ShardConfig::default()
    });
    let mut client = Client::new(1, "127.0.0.1:1".into(), "127.0.0.1:2".into(), false, true);
    for (line, want) in script {
        let argv: Vec<Bytes> = line
            .split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let mut out = Reply::new(proto);
        crate::cmd::execute(&mut srv, &mut client, &mut out, &argv);
        assert_eq!(
            String::from_utf8_lossy(&out.buf),
            String::from_utf8_lossy(want),
            "{line} ({proto:?}, max entries {max_entries})"
        );
    }
}

#[test]
fn replies_match_redis() {
    for max_entries in [128, 0] {
        run_script(RESP2, Protocol::Resp2, max_entries);
        run_script(RESP3, Protocol::Resp3, max_entries);
    }
}

const RESP2: &[(&str, &[u8])] = &[
    ("ZADD z 1 a 2 b 3 c", b":3\r\n"),
    ("ZADD z XX NX 1 a", b"-ERR XX and NX options at the same time are not compatible\r\n"),
    ("ZADD z GT LT 1 a", b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
    ("ZADD z INCR 1 a 2 b", b"-ERR INCR option supports a single increment-element pair\r\n"),
    ("ZADD z nan a", b"-ERR value is not a valid float\r\n"),
    ("ZADD z CH GT 5 a 0 b 10 d", b":2\r\n"),
    ("ZINCRBY z 0.1 c", b"$18\r\n3.1000000000000001\r\n"),
    ("ZINCRBY z -inf c", b"$4\r\n-inf\r\n"),
    ("ZADD z INCR +inf c", b"-ERR resulting score is not a number (NaN)\r\n"),
    ("ZRANGE z 0 -1 WITHSCORES", b"*8\r\n$1\r\nc\r\n$4\r\n-inf\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n5\r\n$1\r\nd\r\n$2\r\n10\r\n"),
    ("ZRANGE z (1 +inf BYSCORE REV LIMIT 0 2 WITHSCORES", b"*0\r\n"),
    ("ZRANGE z 0 -1 LIMIT 0 1", b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
    ("ZRANGE z - + BYLEX WITHSCORES", b"-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
    ("ZRANGEBYSCORE z x 1", b"-ERR min or max is not a float\r\n"),
    ("ZRANGEBYLEX z a b", b"-ERR min or max not valid string range item\r\n"),
    ("ZREVRANGE z 0 1 WITHSCORES", b"*4\r\n$1\r\nd\r\n$2\r\n10\r\n$1\r\na\r\n$1\r\n5\r\n"),
    ("ZCOUNT z (2 inf", b":2\r\n"),
    ("ZRANK z b", b":1\r\n"),
    ("ZREVRANK z b", b":2\r\n"),
    ("ZMSCORE z a nope", b"*2\r\n$1\r\n5\r\n$-1\r\n"),
    ("ZSCORE z d", b"$2\r\n10\r\n"),
    ("ZUNION 2 z z WEIGHTS 1 2 AGGREGATE MAX WITHSCORES", b"*8\r\n$1\r\nc\r\n$4\r\n-inf\r\n$1\r\nb\r\n$1\r\n4\r\n$1\r\na\r\n$2\r\n10\r\n$1\r\nd\r\n$2\r\n20\r\n"),
    ("ZINTER 2 z nokey", b"*0\r\n"),
    ("ZDIFF 1 z WITHSCORES", b"*8\r\n$1\r\nc\r\n$4\r\n-inf\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n5\r\n$1\r\nd\r\n$2\r\n10\r\n"),
    ("ZINTERCARD 1 z LIMIT 2", b":2\r\n"),
    ("ZUNIONSTORE dst 1 z WEIGHTS x", b"-ERR weight value is not a float\r\n"),
    ("ZPOPMIN z 2", b"*4\r\n$1\r\nc\r\n$4\r\n-inf\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    ("ZPOPMAX z", b"*2\r\n$1\r\nd\r\n$2\r\n10\r\n"),
    ("ZMPOP 1 z MIN COUNT 5", b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n5\r\n"),
    ("ZMPOP 1 z MIN", b"*-1\r\n"),
    ("ZCARD z", b":0\r\n"),
    ("ZPOPMIN z -1", b"-ERR value is out of range, must be positive\r\n"),
];
const RESP3: &[(&str, &[u8])] = &[
    ("ZADD z 1 a 2 b 3 c", b":3\r\n"),
    ("ZADD z XX NX 1 a", b"-ERR XX and NX options at the same time are not compatible\r\n"),
    ("ZADD z GT LT 1 a", b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
    ("ZADD z INCR 1 a 2 b", b"-ERR INCR option supports a single increment-element pair\r\n"),
    ("ZADD z nan a", b"-ERR value is not a valid float\r\n"),
    ("ZADD z CH GT 5 a 0 b 10 d", b":2\r\n"),
    ("ZINCRBY z 0.1 c", b",3.1000000000000001\r\n"),
    ("ZINCRBY z -inf c", b",-inf\r\n"),
    ("ZADD z INCR +inf c", b"-ERR resulting score is not a number (NaN)\r\n"),
    ("ZRANGE z 0 -1 WITHSCORES", b"*4\r\n*2\r\n$1\r\nc\r\n,-inf\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\na\r\n,5\r\n*2\r\n$1\r\nd\r\n,10\r\n"),
    ("ZRANGE z (1 +inf BYSCORE REV LIMIT 0 2 WITHSCORES", b"*0\r\n"),
    ("ZRANGE z 0 -1 LIMIT 0 1", b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
    ("ZRANGE z - + BYLEX WITHSCORES", b"-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
    ("ZRANGEBYSCORE z x 1", b"-ERR min or max is not a float\r\n"),
    ("ZRANGEBYLEX z a b", b"-ERR min or max not valid string range item\r\n"),
    ("ZREVRANGE z 0 1 WITHSCORES", b"*2\r\n*2\r\n$1\r\nd\r\n,10\r\n*2\r\n$1\r\na\r\n,5\r\n"),
    ("ZCOUNT z (2 inf", b":2\r\n"),
    ("ZRANK z b", b":1\r\n"),
    ("ZREVRANK z b", b":2\r\n"),
    ("ZMSCORE z a nope", b"*2\r\n,5\r\n_\r\n"),
    ("ZSCORE z d", b",10\r\n"),
    ("ZUNION 2 z z WEIGHTS 1 2 AGGREGATE MAX WITHSCORES", b"*4\r\n*2\r\n$1\r\nc\r\n,-inf\r\n*2\r\n$1\r\nb\r\n,4\r\n*2\r\n$1\r\na\r\n,10\r\n*2\r\n$1\r\nd\r\n,20\r\n"),
    ("ZINTER 2 z nokey", b"*0\r\n"),
    ("ZDIFF 1 z WITHSCORES", b"*4\r\n*2\r\n$1\r\nc\r\n,-inf\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\na\r\n,5\r\n*2\r\n$1\r\nd\r\n,10\r\n"),
    ("ZINTERCARD 1 z LIMIT 2", b":2\r\n"),
    ("ZUNIONSTORE dst 1 z WEIGHTS x", b"-ERR weight value is not a float\r\n"),
    ("ZPOPMIN z 2", b"*2\r\n*2\r\n$1\r\nc\r\n,-inf\r\n*2\r\n$1\r\nb\r\n,2\r\n"),
    ("ZPOPMAX z", b"*2\r\n$1\r\nd\r\n,10\r\n"),
    ("ZMPOP 1 z MIN COUNT 5", b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n,5\r\n"),
    ("ZMPOP 1 z MIN", b"_\r\n"),
    ("ZCARD z", b":0\r\n"),
    ("ZPOPMIN z -1", b"-ERR value is out of range, must be positive\r\n"),
];
