//! Connections driven over in-memory pipes: blocking order, transactions, timeouts.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::LocalSet;

use super::serve;
use crate::config::ShardConfig;
use crate::state::Server;

fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

fn connect(shared: &Rc<RefCell<Server>>) -> DuplexStream {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::task::spawn_local(serve(
        shared.clone(),
        theirs,
        "test:1".into(),
        "test:0".into(),
        false,
    ));
    ours
}

async fn send(c: &mut DuplexStream, args: &[&str]) {
    c.write_all(&resp(args)).await.unwrap();
}

/// Reads until exactly `expected` has arrived, or fails after a second.
async fn expect(c: &mut DuplexStream, expected: &str) {
    let mut got = Vec::new();
    let read = async {
        while got.len() < expected.len() {
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&buf[..n]);
        }
    };
    if tokio::time::timeout(Duration::from_secs(1), read)
        .await
        .is_err()
    {
        panic!(
            "timed out waiting for {expected:?}, got {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    assert_eq!(String::from_utf8_lossy(&got), expected);
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

fn run(f: impl std::future::Future<Output = ()>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    LocalSet::new().block_on(&rt, f);
}

#[test]
fn blocked_clients_are_served_in_order() {
    run(async {
        let shared = Rc::new(RefCell::new(Server::new(ShardConfig::default())));
        let mut a = connect(&shared);
        let mut b = connect(&shared);
        let mut c = connect(&shared);
        send(&mut a, &["BLPOP", "k", "0"]).await;
        settle().await;
        send(&mut b, &["BRPOP", "other", "k", "0"]).await;
        settle().await;
        assert_eq!(shared.borrow().blocking.blocked_clients(), 2);
        // The pushing client's next command runs after both waiters were served.
        send(&mut c, &["RPUSH", "k", "x", "y", "z"]).await;
        send(&mut c, &["LRANGE", "k", "0", "-1"]).await;
        expect(&mut c, ":3\r\n*1\r\n$1\r\ny\r\n").await;
        expect(&mut a, "*2\r\n$1\r\nk\r\n$1\r\nx\r\n").await;
        expect(&mut b, "*2\r\n$1\r\nk\r\n$1\r\nz\r\n").await;
        assert_eq!(shared.borrow().blocking.blocked_clients(), 0);
    });
}

#[test]
fn timeout_replies_null_and_pipeline_resumes() {
    run(async {
        let shared = Rc::new(RefCell::new(Server::new(ShardConfig::default())));
        let mut a = connect(&shared);
        let mut pipeline = resp(&["BLPOP", "k", "0.05"]);
        pipeline.extend(resp(&["PING"]));
        a.write_all(&pipeline).await.unwrap();
        expect(&mut a, "*-1\r\n+PONG\r\n").await;
    });
}

#[test]
fn blmove_chain_and_exec_wakes() {
    run(async {
        let shared = Rc::new(RefCell::new(Server::new(ShardConfig::default())));
        let mut a = connect(&shared);
        let mut b = connect(&shared);
        let mut c = connect(&shared);
        send(&mut a, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]).await;
        settle().await;
        send(&mut b, &["BLPOP", "dst", "0"]).await;
        settle().await;
        send(&mut c, &["MULTI"]).await;
        send(&mut c, &["LPUSH", "src", "v"]).await;
        send(&mut c, &["BLPOP", "empty", "0"]).await;
        send(&mut c, &["EXEC"]).await;
        expect(&mut c, "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n*-1\r\n").await;
        expect(&mut a, "$1\r\nv\r\n").await;
        expect(&mut b, "*2\r\n$3\r\ndst\r\n$1\r\nv\r\n").await;
        assert_eq!(shared.borrow_mut().db.len(), 0);
    });
}

#[test]
fn watch_is_invalidated_by_another_client() {
    run(async {
        let shared = Rc::new(RefCell::new(Server::new(ShardConfig::default())));
        let mut a = connect(&shared);
        let mut b = connect(&shared);
        send(&mut a, &["WATCH", "k"]).await;
        expect(&mut a, "+OK\r\n").await;
        send(&mut b, &["RPUSH", "k", "1"]).await;
        expect(&mut b, ":1\r\n").await;
        send(&mut a, &["MULTI"]).await;
        send(&mut a, &["LPOP", "k"]).await;
        send(&mut a, &["EXEC"]).await;
        expect(&mut a, "+OK\r\n+QUEUED\r\n*-1\r\n").await;
        // Unwatched after EXEC: the next transaction runs.
        send(&mut a, &["MULTI"]).await;
        send(&mut a, &["LPOP", "k"]).await;
        send(&mut a, &["NOPE"]).await;
        send(&mut a, &["EXEC"]).await;
        expect(
            &mut a,
            "+OK\r\n+QUEUED\r\n-ERR unknown command 'NOPE', with args beginning with: \r\n\
             -EXECABORT Transaction discarded because of previous errors.\r\n",
        )
        .await;
    });
}

#[test]
fn disconnected_waiter_is_forgotten() {
    run(async {
        let shared = Rc::new(RefCell::new(Server::new(ShardConfig::default())));
        let mut a = connect(&shared);
        let mut c = connect(&shared);
        send(&mut a, &["BLPOP", "k", "0"]).await;
        settle().await;
        drop(a);
        settle().await;
        assert_eq!(shared.borrow().blocking.blocked_clients(), 0);
        send(&mut c, &["RPUSH", "k", "x"]).await;
        send(&mut c, &["LLEN", "k"]).await;
        expect(&mut c, ":1\r\n:1\r\n").await;
    });
}

#[test]
fn list_replies_and_errors_match_redis() {
    run(async {
        let shared = Rc::new(RefCell::new(Server::new(ShardConfig::default())));
        let mut c = connect(&shared);
        let script: &[(&[&str], &str)] = &[
            (&["RPUSH", "l", "a", "b", "a"], ":3\r\n"),
            (
                &["LPOP", "l", "-1"],
                "-ERR value is out of range, must be positive\r\n",
            ),
            (&["LPOP", "none", "2"], "*-1\r\n"),
            (&["LPOS", "l", "a", "RANK", "-1"], ":2\r\n"),
            (&["LPOS", "l", "a", "COUNT", "0"], "*2\r\n:0\r\n:2\r\n"),
            (
                &["LPOS", "l", "a", "MAXLEN", "-1"],
                "-ERR MAXLEN can't be negative\r\n",
            ),
            (&["LSET", "none", "0", "x"], "-ERR no such key\r\n"),
            (&["LSET", "l", "9", "x"], "-ERR index out of range\r\n"),
            (
                &["LMPOP", "0", "l", "LEFT"],
                "-ERR numkeys should be greater than 0\r\n",
            ),
            (
                &["LMPOP", "1", "l", "RIGHT", "COUNT", "5"],
                "*2\r\n$1\r\nl\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n",
            ),
            (&["EXISTS", "l"], ":0\r\n"),
            (&["BLPOP", "l", "-1"], "-ERR timeout is negative\r\n"),
            (
                &["BLPOP", "l", "x"],
                "-ERR timeout is not a float or out of range\r\n",
            ),
            (&["WATCH", "l"], "+OK\r\n"),
            (&["MULTI"], "+OK\r\n"),
            (
                &["WATCH", "l"],
                "-ERR WATCH inside MULTI is not allowed\r\n",
            ),
            (&["MULTI"], "-ERR MULTI calls can not be nested\r\n"),
            (&["EXEC"], "*0\r\n"),
            (&["EXEC"], "-ERR EXEC without MULTI\r\n"),
            (&["DISCARD"], "-ERR DISCARD without MULTI\r\n"),
        ];
        for (cmd, reply) in script {
            send(&mut c, cmd).await;
            expect(&mut c, reply).await;
        }
    });
}

#[test]
fn client_unblock_ends_a_wait() {
    run(async {
        let shared = Rc::new(RefCell::new(Server::new(ShardConfig::default())));
        let mut a = connect(&shared);
        let mut b = connect(&shared);
        send(&mut a, &["BLPOP", "k", "0"]).await;
        settle().await;
        let id = shared
            .borrow()
            .clients
            .clients
            .keys()
            .next()
            .copied()
            .unwrap();
        let id = id.to_string();
        send(&mut b, &["CLIENT", "UNBLOCK", &id, "ERROR"]).await;
        expect(&mut b, ":1\r\n").await;
        expect(&mut a, "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n").await;
        send(&mut b, &["CLIENT", "UNBLOCK", &id]).await;
        expect(&mut b, ":0\r\n").await;
        send(&mut a, &["BRPOP", "k", "0"]).await;
        settle().await;
        send(&mut b, &["CLIENT", "UNBLOCK", &id, "TIMEOUT"]).await;
        expect(&mut b, ":1\r\n").await;
        expect(&mut a, "*-1\r\n").await;
        send(&mut b, &["CLIENT", "UNBLOCK", &id, "LATER"]).await;
        expect(
            &mut b,
            "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n",
        )
        .await;
    });
}

/// Redis 7.0's rules for WATCHed keys and expiry: a key already expired when watched
/// changes nothing by being deleted (lazily or by FLUSHDB), while a key live when watched
/// that expires before EXEC aborts the transaction.
#[test]
fn watch_and_expiry() {
    run(async {
        let shared = Rc::new(RefCell::new(Server::new(ShardConfig::default())));
        let mut a = connect(&shared);
        let stale = |shared: &Rc<RefCell<Server>>| {
            let mut srv = shared.borrow_mut();
            srv.db.set(b"x", crate::db::Value::str(b"foo"), false);
            srv.db.set_expire(b"x", 1);
        };
        let exec_ping = "+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n";

        stale(&shared);
        send(&mut a, &["WATCH", "x"]).await;
        send(&mut a, &["MULTI"]).await;
        send(&mut a, &["PING"]).await;
        send(&mut a, &["EXEC"]).await;
        expect(&mut a, &format!("+OK\r\n{exec_ping}")).await;

        stale(&shared);
        send(&mut a, &["WATCH", "x"]).await;
        send(&mut a, &["EXISTS", "x"]).await;
        send(&mut a, &["MULTI"]).await;
        send(&mut a, &["PING"]).await;
        send(&mut a, &["EXEC"]).await;
        expect(&mut a, &format!("+OK\r\n:0\r\n{exec_ping}")).await;

        stale(&shared);
        send(&mut a, &["WATCH", "x"]).await;
        send(&mut a, &["FLUSHDB"]).await;
        send(&mut a, &["MULTI"]).await;
        send(&mut a, &["PING"]).await;
        send(&mut a, &["EXEC"]).await;
        expect(&mut a, &format!("+OK\r\n+OK\r\n{exec_ping}")).await;

        {
            let mut srv = shared.borrow_mut();
            srv.db.set(b"x", crate::db::Value::str(b"foo"), false);
            srv.db.set_expire(b"x", i64::MAX);
        }
        send(&mut a, &["WATCH", "x"]).await;
        expect(&mut a, "+OK\r\n").await;
        shared.borrow_mut().db.set_expire(b"x", 1);
        send(&mut a, &["MULTI"]).await;
        send(&mut a, &["PING"]).await;
        send(&mut a, &["EXEC"]).await;
        expect(&mut a, "+OK\r\n+QUEUED\r\n*-1\r\n").await;

        // A live watched key that another client flushes is a change.
        shared
            .borrow_mut()
            .db
            .set(b"y", crate::db::Value::str(b"1"), false);
        let mut b = connect(&shared);
        send(&mut a, &["WATCH", "y", "nokey"]).await;
        expect(&mut a, "+OK\r\n").await;
        send(&mut b, &["FLUSHALL"]).await;
        expect(&mut b, "+OK\r\n").await;
        send(&mut a, &["MULTI"]).await;
        send(&mut a, &["EXEC"]).await;
        expect(&mut a, "+OK\r\n*-1\r\n").await;
    });
}
