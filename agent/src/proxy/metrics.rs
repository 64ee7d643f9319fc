//! The proxy's series: `shoal_proxy_connected_clients`,
//! `shoal_proxy_rejected_clients_total{reason}`, and per command
//! `shoal_proxy_commands_total` and `shoal_proxy_command_duration_seconds`. Labels are the
//! database and the command's name from the command table (never a key, never a client's
//! string: an unknown command counts as `unknown`).
//!
//! Command figures are counted per proxy thread under a mutex only that thread takes
//! (once per batch), and merged when /metrics is scraped: a shared Prometheus atomic per
//! command would be a contended cache line on every request.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{IntCounterVec, IntGauge};

use super::Shared;

/// Upper bounds, in seconds, of the latency histogram's buckets.
const BUCKETS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
];

pub struct DbMetrics {
    pub connected: IntGauge,
    rejected: IntCounterVec,
    name: String,
}

impl DbMetrics {
    pub fn new(m: &crate::metrics::Metrics, database: &str) -> DbMetrics {
        DbMetrics {
            connected: m.proxy_clients.with_label_values(&[database]),
            rejected: m.proxy_rejected.clone(),
            name: database.to_string(),
        }
    }

    pub fn rejected(&self, reason: &str) {
        self.rejected.with_label_values(&[&self.name, reason]).inc();
    }
}

#[derive(Clone)]
struct Entry {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            count: 0,
            sum: 0.0,
            buckets: [0; BUCKETS.len()],
        }
    }
}

/// One proxy thread's command counts: (database index, command) → figures.
#[derive(Default)]
pub struct ThreadStats {
    by_cmd: Mutex<HashMap<(usize, &'static str), Entry>>,
}

impl ThreadStats {
    /// One set per thread, rendered together on every scrape.
    pub fn register(
        m: &crate::metrics::Metrics,
        shared: &Arc<Shared>,
        threads: usize,
    ) -> Vec<Arc<ThreadStats>> {
        let all: Vec<Arc<ThreadStats>> = (0..threads).map(|_| Arc::default()).collect();
        let names: Vec<String> = shared.dbs.iter().map(|d| d.name.clone()).collect();
        let for_render = all.clone();
        m.add_text_source(Box::new(move |out: &mut String| {
            render(&for_render, &names, out)
        }));
        all
    }

    /// Records one batch: every command in it took `took` (read to reply written).
    pub fn record(&self, db: usize, cmds: &[&'static str], took: Duration) {
        if cmds.is_empty() {
            return;
        }
        let secs = took.as_secs_f64();
        let bucket = BUCKETS.iter().position(|&b| secs <= b);
        let mut m = match self.by_cmd.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        for &c in cmds {
            let e = m.entry((db, c)).or_default();
            e.count += 1;
            e.sum += secs;
            if let Some(b) = bucket {
                e.buckets[b] += 1;
            }
        }
    }
}

fn render(threads: &[Arc<ThreadStats>], dbs: &[String], out: &mut String) {
    let mut merged: BTreeMap<(usize, &'static str), Entry> = BTreeMap::new();
    for t in threads {
        let m = match t.by_cmd.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        for (k, e) in m.iter() {
            let acc = merged.entry(*k).or_default();
            acc.count += e.count;
            acc.sum += e.sum;
            for (a, b) in acc.buckets.iter_mut().zip(e.buckets) {
                *a += b;
            }
        }
    }
    let db = |i: usize| dbs.get(i).map(String::as_str).unwrap_or("");
    out.push_str("# HELP shoal_proxy_commands_total Commands served through the proxy.\n");
    out.push_str("# TYPE shoal_proxy_commands_total counter\n");
    for ((d, c), e) in &merged {
        let _ = writeln!(
            out,
            "shoal_proxy_commands_total{{database=\"{}\",command=\"{c}\"}} {}",
            db(*d),
            e.count
        );
    }
    out.push_str("# HELP shoal_proxy_command_duration_seconds Time from reading a command to writing its reply, at the proxy.\n");
    out.push_str("# TYPE shoal_proxy_command_duration_seconds histogram\n");
    for ((d, c), e) in &merged {
        let labels = format!("database=\"{}\",command=\"{c}\"", db(*d));
        let mut cum = 0;
        for (le, n) in BUCKETS.iter().zip(e.buckets) {
            cum += n;
            let _ = writeln!(
                out,
                "shoal_proxy_command_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cum}"
            );
        }
        let _ = writeln!(
            out,
            "shoal_proxy_command_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            e.count
        );
        let _ = writeln!(out, "shoal_proxy_command_duration_seconds_sum{{{labels}}} {}", e.sum);
        let _ = writeln!(out, "shoal_proxy_command_duration_seconds_count{{{labels}}} {}", e.count);
    }
}
