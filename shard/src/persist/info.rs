//! INFO persistence, with Redis 7.0's field names and order, plus shoal's writer counters.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use crate::aof::AofStats;
use crate::state::Server;

/// Appends the persistence section's fields to `o`.
pub fn persistence(srv: &Server, o: &mut String) {
    let p = &srv.persist;
    let rw = &p.rewrite;
    let aof = p.aof.as_ref();
    let write_ok = aof.is_none_or(|a| a.stats().last_write_ok.load(Relaxed) && a.writable());
    let fields: [(&str, String); 30] = [
        ("loading", (p.loading.is_some() as u8).to_string()),
        ("async_loading", "0".into()),
        ("current_cow_peak", "0".into()),
        ("current_cow_size", "0".into()),
        ("current_cow_size_age", "0".into()),
        ("current_fork_perc", "0.00".into()),
        ("current_save_keys_processed", "0".into()),
        ("current_save_keys_total", "0".into()),
        ("rdb_changes_since_last_save", srv.dirty.to_string()),
        ("rdb_bgsave_in_progress", "0".into()),
        ("rdb_last_save_time", srv.lastsave.to_string()),
        ("rdb_last_bgsave_status", "ok".into()),
        ("rdb_last_bgsave_time_sec", "-1".into()),
        ("rdb_current_bgsave_time_sec", "-1".into()),
        ("rdb_saves", "0".into()),
        ("rdb_last_cow_size", "0".into()),
        ("rdb_last_load_keys_expired", "0".into()),
        ("rdb_last_load_keys_loaded", "0".into()),
        ("aof_enabled", (aof.is_some() as u8).to_string()),
        (
            "aof_rewrite_in_progress",
            (rw.in_progress() as u8).to_string(),
        ),
        ("aof_rewrite_scheduled", (rw.scheduled as u8).to_string()),
        ("aof_last_rewrite_time_sec", rw.last_time_sec.to_string()),
        (
            "aof_current_rewrite_time_sec",
            rw.current_time_sec().to_string(),
        ),
        ("aof_last_bgrewrite_status", status(rw.last_ok)),
        ("aof_rewrites", rw.rewrites.to_string()),
        (
            "aof_rewrites_consecutive_failures",
            rw.consecutive_failures.to_string(),
        ),
        ("aof_last_write_status", status(write_ok)),
        ("aof_last_cow_size", "0".into()),
        ("module_fork_in_progress", "0".into()),
        ("module_fork_last_cow_size", "0".into()),
    ];
    for (k, v) in fields {
        let _ = write!(o, "{k}:{v}\r\n");
    }
    if let Some(a) = aof {
        let s = a.stats();
        let _ = write!(
            o,
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\n\
             aof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:{}\r\n",
            a.current_size(),
            a.base_size(),
            rw.scheduled as u8,
            a.pending_bytes(),
            s.delayed_fsync.load(Relaxed),
        );
        let _ = write!(
            o,
            "aof_fsyncs:{}\r\naof_write_syscalls:{}\r\naof_written_bytes:{}\r\n\
             aof_batches:{}\r\naof_fsync_latency_usec:{}\r\n\
             aof_fsync_usec_sum:{}\r\naof_fsync_histogram:{}\r\n",
            s.fsyncs.load(Relaxed),
            s.write_syscalls.load(Relaxed),
            s.bytes_written.load(Relaxed),
            s.batches.load(Relaxed),
            latency_summary(s),
            s.fsync_micros.load(Relaxed),
            histogram_counts(s),
        );
    }
    if let Some(l) = &p.loading {
        let perc = if l.total == 0 {
            0.0
        } else {
            l.loaded as f64 * 100.0 / l.total as f64
        };
        let secs = l.started.elapsed().as_secs_f64();
        let eta = if l.loaded == 0 {
            1
        } else {
            ((l.total.saturating_sub(l.loaded)) as f64 * secs / l.loaded as f64) as u64
        };
        let _ = write!(
            o,
            "loading_start_time:{}\r\nloading_total_bytes:{}\r\nloading_rdb_used_mem:0\r\n\
             loading_loaded_bytes:{}\r\nloading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n",
            l.start_unix, l.total, l.loaded
        );
    }
}

fn status(ok: bool) -> String {
    if ok { "ok" } else { "err" }.into()
}

/// The raw fsync histogram for the agent's `/metrics`: the count of each power-of-two
/// bucket (`2^i` µs upper bound, the last one unbounded), comma-separated.
fn histogram_counts(s: &AofStats) -> String {
    let counts: Vec<String> = s.fsync_histogram().iter().map(u64::to_string).collect();
    counts.join(",")
}

/// `count=N,avg=A,p50=X,p99=Y,max=Z` from the power-of-two histogram (bucket upper
/// bounds, so percentiles are upper estimates).
fn latency_summary(s: &AofStats) -> String {
    let hist = s.fsync_histogram();
    let count: u64 = hist.iter().sum();
    if count == 0 {
        return "count=0".into();
    }
    let avg = s.fsync_micros.load(Relaxed) / count;
    let at = |q: f64| {
        let want = ((count as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (i, n) in hist.iter().enumerate() {
            seen += n;
            if seen >= want.max(1) {
                return AofStats::bucket_upper_micros(i).unwrap_or(u64::MAX);
            }
        }
        u64::MAX
    };
    let max = hist
        .iter()
        .rposition(|&n| n > 0)
        .and_then(AofStats::bucket_upper_micros)
        .unwrap_or(u64::MAX);
    format!(
        "count={count},avg={avg},p50={},p99={},max={max}",
        at(0.5),
        at(0.99)
    )
}
