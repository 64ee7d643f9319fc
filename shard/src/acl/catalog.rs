//! Every command and subcommand of the table numbered once, with its ACL categories as a bit
//! set, so a user's permissions are a bitmap indexed by command id and a category rule is a
//! walk over this list.

use std::collections::HashMap;
use std::sync::OnceLock;

use shoal_proto::command::{self, CommandSpec};

/// Redis's categories, in the order `ACL CAT` lists them and `ACL LIST` tries them.
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// One numbered command: its spec, the ids of its subcommands and its category bits.
#[derive(Debug)]
pub struct Entry {
    pub spec: &'static CommandSpec,
    pub categories: u32,
    pub subcommands: Vec<usize>,
    pub parent: Option<usize>,
}

#[derive(Debug)]
pub struct Catalog {
    pub entries: Vec<Entry>,
    by_name: HashMap<&'static str, usize>,
}

impl Catalog {
    pub fn get() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            let mut entries = Vec::new();
            let mut by_name = HashMap::new();
            for spec in command::all() {
                let id = entries.len();
                by_name.insert(spec.name, id);
                entries.push(Entry {
                    spec,
                    categories: category_bits(spec),
                    subcommands: Vec::new(),
                    parent: None,
                });
                for sub in spec.subcommands {
                    let sid = entries.len();
                    by_name.insert(sub.name, sid);
                    entries.push(Entry {
                        spec: sub,
                        categories: category_bits(sub),
                        subcommands: Vec::new(),
                        parent: Some(id),
                    });
                    if let Some(e) = entries.get_mut(id) {
                        e.subcommands.push(sid);
                    }
                }
            }
            Catalog { entries, by_name }
        })
    }

    /// Number of ids; bitmaps hold this many bits.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The id of a spec from the table (a command or a `parent|sub` subcommand).
    pub fn id_of(&self, spec: &CommandSpec) -> Option<usize> {
        self.by_name.get(spec.name).copied()
    }

    /// Finds `name` or `parent|sub`, case-insensitively.
    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.by_name
            .get(name.to_ascii_lowercase().as_str())
            .copied()
    }

    pub fn entry(&self, id: usize) -> Option<&Entry> {
        self.entries.get(id)
    }
}

/// The bit of a category name (without `@`), case-insensitively.
pub fn category_bit(name: &str) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| 1u32 << i)
}

fn category_bits(spec: &CommandSpec) -> u32 {
    spec.acl
        .iter()
        .filter_map(|c| category_bit(c.trim_start_matches('@')))
        .fold(0, |acc, b| acc | b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_subcommand_has_an_id_and_categories() {
        let c = Catalog::get();
        let get = c.lookup("GET").unwrap();
        let e = c.entry(get).unwrap();
        assert_eq!(e.spec.name, "get");
        let read = category_bit("read").unwrap();
        assert_ne!(e.categories & read, 0);
        let setname = c.lookup("client|setname").unwrap();
        assert_eq!(c.entry(setname).unwrap().parent, c.lookup("client"));
        assert!(c
            .entry(c.lookup("client").unwrap())
            .unwrap()
            .subcommands
            .contains(&setname));
        assert!(c.len() > 300);
        assert_eq!(category_bit("nosuch"), None);
    }
}
