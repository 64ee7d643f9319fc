use super::*;
use crate::RawConfig;

fn load(text: &str) -> Result<Config, String> {
    let raw = RawConfig::from_toml(text)?;
    Config::from_raw(raw).map_err(|e| e.to_string())
}

#[test]
fn no_file_is_one_database_on_6379() {
    let c = load("").unwrap();
    assert_eq!(c.bind, "127.0.0.1");
    assert_eq!(c.admin_port, 8070);
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.shards, Shards::Auto);
    assert_eq!(c.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(c.databases.len(), 1);
    let d = &c.databases[0];
    assert_eq!((d.name.as_str(), d.port), ("default", 6379));
    assert_eq!(d.appendfsync, AppendFsync::Everysec);
    assert_eq!(d.maxmemory, None);
}

#[test]
fn full_file() {
    let c = load(
        r#"
        bind = "0.0.0.0"
        admin_port = 9000
        data_dir = "/data"
        shards = 2
        log_format = "json"
        shutdown_timeout = "1500ms"
        [[database]]
        name = "cache"
        port = 6380
        maxmemory = "1gb"
        maxmemory_policy = "allkeys-lru"
        appendonly = false
        [[database]]
        name = "queue"
        port = 6400
        shards = 1
        password = "pw"
        appendfsync = "always"
        maxmemory = 1048576
        cluster_api = true
        "#,
    )
    .unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.shutdown_timeout, Duration::from_millis(1500));
    assert_eq!(c.databases[0].shards, Shards::Count(2));
    assert_eq!(c.databases[0].maxmemory, Some(1 << 30));
    assert_eq!(c.databases[0].maxmemory_policy, MaxmemoryPolicy::AllkeysLru);
    assert!(!c.databases[0].appendonly);
    assert_eq!(c.databases[1].shards, Shards::Count(1));
    assert_eq!(c.databases[1].password.as_deref(), Some("pw"));
    assert_eq!(c.databases[1].appendfsync, AppendFsync::Always);
    assert_eq!(c.databases[1].maxmemory, Some(1 << 20));
    assert!(c.databases[1].cluster_api);
}

#[test]
fn errors_name_the_key() {
    let cases = [
        (
            "[[database]]\nport = 6379\n[[database]]\nname = \"b\"\nport = 70000\n",
            "database[1].port: 70000 is not a valid port (1-65535)",
        ),
        ("shards = 0", "shards: 0 is not a valid shard count (1-1024 or \"auto\")"),
        ("shards = \"many\"", "shards: \"many\" is neither \"auto\" nor a number of shards"),
        ("bind = \"localhost:1\"", "bind: \"localhost:1\" is not an IP address"),
        ("log_format = \"xml\"", "log_format: \"xml\" is not a log format (text or json)"),
        ("admin_port = 6379", "database[0].port: 6379 is also admin_port"),
        (
            "[[database]]\nappendfsync = \"sometimes\"",
            "database[0].appendfsync: \"sometimes\" is not an appendfsync policy (always, everysec or no)",
        ),
        (
            "[[database]]\nmaxmemory = \"lots\"",
            "database[0].maxmemory: \"lots\" is not a size (bytes, or e.g. \"512mb\", \"1gb\")",
        ),
        (
            "[[database]]\nname = \"a\"\n[[database]]\nname = \"a\"\nport = 7000",
            "database[1].name: \"a\" is already the name of database[0]",
        ),
        (
            "[[database]]\nname = \"a\"\n[[database]]\nname = \"b\"\nport = 6379",
            "database[1].port: 6379 is already the port of database[0]",
        ),
        (
            "[[database]]\nname = \"a\"\n[[database]]\nport = 7000",
            "database[1].name: is required after the first database",
        ),
        ("[[database]]\nname = \"../x\"", "database[0].name: \"../x\" is not a valid name (1-64 of a-z, A-Z, 0-9, '-', '_')"),
        ("shutdown_timeout = 0", "shutdown_timeout: 0 is not a duration between 1ms and 1h (e.g. \"10s\", \"500ms\")"),
    ];
    for (text, want) in cases {
        assert_eq!(load(text).unwrap_err(), want, "for {text:?}");
    }
    assert_eq!(
        load("restart_delay_min = \"2s\"\nrestart_delay_max = \"1s\"").unwrap_err(),
        "restart_delay_max: 1s is below restart_delay_min (2s)"
    );
    assert_eq!(
        load("shards = 4\n[[database]]\nname = \"a\"\nport = 7000\ncluster_api = true\n[[database]]\nname = \"b\"\nport = 7002\n").unwrap_err(),
        "database[1].port: ports 7002-7002 overlap database[0]'s 7000-7004"
    );
    // Without cluster_api the shards have no TCP ports: only the database port counts.
    assert!(load("shards = 4\n[[database]]\nname = \"a\"\nport = 7000\n[[database]]\nname = \"b\"\nport = 7001\n").is_ok());
    assert_eq!(
        load("announce_host = \"a b\"").unwrap_err(),
        "announce_host: \"a b\" is not an IP address or host name"
    );
    assert_eq!(
        load("announce_host = \"pod-1.shoal.svc\"").map(|c| c.announce_host),
        Ok(Some("pod-1.shoal.svc".to_string()))
    );
    let policy = load("[[database]]\nmaxmemory_policy = \"lru\"").unwrap_err();
    assert!(policy.starts_with("database[0].maxmemory_policy: \"lru\" is not a maxmemory policy (noeviction, allkeys-lru"), "{policy}");
}

#[test]
fn unknown_keys_are_named() {
    let e = load("bind = \"127.0.0.1\"\nport = 6379\n").unwrap_err();
    assert!(e.contains("unknown field `port`"), "{e}");
    let e = load("[[database]]\nrequirepass = \"x\"\n").unwrap_err();
    assert!(e.contains("unknown field `requirepass`"), "{e}");
    let e = load("admin_port = \"x\"").unwrap_err();
    assert!(e.contains("admin_port"), "{e}");
}

#[test]
fn port_ranges_are_checked_once_counts_are_known() {
    let c = load(
        "[[database]]\nname = \"a\"\nport = 7000\ncluster_api = true\n\
         [[database]]\nname = \"b\"\nport = 7003\n",
    )
    .unwrap();
    assert!(c.check_port_ranges(&[2, 4]).is_ok());
    let e = c.check_port_ranges(&[3, 1]).unwrap_err().to_string();
    assert_eq!(
        e,
        "database[1].port: ports 7003-7003 overlap database[0]'s 7000-7003"
    );
    let c = load("[[database]]\nport = 65535\n").unwrap();
    assert!(
        c.check_port_ranges(&[2]).is_ok(),
        "no shard ports without cluster_api"
    );
    let c = load("[[database]]\nport = 65534\ncluster_api = true\n").unwrap();
    let e = c.check_port_ranges(&[2]).unwrap_err().to_string();
    assert!(e.contains("past 65535"), "{e}");
    let c = load("admin_port = 6381\n[[database]]\ncluster_api = true\n").unwrap();
    let e = c.check_port_ranges(&[2]).unwrap_err().to_string();
    assert!(e.contains("include admin_port 6381"), "{e}");
}

#[test]
fn policy_names_round_trip() {
    for (name, p) in MaxmemoryPolicy::ALL {
        assert_eq!(MaxmemoryPolicy::parse_str(name), Ok(p));
        assert_eq!(p.as_str(), name);
    }
}

proptest::proptest! {
    /// Any port the file can hold either validates to itself or names the key.
    #[test]
    fn any_port_validates_or_names_the_key(n in proptest::prelude::any::<i64>()) {
        let r = load(&format!("[[database]]\nport = {n}\n"));
        match r {
            Ok(c) => proptest::prop_assert_eq!(i64::from(c.databases[0].port), n),
            Err(e) => proptest::prop_assert!(e.starts_with("database[0].port: "), "{}", e),
        }
    }
}
