//! The latency monitor (LATENCY LATEST / HISTORY / RESET / DOCTOR / GRAPH) and LATENCY
//! HISTOGRAM over the per-command histograms INFO LATENCYSTATS also reads.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use crate::cmd::{CmdError, CmdResult, Ctx};
use crate::state::histogram::Histogram;

/// Samples kept per event, one per second at most, as Redis keeps them.
const SERIES_LEN: usize = 160;

#[derive(Debug, Default)]
pub struct Series {
    /// (unix seconds, milliseconds), oldest first.
    samples: VecDeque<(i64, u64)>,
    max: u64,
}

/// Latency spikes by event class (`command`, `fast-command`, `expire-cycle` …).
#[derive(Debug, Default)]
pub struct Monitor {
    events: BTreeMap<String, Series>,
}

impl Monitor {
    /// Records a spike of `ms` for `event` when `latency-monitor-threshold` (`threshold`,
    /// 0 = off) is reached. Within one second only the worst spike is kept.
    pub fn add_if_needed(&mut self, threshold: u64, event: &str, ms: u64) {
        if threshold == 0 || ms < threshold {
            return;
        }
        let now = crate::state::now_ms() / 1000;
        let s = self.events.entry(event.to_string()).or_default();
        s.max = s.max.max(ms);
        match s.samples.back_mut() {
            Some((t, l)) if *t == now => *l = (*l).max(ms),
            _ => {
                if s.samples.len() == SERIES_LEN {
                    s.samples.pop_front();
                }
                s.samples.push_back((now, ms));
            }
        }
    }
}

fn no_samples(event: &[u8]) -> CmdError {
    CmdError::Owned(format!(
        "ERR No samples available for event '{}'",
        String::from_utf8_lossy(event)
    ))
}

/// LATENCY LATEST
pub fn latest(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let events = &ctx.srv.latency.events;
    ctx.out.array(events.len());
    for (name, s) in events {
        let (t, l) = s.samples.back().copied().unwrap_or((0, 0));
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(t);
        ctx.out.int(l as i64);
        ctx.out.int(s.max as i64);
    }
    Ok(())
}

/// LATENCY HISTORY event
pub fn history(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let name = String::from_utf8_lossy(&argv[2]);
    match ctx.srv.latency.events.get(name.as_ref()) {
        None => ctx.out.array(0),
        Some(s) => {
            ctx.out.array(s.samples.len());
            for (t, l) in &s.samples {
                ctx.out.array(2);
                ctx.out.int(*t);
                ctx.out.int(*l as i64);
            }
        }
    }
    Ok(())
}

/// LATENCY RESET [event ...]
pub fn reset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let events = &mut ctx.srv.latency.events;
    let n = if argv.len() == 2 {
        let n = events.len();
        events.clear();
        n
    } else {
        argv[2..]
            .iter()
            .filter(|e| events.remove(String::from_utf8_lossy(e).as_ref()).is_some())
            .count()
    };
    ctx.out.int(n as i64);
    Ok(())
}

/// LATENCY GRAPH event — the samples as text, newest last.
pub fn graph(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let name = String::from_utf8_lossy(&argv[2]).into_owned();
    let Some(s) = ctx.srv.latency.events.get(&name) else {
        return Err(no_samples(&argv[2]));
    };
    let high = s.samples.iter().map(|x| x.1).max().unwrap_or(0);
    let low = s.samples.iter().map(|x| x.1).min().unwrap_or(0);
    let now = crate::state::now_ms() / 1000;
    let mut text = format!(
        "{name} - high {high} ms, low {low} ms (all time high {} ms)\n{}\n",
        s.max,
        "-".repeat(80)
    );
    for (t, l) in &s.samples {
        text.push_str(&format!("{}s ago: {l} ms\n", now - t));
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// LATENCY DOCTOR
pub fn doctor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let events = &ctx.srv.latency.events;
    let text = if events.is_empty() && ctx.srv.config.latency_monitor_threshold == 0 {
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string()
    } else if events.is_empty() {
        "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".to_string()
    } else {
        let now = crate::state::now_ms() / 1000;
        let mut r = String::from("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        for (i, (name, s)) in events.iter().enumerate() {
            let n = s.samples.len().max(1) as u64;
            let avg = s.samples.iter().map(|x| x.1).sum::<u64>() / n;
            let mad = s.samples.iter().map(|x| x.1.abs_diff(avg)).sum::<u64>() / n;
            let oldest = s.samples.front().map(|x| x.0).unwrap_or(now);
            let period = (now - oldest).max(1) as f64;
            r.push_str(&format!(
                "{}. {name}: {} latency spikes (average {avg}ms, mean deviation {mad}ms, period {:.2} sec). Worst all time event {}ms.\n",
                i + 1,
                s.samples.len(),
                period / n as f64,
                s.max
            ));
        }
        r.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        r
    };
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// One command's cumulative distribution: call count, then counts at or under each
/// power-of-two number of microseconds, as Redis's log iteration reports them.
fn write_cdf(out: &mut shoal_proto::Reply, h: &Histogram) {
    let mut points = Vec::new();
    let mut previous = 0;
    let mut bound: u64 = 1024;
    while previous < h.total() && bound < 1 << 40 {
        let n = h.count_at_or_below(bound);
        if n > previous {
            points.push((bound / 1000, n));
        }
        previous = n;
        bound <<= 1;
    }
    out.map(2);
    out.bulk(b"calls");
    out.int(h.total() as i64);
    out.bulk(b"histogram_usec");
    out.map(points.len());
    for (us, n) in points {
        out.int(us as i64);
        out.int(n as i64);
    }
}

/// LATENCY HISTOGRAM [command ...]
pub fn histogram(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let stats = &ctx.srv.stats.commands;
    let mut chosen: Vec<(&str, &Histogram)> = Vec::new();
    if argv.len() == 2 {
        let mut all: Vec<_> = stats
            .iter()
            .filter_map(|(n, s)| s.latency.as_ref().map(|h| (*n, h)))
            .collect();
        all.sort_by_key(|(n, _)| *n);
        chosen = all;
    } else {
        for a in &argv[2..] {
            let name = String::from_utf8_lossy(a).to_ascii_lowercase();
            if let Some((n, h)) = stats
                .iter()
                .find(|(n, _)| **n == name)
                .and_then(|(n, s)| s.latency.as_ref().map(|h| (*n, h)))
            {
                if !chosen.iter().any(|(c, _)| *c == n) {
                    chosen.push((n, h));
                }
            }
        }
    }
    ctx.out.map(chosen.len());
    for (name, h) in chosen {
        ctx.out.bulk(name.as_bytes());
        write_cdf(ctx.out, h);
    }
    Ok(())
}

/// LATENCY HELP
pub fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx.out,
        "latency",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_worst_spike_per_second() {
        let mut m = Monitor::default();
        m.add_if_needed(0, "command", 500);
        assert!(m.events.is_empty());
        m.add_if_needed(100, "command", 50);
        assert!(m.events.is_empty());
        m.add_if_needed(100, "command", 150);
        m.add_if_needed(100, "command", 300);
        m.add_if_needed(100, "command", 200);
        let s = &m.events["command"];
        assert_eq!(s.max, 300);
        // The three spikes share one second (two if a second boundary fell between).
        assert!(s.samples.len() <= 2);
        assert!(s.samples.iter().any(|x| x.1 == 300));
    }
}
