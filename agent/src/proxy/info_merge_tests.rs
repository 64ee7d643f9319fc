use super::*;

fn shard_text(keys: i64, expires: i64, ttl: i64, cmds: i64, extra_db: bool) -> String {
    let mut t = format!(
        "# Server\r\nredis_version:7.0.15\r\nprocess_id:{cmds}\r\ntcp_port:6379\r\n\r\n\
         # Clients\r\nconnected_clients:{cmds}\r\nmaxclients:10000\r\nclient_recent_max_input_buffer:{cmds}\r\n\r\n\
         # Memory\r\nused_memory:{}\r\nused_memory_human:x\r\nmem_fragmentation_ratio:1.{cmds}0\r\ntotal_system_memory:100\r\ntotal_system_memory_human:100B\r\nmaxmemory_policy:noeviction\r\n\r\n\
         # Stats\r\ntotal_commands_processed:{cmds}\r\ninstantaneous_input_kbps:1.25\r\n\r\n\
         # Commandstats\r\ncmdstat_get:calls={cmds},usec=10,usec_per_call=0.50,rejected_calls=0,failed_calls=1\r\n\r\n\
         # Errorstats\r\nerrorstat_ERR:count={cmds}\r\n\r\n\
         # Keyspace\r\n",
        cmds * 1024 * 1024
    );
    if keys > 0 {
        t.push_str(&format!(
            "db0:keys={keys},expires={expires},avg_ttl={ttl}\r\n"
        ));
    }
    if extra_db {
        t.push_str("db3:keys=1,expires=0,avg_ttl=0\r\n");
    }
    t
}

#[test]
fn sums_what_adds_up() {
    let texts = vec![
        shard_text(10, 2, 1000, 1, false),
        shard_text(0, 0, 0, 2, true),
        shard_text(5, 2, 3000, 3, false),
    ];
    let mut m = InfoMerge::default();
    m.set("connected_clients", 42);
    let out = m.merge_texts(&texts);
    let want = "# Server\r\nredis_version:7.0.15\r\nprocess_id:1\r\ntcp_port:6379\r\n\r\n\
         # Clients\r\nconnected_clients:42\r\nmaxclients:10000\r\nclient_recent_max_input_buffer:3\r\n\r\n\
         # Memory\r\nused_memory:6291456\r\nused_memory_human:6.00M\r\nmem_fragmentation_ratio:1.10\r\ntotal_system_memory:100\r\ntotal_system_memory_human:100B\r\nmaxmemory_policy:noeviction\r\n\r\n\
         # Stats\r\ntotal_commands_processed:6\r\ninstantaneous_input_kbps:3.75\r\n\r\n\
         # Commandstats\r\ncmdstat_get:calls=6,usec=30,usec_per_call=5.00,rejected_calls=0,failed_calls=3\r\n\r\n\
         # Errorstats\r\nerrorstat_ERR:count=6\r\n\r\n\
         # Keyspace\r\ndb0:keys=15,expires=4,avg_ttl=2000\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n";
    assert_eq!(out, want);
}

#[test]
fn encodes_for_the_protocol() {
    let texts = ["# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"];
    let values: Vec<Value<'_>> = texts.iter().map(|t| Value::Bulk(t.as_bytes())).collect();
    let m = InfoMerge::default();
    let r2 = m.merge(&values, Protocol::Resp2).unwrap();
    assert_eq!(
        r2,
        format!("${}\r\n{}\r\n", texts[0].len(), texts[0]).into_bytes()
    );
    let r3 = m.merge(&values, Protocol::Resp3).unwrap();
    assert_eq!(
        r3,
        format!("={}\r\ntxt:{}\r\n", texts[0].len() + 4, texts[0]).into_bytes()
    );
    assert!(m.merge(&[Value::Int(1)], Protocol::Resp2).is_none());
}

#[test]
fn human_bytes_matches_redis() {
    assert_eq!(human_bytes(1023), "1023B");
    assert_eq!(human_bytes(1024), "1.00K");
    assert_eq!(human_bytes(1536 * 1024), "1.50M");
    assert_eq!(human_bytes(3 << 30), "3.00G");
}
