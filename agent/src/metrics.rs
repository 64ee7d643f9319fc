//! Prometheus metrics. Names start with `shoal_`; the only labels are `database` and
//! `shard`, never anything a client chooses, so the series count is bounded by the
//! number of shards.
//!
//! Per-shard figures other than restarts and `up` come from each shard's `INFO`, scraped
//! over its Unix socket; counters there are mirrored here (a shard restart resets them,
//! which Prometheus reads as a counter reset, as it should).

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::info::Info;

const LABELS: &[&str] = &["database", "shard"];

pub struct Metrics {
    registry: Registry,
    pub restarts: IntCounterVec,
    pub up: IntGaugeVec,
    pub ready: IntGauge,
    connected_clients: IntGaugeVec,
    keys: IntGaugeVec,
    expires: IntGaugeVec,
    memory: IntGaugeVec,
    commands: IntCounterVec,
    /// `INFO` fields mirrored as counters, when the shard reports them.
    info_counters: Vec<(&'static str, IntCounterVec)>,
    /// `INFO` fields mirrored as gauges, when the shard reports them.
    info_gauges: Vec<(&'static str, IntGaugeVec)>,
    /// Clients connected to the proxy, by database.
    pub proxy_clients: IntGaugeVec,
    /// Connections the proxy refused, by database and reason.
    pub proxy_rejected: IntCounterVec,
    /// Series rendered by their owners at scrape time (the proxy's per-thread counts).
    text_sources: std::sync::Mutex<Vec<TextSource>>,
    /// Each shard's AOF fsync histogram as last scraped, by (database, shard).
    fsync: std::sync::Mutex<std::collections::BTreeMap<(String, String), FsyncHistogram>>,
}

/// A shard's fsync latency histogram as its INFO reports it (`aof_fsync_histogram`:
/// counts of power-of-two microsecond buckets, `aof_fsync_usec_sum`). The shard keeps
/// the buckets, so the agent mirrors them rather than observing anything itself.
#[derive(Debug, Clone, Default, PartialEq)]
struct FsyncHistogram {
    counts: Vec<u64>,
    sum_micros: u64,
}

/// The shard's bucket `i` counts syncs under `2^i` µs. The exported `le` bounds are the
/// buckets from 64 µs (below that a sync only reached the page cache) to 2^24 µs, about
/// 16.8 s; slower ones fall in `+Inf`.
const FSYNC_LE_BUCKETS: std::ops::RangeInclusive<usize> = 6..=24;

impl FsyncHistogram {
    fn parse(info: &Info) -> Option<FsyncHistogram> {
        let counts = info
            .get("aof_fsync_histogram")?
            .split(',')
            .map(|n| n.parse().ok())
            .collect::<Option<Vec<u64>>>()?;
        Some(FsyncHistogram {
            counts,
            sum_micros: info.get_u64("aof_fsync_usec_sum")?,
        })
    }

    fn render(&self, labels: &str, out: &mut String) {
        use std::fmt::Write;
        let mut cum = 0u64;
        let mut at = 0usize;
        for i in FSYNC_LE_BUCKETS {
            while at <= i && at < self.counts.len() {
                cum = cum.saturating_add(self.counts[at]);
                at += 1;
            }
            let le = (1u64 << i) as f64 / 1e6;
            let _ = writeln!(
                out,
                "shoal_aof_fsync_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cum}"
            );
        }
        let total: u64 = self.counts.iter().sum();
        let _ = writeln!(
            out,
            "shoal_aof_fsync_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {total}"
        );
        let _ = writeln!(
            out,
            "shoal_aof_fsync_duration_seconds_sum{{{labels}}} {}",
            self.sum_micros as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "shoal_aof_fsync_duration_seconds_count{{{labels}}} {total}"
        );
    }
}

/// Appends Prometheus text for series kept outside the registry.
pub type TextSource = Box<dyn Fn(&mut String) + Send + Sync>;

/// INFO field → (metric, help): the AOF counters of `INFO persistence` and the stats a
/// dashboard needs. A field the shard does not report simply has no series.
const AOF_COUNTERS: &[(&str, &str, &str)] = &[
    (
        "aof_fsyncs",
        "shoal_aof_fsyncs_total",
        "fdatasync calls on the AOF.",
    ),
    (
        "aof_write_syscalls",
        "shoal_aof_write_syscalls_total",
        "write calls on the AOF.",
    ),
    (
        "aof_bytes_written",
        "shoal_aof_written_bytes_total",
        "Bytes written to the AOF.",
    ),
    (
        "aof_delayed_fsync",
        "shoal_aof_delayed_fsync_total",
        "Writes that waited over 2 s for an fsync in flight.",
    ),
    (
        "aof_rewrites",
        "shoal_aof_rewrites_total",
        "AOF rewrites completed.",
    ),
];

const INFO_GAUGES: &[(&str, &str, &str)] = &[
    (
        "loading",
        "shoal_loading",
        "1 while the shard loads its AOF.",
    ),
    (
        "aof_rewrite_in_progress",
        "shoal_aof_rewrite_in_progress",
        "1 while an AOF rewrite runs.",
    ),
    ("aof_enabled", "shoal_aof_enabled", "1 when the AOF is on."),
];

fn gauge_vec(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), LABELS)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter_vec(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), LABELS)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    pub fn new() -> prometheus::Result<Metrics> {
        let r = Registry::new();
        let ready = IntGauge::new("shoal_ready", "1 when every shard answers PING.")?;
        r.register(Box::new(ready.clone()))?;
        Ok(Metrics {
            restarts: counter_vec(&r, "shoal_shard_restarts_total", "Shard restarts.")?,
            up: gauge_vec(&r, "shoal_shard_up", "1 when the shard answers PING.")?,
            ready,
            connected_clients: gauge_vec(&r, "shoal_connected_clients", "Clients connected.")?,
            keys: gauge_vec(&r, "shoal_keys", "Keys in the shard.")?,
            expires: gauge_vec(&r, "shoal_expires", "Keys with a TTL in the shard.")?,
            memory: gauge_vec(&r, "shoal_memory_used_bytes", "Memory used by the shard.")?,
            commands: counter_vec(
                &r,
                "shoal_commands_processed_total",
                "Commands processed by the shard.",
            )?,
            info_counters: AOF_COUNTERS
                .iter()
                .map(|(field, name, help)| Ok((*field, counter_vec(&r, name, help)?)))
                .collect::<prometheus::Result<_>>()?,
            info_gauges: INFO_GAUGES
                .iter()
                .map(|(field, name, help)| Ok((*field, gauge_vec(&r, name, help)?)))
                .collect::<prometheus::Result<_>>()?,
            proxy_clients: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "shoal_proxy_connected_clients",
                        "Clients connected to the proxy.",
                    ),
                    &["database"],
                )?;
                r.register(Box::new(g.clone()))?;
                g
            },
            proxy_rejected: {
                let c = IntCounterVec::new(
                    Opts::new(
                        "shoal_proxy_rejected_clients_total",
                        "Client connections the proxy refused.",
                    ),
                    &["database", "reason"],
                )?;
                r.register(Box::new(c.clone()))?;
                c
            },
            text_sources: std::sync::Mutex::new(Vec::new()),
            fsync: std::sync::Mutex::new(Default::default()),
            registry: r,
        })
    }

    /// Creates the always-present series of a shard so it shows up (at 0) before its
    /// first restart or scrape.
    pub fn register_shard(&self, database: &str, shard: &str) {
        self.restarts.with_label_values(&[database, shard]);
        self.up.with_label_values(&[database, shard]).set(0);
    }

    pub fn record_info(&self, database: &str, shard: &str, info: &Info) {
        let l = [database, shard];
        let set = |g: &IntGaugeVec, v: Option<u64>| {
            if let Some(v) = v {
                g.with_label_values(&l)
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            }
        };
        set(&self.connected_clients, info.get_u64("connected_clients"));
        set(&self.memory, info.get_u64("used_memory"));
        let (keys, expires) = info.keyspace();
        set(&self.keys, Some(keys));
        set(&self.expires, Some(expires));
        if let Some(v) = info.get_u64("total_commands_processed") {
            mirror(&self.commands.with_label_values(&l), v);
        }
        for (field, c) in &self.info_counters {
            if let Some(v) = info.get_u64(field) {
                mirror(&c.with_label_values(&l), v);
            }
        }
        for (field, g) in &self.info_gauges {
            set(g, info.get_u64(field));
        }
        if let Some(h) = FsyncHistogram::parse(info) {
            let mut map = match self.fsync.lock() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            map.insert((database.to_string(), shard.to_string()), h);
        }
    }

    pub fn add_text_source(&self, f: TextSource) {
        match self.text_sources.lock() {
            Ok(mut v) => v.push(f),
            Err(p) => p.into_inner().push(f),
        }
    }

    pub fn render(&self) -> String {
        let mut text = TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding failed: {e}\n"));
        let sources = match self.text_sources.lock() {
            Ok(v) => v,
            Err(p) => p.into_inner(),
        };
        for f in sources.iter() {
            f(&mut text);
        }
        let fsync = match self.fsync.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if !fsync.is_empty() {
            text.push_str(
                "# HELP shoal_aof_fsync_duration_seconds Time of each fdatasync on the AOF.\n\
                 # TYPE shoal_aof_fsync_duration_seconds histogram\n",
            );
            for ((database, shard), h) in fsync.iter() {
                h.render(
                    &format!("database=\"{database}\",shard=\"{shard}\""),
                    &mut text,
                );
            }
        }
        text
    }
}

/// Sets a counter to a value read elsewhere. A lower value means the shard restarted.
fn mirror(c: &IntCounter, v: u64) {
    let cur = c.get();
    if v < cur {
        c.reset();
        c.inc_by(v);
    } else {
        c.inc_by(v - cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_becomes_labelled_series() {
        let m = Metrics::new().unwrap();
        m.register_shard("db", "0");
        let info = Info::parse(
            "# Clients\r\nconnected_clients:3\r\n# Memory\r\nused_memory:1024\r\n\
             # Stats\r\ntotal_commands_processed:10\r\n# Persistence\r\naof_fsyncs:7\r\n\
             # Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=0\r\n",
        );
        m.record_info("db", "0", &info);
        let text = m.render();
        assert!(
            text.contains("shoal_connected_clients{database=\"db\",shard=\"0\"} 3"),
            "{text}"
        );
        assert!(text.contains("shoal_keys{database=\"db\",shard=\"0\"} 5"));
        assert!(text.contains("shoal_aof_fsyncs_total{database=\"db\",shard=\"0\"} 7"));
        assert!(text.contains("shoal_shard_restarts_total{database=\"db\",shard=\"0\"} 0"));
        // A restarted shard's counter starts again from its own value.
        assert!(
            !text.contains("shoal_aof_fsync_duration_seconds"),
            "no histogram yet"
        );
        let hist: Vec<String> = (0..26)
            .map(|i| match i {
                3 => "5",
                12 => "2",
                23 => "1",
                25 => "1",
                _ => "0",
            })
            .map(String::from)
            .collect();
        let info = Info::parse(&format!(
            "aof_fsync_histogram:{}\r\naof_fsync_usec_sum:9000000\r\n",
            hist.join(",")
        ));
        m.record_info("db", "0", &info);
        let text = m.render();
        let l = "database=\"db\",shard=\"0\"";
        for want in [
            format!("shoal_aof_fsync_duration_seconds_bucket{{{l},le=\"0.000064\"}} 5"),
            format!("shoal_aof_fsync_duration_seconds_bucket{{{l},le=\"0.004096\"}} 7"),
            format!("shoal_aof_fsync_duration_seconds_bucket{{{l},le=\"4.194304\"}} 7"),
            format!("shoal_aof_fsync_duration_seconds_bucket{{{l},le=\"8.388608\"}} 8"),
            format!("shoal_aof_fsync_duration_seconds_bucket{{{l},le=\"16.777216\"}} 8"),
            format!("shoal_aof_fsync_duration_seconds_bucket{{{l},le=\"+Inf\"}} 9"),
            format!("shoal_aof_fsync_duration_seconds_sum{{{l}}} 9"),
            format!("shoal_aof_fsync_duration_seconds_count{{{l}}} 9"),
        ] {
            assert!(text.contains(&want), "{want} in\n{text}");
        }
        let info = Info::parse("total_commands_processed:4\r\n");
        m.record_info("db", "0", &info);
        assert!(m
            .render()
            .contains("shoal_commands_processed_total{database=\"db\",shard=\"0\"} 4"));
    }
}
