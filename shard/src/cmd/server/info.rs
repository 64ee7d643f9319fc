//! INFO [section ...]: Redis's sections and field names, so dashboards, clients and the
//! test suite that parse them keep working. Fields for machinery shoal does not have
//! (replicas, forks, modules) report what an idle Redis would.

use std::collections::HashSet;
use std::fmt::Write;

use bytes::Bytes;

use crate::cmd::{CmdResult, Ctx};
use crate::state::{self, Server};

/// The sections INFO with no argument (or `default`) shows, in Redis's order.
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// INFO [section [section ...]]
pub fn info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let text = render(ctx.srv, &argv[1..]);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// Which sections a request asked for.
struct Wanted {
    names: HashSet<String>,
    all: bool,
}

impl Wanted {
    fn parse(args: &[Bytes]) -> Wanted {
        let mut names = HashSet::new();
        let mut all = false;
        if args.is_empty() {
            names.extend(DEFAULT.iter().map(|s| s.to_string()));
        }
        for a in args {
            let s = String::from_utf8_lossy(a).to_ascii_lowercase();
            match s.as_str() {
                "default" => names.extend(DEFAULT.iter().map(|s| s.to_string())),
                "all" | "everything" => all = true,
                _ => {
                    names.insert(s);
                }
            }
        }
        Wanted { names, all }
    }

    fn has(&self, section: &str) -> bool {
        self.all || self.names.contains(section)
    }
}

/// Writes one section's fields.
type Section = fn(&Server, &mut String);

/// The whole INFO text for the given section arguments.
pub fn render(srv: &Server, args: &[Bytes]) -> String {
    let want = Wanted::parse(args);
    let mut out = String::with_capacity(4096);
    let sections: &[(&str, &str, Section)] = &[
        ("server", "Server", server),
        ("clients", "Clients", clients),
        ("memory", "Memory", memory),
        ("persistence", "Persistence", persistence),
        ("stats", "Stats", stats),
        ("replication", "Replication", replication),
        ("cpu", "CPU", cpu),
        ("module_list", "Modules", |_, _| {}),
        ("commandstats", "Commandstats", commandstats),
        ("errorstats", "Errorstats", errorstats),
        ("latencystats", "Latencystats", latencystats),
        ("cluster", "Cluster", |srv, o| {
            let on = u8::from(srv.config.cluster.is_some());
            o.push_str(&format!("cluster_enabled:{on}\r\n"))
        }),
        ("keyspace", "Keyspace", keyspace),
    ];
    for (key, title, body) in sections {
        // "modules" is accepted as another name for the module list.
        let asked = want.has(key) || (*key == "module_list" && want.names.contains("modules"));
        // Commandstats and latencystats are only in "all"/"everything", not the default.
        if !asked {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n");
        body(srv, &mut out);
    }
    out
}

macro_rules! fields {
    ($out:expr, $($name:literal => $val:expr),* $(,)?) => {
        $( let _ = write!($out, concat!($name, ":{}\r\n"), $val); )*
    };
}

fn server(srv: &Server, o: &mut String) {
    let uptime = srv.started.elapsed().as_secs();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    fields!(o,
        "redis_version" => crate::REDIS_VERSION,
        "redis_git_sha1" => "00000000",
        "redis_git_dirty" => 0,
        "redis_build_id" => concat!("shoal-", env!("CARGO_PKG_VERSION")),
        "redis_mode" => "standalone",
        "os" => os_string(),
        "arch_bits" => usize::BITS,
        "monotonic_clock" => "POSIX clock_gettime",
        "multiplexing_api" => "epoll",
        "atomicvar_api" => "c11-builtin",
        "gcc_version" => "0.0.0",
        "process_id" => std::process::id(),
        "process_supervised" => "no",
        "run_id" => srv.run_id,
        "tcp_port" => srv.config.port,
        "server_time_usec" => state::now_us(),
        "uptime_in_seconds" => uptime,
        "uptime_in_days" => uptime / 86400,
        "hz" => srv.config.hz,
        "configured_hz" => srv.config.hz,
        "lru_clock" => srv.db.lru_clock,
        "executable" => exe,
        "config_file" => "",
        "io_threads_active" => 0,
    );
}

fn os_string() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "{} {} {}",
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    )
}

fn clients(srv: &Server, o: &mut String) {
    fields!(o,
        "connected_clients" => srv.clients.len(),
        "cluster_connections" => 0,
        "maxclients" => srv.config.maxclients,
        "client_recent_max_input_buffer" => 0,
        "client_recent_max_output_buffer" => 0,
        "blocked_clients" => srv.blocking.blocked_clients() as u64,
        "tracking_clients" => 0,
        "clients_in_timeout_table" => srv.blocking.blocked_clients() as u64,
    );
}

/// Redis's `bytesToHuman`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(u32, &str); 5] = [(1, "K"), (2, "M"), (3, "G"), (4, "T"), (5, "P")];
    if n < 1024 {
        return format!("{n}B");
    }
    for (pow, unit) in UNITS {
        if (n as u128) < 1024u128.pow(pow + 1) {
            return format!("{:.2}{unit}", n as f64 / 1024f64.powi(pow as i32));
        }
    }
    format!("{n}B")
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn memory(srv: &Server, o: &mut String) {
    let m = state::memory_stats();
    let peak = srv.stats.peak_memory.max(m.allocated);
    let rss = m.rss;
    let dataset = m.allocated.saturating_sub(srv.startup_memory);
    let system = state::total_system_memory();
    fields!(o,
        "used_memory" => m.allocated,
        "used_memory_human" => human_bytes(m.allocated),
        "used_memory_rss" => rss,
        "used_memory_rss_human" => human_bytes(rss),
        "used_memory_peak" => peak,
        "used_memory_peak_human" => human_bytes(peak),
        "used_memory_peak_perc" => format!("{:.2}%", ratio(m.allocated, peak) * 100.0),
        "used_memory_overhead" => srv.startup_memory,
        "used_memory_startup" => srv.startup_memory,
        "used_memory_dataset" => dataset,
        "used_memory_dataset_perc" => format!("{:.2}%", ratio(dataset, m.allocated) * 100.0),
        "allocator_allocated" => m.allocated,
        "allocator_active" => m.active,
        "allocator_resident" => m.resident,
        "total_system_memory" => system,
        "total_system_memory_human" => human_bytes(system),
        "used_memory_lua" => 31744,
        "used_memory_vm_eval" => 31744,
        "used_memory_lua_human" => "31.00K",
        "used_memory_scripts_eval" => 0,
        "number_of_cached_scripts" => 0,
        "number_of_functions" => 0,
        "number_of_libraries" => 0,
        "used_memory_vm_functions" => 32768,
        "used_memory_vm_total" => 64512,
        "used_memory_vm_total_human" => "63.00K",
        "used_memory_functions" => 184,
        "used_memory_scripts" => 184,
        "used_memory_scripts_human" => "184B",
        "maxmemory" => srv.config.maxmemory,
        "maxmemory_human" => human_bytes(srv.config.maxmemory),
        "maxmemory_policy" => srv.config.policy().name(),
        "allocator_frag_ratio" => format!("{:.2}", ratio(m.active, m.allocated)),
        "allocator_frag_bytes" => m.active.saturating_sub(m.allocated),
        "allocator_rss_ratio" => format!("{:.2}", ratio(m.resident, m.active)),
        "allocator_rss_bytes" => m.resident as i64 - m.active as i64,
        "rss_overhead_ratio" => format!("{:.2}", ratio(rss, m.resident)),
        "rss_overhead_bytes" => rss as i64 - m.resident as i64,
        "mem_fragmentation_ratio" => format!("{:.2}", ratio(rss, m.allocated)),
        "mem_fragmentation_bytes" => rss as i64 - m.allocated as i64,
        "mem_not_counted_for_evict" => 0,
        "mem_replication_backlog" => 0,
        "mem_total_replication_buffers" => 0,
        "mem_clients_slaves" => 0,
        "mem_clients_normal" => 0,
        "mem_cluster_links" => 0,
        "mem_aof_buffer" => 0,
        "mem_allocator" => "jemalloc-5.3.0",
        "active_defrag_running" => 0,
        "lazyfree_pending_objects" => 0,
        "lazyfreed_objects" => 0,
    );
}

fn persistence(srv: &Server, o: &mut String) {
    crate::persist::info::persistence(srv, o);
}

fn stats(srv: &Server, o: &mut String) {
    let s = &srv.stats;
    let k = &srv.db.stats;
    fields!(o,
        "total_connections_received" => s.total_connections_received,
        "total_commands_processed" => s.total_commands_processed,
        "instantaneous_ops_per_sec" => s.ops_rate.per_sec(),
        "total_net_input_bytes" => s.total_net_input_bytes,
        "total_net_output_bytes" => s.total_net_output_bytes,
        "total_net_repl_input_bytes" => 0,
        "total_net_repl_output_bytes" => 0,
        "instantaneous_input_kbps" => format!("{:.2}", s.input_rate.per_sec() as f64 / 1024.0),
        "instantaneous_output_kbps" => format!("{:.2}", s.output_rate.per_sec() as f64 / 1024.0),
        "instantaneous_input_repl_kbps" => "0.00",
        "instantaneous_output_repl_kbps" => "0.00",
        "rejected_connections" => s.rejected_connections,
        "sync_full" => 0,
        "sync_partial_ok" => 0,
        "sync_partial_err" => 0,
        "expired_keys" => k.expired_keys,
        "expired_stale_perc" => "0.00",
        "expired_time_cap_reached_count" => 0,
        "expire_cycle_cpu_milliseconds" => 0,
        "evicted_keys" => s.evicted_keys,
        "evicted_clients" => 0,
        "total_eviction_exceeded_time" => 0,
        "current_eviction_exceeded_time" => 0,
        "keyspace_hits" => k.keyspace_hits,
        "keyspace_misses" => k.keyspace_misses,
        "pubsub_channels" => 0,
        "pubsub_patterns" => 0,
        "pubsubshard_channels" => 0,
        "latest_fork_usec" => 0,
        "total_forks" => 0,
        "migrate_cached_sockets" => 0,
        "slave_expires_tracked_keys" => 0,
        "active_defrag_hits" => 0,
        "active_defrag_misses" => 0,
        "active_defrag_key_hits" => 0,
        "active_defrag_key_misses" => 0,
        "total_active_defrag_time" => 0,
        "current_active_defrag_time" => 0,
        "tracking_total_keys" => 0,
        "tracking_total_items" => 0,
        "tracking_total_prefixes" => 0,
        "unexpected_error_replies" => 0,
        "total_error_replies" => s.total_error_replies,
        "dump_payload_sanitizations" => 0,
        "total_reads_processed" => s.total_reads_processed,
        "total_writes_processed" => s.total_writes_processed,
        "io_threaded_reads_processed" => 0,
        "io_threaded_writes_processed" => 0,
        "reply_buffer_shrinks" => 0,
        "reply_buffer_expands" => 0,
    );
}

fn replication(srv: &Server, o: &mut String) {
    fields!(o,
        "role" => "master",
        "connected_slaves" => 0,
        "master_failover_state" => "no-failover",
        "master_replid" => srv.replid,
        "master_replid2" => "0000000000000000000000000000000000000000",
        "master_repl_offset" => 0,
        "second_repl_offset" => -1,
        "repl_backlog_active" => 0,
        "repl_backlog_size" => 1048576,
        "repl_backlog_first_byte_offset" => 0,
        "repl_backlog_histlen" => 0,
    );
}

fn cpu(_srv: &Server, o: &mut String) {
    use nix::sys::resource::{getrusage, UsageWho};
    let tv = |t: nix::sys::time::TimeVal| format!("{}.{:06}", t.tv_sec(), t.tv_usec());
    for (who, suffix) in [
        (UsageWho::RUSAGE_SELF, ""),
        (UsageWho::RUSAGE_CHILDREN, "_children"),
        (UsageWho::RUSAGE_THREAD, "_main_thread"),
    ] {
        if let Ok(u) = getrusage(who) {
            let _ = write!(o, "used_cpu_sys{suffix}:{}\r\n", tv(u.system_time()));
            let _ = write!(o, "used_cpu_user{suffix}:{}\r\n", tv(u.user_time()));
        }
    }
}

fn commandstats(srv: &Server, o: &mut String) {
    let mut names: Vec<_> = srv.stats.commands.iter().collect();
    names.sort_by_key(|(n, _)| *n);
    for (name, c) in names {
        if c.calls == 0 && c.failed_calls == 0 && c.rejected_calls == 0 {
            continue;
        }
        let per_call = if c.calls == 0 {
            0.0
        } else {
            c.usec as f64 / c.calls as f64
        };
        let _ = write!(
            o,
            "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
            safe(name),
            c.calls,
            c.usec,
            per_call,
            c.rejected_calls,
            c.failed_calls
        );
    }
}

fn latencystats(srv: &Server, o: &mut String) {
    if !srv.config.latency_tracking {
        return;
    }
    let pcts: Vec<String> = srv
        .config
        .get("latency-tracking-info-percentiles")
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    let mut names: Vec<_> = srv.stats.commands.iter().collect();
    names.sort_by_key(|(n, _)| *n);
    for (name, c) in names {
        let Some(h) = c.latency.as_ref().filter(|h| h.total() > 0) else {
            continue;
        };
        let parts: Vec<String> = pcts
            .iter()
            .map(|p| {
                let pct = p.parse::<f64>().unwrap_or(0.0);
                format!("p{p}={:.3}", h.percentile(pct) as f64 / 1000.0)
            })
            .collect();
        let _ = write!(
            o,
            "latency_percentiles_usec_{}:{}\r\n",
            safe(name),
            parts.join(",")
        );
    }
}

fn errorstats(srv: &Server, o: &mut String) {
    for (code, count) in &srv.stats.errors {
        let _ = write!(o, "errorstat_{}:count={count}\r\n", safe(code));
    }
}

fn keyspace(srv: &Server, o: &mut String) {
    let keys = srv.db.len();
    let expires = srv.db.expires_len();
    if keys > 0 || expires > 0 {
        let _ = write!(o, "db0:keys={keys},expires={expires},avg_ttl=0\r\n");
    }
}

/// Replaces the characters that would break INFO's `name:value` lines, as Redis does.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '#' | ':' | '\n' | '\r') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ShardConfig;

    fn sections(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# "))
            .map(str::to_string)
            .collect()
    }

    fn args(s: &[&str]) -> Vec<Bytes> {
        s.iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn section_selection() {
        let mut srv = Server::new(ShardConfig::default());
        srv.stats.record_call("get", 1500, false, true);
        srv.stats.record_call("get", 2500, false, true);
        let default = render(&srv, &[]);
        assert_eq!(
            sections(&default),
            [
                "Server",
                "Clients",
                "Memory",
                "Persistence",
                "Stats",
                "Replication",
                "CPU",
                "Modules",
                "Errorstats",
                "Cluster",
                "Keyspace"
            ]
        );
        assert!(!default.contains("cmdstat_get"));
        assert!(default.starts_with("# Server\r\nredis_version:7.0.15\r\n"));
        let all = render(&srv, &args(&["all"]));
        assert!(all.contains(
            "\r\ncmdstat_get:calls=2,usec=3,usec_per_call=1.50,rejected_calls=0,failed_calls=0\r\n"
        ));
        assert!(
            all.contains("\r\nlatency_percentiles_usec_get:p50=1.503,p99=2.559,p99.9=2.559\r\n"),
            "{all}"
        );
        assert_eq!(sections(&render(&srv, &args(&["CPU", "cpu"]))), ["CPU"]);
        assert!(render(&srv, &args(&["nosuchsection"])).is_empty());
        // Sections are separated by one blank line, every line ends in CRLF.
        let two = render(&srv, &args(&["cluster", "keyspace"]));
        assert_eq!(two, "# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\n");
    }

    #[test]
    fn error_codes_and_keyspace() {
        let mut srv = Server::new(ShardConfig::default());
        srv.stats.count_error("ERR syntax error");
        srv.stats.count_error("WRONGTYPE Operation against a key");
        srv.stats.count_error("ERR x");
        srv.stats
            .count_error("NOSPACEINTHISVERYLONGERRORCODEXXXXXX y");
        let e = render(&srv, &args(&["errorstats"]));
        assert_eq!(
            e,
            "# Errorstats\r\nerrorstat_ERR:count=3\r\nerrorstat_WRONGTYPE:count=1\r\n"
        );
        srv.db.set(b"k", crate::db::Value::str(b"v"), false);
        srv.db.set_expire(b"k", i64::MAX);
        assert!(render(&srv, &args(&["keyspace"])).contains("db0:keys=1,expires=1,avg_ttl=0\r\n"));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(1023), "1023B");
        assert_eq!(human_bytes(1024), "1.00K");
        assert_eq!(human_bytes(1536 * 1024), "1.50M");
        assert_eq!(human_bytes(1 << 30), "1.00G");
    }
}
