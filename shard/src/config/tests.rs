use super::table::{self, get_matching, set_many, ConfigError};
use super::*;

fn get(c: &ShardConfig, name: &str) -> String {
    c.get(name).unwrap_or_else(|| panic!("{name} missing"))
}

#[test]
fn every_default_parses_and_round_trips() {
    let c = ShardConfig::default();
    for p in table::PARAMS.iter() {
        let shown = p.get(&c);
        if p.name == "dir" {
            continue;
        }
        let again = p
            .parse(&shown)
            .unwrap_or_else(|e| panic!("{}: {shown:?}: {e}", p.name));
        assert_eq!(p.show(&again), shown, "{}", p.name);
    }
    assert_eq!(get(&c, "databases"), "1");
    assert_eq!(get(&c, "cluster-enabled"), "no");
    assert_eq!(get(&c, "save"), "3600 1 300 100 60 10000");
    assert_eq!(get(&c, "maxmemory-policy"), "noeviction");
    assert_eq!(get(&c, "client-query-buffer-limit"), "1073741824");
}

#[test]
fn names_are_unique() {
    let mut names = std::collections::HashSet::new();
    for p in table::PARAMS.iter() {
        assert!(names.insert(p.name), "{} twice", p.name);
        if let Some(a) = p.alias {
            assert!(names.insert(a), "{a} twice");
        }
    }
}

#[test]
fn memory_units_and_typed_fields() {
    let mut c = ShardConfig::default();
    c.set("maxmemory", "1gb").unwrap();
    assert_eq!(c.maxmemory, 1 << 30);
    assert_eq!(get(&c, "maxmemory"), "1073741824");
    c.set("hash-max-ziplist-entries", "7").unwrap();
    assert_eq!(c.hash_max_listpack_entries, 7);
    assert_eq!(get(&c, "hash-max-listpack-entries"), "7");
    c.set("maxmemory-policy", "ALLKEYS-LRU").unwrap();
    assert_eq!(c.policy(), MaxmemoryPolicy::AllkeysLru);
    assert_eq!(c.maxmemory_policy, "allkeys-lru");
    assert_eq!(get(&c, "maxmemory-policy"), "allkeys-lru");
    c.set("hz", "100000").unwrap();
    assert_eq!(c.hz, 500);
    c.set("notify-keyspace-events", "KEA").unwrap();
    assert_eq!(get(&c, "notify-keyspace-events"), "AKE");
    c.set("maxmemory-clients", "10%").unwrap();
    assert_eq!(get(&c, "maxmemory-clients"), "10%");
    c.set("requirepass", "secret").unwrap();
    assert_eq!(c.requirepass.as_deref(), Some(&b"secret"[..]));
    c.set("requirepass", "").unwrap();
    assert_eq!(c.requirepass, None);
    c.set("save", "").unwrap();
    assert!(c.save.is_empty());
}

#[test]
fn redis_error_texts() {
    let mut c = ShardConfig::default();
    let err =
        |c: &mut ShardConfig, pairs: &[(&str, &str)]| set_many(c, pairs).unwrap_err().to_string();
    assert_eq!(
        err(&mut c, &[("foo", "1")]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    );
    assert_eq!(
        err(&mut c, &[("hz", "abc")]),
        "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"
    );
    assert_eq!(
        err(&mut c, &[("maxmemory", "1tb")]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    );
    assert_eq!(
        err(&mut c, &[("maxmemory-samples", "0")]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must be between 1 and 2147483647 inclusive"
    );
    assert_eq!(
        err(&mut c, &[("appendonly", "maybe")]),
        "ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'"
    );
    assert_eq!(
        err(&mut c, &[("appendfsync", "sometimes")]),
        "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: everysec, always, no"
    );
    assert_eq!(
        err(&mut c, &[("databases", "4")]),
        "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
    );
    assert_eq!(
        err(&mut c, &[("hz", "5"), ("HZ", "6")]),
        "ERR CONFIG SET failed (possibly related to argument 'HZ') - duplicate parameter"
    );
    // Pinned: the current value is accepted as a no-op, another is refused.
    assert!(set_many(&mut c, &[("port", "6379"), ("bind", "127.0.0.1")]).is_ok());
    assert_eq!(
        err(&mut c, &[("port", "7000")]),
        "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."
    );
    assert_eq!(
        err(&mut c, &[("notify-keyspace-events", "Q")]),
        "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
    );
}

#[test]
fn multi_set_is_all_or_nothing() {
    let mut c = ShardConfig::default();
    let r = set_many(
        &mut c,
        &[("hz", "50"), ("maxmemory", "10mb"), ("timeout", "-1")],
    );
    assert!(matches!(r, Err(ConfigError::Failed { ref name, .. }) if name == "timeout"));
    assert_eq!(c.hz, 10);
    assert_eq!(c.maxmemory, 0);
    // An unknown name anywhere refuses the whole command before anything is applied.
    assert!(set_many(&mut c, &[("hz", "50"), ("nope", "1")]).is_err());
    assert_eq!(c.hz, 10);
    let set = set_many(&mut c, &[("hz", "50"), ("maxmemory", "10mb")]).unwrap();
    assert_eq!(set, vec!["hz", "maxmemory"]);
    assert_eq!((c.hz, c.maxmemory), (50, 10 << 20));
}

#[test]
fn get_patterns() {
    let c = ShardConfig::default();
    let got = get_matching(&c, &[b"maxmemory*"]);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"maxmemory"));
    assert!(names.contains(&"maxmemory-policy"));
    assert!(!names.contains(&"hz"));
    // Exact names echo as typed and appear once; aliases match patterns too.
    let got = get_matching(&c, &[b"HZ", b"hz", b"*ziplist-entries"]);
    assert_eq!(got[0], ("HZ".to_string(), "10".to_string()));
    assert_eq!(got.len(), 3);
    assert!(get_matching(&c, &[b"rdb-key-save-delay"]).len() == 1);
    assert!(get_matching(&c, &[b"rdb-key-save-*"]).is_empty());
}
