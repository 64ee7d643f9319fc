//! The agent's answers to CLUSTER, READONLY, READWRITE and ASKING at a database's proxy
//! port. Pure: a request's arguments in, reply bytes (or the shard to ask) out.
//!
//! With `cluster_api = true` the database's shards listen on TCP in cluster mode, and the
//! proxy describes them: a cluster client pointed at the proxy port discovers the shards
//! and talks to them directly. CLUSTER MYID is the agent's own ID, and no node is
//! "myself", since the proxy serves no slot itself. COUNTKEYSINSLOT and GETKEYSINSLOT need
//! the data: they go to the shard owning the slot.
//!
//! Without `cluster_api` the database is one standalone server to its clients, so these
//! commands fail as they do on a Redis without cluster support.

use std::path::Path;

use shoal_proto::cluster::{Topology, DISABLED};
use shoal_proto::{Protocol, Reply};

use crate::supervisor::plan::ShardSpec;

/// What the proxy does with a CLUSTER-family request.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send these bytes to the client.
    Reply(Vec<u8>),
    /// Forward the request unchanged to this shard (index in the database).
    Shard(usize),
}

/// One database's cluster view, as the proxy holds it.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// `None` without `cluster_api`.
    topology: Option<Topology>,
    /// CLUSTER MYID at the proxy port.
    agent_id: String,
}

impl ClusterView {
    /// The view of the database `shards` belong to (all of one database, in index order).
    /// `database_dir` is `<data_dir>/<database>`, whose SHA-1 is the agent's node ID.
    pub fn new(shards: &[&ShardSpec], database_dir: &Path) -> ClusterView {
        let topology = shards.first().and_then(|s| s.cluster.as_deref()).map(|t| {
            let mut t = t.clone();
            t.myself = None;
            t
        });
        ClusterView {
            topology,
            agent_id: crate::supervisor::plan::node_id(database_dir),
        }
    }

    /// True when `name` (a command name, any case) is answered here rather than by a
    /// shard.
    pub fn handles(name: &[u8]) -> bool {
        ["cluster", "readonly", "readwrite", "asking"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
    }

    /// The answer to one request whose name [`ClusterView::handles`].
    pub fn answer(&self, args: &[&[u8]], proto: Protocol) -> Answer {
        let reply = |f: &dyn Fn(&mut Reply)| {
            let mut out = Reply::new(proto);
            f(&mut out);
            Answer::Reply(out.buf.to_vec())
        };
        let Some(name) = args.first() else {
            return reply(&|o| o.error("ERR empty command"));
        };
        let Some(topo) = &self.topology else {
            return reply(&|o| o.error(DISABLED));
        };
        if !name.eq_ignore_ascii_case(b"cluster") {
            if args.len() != 1 {
                let full = String::from_utf8_lossy(name).to_ascii_lowercase();
                return reply(&|o| o.error(&arity(&full)));
            }
            return reply(&|o| o.ok());
        }
        let Some(sub) = args.get(1) else {
            return reply(&|o| o.error(&arity("cluster")));
        };
        let lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
        let full = format!("cluster|{lower}");
        if let Some(spec) = shoal_proto::command::lookup(full.as_bytes()) {
            if !spec.arity_ok(args.len()) {
                return reply(&|o| o.error(&arity(&full)));
            }
        }
        match lower.as_str() {
            "countkeysinslot" | "getkeysinslot" => {
                return match args.get(2).and_then(|a| slot_of(a)) {
                    Some(slot) => Answer::Shard(
                        topo.nodes
                            .iter()
                            .position(|n| n.start <= slot && slot <= n.end)
                            .unwrap_or(0),
                    ),
                    // The shard's own parser gives Redis's exact error for a bad slot.
                    None => Answer::Shard(0),
                };
            }
            "help" => return reply(&help),
            _ => {}
        }
        match topo.answer(sub, &args[2..], &self.agent_id, proto) {
            Some(bytes) => Answer::Reply(bytes),
            None => {
                let text = format!(
                    "ERR unknown subcommand '{}'. Try CLUSTER HELP.",
                    String::from_utf8_lossy(&sub[..sub.len().min(128)])
                );
                reply(&|o| o.error(&text))
            }
        }
    }
}

fn arity(full_name: &str) -> String {
    format!("ERR wrong number of arguments for '{full_name}' command")
}

fn slot_of(arg: &[u8]) -> Option<u16> {
    std::str::from_utf8(arg)
        .ok()?
        .parse::<u16>()
        .ok()
        .filter(|&s| s < shoal_proto::SLOT_COUNT)
}

fn help(out: &mut Reply) {
    const LINES: &[&str] = &[
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "COUNTKEYSINSLOT <slot>",
        "    Return the number of keys in <slot>.",
        "GETKEYSINSLOT <slot> <count>",
        "    Return key names stored by current node in a slot.",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "MYID",
        "    Return the node id.",
        "NODES",
        "    Return cluster configuration seen by node. Output format:",
        "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
        "SHARDS",
        "    Return information about slot range mappings and the nodes associated with them.",
        "SLOTS",
        "    Return information about slots range mappings. Each range is made of:",
        "    start, end, master and replicas IP addresses, ports and ids",
        "HELP",
        "    Print this help.",
    ];
    out.array(LINES.len());
    for l in LINES {
        out.simple(l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::plan::{plan, Resources};
    use shoal_config::{Config, Overrides, RawConfig};

    fn view(toml: &str) -> ClusterView {
        let mut raw = RawConfig::from_toml(toml).unwrap();
        Overrides::default().apply(&mut raw);
        let config = Config::from_raw(raw).unwrap();
        let res = Resources {
            allowed_cpus: vec![0],
            cpu_quota: None,
            memory_limit: None,
        };
        let p = plan(&config, &res).unwrap();
        let shards: Vec<&ShardSpec> = p.shards.iter().collect();
        ClusterView::new(&shards, &config.data_dir.join("default"))
    }

    fn text(a: Answer) -> String {
        match a {
            Answer::Reply(b) => String::from_utf8(b).unwrap(),
            Answer::Shard(i) => format!("shard {i}"),
        }
    }

    const ON: &str =
        "data_dir = \"/d\"\nshards = 4\n[[database]]\nport = 7000\ncluster_api = true\n";

    #[test]
    fn without_cluster_api_it_is_disabled() {
        let v = view("shards = 2\n");
        for args in [
            &[&b"CLUSTER"[..], b"SLOTS"][..],
            &[b"readonly"],
            &[b"asking"],
        ] {
            assert_eq!(
                text(v.answer(args, Protocol::Resp2)),
                "-ERR This instance has cluster support disabled\r\n"
            );
        }
    }

    #[test]
    fn slots_list_the_shard_ports() {
        let v = view(ON);
        let r = text(v.answer(&[b"cluster", b"slots"], Protocol::Resp2));
        assert!(
            r.starts_with("*4\r\n*3\r\n:0\r\n:4095\r\n*4\r\n$9\r\n127.0.0.1\r\n:7001\r\n$40\r\n"),
            "{r}"
        );
        assert!(
            r.contains(":12288\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:7004\r\n"),
            "{r}"
        );
        let nodes = text(v.answer(&[b"CLUSTER", b"NODES"], Protocol::Resp3));
        assert!(nodes.starts_with('='), "{nodes}");
        assert_eq!(nodes.matches(" master - 0 0 ").count(), 4);
        assert!(!nodes.contains("myself"));
        let info = text(v.answer(&[b"cluster", b"info"], Protocol::Resp2));
        assert!(info.contains("cluster_state:ok\r\n"), "{info}");
    }

    #[test]
    fn myid_keyslot_and_the_rest() {
        let v = view(ON);
        let id = crate::supervisor::plan::node_id(Path::new("/d/default"));
        assert_eq!(
            text(v.answer(&[b"cluster", b"myid"], Protocol::Resp2)),
            format!("$40\r\n{id}\r\n")
        );
        assert_eq!(
            text(v.answer(&[b"cluster", b"keyslot", b"{user1}.a"], Protocol::Resp2)),
            format!(":{}\r\n", shoal_proto::key_hash_slot(b"user1"))
        );
        assert_eq!(text(v.answer(&[b"READWRITE"], Protocol::Resp2)), "+OK\r\n");
        assert_eq!(
            text(v.answer(&[b"cluster", b"countkeysinslot", b"12182"], Protocol::Resp2)),
            "shard 2"
        );
        assert_eq!(
            text(v.answer(
                &[b"cluster", b"getkeysinslot", b"16383", b"10"],
                Protocol::Resp2
            )),
            "shard 3"
        );
        assert_eq!(
            text(v.answer(&[b"cluster", b"slots", b"x"], Protocol::Resp2)),
            "-ERR wrong number of arguments for 'cluster|slots' command\r\n"
        );
        assert_eq!(
            text(v.answer(&[b"cluster", b"addslots", b"1"], Protocol::Resp2)),
            "-ERR unknown subcommand 'addslots'. Try CLUSTER HELP.\r\n"
        );
        assert_eq!(
            text(v.answer(&[b"cluster"], Protocol::Resp2)),
            "-ERR wrong number of arguments for 'cluster' command\r\n"
        );
        assert!(text(v.answer(&[b"cluster", b"help"], Protocol::Resp2)).starts_with("*21\r\n"));
    }
}
