//! The ACL module against Redis 7.0's behaviour, checked by hand on a reference server:
//! rule errors, `ACL LIST` lines, the check's verdicts and `AUTH`.

use shoal_proto::{command, Protocol, Reply};

use super::*;

fn args(s: &str) -> Vec<&[u8]> {
    s.split(' ').map(str::as_bytes).collect()
}

fn run_acl(acl: &Acl, s: &Session, line: &str) -> String {
    let mut out = Reply::new(Protocol::Resp2);
    super::command::acl(acl, s, &args(line), &mut out);
    String::from_utf8_lossy(&out.buf).into_owned()
}

fn spec_of(a: &[&[u8]]) -> &'static shoal_proto::CommandSpec {
    let spec = command::lookup(a[0]).unwrap();
    if !spec.subcommands.is_empty() && a.len() > 1 {
        command::lookup_subcommand(spec, a[1]).unwrap()
    } else {
        spec
    }
}

fn admit(acl: &Acl, s: &mut Session, line: &str) -> Result<(), Refusal> {
    let a = args(line);
    acl.admit(s, spec_of(&a), &a)
}

/// Single-command rules come in table order (Redis uses its dict order, which is not
/// specified either).
fn list(acl: &Acl) -> Vec<String> {
    acl.read()
        .values()
        .map(|u| String::from_utf8(describe::list_line(u)).unwrap())
        .collect()
}

#[test]
fn default_user_is_open_without_password() {
    let acl = Acl::new(None, &[]).unwrap();
    assert_eq!(list(&acl), vec!["user default on nopass ~* &* +@all"]);
    let mut s = acl.session();
    assert!(s.authenticated && !acl.auth_required(&s));
    assert!(s.user.unrestricted());
    assert_eq!(admit(&acl, &mut s, "flushall"), Ok(()));
    let mut out = Reply::new(Protocol::Resp2);
    super::command::auth(&acl, &mut s, &args("auth x"), &mut out, &String::new);
    assert_eq!(&out.buf[..], format!("-{AUTH_NO_PASSWORD}\r\n").as_bytes());
}

#[test]
fn requirepass_needs_auth_and_compares_the_digest() {
    let acl = Acl::new(Some("secret"), &[]).unwrap();
    assert_eq!(
        list(&acl),
        vec!["user default on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~* &* +@all"]
    );
    let mut s = acl.session();
    assert_eq!(admit(&acl, &mut s, "get k"), Err(Refusal::NoAuth));
    assert_eq!(
        Refusal::NoAuth.message(spec_of(&args("get k"))).unwrap(),
        "NOAUTH Authentication required."
    );
    // AUTH and HELLO are no_auth commands.
    assert_eq!(admit(&acl, &mut s, "auth x"), Ok(()));
    let mut out = Reply::new(Protocol::Resp2);
    super::command::auth(&acl, &mut s, &args("auth wrong"), &mut out, &|| {
        "id=7".into()
    });
    assert_eq!(acl.log.len(), 1);
    assert_eq!(
        &out.buf[..],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    let mut out = Reply::new(Protocol::Resp2);
    super::command::auth(
        &acl,
        &mut s,
        &args("auth default secret"),
        &mut out,
        &String::new,
    );
    assert_eq!(&out.buf[..], b"+OK\r\n");
    assert_eq!(admit(&acl, &mut s, "get k"), Ok(()));
    let mut out = Reply::new(Protocol::Resp2);
    super::command::auth(&acl, &mut s, &args("auth a b c"), &mut out, &String::new);
    assert_eq!(&out.buf[..], b"-ERR syntax error\r\n");
}

#[test]
fn setuser_rules_and_list_lines_match_redis() {
    let acl = Acl::new(None, &[]).unwrap();
    let s = acl.session();
    assert_eq!(
        run_acl(&acl, &s, "acl setuser alice on >secret ~app:* +@read"),
        "+OK\r\n"
    );
    assert_eq!(
        run_acl(
            &acl,
            &s,
            "acl setuser bob %R~r:* %W~w:* &chan +get +client|setname -@all +@string +select|0 -set"
        ),
        "+OK\r\n"
    );
    run_acl(&acl, &s, "acl setuser dave +@all -debug -flushall ~*");
    assert_eq!(
        list(&acl),
        vec![
            "user alice on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~app:* resetchannels -@all +@read",
            "user bob off %R~r:* %W~w:* resetchannels &chan -@all +@string +select|0 -set",
            "user dave off ~* resetchannels +@all -debug -flushall",
            "user default on nopass ~* &* +@all",
        ]
    );
    run_acl(
        &acl,
        &s,
        "acl setuser eve on nopass ~* +@all -@dangerous +info",
    );
    let eve = String::from_utf8(describe::list_line(&acl.user(b"eve").unwrap())).unwrap();
    assert!(
        eve.starts_with("user eve on nopass ~* resetchannels +@all -@admin "),
        "{eve}"
    );
    for word in ["-flushall", "-keys", "-sort", "-migrate"] {
        assert!(eve.split(' ').any(|w| w == word), "{eve} lacks {word}");
    }
    assert!(!eve.contains("-info"), "{eve}");
    assert_eq!(
        run_acl(&acl, &s, "acl users"),
        "*5\r\n$5\r\nalice\r\n$3\r\nbob\r\n$4\r\ndave\r\n$7\r\ndefault\r\n$3\r\neve\r\n"
    );
}

#[test]
fn setuser_errors_have_redis_texts_and_change_nothing() {
    let acl = Acl::new(None, &[]).unwrap();
    let s = acl.session();
    let cases = [
        ("acl setuser alice on #abc", "ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"),
        ("acl setuser alice <nope", "ERR Error in ACL SETUSER modifier '<nope': The password you are trying to remove from the user does not exist"),
        ("acl setuser alice foo", "ERR Error in ACL SETUSER modifier 'foo': Syntax error"),
        ("acl setuser alice +nosuch", "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"),
        ("acl setuser alice -@nosuch", "ERR Error in ACL SETUSER modifier '-@nosuch': Unknown command or category name in ACL"),
        ("acl setuser alice ~* ~x", "ERR Error in ACL SETUSER modifier '~x': Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"),
        ("acl setuser alice &* &x", "ERR Error in ACL SETUSER modifier '&x': Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"),
        ("acl setuser alice +client|setname|x", "ERR Error in ACL SETUSER modifier '+client|setname|x': Allowing first-arg of a subcommand is not supported"),
        ("acl setuser alice +client|", "ERR Error in ACL SETUSER modifier '+client|': Syntax error"),
        ("acl setuser alice %X~k", "ERR Error in ACL SETUSER modifier '%X~k': Syntax error"),
    ];
    for (line, want) in cases {
        assert_eq!(run_acl(&acl, &s, line), format!("-{want}\r\n"), "{line}");
    }
    assert!(
        acl.user(b"alice").is_none(),
        "a failed SETUSER creates nothing"
    );
    assert_eq!(
        run_acl(&acl, &s, "acl deluser default"),
        "-ERR The 'default' user cannot be removed\r\n"
    );
    assert_eq!(run_acl(&acl, &s, "acl deluser x y"), ":0\r\n");
    assert_eq!(
        run_acl(&acl, &s, "acl cat nosuch"),
        "-ERR Unknown category 'nosuch'\r\n"
    );
    assert_eq!(
        run_acl(&acl, &s, "acl foo"),
        "-ERR unknown subcommand or wrong number of arguments for 'foo'. Try ACL HELP.\r\n"
    );
    assert_eq!(run_acl(&acl, &s, "acl whoami"), "$7\r\ndefault\r\n");
    assert_eq!(run_acl(&acl, &s, "acl getuser nobody"), "$-1\r\n");
}

#[test]
fn getuser_fields() {
    let acl = Acl::new(None, &[]).unwrap();
    let s = acl.session();
    run_acl(
        &acl,
        &s,
        "acl setuser bob %R~r:* %W~w:* &chan -@all +@string +select|0 -set",
    );
    let want = "*12\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$9\r\npasswords\r\n*0\r\n$8\r\ncommands\r\n$29\r\n-@all +@string +select|0 -set\r\n$4\r\nkeys\r\n$13\r\n%R~r:* %W~w:*\r\n$8\r\nchannels\r\n$5\r\n&chan\r\n$9\r\nselectors\r\n*0\r\n";
    assert_eq!(run_acl(&acl, &s, "acl getuser bob"), want);
}

#[test]
fn check_commands_keys_and_channels() {
    let users = vec![
        ("alice".to_string(), "on >pw ~app:* +@read".to_string()),
        ("w".to_string(), "on nopass %R~r:* %W~w:* +@all".to_string()),
        ("p".to_string(), "on nopass &news.* +@all".to_string()),
        (
            "sel".to_string(),
            "on nopass allkeys -@all +select|0 +client|setname".to_string(),
        ),
    ];
    let acl = Acl::new(None, &users).unwrap();
    let mut s = acl.session();
    acl.authenticate(&mut s, b"alice", b"pw").unwrap();
    assert_eq!(admit(&acl, &mut s, "get app:1"), Ok(()));
    assert_eq!(admit(&acl, &mut s, "mget app:1 app:2"), Ok(()));
    assert_eq!(
        admit(&acl, &mut s, "get other"),
        Err(Refusal::Denied(Denied::Key(1)))
    );
    assert_eq!(
        admit(&acl, &mut s, "mget app:1 other"),
        Err(Refusal::Denied(Denied::Key(2)))
    );
    assert_eq!(
        admit(&acl, &mut s, "set app:1 x"),
        Err(Refusal::Denied(Denied::Command))
    );
    let set = args("set app:1 x");
    assert_eq!(
        Denied::Command.message(spec_of(&set)),
        "NOPERM this user has no permissions to run the 'set' command"
    );
    assert_eq!(
        Denied::Key(1).message(spec_of(&set)),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );

    let a = args("mget app:1 other");
    acl.log_refusal(
        &s,
        Refusal::Denied(Denied::Key(2)),
        spec_of(&a),
        &a,
        false,
        "id=1".into(),
    );
    let log = run_acl(&acl, &s, "acl log 1");
    assert!(
        log.contains("$3\r\nkey\r\n")
            && log.contains("$5\r\nother\r\n")
            && log.contains("$5\r\nalice\r\n"),
        "{log}"
    );
    assert_eq!(run_acl(&acl, &s, "acl log reset"), "+OK\r\n");
    assert_eq!(run_acl(&acl, &s, "acl log"), "*0\r\n");

    acl.authenticate(&mut s, b"w", b"").unwrap();
    assert_eq!(admit(&acl, &mut s, "get r:1"), Ok(()));
    assert_eq!(
        admit(&acl, &mut s, "set r:1 x"),
        Err(Refusal::Denied(Denied::Key(1)))
    );
    assert_eq!(admit(&acl, &mut s, "set w:1 x"), Ok(()));
    assert_eq!(
        admit(&acl, &mut s, "get w:1"),
        Err(Refusal::Denied(Denied::Key(1)))
    );
    // EXISTS asks for neither read nor write access.
    assert_eq!(admit(&acl, &mut s, "exists w:1 r:1"), Ok(()));
    assert_eq!(admit(&acl, &mut s, "copy r:1 w:1"), Ok(()));
    assert_eq!(
        admit(&acl, &mut s, "copy w:1 r:1"),
        Err(Refusal::Denied(Denied::Key(1)))
    );
    assert_eq!(
        admit(&acl, &mut s, "publish any m"),
        Err(Refusal::Denied(Denied::Channel(1)))
    );

    acl.authenticate(&mut s, b"p", b"").unwrap();
    assert_eq!(admit(&acl, &mut s, "publish news.x m"), Ok(()));
    assert_eq!(
        admit(&acl, &mut s, "subscribe news.a sport"),
        Err(Refusal::Denied(Denied::Channel(2)))
    );
    assert_eq!(admit(&acl, &mut s, "psubscribe news.*"), Ok(()));
    assert_eq!(
        admit(&acl, &mut s, "psubscribe news.a*"),
        Err(Refusal::Denied(Denied::Channel(1)))
    );
    assert_eq!(admit(&acl, &mut s, "unsubscribe sport"), Ok(()));

    acl.authenticate(&mut s, b"sel", b"").unwrap();
    assert_eq!(admit(&acl, &mut s, "select 0"), Ok(()));
    assert_eq!(
        admit(&acl, &mut s, "select 1"),
        Err(Refusal::Denied(Denied::Command))
    );
    assert_eq!(admit(&acl, &mut s, "client setname x"), Ok(()));
    assert_eq!(
        admit(&acl, &mut s, "client list"),
        Err(Refusal::Denied(Denied::Command))
    );
}

#[test]
fn dryrun_replies() {
    let users = vec![("alice".to_string(), "on >pw ~app:* +@read".to_string())];
    let acl = Acl::new(None, &users).unwrap();
    let s = acl.session();
    assert_eq!(
        run_acl(&acl, &s, "acl dryrun alice set app:1 x"),
        "$53\r\nThis user has no permissions to run the 'set' command\r\n"
    );
    assert_eq!(
        run_acl(&acl, &s, "acl dryrun alice get x"),
        "$50\r\nThis user has no permissions to access the 'x' key\r\n"
    );
    assert_eq!(run_acl(&acl, &s, "acl dryrun alice get app:x"), "+OK\r\n");
    assert_eq!(
        run_acl(&acl, &s, "acl dryrun nobody get x"),
        "-ERR User 'nobody' not found\r\n"
    );
    assert_eq!(
        run_acl(&acl, &s, "acl dryrun alice nosuch"),
        "-ERR Command 'nosuch' not found\r\n"
    );
    assert_eq!(
        run_acl(&acl, &s, "acl dryrun alice get"),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
}

#[test]
fn disabled_and_deleted_users() {
    let users = vec![("bob".to_string(), "on >pw allkeys +@all".to_string())];
    let acl = Acl::new(Some("root"), &users).unwrap();
    let mut s = acl.session();
    acl.authenticate(&mut s, b"bob", b"pw").unwrap();
    assert_eq!(admit(&acl, &mut s, "get k"), Ok(()));
    let admin = acl.session();
    run_acl(&acl, &admin, "acl setuser bob -get");
    assert_eq!(
        admit(&acl, &mut s, "get k"),
        Err(Refusal::Denied(Denied::Command)),
        "changes apply to live sessions"
    );
    run_acl(&acl, &admin, "acl setuser bob off");
    assert_eq!(
        acl.authenticate(&mut acl.session(), b"bob", b"pw"),
        Err(WRONGPASS)
    );
    assert_eq!(run_acl(&acl, &admin, "acl deluser bob"), ":1\r\n");
    assert_eq!(admit(&acl, &mut s, "set k v"), Err(Refusal::UserGone));
    assert_eq!(
        acl.authenticate(&mut acl.session(), b"nobody", b"pw"),
        Err(WRONGPASS)
    );
}

#[test]
fn config_users_are_validated() {
    let bad = Acl::new(None, &[("x".into(), "on +@nosuch".into())]).unwrap_err();
    assert_eq!(
        bad.to_string(),
        "user \"x\": rule '+@nosuch': Unknown command or category name in ACL"
    );
    let bad = Acl::new(None, &[("a b".into(), "on".into())]).unwrap_err();
    assert!(bad.to_string().contains("Usernames can't contain spaces"));
    // Rules for `default` apply on top of requirepass.
    let acl = Acl::new(Some("pw"), &[("default".into(), "-flushall".into())]).unwrap();
    let mut s = acl.session();
    assert_eq!(admit(&acl, &mut s, "get k"), Err(Refusal::NoAuth));
    acl.authenticate(&mut s, b"default", b"pw").unwrap();
    assert_eq!(
        admit(&acl, &mut s, "flushall"),
        Err(Refusal::Denied(Denied::Command))
    );
}

#[test]
fn cat_lists_categories_and_members() {
    let acl = Acl::new(None, &[]).unwrap();
    let s = acl.session();
    let all = run_acl(&acl, &s, "acl cat");
    assert!(all.starts_with("*21\r\n$8\r\nkeyspace\r\n$4\r\nread\r\n"));
    let read = run_acl(&acl, &s, "acl cat read");
    assert!(read.contains("\r\nget\r\n") && !read.contains("\r\nset\r\n"));
    let pass = run_acl(&acl, &s, "acl genpass");
    assert!(pass.starts_with("$64\r\n"), "{pass}");
    assert!(run_acl(&acl, &s, "acl genpass 5").starts_with("$2\r\n"));
}

/// `ACL LIST` lines a Redis 7.0 server printed for `ACL SETUSER u<i> reset <rules>`. Redis
/// emits single commands in its dict order, so those are compared as a set; the flags,
/// patterns and the category rules must match in order.
#[test]
fn list_lines_match_redis_for_mixed_categories() {
    let cases = [
        ("on nopass ~* -@all +@read +@write -@keyspace", "user u0 on nopass sanitize-payload ~* resetchannels -@all +@sortedset +@string +@hash +@geo +@bitmap +@hyperloglog +@list +@stream +@set +function|flush +function|delete +function|restore +function|load +lolwut -xgroup|help -pfselftest -xinfo|help +memory|usage"),
        ("on nopass ~* +@all -@dangerous +info", "user u1 on nopass sanitize-payload ~* resetchannels +@all -@admin -flushall -swapdb -restore -sort_ro -flushdb -sort -migrate -keys -restore-asking"),
        ("on nopass ~* -@all +@string +@hash -hset +client|setname", "user u2 on nopass sanitize-payload ~* resetchannels -@all +@string +@hash -hset +client|setname"),
        ("on nopass ~* +@all -@write -@admin +config|get", "user u3 on nopass sanitize-payload ~* resetchannels +@all -@write -@admin +config|get"),
        ("on nopass ~* -@all +@pubsub +@connection -@slow", "user u4 on nopass sanitize-payload ~* resetchannels -@all +readonly +readwrite +reset +ping +asking +select +echo +hello +spublish +publish +quit +auth"),
        ("on nopass ~* +@all -client +client|list -@scripting", "user u5 on nopass sanitize-payload ~* resetchannels +@all -@scripting -client +client|list"),
        ("on nopass -@all +@fast -@read", "user u6 on nopass sanitize-payload resetchannels -@all +@transaction +@fast -hlen -xlen -exists -zrevrank -bitfield_ro -mget -hmget -type -pttl -pexpiretime -expiretime -lolwut -zcard -hget -get -smismember -zlexcount -exec -hstrlen -sismember -zscore -zcount -ttl -llen -zrank -hexists -getbit -touch -strlen -dbsize -scard -zmscore"),
    ];
    for (i, (rules, redis)) in cases.iter().enumerate() {
        let mut u = User::new(format!("u{i}").as_bytes());
        let full = format!("reset {rules}");
        u.apply_all(full.split(' ').map(str::as_bytes)).unwrap();
        let ours = String::from_utf8(describe::list_line(&u)).unwrap();
        let (o, r): (Vec<&str>, Vec<&str>) =
            (ours.split(' ').collect(), redis.split(' ').collect());
        let prefix = |v: &[&str]| -> Vec<String> {
            v.iter()
                .take_while(|w| !w.starts_with('+') && !w.starts_with('-') || w.contains('@'))
                .map(|w| w.to_string())
                .collect()
        };
        assert_eq!(prefix(&o), prefix(&r), "{rules}");
        let mut os = o.clone();
        let mut rs = r.clone();
        os.sort_unstable();
        rs.sort_unstable();
        assert_eq!(os, rs, "{rules}");
    }
}

#[test]
fn protected_mode_decision() {
    let outside: std::net::IpAddr = "192.0.2.2".parse().unwrap();
    let lo4: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let lo6: std::net::IpAddr = "::1".parse().unwrap();
    let mapped: std::net::IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    assert!(protected_mode_denies(true, true, Some(outside)));
    for local in [lo4, lo6, mapped] {
        assert!(!protected_mode_denies(true, true, Some(local)));
    }
    assert!(!protected_mode_denies(true, true, None), "Unix sockets");
    assert!(
        !protected_mode_denies(false, true, Some(outside)),
        "turned off"
    );
    assert!(
        !protected_mode_denies(true, false, Some(outside)),
        "a password"
    );
}

#[test]
fn requirepass_is_the_default_users_password() {
    let acl = Acl::new(None, &[("app".into(), "on >apw ~app:*".into())]).unwrap();
    assert!(acl.default_is_open());
    acl.set_default_password(Some(b"pw"));
    assert!(!acl.default_is_open());
    let mut s = acl.session();
    assert_eq!(admit(&acl, &mut s, "get k"), Err(Refusal::NoAuth));
    assert_eq!(acl.authenticate(&mut s, b"default", b"no"), Err(WRONGPASS));
    acl.authenticate(&mut s, b"default", b"pw").unwrap();
    acl.authenticate(&mut s, b"app", b"apw").unwrap();
    acl.set_default_password(None);
    assert!(acl.default_is_open());
    let users = vec![("app".to_string(), "on >apw ~app:*".to_string())];
    assert_eq!(decode_users(&encode_users(&users)), users);
    assert_eq!(
        decode_users("a on\n\n b  off ~x \n"),
        vec![("a".into(), "on".into()), ("b".into(), "off ~x".into())]
    );
}
