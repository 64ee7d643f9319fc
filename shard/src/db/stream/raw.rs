//! A stream's nodes as they are, tombstones and master fields included, for the
//! serializer that keeps Redis's node layout (DUMP and RESTORE), and the checked way to
//! rebuild a stream from such nodes.

use super::node::Node;
use super::{Stream, StreamId};
use crate::db::Sds;

/// One stored entry of a node: its ID, fields and values alternating, and whether it
/// is a tombstone.
pub struct RawEntry<'a> {
    pub id: StreamId,
    pub fields: &'a [Sds],
    pub deleted: bool,
}

/// A read-only view of one node.
pub struct RawNode<'a> {
    pub master_id: StreamId,
    node: &'a Node,
}

impl<'a> RawNode<'a> {
    /// The field names every entry is compared with (those of the node's first entry).
    pub fn master_fields(&self) -> &'a [Sds] {
        self.node.master_fields()
    }

    pub fn live(&self) -> u64 {
        self.node.live_count()
    }

    pub fn deleted(&self) -> u64 {
        self.node.deleted_count()
    }

    pub fn entries(&self) -> impl Iterator<Item = RawEntry<'a>> + 'a {
        self.node.raw_entries()
    }
}

/// Why a set of nodes cannot make a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

impl Stream {
    /// The nodes in ID order.
    pub fn raw_nodes(&self) -> impl Iterator<Item = RawNode<'_>> + '_ {
        self.nodes
            .iter()
            .map(|(&master_id, node)| RawNode { master_id, node })
    }

    /// Appends a node keyed by `master_id` with the given master field names and entries
    /// (ID, fields and values, tombstone). IDs must rise within the node and past every
    /// earlier node, start at `master_id`, and at least one entry must be live, as in
    /// every node Redis writes.
    pub fn push_raw_node(
        &mut self,
        master_id: StreamId,
        master_fields: Vec<Sds>,
        entries: Vec<(StreamId, Vec<Sds>, bool)>,
    ) -> Result<(), Invalid> {
        if let Some((_, last)) = self.nodes.iter().next_back() {
            if master_id <= last.last_slot_id() {
                return Err(Invalid);
            }
        }
        let mut node = Node::with_master(master_id, master_fields);
        let mut prev: Option<StreamId> = None;
        for (id, fields, deleted) in entries {
            if id < master_id || prev.is_some_and(|p| id <= p) || fields.len() % 2 != 0 {
                return Err(Invalid);
            }
            prev = Some(id);
            node.push(id, fields);
            if deleted {
                node.delete(id);
            }
        }
        if node.live_count() == 0 {
            return Err(Invalid);
        }
        self.length += node.live_count();
        self.nodes.insert(master_id, node);
        Ok(())
    }

    /// The ID of the last entry stored, tombstones included (None: no nodes).
    pub fn last_stored_id(&self) -> Option<StreamId> {
        self.nodes.values().next_back().map(Node::last_slot_id)
    }
}
