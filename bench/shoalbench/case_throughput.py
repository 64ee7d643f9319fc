"""Cases 1 (throughput by pipeline depth, with latency percentiles) and 5 (memory per key)."""

import os
import time

from . import rb, resp
from .context import Skip
from .servers import Redis, ShoalShard
from .stats import alternate, median_fields, paired_ratios, ratio, spread


def pair(ctx, tag, offset, **kw):
    """A shoal shard and a redis-server, both pinned to the server CPU."""
    cpu = ctx.args.server_cpu
    shoal = ShoalShard(ctx.port(offset), ctx.data_dir(tag + "-shoal"), ctx.binary, ctx.caps,
                       cpu=cpu, **kw)
    redis = Redis(ctx.port(offset + 1), ctx.data_dir(tag + "-redis"), cpu=cpu, **kw)
    return shoal, redis


def compare(ctx, servers, test, depth, requests=None, label=None):
    """Run `test` at `depth` on each server, alternating, `runs` times; return medians."""
    runs = {s.name: [] for s in servers}
    n = requests or ctx.requests_for(depth)
    for i in range(ctx.args.runs):
        for s in alternate(servers, i):
            kw = dict(ctx.rb_kwargs())
            # A server may need its own client flags (the cluster API needs --cluster).
            kw.update(getattr(s, "rb_extra", {}))
            r = rb.run(s.port, test, n, pipeline=depth, **kw)
            runs[s.name].append(r)
            ctx.log("  %-28s %-5s run %d: %10.0f rps  p50 %.3f ms  p99 %.3f ms"
                    % (label or "%s P=%d" % (test.upper(), depth), s.name, i + 1,
                       r["rps"], r.get("p50", 0), r.get("p99", 0)))
    out = {name: median_fields(rs) for name, rs in runs.items()}
    if "shoal" in runs and "redis" in runs:
        out["paired"] = paired_ratios(runs["shoal"], runs["redis"])
    return out


def throughput(ctx):
    shoal, redis = pair(ctx, "throughput", 0)
    servers = [shoal, redis]
    try:
        for s in servers:
            s.start()
        for s in servers:
            # Every key redis-benchmark's -r draws exists, so GET measures hits.
            resp.fill(s.port, ctx.args.keyspace, size=ctx.args.size)
        figures = {}
        for test in ("set", "get"):
            for depth in ctx.args.depths:
                med = compare(ctx, servers, test, depth)
                figures["%s/P%d" % (test, depth)] = med
                ctx.row("throughput", "%s rps, pipeline %d" % (test.upper(), depth),
                        med["shoal"]["rps"], med["redis"]["rps"], note=spread_note(med),
                        paired=med["paired"]["rps"])
        for test in ("set", "get"):
            if 1 in ctx.args.depths:
                med = figures["%s/P1" % test]
                for p, key in (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999")):
                    ctx.row("latency", "%s %s ms, pipeline 1" % (test.upper(), p),
                            med["shoal"][key], med["redis"][key], better="lower",
                            paired=med["paired"][key])
        ctx.results["throughput"] = figures
    finally:
        for s in servers:
            s.stop()
            s.wipe()


def memory(ctx):
    keys = ctx.args.memory_keys
    figures = {}
    shoal, redis = pair(ctx, "memory", 10)
    for s in (shoal, redis):
        try:
            s.start()
            time.sleep(0.5)
            empty = s.rss_kib()
            secs = resp.fill(s.port, keys, size=ctx.args.size)
            time.sleep(1.0)
            full = s.rss_kib()
            size = resp.Conn(s.port).call("DBSIZE")
            if size != keys:
                raise RuntimeError("%s holds %s keys, expected %d" % (s.name, size, keys))
            info = {}
            try:
                info = resp.info(s.port, "memory")
            except (OSError, RuntimeError, ValueError):
                pass
            used = info.get("used_memory")
            figures[s.name] = {
                "rss_empty_kib": empty, "rss_full_kib": full, "keys": keys,
                "bytes_per_key": (full - empty) * 1024.0 / keys,
                "used_memory": int(used) if used and used.isdigit() else None,
                "load_seconds": secs,
            }
            ctx.log("  %-6s empty %d KiB, %d keys %d KiB -> %.1f B/key (loaded in %.1fs)"
                    % (s.name, empty, keys, full, figures[s.name]["bytes_per_key"], secs))
        finally:
            s.stop()
            s.wipe()
    ctx.results["memory"] = figures
    ctx.row("memory", "RSS bytes per key (%d keys, %d B values)" % (keys, ctx.args.size),
            figures["shoal"]["bytes_per_key"], figures["redis"]["bytes_per_key"], better="lower")
    su, ru = figures["shoal"]["used_memory"], figures["redis"]["used_memory"]
    if su and ru:
        ctx.row("memory", "INFO used_memory (bytes) after load", su, ru, better="lower")


def scaling(ctx):
    """Case 7: throughput as shards are added (1, 2, … one per CPU) behind the agent."""
    if not ctx.caps.agent:
        raise Skip("no agent yet (`shoal run` is missing); scaling needs shards behind the proxy")
    if not ctx.caps.agent_flag("--shards"):
        raise Skip("agent has no --shards flag")
    cpus = os.cpu_count() or 1
    if cpus < 4:
        raise Skip("scaling needs >= 4 CPUs (shards plus benchmark clients); this machine has %d"
                   % cpus)
    figures = {}
    for shards in range(1, cpus // 2 + 1):
        from .case_agent import Agent
        agent = Agent(ctx, ctx.port(90), ctx.data_dir("scaling-%d" % shards), shards)
        try:
            agent.start()
            figures[shards] = compare(ctx, [agent], "set", 16, label="agent %d shards" % shards)
        finally:
            agent.stop()
            agent.wipe()
    ctx.results["scaling"] = figures


def spread_note(med):
    """'±a % / ±b %': half the min–max range of each server's runs, around its median."""
    parts = [spread(med[n]) for n in ("shoal", "redis")]
    if any(p is None for p in parts):
        return ""
    return "±%.0f %% / ±%.0f %%" % tuple(parts)


def ratio_text(shoal, redis):
    r = ratio(shoal, redis)
    return "n/a" if r is None else "%.2f" % r
