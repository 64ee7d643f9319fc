"""Cases that need the shard's AOF: 2 durability cost, 3 GET latency under an
`always` SET load, 4 I/O per operation, 6 recovery (AOF load time)."""

import os
import shutil
import struct
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
    """GET latency while a second client set writes: redis-benchmark, as fast as each
    server lets it. Run three ways: under `always` on the local disk, under `always`
    with the network-volume delay, and under `appendfsync no` as a control. The control
    has no fsync at all, so its GET tail is what the two redis-benchmark processes
    sharing the client CPU add by themselves: the floor no server can go below on this
    machine."""
    get_under_load_with(ctx, "closed", "get-under-load", "get_under_load")


def get_under_load_fixed(ctx):
    """The same, with the write load at one fixed rate (bench/set_load.c) that both
    servers take alike, as the case is worded: "with the same load". The closed-loop
    case above lets a server that writes faster take more writes, and its two
    redis-benchmark processes fight over the client CPU."""
    get_under_load_with(ctx, "fixed", "get-fixed-load", "get_under_fixed_load")


def get_under_load_with(ctx, load, case, result):
    need_aof(ctx)
    figures = {}
    for policy, delay in (("always", 0), ("always", ctx.args.fsync_delay_us), ("no", 0)):
        env = None
        if delay:
            env = {"LD_PRELOAD": ctx.fsync_shim(), "FSYNC_DELAY_US": str(delay)}
        label = "SET %s, +%d us/fsync" % (policy, delay)
        if load == "fixed":
            label += ", %d SET/s" % ctx.args.load_rate
        shoal, redis = pair(ctx, "%s-%s-%d" % (case, policy, delay), 30, appendonly=True,
                            appendfsync=policy, env=env)
        med = get_runs(ctx, [shoal, redis], label, load)
        figures["%s/delay%dus" % (policy, delay)] = med
        for p, key in (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999")):
            ctx.row(case, "GET %s ms while %s" % (p, label), med["shoal"][key],
                    med["redis"][key], better="lower", paired=med["paired"][key])
        ctx.row(case, "GET rps (%s)" % label, med["shoal"]["rps"],
                med["redis"]["rps"], paired=med["paired"]["rps"])
        ctx.row(case, "SET load rps during those GETs (%s)" % label,
                med["shoal"]["set_rps"], med["redis"]["set_rps"])
    ctx.results[result] = figures


def get_runs(ctx, servers, label, load):
    runs = {s.name: [] for s in servers}
    try:
        for s in servers:
            s.start()
            resp.fill(s.port, ctx.args.keyspace, size=ctx.args.size)
        for i in range(ctx.args.runs):
            for s in alternate(servers, i):
                kw = ctx.rb_kwargs()
                if load == "fixed":
                    writer = SetLoad(ctx, s.port)
                else:
                    writer = rb.spawn(s.port, "set", 100_000_000, **kw)
                try:
                    time.sleep(0.5)
                    before, t0 = commands(s.port), time.monotonic()
                    r = rb.run(s.port, "get", ctx.args.requests, **kw)
                    # The write load each server took meanwhile: with the closed-loop
                    # load, both client sets share one CPU, so a server that takes more
                    # writes leaves its GET client less of it, and that shows in the
                    # GET tail.
                    done = commands(s.port) - before - ctx.args.requests
                    r["set_rps"] = max(done, 0) / (time.monotonic() - t0)
                finally:
                    if load == "fixed":
                        behind = writer.stop()["behind"]
                    else:
                        rb.stop(writer)
                        behind = 0
                if behind:
                    ctx.log("  %s fell behind the write load: %d SETs not sent"
                            % (s.name, behind))
                runs[s.name].append(r)
                ctx.log("  GET under load (%s)  %-5s run %d: p50 %.3f ms  p99 %.3f ms  "
                        "(SET load %.0f/s)" % (label, s.name, i + 1, r.get("p50", 0),
                                               r.get("p99", 0), r["set_rps"]))
    finally:
        for s in servers:
            s.stop()
            s.wipe()
    med = {k: median_fields(v, ("rps", "p50", "p99", "p999", "set_rps"))
           for k, v in runs.items()}
    med["paired"] = paired_ratios(runs["shoal"], runs["redis"])
    return med


class SetLoad:
    """bench/set_load.c on the client CPU: --load-rate SETs a second over --clients
    connections, open-loop, so that both servers take the same writes whatever their
    replies do (see the program's header)."""

    def __init__(self, ctx, port):
        a = ctx.args
        cmd = rb.on_client_cpu(a.client_cpu) + [
            ctx.tool("set_load"), str(port), str(a.load_rate), str(a.clients),
            str(a.keyspace), str(a.size)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

    def stop(self):
        """Ends the load and returns its counts: sent, replies, behind."""
        self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        words = out.split()
        counts = dict(zip(words[0::2], words[1::2]))
        if self.proc.returncode != 0 or "sent" not in counts:
            raise RuntimeError("set_load failed (exit %s): %r" % (self.proc.returncode, out))
        return {k: int(v) for k, v in counts.items()}


def commands(port):
    """INFO's total_commands_processed (the proxy's or a shard's)."""
    return int(resp.info(port, "stats").get("total_commands_processed", 0))


class IoCounts:
    """The counters bench/io_count.c keeps for one server: sync calls, write calls and
    bytes on its AOF files, read from a small file the shim maps shared."""

    FIELDS = ("fsync", "write", "bytes", "seen")

    def __init__(self, ctx, name):
        self.path = os.path.join(ctx.work, "io-count-%s" % name)
        with open(self.path, "wb") as f:
            f.write(bytes(4096))
        self.env = {"LD_PRELOAD": ctx.shim("io_count"), "IO_COUNT_FILE": self.path,
                    "IO_COUNT_MATCH": "appendonly"}

    def read(self):
        with open(self.path, "rb") as f:
            raw = f.read(8 * len(self.FIELDS))
        return dict(zip(self.FIELDS, struct.unpack("<%dQ" % len(self.FIELDS), raw)))


def diff(after, before):
    return {k: after[k] - before[k] for k in after}


def counted(ctx, server, counts, test, requests, depth):
    """Run one benchmark and return what the server did on disk meanwhile."""
    before, io0 = counts.read(), proc_io(server.pid)
    rb.run(server.port, test, requests, pipeline=depth, **ctx.rb_kwargs())
    # A reply under `always` is sent after its sync, but let the last writes land.
    time.sleep(0.2)
    out, io1 = diff(counts.read(), before), proc_io(server.pid)
    out["disk_write_bytes"] = io1["write_bytes"] - io0["write_bytes"]
    return out


def io_per_op(ctx):
    need_aof(ctx)
    n = ctx.args.io_requests
    counts = {"shoal": IoCounts(ctx, "shoal"), "redis": IoCounts(ctx, "redis")}
    shoal = ShoalShard(ctx.port(40), ctx.data_dir("io-shoal"), ctx.binary, ctx.caps,
                       cpu=ctx.args.server_cpu, appendonly=True, appendfsync="always",
                       env=counts["shoal"].env)
    redis = Redis(ctx.port(41), ctx.data_dir("io-redis"), cpu=ctx.args.server_cpu,
                  appendonly=True, appendfsync="always", env=counts["redis"].env)
    figures = {}
    try:
        for s in (shoal, redis):
            s.start()
            resp.fill(s.port, ctx.args.keyspace, size=ctx.args.size)
            if counts[s.name].read()["seen"] == 0:
                raise RuntimeError("%s: bench/io_count.c saw no file writes; was it preloaded?"
                                   % s.name)
            figures[s.name] = {}
            for test, depth in (("set", 1), ("set", 16), ("get", 1)):
                c = counted(ctx, s, counts[s.name], test, n, depth)
                per = {k: v / n for k, v in c.items() if k != "seen"}
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
