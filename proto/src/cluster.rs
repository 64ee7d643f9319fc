//! The Redis Cluster view of one database: which node (shard) serves which slot range at
//! which address, and the replies to CLUSTER SLOTS, SHARDS, NODES, MYID and INFO in
//! Redis 7.0's shapes. Both a shard in cluster mode and the agent answer from this, so
//! the two can never disagree.
//!
//! There is no cluster bus and no failover: the agent decides the layout, so every node
//! is a master, always connected, and the cluster is always `ok` once every slot has a
//! node. The bus port is reported as 0.

use crate::reply::{Protocol, Reply};
use crate::slot::SLOT_COUNT;
use crate::slotmap::SlotMap;

/// Length of a node ID: 40 hex digits, as Redis's `CLUSTER_NAMELEN`.
pub const NODE_ID_LEN: usize = 40;

pub const DISABLED: &str = "ERR This instance has cluster support disabled";
pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// 40 lower-case hex digits.
    pub id: String,
    /// The address clients connect to (never 0.0.0.0).
    pub host: String,
    pub port: u16,
    /// Inclusive slot range.
    pub start: u16,
    pub end: u16,
}

/// Every node of one database, in slot order, and which of them (if any) answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub nodes: Vec<Node>,
    /// Index of the node answering; `None` when the agent answers for the whole database.
    pub myself: Option<usize>,
}

impl Topology {
    /// One node per shard of `map`, with the given IDs and addresses (shard order).
    pub fn from_slotmap(map: &SlotMap, ids: &[String], addrs: &[(String, u16)]) -> Topology {
        let nodes = map
            .ranges()
            .filter_map(|(i, start, end)| {
                let (host, port) = addrs.get(i)?;
                Some(Node {
                    id: ids.get(i)?.clone(),
                    host: host.clone(),
                    port: *port,
                    start,
                    end,
                })
            })
            .collect();
        Topology {
            nodes,
            myself: None,
        }
    }

    /// The compact form a shard receives on its command line:
    /// `id,host,port,start-end;id,host,port,start-end;…`.
    pub fn nodes_spec(&self) -> String {
        let parts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{},{},{},{}-{}", n.id, n.host, n.port, n.start, n.end))
            .collect();
        parts.join(";")
    }

    /// Parses [`Topology::nodes_spec`]'s form; `myid` names the node answering. Every
    /// slot must belong to exactly one node, or routing would be ambiguous.
    pub fn parse(spec: &str, myid: &str) -> Result<Topology, String> {
        let mut nodes = Vec::new();
        for part in spec.split(';').filter(|p| !p.is_empty()) {
            let fields: Vec<&str> = part.split(',').collect();
            let [id, host, port, range] = fields[..] else {
                return Err(format!("{part:?} is not id,host,port,start-end"));
            };
            if !is_node_id(id) {
                return Err(format!("{id:?} is not a 40-hex-digit node ID"));
            }
            let port: u16 = port
                .parse()
                .map_err(|_| format!("{port:?} is not a port"))?;
            let (start, end) = range
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
                .filter(|&(a, b)| a <= b && b < SLOT_COUNT)
                .ok_or_else(|| format!("{range:?} is not a slot range start-end"))?;
            nodes.push(Node {
                id: id.to_ascii_lowercase(),
                host: host.to_string(),
                port,
                start,
                end,
            });
        }
        nodes.sort_by_key(|n| n.start);
        let mut next = 0u32;
        for n in &nodes {
            if u32::from(n.start) != next {
                return Err(format!("slot {next} has no node or two"));
            }
            next = u32::from(n.end) + 1;
        }
        if next != u32::from(SLOT_COUNT) {
            return Err(format!("slot {next} has no node"));
        }
        let myself = nodes
            .iter()
            .position(|n| n.id.eq_ignore_ascii_case(myid))
            .ok_or_else(|| format!("{myid:?} is not one of the nodes"))?;
        Ok(Topology {
            nodes,
            myself: Some(myself),
        })
    }

    /// The node serving `slot`. Nodes are in slot order and cover every slot.
    pub fn owner(&self, slot: u16) -> Option<&Node> {
        let i = self
            .nodes
            .partition_point(|n| n.start <= slot)
            .checked_sub(1)?;
        self.nodes.get(i).filter(|n| slot <= n.end)
    }

    pub fn me(&self) -> Option<&Node> {
        self.nodes.get(self.myself?)
    }

    /// CLUSTER SLOTS: one row per node, `[start, end, [host, port, id, {}]]`.
    pub fn write_slots(&self, out: &mut Reply) {
        out.array(self.nodes.len());
        for n in &self.nodes {
            out.array(3);
            out.int(i64::from(n.start));
            out.int(i64::from(n.end));
            out.array(4);
            out.bulk(n.host.as_bytes());
            out.int(i64::from(n.port));
            out.bulk(n.id.as_bytes());
            // The extra networking metadata: none beyond the preferred endpoint (the IP).
            out.map(0);
        }
    }

    /// CLUSTER SHARDS: per shard a map of its slot pairs and its one node's details.
    pub fn write_shards(&self, out: &mut Reply) {
        out.array(self.nodes.len());
        for n in &self.nodes {
            out.map(2);
            out.bulk(b"slots");
            out.array(2);
            out.int(i64::from(n.start));
            out.int(i64::from(n.end));
            out.bulk(b"nodes");
            out.array(1);
            out.map(7);
            out.bulk(b"id");
            out.bulk(n.id.as_bytes());
            out.bulk(b"port");
            out.int(i64::from(n.port));
            out.bulk(b"ip");
            out.bulk(n.host.as_bytes());
            out.bulk(b"endpoint");
            out.bulk(n.host.as_bytes());
            out.bulk(b"role");
            out.bulk(b"master");
            out.bulk(b"replication-offset");
            out.int(0);
            out.bulk(b"health");
            out.bulk(b"online");
        }
    }

    /// CLUSTER NODES' text: `id host:port@cport flags master ping pong epoch link slots`.
    pub fn nodes_text(&self) -> String {
        let mut s = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let flags = if self.myself == Some(i) {
                "myself,master"
            } else {
                "master"
            };
            let slots = if n.start == n.end {
                n.start.to_string()
            } else {
                format!("{}-{}", n.start, n.end)
            };
            // Config epochs are distinct per node, as after `redis-cli --cluster create`.
            s.push_str(&format!(
                "{} {}:{}@0 {flags} - 0 0 {} connected {slots}\n",
                n.id,
                n.host,
                n.port,
                i + 1
            ));
        }
        s
    }

    /// CLUSTER INFO's text.
    pub fn info_text(&self) -> String {
        let assigned: u32 = self
            .nodes
            .iter()
            .map(|n| u32::from(n.end) - u32::from(n.start) + 1)
            .sum();
        let state = if assigned == u32::from(SLOT_COUNT) {
            "ok"
        } else {
            "fail"
        };
        let my_epoch = self.myself.map_or(0, |i| i + 1);
        format!(
            "cluster_state:{state}\r\n\
             cluster_slots_assigned:{assigned}\r\n\
             cluster_slots_ok:{assigned}\r\n\
             cluster_slots_pfail:0\r\n\
             cluster_slots_fail:0\r\n\
             cluster_known_nodes:{n}\r\n\
             cluster_size:{n}\r\n\
             cluster_current_epoch:{n}\r\n\
             cluster_my_epoch:{my_epoch}\r\n\
             cluster_stats_messages_sent:0\r\n\
             cluster_stats_messages_received:0\r\n\
             total_cluster_links_buffer_limit_exceeded:0\r\n",
            n = self.nodes.len(),
        )
    }

    /// `MOVED <slot> <host>:<port>` (without the leading `-`) for a slot served elsewhere,
    /// or None when this node serves it (or no node does, which `parse` rules out).
    pub fn moved(&self, slot: u16) -> Option<String> {
        let owner = self.owner(slot)?;
        if self.me().is_some_and(|me| me.id == owner.id) {
            return None;
        }
        Some(format!("MOVED {slot} {}:{}", owner.host, owner.port))
    }

    /// The reply to the CLUSTER subcommands that need only the topology (SLOTS, SHARDS,
    /// NODES, MYID, INFO, KEYSLOT), or None for any other subcommand. `myid` answers MYID
    /// when no node of the topology is the one answering (the agent's own ID).
    pub fn answer(
        &self,
        sub: &[u8],
        args: &[&[u8]],
        myid: &str,
        proto: Protocol,
    ) -> Option<Vec<u8>> {
        let mut out = Reply::new(proto);
        let lower = sub.to_ascii_lowercase();
        match (lower.as_slice(), args) {
            (b"slots", []) => self.write_slots(&mut out),
            (b"shards", []) => self.write_shards(&mut out),
            (b"nodes", []) => out.verbatim(self.nodes_text().as_bytes()),
            (b"info", []) => out.verbatim(self.info_text().as_bytes()),
            (b"myid", []) => {
                let id = self.me().map_or(myid, |n| n.id.as_str());
                out.bulk(id.as_bytes());
            }
            (b"keyslot", [key]) => out.int(i64::from(crate::key_hash_slot(key))),
            _ => return None,
        }
        Some(out.buf.to_vec())
    }
}

pub fn is_node_id(id: &str) -> bool {
    id.len() == NODE_ID_LEN && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn two() -> Topology {
        let spec = format!("{B},127.0.0.1,7002,8192-16383;{A},127.0.0.1,7001,0-8191");
        Topology::parse(&spec, A).unwrap()
    }

    #[test]
    fn spec_round_trips_and_sorts_by_slot() {
        let t = two();
        assert_eq!(t.nodes[0].id, A);
        assert_eq!(t.myself, Some(0));
        assert_eq!(Topology::parse(&t.nodes_spec(), B).unwrap().myself, Some(1));
        let from_map = Topology::from_slotmap(
            &SlotMap::even(2),
            &[A.to_string(), B.to_string()],
            &[("127.0.0.1".into(), 7001), ("127.0.0.1".into(), 7002)],
        );
        assert_eq!(from_map.nodes, t.nodes);
    }

    #[test]
    fn bad_specs_are_refused() {
        for spec in [
            format!("{A},h,1,0-100"),
            format!("{A},h,1,0-16383;{B},h,2,16000-16383"),
            format!("{A},h,x,0-16383"),
            format!("{A},h,1,0-16384"),
            "abc,h,1,0-16383".to_string(),
            format!("{A},h,1"),
        ] {
            assert!(Topology::parse(&spec, A).is_err(), "{spec}");
        }
        assert!(Topology::parse(&format!("{A},h,1,0-16383"), B).is_err());
    }

    #[test]
    fn owner_and_moved() {
        let t = two();
        assert_eq!(t.owner(0).map(|n| n.port), Some(7001));
        assert_eq!(t.owner(8191).map(|n| n.port), Some(7001));
        assert_eq!(t.owner(8192).map(|n| n.port), Some(7002));
        assert_eq!(t.owner(16383).map(|n| n.port), Some(7002));
        assert_eq!(t.moved(100), None);
        assert_eq!(
            t.moved(12182).as_deref(),
            Some("MOVED 12182 127.0.0.1:7002")
        );
    }

    #[test]
    fn slots_reply_shape() {
        let t = two();
        let r = t.answer(b"SLOTS", &[], "", Protocol::Resp2).unwrap();
        let want = format!(
            "*2\r\n*3\r\n:0\r\n:8191\r\n*4\r\n$9\r\n127.0.0.1\r\n:7001\r\n$40\r\n{A}\r\n*0\r\n\
             *3\r\n:8192\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:7002\r\n$40\r\n{B}\r\n*0\r\n"
        );
        assert_eq!(String::from_utf8(r).unwrap(), want);
        let r3 = t.answer(b"slots", &[], "", Protocol::Resp3).unwrap();
        assert!(String::from_utf8(r3).unwrap().contains("%0\r\n"));
    }

    #[test]
    fn nodes_info_myid_keyslot() {
        let t = two();
        let text = t.nodes_text();
        assert_eq!(
            text,
            format!(
                "{A} 127.0.0.1:7001@0 myself,master - 0 0 1 connected 0-8191\n\
                 {B} 127.0.0.1:7002@0 master - 0 0 2 connected 8192-16383\n"
            )
        );
        let info = t.info_text();
        assert!(info.starts_with("cluster_state:ok\r\ncluster_slots_assigned:16384\r\n"));
        assert!(info.contains("cluster_known_nodes:2\r\ncluster_size:2\r\n"));
        let myid = t.answer(b"myid", &[], "", Protocol::Resp2).unwrap();
        assert_eq!(myid, format!("$40\r\n{A}\r\n").into_bytes());
        let ks = t
            .answer(b"keyslot", &[b"foo"], "", Protocol::Resp2)
            .unwrap();
        assert_eq!(ks, b":12182\r\n");
        assert_eq!(t.answer(b"keyslot", &[], "", Protocol::Resp2), None);
        assert_eq!(t.answer(b"addslots", &[b"1"], "", Protocol::Resp2), None);
        let mut agent = t.clone();
        agent.myself = None;
        assert!(!agent.nodes_text().contains("myself"));
        let id = agent.answer(b"myid", &[], B, Protocol::Resp2).unwrap();
        assert_eq!(id, format!("$40\r\n{B}\r\n").into_bytes());
    }

    #[test]
    fn shards_reply_shape() {
        let t = two();
        let r = String::from_utf8(t.answer(b"shards", &[], "", Protocol::Resp2).unwrap()).unwrap();
        assert!(r.starts_with("*2\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:8191\r\n$5\r\nnodes\r\n*1\r\n*14\r\n$2\r\nid\r\n"), "{r}");
        let r3 = String::from_utf8(t.answer(b"shards", &[], "", Protocol::Resp3).unwrap()).unwrap();
        assert!(r3.starts_with("*2\r\n%2\r\n"), "{r3}");
    }
}
