//! INFO across shards: one text in Redis's format, where what adds up adds up (keys,
//! commands processed, memory, hits …) and the rest is shard 0's. The proxy can replace
//! fields it knows better, such as `connected_clients`.

use std::fmt::Write;

use shoal_proto::reply_value::Value;
use shoal_proto::Protocol;

use super::split::header;

/// How to merge INFO replies, plus fields the proxy sets itself.
#[derive(Debug, Default, Clone)]
pub struct InfoMerge {
    overrides: Vec<(String, String)>,
}

impl InfoMerge {
    /// Sets `field` to `value` wherever it appears (e.g. the proxy's `connected_clients`).
    pub fn set(&mut self, field: &str, value: impl ToString) {
        self.overrides.retain(|(f, _)| f != field);
        self.overrides.push((field.to_string(), value.to_string()));
    }

    pub(super) fn merge(&self, values: &[Value<'_>], proto: Protocol) -> Option<Vec<u8>> {
        let texts: Vec<&[u8]> = values.iter().map(Value::as_bytes).collect::<Option<_>>()?;
        let texts: Vec<String> = texts
            .iter()
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect();
        let text = self.merge_texts(&texts);
        let mut out = Vec::with_capacity(text.len() + 16);
        if proto == Protocol::Resp3 {
            header(&mut out, b'=', text.len() as i64 + 4);
            out.extend_from_slice(b"txt:");
        } else {
            header(&mut out, b'$', text.len() as i64);
        }
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\r\n");
        Some(out)
    }

    /// The merged text of the shards' INFO texts (shard 0 first).
    pub fn merge_texts(&self, texts: &[String]) -> String {
        let shards: Vec<Vec<Section<'_>>> = texts.iter().map(|t| parse(t)).collect();
        let mut out = String::new();
        let Some(first) = shards.first() else {
            return out;
        };
        for (n, section) in first.iter().enumerate() {
            if n > 0 {
                out.push_str("\r\n");
            }
            let _ = write!(out, "# {}\r\n", section.title);
            // The same section of every shard (a shard may lack it only if INFO changed
            // under us; it then counts as empty).
            let same: Vec<&[(&str, &str)]> = shards
                .iter()
                .map(|s| {
                    s.iter()
                        .find(|x| x.title == section.title)
                        .map_or(&[][..], |x| &x.fields[..])
                })
                .collect();
            let fields = match section.title.to_ascii_lowercase().as_str() {
                "keyspace" => keyspace(&same),
                "commandstats" | "errorstats" => sub_fields_union(&same),
                "stats" | "clients" | "memory" => summed(&same),
                _ => section
                    .fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            };
            for (k, v) in fields {
                let v = self
                    .overrides
                    .iter()
                    .find(|(f, _)| *f == k)
                    .map_or(v, |(_, o)| o.clone());
                let _ = write!(out, "{k}:{v}\r\n");
            }
        }
        out
    }
}

struct Section<'a> {
    title: &'a str,
    fields: Vec<(&'a str, &'a str)>,
}

fn parse(text: &str) -> Vec<Section<'_>> {
    let mut out: Vec<Section<'_>> = Vec::new();
    for line in text.split("\r\n") {
        if let Some(title) = line.strip_prefix("# ") {
            out.push(Section {
                title,
                fields: Vec::new(),
            });
        } else if let (Some(s), Some((k, v))) = (out.last_mut(), line.split_once(':')) {
            s.fields.push((k, v));
        }
    }
    out
}

/// Fields that describe one server rather than add up across shards.
const NOT_SUMMED: &[&str] = &["maxclients", "total_system_memory"];
/// Fields where the largest shard's figure is the answer.
const MAXED: &[&str] = &[
    "client_recent_max_input_buffer",
    "client_recent_max_output_buffer",
];

/// Integer fields summed (a few maxed), kbps rates summed, `x_human` recomputed
/// from a summed `x`; everything else is shard 0's.
fn summed(shards: &[&[(&str, &str)]]) -> Vec<(String, String)> {
    let first = shards.first().copied().unwrap_or_default();
    let mut out: Vec<(String, String)> = Vec::with_capacity(first.len());
    for &(k, v) in first {
        let all: Vec<&str> = shards.iter().filter_map(|s| value_of(s, k)).collect();
        let merged = if NOT_SUMMED.contains(&k) {
            None
        } else if let Some(ints) = all
            .iter()
            .map(|v| v.parse::<i64>().ok())
            .collect::<Option<Vec<_>>>()
        {
            if MAXED.contains(&k) {
                ints.into_iter().max().map(|n| n.to_string())
            } else {
                Some(
                    ints.iter()
                        .fold(0i64, |a, &n| a.saturating_add(n))
                        .to_string(),
                )
            }
        } else if k.contains("kbps") && is_two_decimals(v) {
            all.iter()
                .map(|v| v.parse::<f64>().ok())
                .sum::<Option<f64>>()
                .map(|f| format!("{f:.2}"))
        } else {
            None
        };
        out.push((k.to_string(), merged.unwrap_or_else(|| v.to_string())));
    }
    // `used_memory_human` follows the summed `used_memory`, and so on.
    for i in 0..out.len() {
        let Some(base) = out[i].0.strip_suffix("_human") else {
            continue;
        };
        if NOT_SUMMED.contains(&base) {
            continue;
        }
        if let Some(n) = out
            .iter()
            .find(|(k, _)| k == base)
            .and_then(|(_, v)| v.parse::<u64>().ok())
        {
            out[i].1 = human_bytes(n);
        }
    }
    out
}

fn value_of<'a>(fields: &[(&str, &'a str)], k: &str) -> Option<&'a str> {
    fields.iter().find(|(f, _)| *f == k).map(|(_, v)| *v)
}

/// `12.34`: how INFO prints rates (ratios and percentages look the same but do not add
/// up, so only `*_kbps` fields are summed).
fn is_two_decimals(v: &str) -> bool {
    match v.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.len() == 2
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Redis's `bytesToHuman`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut scale = 1024f64;
    for unit in UNITS {
        if (n as f64) < scale * 1024.0 || unit == "P" {
            return format!("{:.2}{unit}", n as f64 / scale);
        }
        scale *= 1024.0;
    }
    format!("{n}B")
}

/// `name:a=1,b=2` lines: the union of names (shard 0's order first), each sub-field
/// summed; `usec_per_call` recomputed from the summed `usec` and `calls`.
fn sub_fields_union(shards: &[&[(&str, &str)]]) -> Vec<(String, String)> {
    let mut names: Vec<&str> = Vec::new();
    for s in shards {
        for (k, _) in s.iter() {
            if !names.contains(k) {
                names.push(k);
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let mut subs: Vec<(&str, f64, bool)> = Vec::new();
            for s in shards {
                let Some((_, v)) = s.iter().find(|(k, _)| *k == name) else {
                    continue;
                };
                for kv in v.split(',') {
                    let Some((sk, sv)) = kv.split_once('=') else {
                        continue;
                    };
                    let num = sv.parse::<f64>().unwrap_or(0.0);
                    let is_int = !sv.contains('.');
                    match subs.iter_mut().find(|(k, _, _)| *k == sk) {
                        Some(e) => e.1 += num,
                        None => subs.push((sk, num, is_int)),
                    }
                }
            }
            let get = |k: &str| subs.iter().find(|e| e.0 == k).map_or(0.0, |e| e.1);
            let (usec, calls) = (get("usec"), get("calls"));
            let text: Vec<String> = subs
                .iter()
                .map(|&(k, v, is_int)| {
                    if k == "usec_per_call" {
                        let per = if calls > 0.0 { usec / calls } else { 0.0 };
                        format!("{k}={per:.2}")
                    } else if is_int {
                        format!("{k}={}", v as i64)
                    } else {
                        format!("{k}={v:.2}")
                    }
                })
                .collect();
            (name.to_string(), text.join(","))
        })
        .collect()
}

/// `db0:keys=..,expires=..,avg_ttl=..`: keys and expires summed, the average TTL
/// weighted by each shard's expiring keys; databases in numeric order.
fn keyspace(shards: &[&[(&str, &str)]]) -> Vec<(String, String)> {
    let mut dbs: Vec<(u64, i64, i64, f64)> = Vec::new();
    for s in shards {
        for (k, v) in s.iter() {
            let Some(db) = k.strip_prefix("db").and_then(|d| d.parse::<u64>().ok()) else {
                continue;
            };
            let mut keys: i64 = 0;
            let mut expires: i64 = 0;
            let mut ttl: i64 = 0;
            for kv in v.split(',') {
                match kv.split_once('=') {
                    Some(("keys", n)) => keys = n.parse().unwrap_or(0),
                    Some(("expires", n)) => expires = n.parse().unwrap_or(0),
                    Some(("avg_ttl", n)) => ttl = n.parse().unwrap_or(0),
                    _ => {}
                }
            }
            let weighted = ttl as f64 * expires as f64;
            match dbs.iter_mut().find(|e| e.0 == db) {
                Some(e) => {
                    e.1 = e.1.saturating_add(keys);
                    e.2 = e.2.saturating_add(expires);
                    e.3 += weighted;
                }
                None => dbs.push((db, keys, expires, weighted)),
            }
        }
    }
    dbs.sort_by_key(|e| e.0);
    dbs.into_iter()
        .map(|(db, keys, expires, weighted)| {
            let ttl = if expires > 0 {
                (weighted / expires as f64) as i64
            } else {
                0
            };
            (
                format!("db{db}"),
                format!("keys={keys},expires={expires},avg_ttl={ttl}"),
            )
        })
        .collect()
}

#[cfg(test)]
#[path = "info_merge_tests.rs"]
mod tests;
