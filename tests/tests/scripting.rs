//! Lua scripting against a real redis-server 7.0: the same EVAL/EVALSHA/SCRIPT commands
//! go to both, and the replies (conversions, error texts, script names) must match byte
//! for byte. Then what only shoal can be asked: busy scripts and SCRIPT KILL, and that a
//! script's effects survive an AOF restart.

use std::thread;
use std::time::Duration;

use shoal_tests::aof::AofShard;
use shoal_tests::server::TempDir;
use shoal_tests::{RawClient, RedisServer, Reply, Shard};

/// Each line: one command, sent to both servers in order.
fn cases() -> Vec<Vec<&'static str>> {
    let eval = |s: &'static str| vec!["EVAL", s, "0"];
    vec![
        eval("return 'hello'"),
        eval("return 3.99"),
        eval("return -3.99"),
        eval("return {1,2,3,'ciao',{1,2}}"),
        eval("return {1,nil,3}"),
        eval("return true"),
        eval("return false"),
        eval("return nil"),
        eval("return {err='My Error'}"),
        eval("return {err='ERR x\r\ny'}"),
        eval("return {ok='fine'}"),
        eval("return redis.error_reply('My Error')"),
        eval("return redis.error_reply('-CODE detail')"),
        eval("return redis.status_reply('STATUS')"),
        eval("return redis.error_reply(1)"),
        eval("return redis.sha1hex('')"),
        eval("return redis.sha1hex('Pizza & Mandolino')"),
        eval("return redis.REDIS_VERSION_NUM > 0"),
        vec!["SET", "s", "a"],
        eval("return redis.call('get','s')"),
        eval("return redis.call('get','nokey')"),
        eval("return redis.call('incr','s')"),
        eval("return redis.pcall('incr','s')"),
        eval("return redis.call('foo')"),
        eval("return redis.call('incr','s','a')"),
        eval("return redis.call()"),
        eval("return redis.call('get', {})"),
        eval("return redis.call('eval','return 1','0')"),
        eval("return redis.call('multi')"),
        eval("return x"),
        eval("x = 1"),
        eval("error('boom')"),
        eval("error({err='MY code'})"),
        eval("return 'a' + 1"),
        eval("return pcall(function() error({err='X y'}) end)"),
        eval("local ok, e = pcall(function() redis.call('incr','s') end) return e"),
        eval("redis.call('set','n', 10) return redis.call('incrby','n', 2.0)"),
        eval("return redis.call('hset','h','a',1,'b',2)"),
        eval("return redis.call('hgetall','h')"),
        eval("redis.setresp(3) return redis.call('hgetall','h')"),
        eval("redis.setresp(3) return redis.call('get','nokey')"),
        eval("redis.setresp(3) return false"),
        eval("redis.setresp(4)"),
        eval("return redis.call('zadd','z',1.5,'m')"),
        eval("redis.setresp(3) return redis.call('zscore','z','m')"),
        eval("return {double=3.25}"),
        eval("return redis.log(redis.LOG_WARNING, 'from a script')"),
        eval("return redis.log(99, 'x')"),
        eval("redis = 1"),
        eval("redis.call = function() return 1 end"),
        eval("setmetatable(_G, {})"),
        eval("local g = getmetatable(_G) g.__index = {}"),
        eval("print('x')"),
        eval("return loadstring(string.dump(function() return 1 end))()"),
        eval("return cjson.encode({1,2,'x',{a=1}})"),
        eval("return cjson.decode('[1,2,{\"a\":3}]')[3].a"),
        eval("return cjson.encode({a='b/c'})"),
        eval("return bit.band(0xff, 0x0f, 3)"),
        eval("return bit.tohex(65535)"),
        eval("return bit.lshift(1, 31)"),
        vec![
            "EVAL",
            "return {KEYS[1], KEYS[2], ARGV[1]}",
            "2",
            "k1",
            "k2",
            "a1",
        ],
        vec!["EVAL", "return 1", "2", "k1"],
        vec!["EVAL", "return 1", "-1"],
        vec!["EVAL", "return 1", "x"],
        vec!["EVAL", "return (", "0"],
        vec!["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
        vec!["EVALSHA", "short", "0"],
        vec!["SCRIPT", "LOAD", "return 'loaded'"],
        vec!["EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"],
        vec!["EVALSHA", "B534286061D4B9E4026607613B95C06C06015AE8", "0"],
        vec![
            "SCRIPT",
            "EXISTS",
            "b534286061d4b9e4026607613b95c06c06015ae8",
            "ffff",
        ],
        vec!["SCRIPT", "LOAD", "return ("],
        vec!["EVAL_RO", "return redis.call('set','ro','1')", "0"],
        vec!["EVAL_RO", "return redis.call('get','s')", "0"],
        vec![
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('set','x','1')",
            "0",
        ],
        vec!["EVAL", "#!lua\nreturn redis.call('set','x','1')", "0"],
        vec!["EVAL_RO", "#!lua\nreturn 1", "0"],
        vec!["EVAL", "#!lua flags=bogus\nreturn 1", "0"],
        vec!["EVAL", "#!python\nreturn 1", "0"],
        vec!["SCRIPT", "FLUSH"],
        vec!["SCRIPT", "FLUSH", "BOGUS"],
        vec![
            "SCRIPT",
            "EXISTS",
            "b534286061d4b9e4026607613b95c06c06015ae8",
        ],
        vec!["SCRIPT", "KILL"],
        vec!["MULTI"],
        vec!["EVAL", "return redis.call('incr', KEYS[1])", "1", "counter"],
        vec!["EVAL", "return redis.call('incr', KEYS[1])", "1", "counter"],
        vec!["EXEC"],
    ]
}

#[test]
fn replies_match_redis() {
    let redis = RedisServer::start();
    let shoal = Shard::start();
    let mut r = redis.connect();
    let mut s = shoal.connect();
    let mut mismatches = Vec::new();
    for cmd in cases() {
        let want = r.call(&cmd).expect("redis reply");
        let got = s.call(&cmd).expect("shoal reply");
        if want.raw != got.raw {
            mismatches.push(format!(
                "{:?}\n  redis: {}\n  shoal: {}",
                cmd,
                want.escaped(),
                got.escaped()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn resp3_callers_get_resp3_replies() {
    let redis = RedisServer::start();
    let shoal = Shard::start();
    let mut r = redis.connect();
    let mut s = shoal.connect();
    // HELLO's map names each server; only what follows it is compared.
    r.call(&["HELLO", "3"]).expect("redis hello");
    s.call(&["HELLO", "3"]).expect("shoal hello");
    let cmds: &[&[&str]] = &[
        &["EVAL", "return nil", "0"],
        &["EVAL", "return false", "0"],
        &["EVAL", "return true", "0"],
        &["EVAL", "redis.setresp(3) return true", "0"],
        &["EVAL", "redis.setresp(3) return false", "0"],
        &["EVAL", "return {map={a=1}}", "0"],
        &["EVAL", "return {set={a=true}}", "0"],
        &["EVAL", "return {double=1.5}", "0"],
        &[
            "EVAL",
            "return {big_number='123456789012345678901234567890'}",
            "0",
        ],
        &[
            "EVAL",
            "return {verbatim_string={format='txt', string='hi'}}",
            "0",
        ],
    ];
    for cmd in cmds {
        let want = r.call(cmd).expect("redis");
        let got = s.call(cmd).expect("shoal");
        assert_eq!(want.escaped(), got.escaped(), "{cmd:?}");
    }
}

fn set_threshold(c: &mut RawClient, ms: &str) {
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "busy-reply-threshold", ms]),
        Reply::Simple(b"OK".to_vec())
    );
}

fn error_text(r: &Reply) -> String {
    match r {
        Reply::Error(e) => String::from_utf8_lossy(e).into_owned(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_busy_script_answers_busy_and_can_be_killed() {
    let shoal = Shard::start();
    let mut admin = shoal.connect();
    set_threshold(&mut admin, "50");
    admin.cmd(&["SET", "xx", "1"]);
    let mut runner = shoal.connect();
    runner
        .send(&["EVAL", "while true do end", "0"])
        .expect("send eval");
    thread::sleep(Duration::from_millis(200));
    let busy = error_text(&admin.cmd(&["GET", "xx"]));
    assert_eq!(
        busy,
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    // A transaction hit by BUSY is doomed, as in Redis.
    let mut tx = shoal.connect();
    assert_eq!(tx.cmd(&["MULTI"]), Reply::Simple(b"OK".to_vec()));
    assert!(error_text(&tx.cmd(&["INCR", "xx"])).starts_with("BUSY"));
    assert_eq!(
        admin.cmd(&["SCRIPT", "KILL"]),
        Reply::Simple(b"OK".to_vec())
    );
    let killed = error_text(&runner.read_reply().expect("eval reply").reply);
    assert!(
        killed.starts_with("ERR Script killed by user with SCRIPT KILL..."),
        "{killed}"
    );
    assert!(error_text(&tx.cmd(&["EXEC"])).starts_with("EXECABORT"));
    assert_eq!(admin.cmd(&["GET", "xx"]), Reply::Bulk(b"1".to_vec()));
    assert_eq!(
        error_text(&admin.cmd(&["SCRIPT", "KILL"])),
        "NOTBUSY No scripts in execution right now."
    );
    // The connection that ran the script goes on serving.
    assert_eq!(runner.cmd(&["PING"]), Reply::Simple(b"PONG".to_vec()));
}

#[test]
fn a_busy_script_that_wrote_cannot_be_killed() {
    let shoal = Shard::start();
    let mut admin = shoal.connect();
    set_threshold(&mut admin, "50");
    let mut runner = shoal.connect();
    let script = "redis.call('set','w','1') local t = redis.call('time') \
                  while true do local n = redis.call('time') if n[1] - t[1] >= 1 then break end end \
                  return redis.call('incr','w')";
    runner.send(&["EVAL", script, "0"]).expect("send eval");
    // On a loaded machine the script may take a while to pass the threshold: ask until it
    // is busy rather than sleeping a fixed time.
    let started = std::time::Instant::now();
    let mut kill = error_text(&admin.cmd(&["SCRIPT", "KILL"]));
    while kill.starts_with("NOTBUSY") && started.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(20));
        kill = error_text(&admin.cmd(&["SCRIPT", "KILL"]));
    }
    assert!(kill.starts_with("UNKILLABLE"), "{kill}");
    assert_eq!(
        runner.read_reply().expect("eval reply").reply,
        Reply::Int(2)
    );
    assert_eq!(admin.cmd(&["GET", "w"]), Reply::Bulk(b"2".to_vec()));
}

#[test]
fn script_effects_survive_a_restart() {
    let dir = TempDir::new("script-aof");
    let mut shard = AofShard::start(dir.path(), "always");
    let mut c = shard.client();
    let script = "redis.call('set', KEYS[1], ARGV[1]) \
                  redis.call('rpush', KEYS[2], math.random(1000000)) \
                  return redis.call('lrange', KEYS[2], 0, -1)";
    let Reply::Array(items) = c.cmd(&["EVAL", script, "2", "k", "l", "v"]) else {
        panic!("EVAL did not answer an array");
    };
    let one = c.cmd(&["EVAL", "return redis.call('incr', 'n')", "0"]);
    assert_eq!(one, Reply::Int(1));
    // The name of the script just run, known to the cache before the restart.
    let sha = "13d59bf45c06b30ad517603a2a8c76adfac50db3";
    assert_eq!(
        c.cmd(&["SCRIPT", "EXISTS", sha]),
        Reply::Array(vec![Reply::Int(1)])
    );
    // Under appendfsync always every acknowledged write is on disk: SIGKILL loses none.
    shard.kill9();
    shard.restart();
    let mut c = shard.client();
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Bulk(b"v".to_vec()));
    // The random element is replayed as written, not drawn again.
    assert_eq!(c.cmd(&["LRANGE", "l", "0", "-1"]), Reply::Array(items));
    assert_eq!(c.cmd(&["GET", "n"]), Reply::Bulk(b"1".to_vec()));
    // The script cache is not persisted, as in Redis.
    assert!(error_text(&c.cmd(&["EVALSHA", sha, "0"])).starts_with("NOSCRIPT"));
}
