//! The fields of a shard's `INFO` reply that the agent reports.

use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct Info {
    fields: HashMap<String, String>,
}

impl Info {
    pub fn parse(text: &str) -> Info {
        let fields = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Info { fields }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.fields.get(key)?.parse().ok()
    }

    /// Keys and expires summed over the `dbN:keys=…,expires=…` lines.
    pub fn keyspace(&self) -> (u64, u64) {
        let mut keys = 0u64;
        let mut expires = 0u64;
        for (k, v) in &self.fields {
            let is_db = k
                .strip_prefix("db")
                .is_some_and(|n| n.parse::<u32>().is_ok());
            if !is_db {
                continue;
            }
            for part in v.split(',') {
                match part.split_once('=') {
                    Some(("keys", n)) => keys = keys.saturating_add(n.parse().unwrap_or(0)),
                    Some(("expires", n)) => {
                        expires = expires.saturating_add(n.parse().unwrap_or(0))
                    }
                    _ => {}
                }
            }
        }
        (keys, expires)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_sums_databases() {
        let i =
            Info::parse("db0:keys=5,expires=1,avg_ttl=0\r\ndb3:keys=2,expires=2\r\ndbx:keys=9\r\n");
        assert_eq!(i.keyspace(), (7, 3));
        assert_eq!(Info::parse("").keyspace(), (0, 0));
        assert_eq!(
            Info::parse("used_memory:12\r\n").get_u64("used_memory"),
            Some(12)
        );
    }
}
