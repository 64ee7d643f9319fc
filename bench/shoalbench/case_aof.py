"""Cases that need the shard's AOF: 2 durability cost, 3 GET latency under an
`always` SET load, 4 I/O per operation, 6 recovery (AOF load time)."""

import os
import re
import shutil
import signal
import subprocess
import time

from . import rb, resp
from .case_throughput import compare, pair, spread_note
from .context import Skip
from .servers import Redis, ShoalShard, proc_io
from .stats import alternate, median, median_fields, paired_ratios


def need_aof(ctx):
    if not os.path.exists(ctx.binary):
        raise Skip("shoal binary missing")
    if not ctx.caps.aof:
        raise Skip("shard has no --appendonly flag")


def durability(ctx):
    need_aof(ctx)
    figures = {}
    for delay in (0, ctx.args.fsync_delay_us):
        env = None
        if delay:
            env = {"LD_PRELOAD": ctx.fsync_shim(), "FSYNC_DELAY_US": str(delay)}
        shoal, redis = pair(ctx, "durability-%d" % delay, 20, appendonly=True,
                            appendfsync="always", env=env)
        servers = [shoal, redis]
        try:
            for s in servers:
                s.start()
            for depth in (1, 16):
                key = "set/P%d/delay%dus" % (depth, delay)
                med = compare(ctx, servers, "set", depth, label="SET always P=%d +%dus"
                              % (depth, delay))
                figures[key] = med
                ctx.row("durability", "SET rps, always, pipeline %d, +%d us/fsync"
                        % (depth, delay), med["shoal"]["rps"], med["redis"]["rps"],
                        note=spread_note(med), paired=med["paired"]["rps"])
                ctx.row("durability", "SET p99 ms, always, pipeline %d, +%d us/fsync"
                        % (depth, delay), med["shoal"]["p99"], med["redis"]["p99"],
                        better="lower", paired=med["paired"]["p99"])
        finally:
            for s in servers:
                s.stop()
                s.wipe()
    ctx.results["durability"] = figures


def get_under_load(ctx):
    need_aof(ctx)
    shoal, redis = pair(ctx, "getload", 30, appendonly=True, appendfsync="always")
    servers = [shoal, redis]
    runs = {s.name: [] for s in servers}
    try:
        for s in servers:
            s.start()
            resp.fill(s.port, ctx.args.keyspace, size=ctx.args.size)
        for i in range(ctx.args.runs):
            for s in alternate(servers, i):
                kw = ctx.rb_kwargs()
                load = rb.spawn(s.port, "set", 100_000_000, **kw)
                try:
                    time.sleep(0.5)
                    r = rb.run(s.port, "get", ctx.args.requests, **kw)
                finally:
                    rb.stop(load)
                runs[s.name].append(r)
                ctx.log("  GET under always-SET load  %-5s run %d: p50 %.3f ms  p99 %.3f ms"
                        % (s.name, i + 1, r.get("p50", 0), r.get("p99", 0)))
    finally:
        for s in servers:
            s.stop()
            s.wipe()
    med = {k: median_fields(v) for k, v in runs.items()}
    med["paired"] = paired_ratios(runs["shoal"], runs["redis"])
    ctx.results["get_under_load"] = med
    for p, key in (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999")):
        ctx.row("get-under-load", "GET %s ms while SET always runs" % p,
                med["shoal"][key], med["redis"][key], better="lower", paired=med["paired"][key])


_STRACE = re.compile(r"^(?:\d+\s+)?(\w+)\((\d+)<([^>]*)>.*\)\s*=\s*(-?\d+)")


def parse_strace(text, path_part="appendonly"):
    """Count sync calls, write calls and bytes on files whose path contains path_part
    (strace -y prints each fd's path), ignoring socket writes."""
    out = {"fsync": 0, "write": 0, "bytes": 0}
    for line in text.splitlines():
        m = _STRACE.match(line)
        if not m or path_part not in m.group(3):
            continue
        call, rc = m.group(1), int(m.group(4))
        if call in ("fsync", "fdatasync"):
            out["fsync"] += 1
        elif call in ("write", "writev", "pwrite64", "pwritev", "pwritev2"):
            out["write"] += 1
            out["bytes"] += max(rc, 0)
    return out


def traced(ctx, server, test, requests, depth):
    """Run one benchmark while strace counts the server's AOF syscalls."""
    log = os.path.join(ctx.work, "strace-%s-%s.txt" % (server.name, test))
    tr = subprocess.Popen(
        ["strace", "-f", "-y", "-qq", "-e", "trace=write,writev,pwrite64,fsync,fdatasync",
         "-e", "signal=none", "-o", log, "-p", str(server.pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attaching to every thread takes a moment
    before = proc_io(server.pid)
    rb.run(server.port, test, requests, pipeline=depth, **ctx.rb_kwargs())
    time.sleep(0.2)
    after = proc_io(server.pid)
    tr.send_signal(signal.SIGINT)
    tr.wait()
    with open(log) as f:
        counts = parse_strace(f.read())
    counts["disk_write_bytes"] = after["write_bytes"] - before["write_bytes"]
    return counts


def io_per_op(ctx):
    need_aof(ctx)
    if shutil.which("strace") is None:
        raise Skip("strace is not installed (apt-get install -y strace)")
    n = ctx.args.io_requests
    shoal, redis = pair(ctx, "io", 40, appendonly=True, appendfsync="always")
    figures = {}
    try:
        for s in (shoal, redis):
            s.start()
            resp.fill(s.port, ctx.args.keyspace, size=ctx.args.size)
            figures[s.name] = {}
            for test, depth in (("set", 1), ("set", 16), ("get", 1)):
                c = traced(ctx, s, test, n, depth)
                per = {k: v / n for k, v in c.items()}
                figures[s.name]["%s/P%d" % (test, depth)] = per
                ctx.log("  %-5s %s P=%d: %.3f fsync/op  %.3f AOF writes/op  %.1f AOF B/op  "
                        "%.1f disk B/op" % (s.name, test.upper(), depth, per["fsync"],
                                            per["write"], per["bytes"], per["disk_write_bytes"]))
    finally:
        for s in (shoal, redis):
            s.stop()
            s.wipe()
    ctx.results["io"] = figures
    for key in ("set/P1", "set/P16", "get/P1"):
        a, b = figures["shoal"][key], figures["redis"][key]
        op = key.split("/")[0].upper() + " " + key.split("/")[1].replace("P", "pipeline ")
        ctx.row("io", "fsyncs per %s" % op, a["fsync"], b["fsync"], better="lower")
        ctx.row("io", "AOF write calls per %s" % op, a["write"], b["write"], better="lower")
        ctx.row("io", "AOF bytes per %s" % op, a["bytes"], b["bytes"], better="lower")
        ctx.row("io", "disk write bytes per %s" % op, a["disk_write_bytes"],
                b["disk_write_bytes"], better="lower")


def recovery(ctx):
    need_aof(ctx)
    keys = ctx.args.memory_keys
    # One appendonlydir, written by redis-server with a plain RESP base, loaded by both.
    src = Redis(ctx.port(50), ctx.data_dir("recovery-src"), appendonly=True, appendfsync="no",
                cpu=ctx.args.server_cpu)
    try:
        src.start()
        resp.fill(src.port, keys, size=ctx.args.size)
        c = resp.Conn(src.port)
        try:
            c.call("SHUTDOWN")
        except (ConnectionError, OSError):
            pass
        src.proc.wait(timeout=120)
    finally:
        src.stop()
    aof_dir = os.path.join(src.data_dir, "appendonlydir")
    shoal, redis = pair(ctx, "recovery", 52, appendonly=True, appendfsync="everysec")
    runs = {"shoal": [], "redis": []}
    try:
        for i in range(ctx.args.runs):
            for s in alternate([shoal, redis], i):
                s.wipe()
                shutil.copytree(aof_dir, os.path.join(s.data_dir, "appendonlydir"))
                secs = s.start(timeout=600)
                size = resp.Conn(s.port).call("DBSIZE")
                s.stop()
                if size != keys:
                    raise RuntimeError("%s loaded %s keys, expected %d" % (s.name, size, keys))
                runs[s.name].append(secs)
                ctx.log("  AOF load %d keys  %-5s run %d: %.2fs" % (keys, s.name, i + 1, secs))
    finally:
        for s in (shoal, redis):
            s.stop()
            s.wipe()
        src.wipe()
    figures = {k: median(v) for k, v in runs.items()}
    ctx.results["recovery"] = {"aof_load_seconds": figures, "keys": keys}
    ctx.row("recovery", "AOF load seconds, %d keys" % keys, figures["shoal"], figures["redis"],
            better="lower")
    from .case_agent import restart_after_kill
    try:
        restart_after_kill(ctx)
    except Skip as e:
        ctx.skipped["recovery: kill -9 of a shard"] = str(e)
        ctx.log("  kill -9 → serving: skipped: %s" % e)
