//! Replies checked byte for byte against what Redis 7.0 answers to the same script, in
//! both protocols. IDs are explicit so that no reply depends on the clock.

use bytes::Bytes;
use shoal_proto::{Protocol, Reply};

use crate::client::Client;
use crate::config::ShardConfig;
use crate::state::Server;

fn run_script(script: &[(&str, &[u8])], proto: Protocol) {
    let mut srv = Server::new(ShardConfig::default());
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
            "{line} ({proto:?})"
        );
    }
}

#[test]
fn replies_match_redis() {
    run_script(RESP2, Protocol::Resp2);
    run_script(RESP3, Protocol::Resp3);
}

const RESP2: &[(&str, &[u8])] = &[
    ("DEL s", b":0\r\n"),
    ("XADD s 1-1 a 1", b"$3\r\n1-1\r\n"),
    ("XADD s 1-* b 2", b"$3\r\n1-2\r\n"),
    ("XADD s 2 c 3 d 4", b"$3\r\n2-0\r\n"),
    ("XADD s 1-5 x y", b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"),
    ("XADD s 0-0 x y", b"-ERR The ID specified in XADD must be greater than 0-0\r\n"),
    ("XADD s abc x y", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    ("XADD s MAXLEN -1 3-0 x y", b"-ERR The MAXLEN argument must be >= 0.\r\n"),
    ("XADD s LIMIT 5 3-0 x y", b"-ERR syntax error, LIMIT cannot be used without specifying a trimming strategy\r\n"),
    ("XADD s MAXLEN 2 MINID 1 3-0 x y", b"-ERR syntax error, MAXLEN and MINID options at the same time are not compatible\r\n"),
    ("XADD s NOMKSTREAM 3-0 e 5", b"$3\r\n3-0\r\n"),
    ("XADD nokey NOMKSTREAM 3-0 e 5", b"$-1\r\n"),
    ("XLEN s", b":4\r\n"),
    ("XRANGE s - +", b"*4\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    ("XRANGE s (1-1 + COUNT 1", b"*1\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    ("XREVRANGE s + - COUNT 2", b"*2\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"),
    ("XRANGE s - + COUNT 0", b"*-1\r\n"),
    ("XRANGE s (- +", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    ("XRANGE s - + FOO", b"-ERR syntax error\r\n"),
    ("XGROUP CREATE s g 0", b"+OK\r\n"),
    ("XGROUP CREATE s g 0", b"-BUSYGROUP Consumer Group name already exists\r\n"),
    ("XGROUP CREATE nokey g 0", b"-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.\r\n"),
    ("XGROUP SETID s nog 0", b"-NOGROUP No such consumer group 'nog' for key name 's'\r\n"),
    ("XREADGROUP GROUP g alice COUNT 2 STREAMS s >", b"*1\r\n*2\r\n$1\r\ns\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    ("XREADGROUP GROUP g bob NOACK COUNT 1 STREAMS s >", b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"),
    ("XREADGROUP GROUP g alice STREAMS s 0", b"*1\r\n*2\r\n$1\r\ns\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    ("XREADGROUP GROUP nog alice STREAMS s >", b"-NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option\r\n"),
    ("XREADGROUP GROUP g alice STREAMS s $", b"-ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.\r\n"),
    ("XREAD STREAMS s >", b"-ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.\r\n"),
    ("XREAD COUNT 1 STREAMS s nokey 1-1 0", b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    ("XREAD STREAMS s", b"-ERR wrong number of arguments for 'xread' command\r\n"),
    ("XPENDING s g", b"*4\r\n:2\r\n$3\r\n1-1\r\n$3\r\n1-2\r\n*1\r\n*2\r\n$5\r\nalice\r\n$1\r\n2\r\n"),
    ("XACK s g 1-1 9-9", b":1\r\n"),
    ("XDEL s 2-0 9-9", b":1\r\n"),
    ("XINFO GROUPS s", b"*1\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:2\r\n$7\r\npending\r\n:1\r\n$17\r\nlast-delivered-id\r\n$3\r\n2-0\r\n$12\r\nentries-read\r\n:3\r\n$3\r\nlag\r\n$-1\r\n"),
    ("XGROUP DELCONSUMER s g alice", b":1\r\n"),
    ("XGROUP CREATECONSUMER s g carol", b":1\r\n"),
    ("XTRIM s MAXLEN = 1", b":2\r\n"),
    ("XTRIM s MAXLEN 1 LIMIT 10", b"-ERR syntax error, LIMIT cannot be used without the special ~ option\r\n"),
    ("XSETID s 1-0", b"-ERR The ID specified in XSETID is smaller than the target stream top item\r\n"),
    ("XSETID s 9-0 ENTRIESADDED 9 MAXDELETEDID 2-0", b"+OK\r\n"),
    ("XINFO STREAM s", b"*20\r\n$6\r\nlength\r\n:1\r\n$15\r\nradix-tree-keys\r\n:1\r\n$16\r\nradix-tree-nodes\r\n:2\r\n$17\r\nlast-generated-id\r\n$3\r\n9-0\r\n$20\r\nmax-deleted-entry-id\r\n$3\r\n2-0\r\n$13\r\nentries-added\r\n:9\r\n$23\r\nrecorded-first-entry-id\r\n$3\r\n3-0\r\n$6\r\ngroups\r\n:1\r\n$11\r\nfirst-entry\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n$10\r\nlast-entry\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    ("XGROUP DESTROY s g", b":1\r\n"),
    ("TYPE s", b"+stream\r\n"),
];

const RESP3: &[(&str, &[u8])] = &[
    ("DEL s", b":0\r\n"),
    ("XADD s 1-1 a 1", b"$3\r\n1-1\r\n"),
    ("XADD s 1-* b 2", b"$3\r\n1-2\r\n"),
    ("XADD s 2 c 3 d 4", b"$3\r\n2-0\r\n"),
    ("XADD s 1-5 x y", b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"),
    ("XADD s 0-0 x y", b"-ERR The ID specified in XADD must be greater than 0-0\r\n"),
    ("XADD s abc x y", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    ("XADD s MAXLEN -1 3-0 x y", b"-ERR The MAXLEN argument must be >= 0.\r\n"),
    ("XADD s LIMIT 5 3-0 x y", b"-ERR syntax error, LIMIT cannot be used without specifying a trimming strategy\r\n"),
    ("XADD s MAXLEN 2 MINID 1 3-0 x y", b"-ERR syntax error, MAXLEN and MINID options at the same time are not compatible\r\n"),
    ("XADD s NOMKSTREAM 3-0 e 5", b"$3\r\n3-0\r\n"),
    ("XADD nokey NOMKSTREAM 3-0 e 5", b"_\r\n"),
    ("XLEN s", b":4\r\n"),
    ("XRANGE s - +", b"*4\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    ("XRANGE s (1-1 + COUNT 1", b"*1\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    ("XREVRANGE s + - COUNT 2", b"*2\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"),
    ("XRANGE s - + COUNT 0", b"_\r\n"),
    ("XRANGE s (- +", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    ("XRANGE s - + FOO", b"-ERR syntax error\r\n"),
    ("XGROUP CREATE s g 0", b"+OK\r\n"),
    ("XGROUP CREATE s g 0", b"-BUSYGROUP Consumer Group name already exists\r\n"),
    ("XGROUP CREATE nokey g 0", b"-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.\r\n"),
    ("XGROUP SETID s nog 0", b"-NOGROUP No such consumer group 'nog' for key name 's'\r\n"),
    ("XREADGROUP GROUP g alice COUNT 2 STREAMS s >", b"%1\r\n$1\r\ns\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    ("XREADGROUP GROUP g bob NOACK COUNT 1 STREAMS s >", b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"),
    ("XREADGROUP GROUP g alice STREAMS s 0", b"%1\r\n$1\r\ns\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    ("XREADGROUP GROUP nog alice STREAMS s >", b"-NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option\r\n"),
    ("XREADGROUP GROUP g alice STREAMS s $", b"-ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.\r\n"),
    ("XREAD STREAMS s >", b"-ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.\r\n"),
    ("XREAD COUNT 1 STREAMS s nokey 1-1 0", b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    ("XREAD STREAMS s", b"-ERR wrong number of arguments for 'xread' command\r\n"),
    ("XPENDING s g", b"*4\r\n:2\r\n$3\r\n1-1\r\n$3\r\n1-2\r\n*1\r\n*2\r\n$5\r\nalice\r\n$1\r\n2\r\n"),
    ("XACK s g 1-1 9-9", b":1\r\n"),
    ("XDEL s 2-0 9-9", b":1\r\n"),
    ("XINFO GROUPS s", b"*1\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:2\r\n$7\r\npending\r\n:1\r\n$17\r\nlast-delivered-id\r\n$3\r\n2-0\r\n$12\r\nentries-read\r\n:3\r\n$3\r\nlag\r\n_\r\n"),
    ("XGROUP DELCONSUMER s g alice", b":1\r\n"),
    ("XGROUP CREATECONSUMER s g carol", b":1\r\n"),
    ("XTRIM s MAXLEN = 1", b":2\r\n"),
    ("XTRIM s MAXLEN 1 LIMIT 10", b"-ERR syntax error, LIMIT cannot be used without the special ~ option\r\n"),
    ("XSETID s 1-0", b"-ERR The ID specified in XSETID is smaller than the target stream top item\r\n"),
    ("XSETID s 9-0 ENTRIESADDED 9 MAXDELETEDID 2-0", b"+OK\r\n"),
    ("XINFO STREAM s", b"%10\r\n$6\r\nlength\r\n:1\r\n$15\r\nradix-tree-keys\r\n:1\r\n$16\r\nradix-tree-nodes\r\n:2\r\n$17\r\nlast-generated-id\r\n$3\r\n9-0\r\n$20\r\nmax-deleted-entry-id\r\n$3\r\n2-0\r\n$13\r\nentries-added\r\n:9\r\n$23\r\nrecorded-first-entry-id\r\n$3\r\n3-0\r\n$6\r\ngroups\r\n:1\r\n$11\r\nfirst-entry\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n$10\r\nlast-entry\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    ("XGROUP DESTROY s g", b":1\r\n"),
    ("TYPE s", b"+stream\r\n"),
];

fn exec(srv: &mut Server, client: &mut Client, line: &[Vec<u8>]) -> Vec<u8> {
    let argv: Vec<Bytes> = line.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    let mut out = Reply::new(Protocol::Resp2);
    crate::cmd::execute(srv, client, &mut out, &argv);
    out.buf.to_vec()
}

fn words(line: &str) -> Vec<Vec<u8>> {
    line.split(' ').map(|w| w.as_bytes().to_vec()).collect()
}

#[test]
fn rewrite_commands_rebuild_the_stream() {
    let mut a = Server::new(ShardConfig::default());
    let mut ca = Client::new(1, "127.0.0.1:1".into(), "127.0.0.1:2".into(), false, true);
    for line in [
        "XADD s 1-0 a 1",
        "XADD s 2-0 b 2 c 3",
        "XADD s 3-0 a 4",
        "XADD s 4-0 a 5",
        "XGROUP CREATE s g 0",
        "XGROUP CREATE s h $",
        "XREADGROUP GROUP g alice COUNT 2 STREAMS s >",
        "XREADGROUP GROUP g bob NOACK COUNT 1 STREAMS s >",
        "XGROUP CREATECONSUMER s h carol",
        "XDEL s 3-0",
    ] {
        exec(&mut a, &mut ca, &words(line));
    }
    let mut cmds = Vec::new();
    match a.db.get(b"s", 0) {
        Some(crate::db::Value::Stream(s)) => {
            crate::db::stream::rewrite::commands(b"s", s, |argv| cmds.push(argv))
        }
        _ => panic!("no stream"),
    }
    let mut b = Server::new(ShardConfig::default());
    let mut cb = Client::new(2, "127.0.0.1:1".into(), "127.0.0.1:2".into(), false, true);
    for argv in &cmds {
        let reply = exec(&mut b, &mut cb, argv);
        assert!(
            !reply.starts_with(b"-"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    for probe in [
        "XRANGE s - +",
        "XINFO STREAM s",
        "XINFO GROUPS s",
        "XPENDING s g",
    ] {
        let (x, y) = (
            exec(&mut a, &mut ca, &words(probe)),
            exec(&mut b, &mut cb, &words(probe)),
        );
        assert_eq!(
            String::from_utf8_lossy(&x),
            String::from_utf8_lossy(&y),
            "{probe}"
        );
    }
}
