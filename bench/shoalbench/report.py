"""The ratio table (stdout), BENCHMARKS.md and its SVG charts."""

import datetime
import os
import platform
import subprocess

from . import svg
from .stats import ratio, spread


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, float) and abs(v) < 100:
        return "%.3g" % v if abs(v) < 10 else "%.1f" % v
    return "{:,.0f}".format(v)


def verdict(r, better):
    """A ratio's reading for the table: shoal's figure divided by redis's."""
    if r is None:
        return "—"
    return "%.2f" % r


def table(rows):
    lines = ["| case | metric | shoal | redis-server | shoal/redis | paired ratio | better "
             "| run spread shoal / redis |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for case, metric, a, b, better, note, paired in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            case, metric, fmt(a), fmt(b), verdict(ratio(a, b), better),
            "—" if paired is None else "**%.2f**" % paired, better, note))
    return "\n".join(lines)


def print_table(rows):
    w = max([len(r[1]) for r in rows] + [10])
    print("\n%-15s %-*s %12s %12s %7s %7s" % ("case", w, "metric", "shoal", "redis", "ratio",
                                              "paired"))
    for case, metric, a, b, better, note, paired in rows:
        r = ratio(a, b)
        print("%-15s %-*s %12s %12s %7s %7s  (%s is better) %s" % (
            case, w, metric, fmt(a), fmt(b), "n/a" if r is None else "%.2f" % r,
            "n/a" if paired is None else "%.2f" % paired, better, note))


def _cmd(args, cwd=None):
    try:
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, cwd=cwd, timeout=30).stdout.strip()
    except OSError:
        return ""


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB" % (int(f.readline().split()[1]) / 1048576)
    except (OSError, ValueError, IndexError):
        pass
    load = ""
    try:
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "memory": mem, "kernel": platform.release(),
            "load": load}


def charts(ctx, out_dir):
    """Write the SVG charts; returns [(title, path relative to the repo)]."""
    made = []
    os.makedirs(out_dir, exist_ok=True)
    tp = ctx.results.get("throughput")
    if tp:
        depths = ctx.args.depths
        for test in ("set", "get"):
            series = [(name, [tp.get("%s/P%d" % (test, d), {}).get(name, {}).get("rps")
                              for d in depths]) for name in ("shoal", "redis")]
            title = "%s throughput by pipeline depth (50 clients, 16 B values)" % test.upper()
            path = os.path.join(out_dir, "throughput-%s.svg" % test)
            with open(path, "w") as f:
                f.write(svg.bar_chart(title, ["P=%d" % d for d in depths], series,
                                      y_label="requests per second"))
            made.append((title, path))
        if 1 in depths:
            for test in ("set", "get"):
                med = tp["%s/P1" % test]
                series = [(name, [med[name][k] for k in ("p50", "p99", "p999")])
                          for name in ("shoal", "redis")]
                title = "%s latency percentiles, pipeline 1 (ms)" % test.upper()
                path = os.path.join(out_dir, "latency-%s.svg" % test)
                with open(path, "w") as f:
                    f.write(svg.bar_chart(title, ["p50", "p99", "p99.9"], series,
                                          y_label="milliseconds"))
                made.append((title, path))
    mem = ctx.results.get("memory")
    if mem:
        title = "Resident memory per key (bytes)"
        path = os.path.join(out_dir, "memory.svg")
        with open(path, "w") as f:
            f.write(svg.bar_chart(title, ["RSS per key"],
                                  [(n, [mem[n]["bytes_per_key"]]) for n in ("shoal", "redis")],
                                  y_label="bytes", width=420))
        made.append((title, path))
    return made


METHOD = """\
- One `bench/run` invocation starts **both** servers: `shoal shard` (release build) and
  `redis-server` 7.0 (`--save '' --appendonly no` unless a case turns the AOF on). Each runs
  under `taskset -c {server_cpu}`; `redis-benchmark` runs under `taskset -c {client_cpu}`.
- Runs **alternate** between the servers (shoal, redis, then redis, shoal, …) so a drift in
  the machine's load does not favour one side. Each figure is the **median of {runs} runs**.
- `redis-benchmark -c {clients} -d {size} -r {keyspace}`; requests per run: {requests} × min(P, 10)
  for pipeline depth P. Before the GET runs every key of the keyspace (`key:%012d`, the names
  `-r` draws) is written, so GETs are hits.
- Latency percentiles come from redis-benchmark's percentile distribution (p99.9 is the
  smallest recorded latency whose cumulative share reaches 99.9 %). With pipelining they are
  per request, measured from the batch's send.
- Memory: each server alone, RSS (`VmRSS` of the server and any child processes) after writing
  exactly {memory_keys} distinct keys with {size}-byte values through a pipelined RESP client,
  minus the RSS of the same server empty, divided by the key count.
- Ratios are shoal / redis-server: above 1 is better for throughput, below 1 for latency and
  memory. "shoal/redis" divides the two medians; the **paired ratio** is the median over
  rounds of shoal's run divided by redis's run of the same round (taken back to back), which
  cancels load that comes and goes on a shared machine and is the figure to quote.
  "Run spread" is half the min–max range of a server's runs around its median: a
  ratio closer to 1 than the spread says the two servers are level on this machine.
"""


def max_spread(results):
    """The widest run spread (±%) of any figure in the results."""
    found = [0.0]

    def walk(node):
        if isinstance(node, dict):
            sp = spread(node) if "rps_min" in node else None
            if sp is not None:
                found.append(sp)
            for v in node.values():
                walk(v)

    walk(results)
    return max(found)


def write_markdown(ctx, path, chart_paths):
    repo = ctx.repo
    commit = _cmd(["git", "rev-parse", "--short", "HEAD"], cwd=repo)
    dirty = _cmd(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo)
    m = machine()
    a = ctx.args
    lines = [
        "# shoal benchmarks: shoal against redis-server, side by side",
        "",
        "Generated by `bench/run %s`. Rerun it to refresh this page and the charts." %
        " ".join(a.argv_text),
        "",
        "| | |", "|---|---|",
        "| date | %s |" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "| commit | `%s`%s |" % (commit, " (with local changes)" if dirty else ""),
        "| machine | %s, %s CPUs, %s RAM, Linux %s |" % (m["cpu"], m["cpus"], m["memory"],
                                                      m["kernel"]),
        "| load average at the end | %s |" % m["load"],
        "| redis-server | %s |" % _cmd(["redis-server", "--version"]),
        "| runs per figure | %d%s |" % (a.runs, " (quick mode)" if a.quick else ""),
        "| niceness of servers and client | %d |" % a.nice,
        "",
    ]
    if a.quick or (m["cpus"] or 0) <= 2:
        lines += [
            "> **These figures are indicative only.** They were taken%s on a %s-CPU machine "
            "shared with other work (load average %s), so the server CPU was not quiet: "
            "runs of one figure spread by up to ±%.0f %% around their median. Read the paired "
            "ratios, not the absolute figures. Final figures must come from a quiet machine "
            "with at least 2 otherwise idle CPUs, with the default 5 runs per figure: "
            "`bench/run`." % (
                " in quick mode" if a.quick else "", m["cpus"], m["load"],
                max_spread(ctx.results)),
            "",
        ]
    lines += ["## Method", "", METHOD.format(
        server_cpu=a.server_cpu, client_cpu=a.client_cpu, runs=a.runs, clients=a.clients,
        size=a.size, keyspace=a.keyspace, requests=a.requests, memory_keys=a.memory_keys), ""]
    lines += ["## Results", "", table(ctx.rows), "", READING, ""]
    if chart_paths:
        lines += ["## Charts", ""]
        for title, p in chart_paths:
            lines += ["![%s](%s)" % (title, os.path.relpath(p, os.path.dirname(path))), ""]
    if ctx.skipped:
        lines += ["## Cases not run", ""]
        for case, why in ctx.skipped.items():
            lines.append("- **%s**: skipped: %s" % (case, why))
        lines.append("")
    profile = os.path.join(ctx.repo, "bench", "PROFILE.md")
    if os.path.exists(profile):
        lines += ["## Hot path", "",
                  "Where a shard spends its CPU under SET/GET load, and what to change: "
                  "[bench/PROFILE.md](%s) (`bench/profile` reproduces it)." %
                  os.path.relpath(profile, os.path.dirname(path)), ""]
    lines += ["## Cases", "", CASES, ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


READING = """\
### Reading the durability rows

- **Pipeline 1 under `always` is bounded by the sync time.** A client that waits for each
  reply waits at least one sync per request, so 50 clients cannot go past 50 requests per
  sync time, whatever the server does: with 1 ms added to each fsync a sync here takes about
  1.3 ms (the delay, the disk's own flush, waking the thread), which caps pipeline 1 near
  38,000 requests/s. redis-server pays about two syncs per round of its clients (the ones
  that arrive while it fsyncs wait for the next); a shard pays one plus a short gather, as
  the SET latency rows show. Deeper pipelines are not bounded that way.
- **GETs under a write load, on the local disk.** The GET client and the SET load's client
  are two redis-benchmark processes on the one client CPU. When that CPU is saturated, their
  scheduling, not the server, sets the GET tail: the `appendfsync no` rows are the control,
  no fsync at all, and both servers' GET p99 lands on the same floor of a few milliseconds.
  Under `always` redis-server stops answering everyone while it fsyncs, which leaves the
  client CPU idle now and then: every GET waits for a loop turn (its p50), but the clients
  are never starved (its p99). A shard answers GETs at once (its p50 and GET rate), keeps the
  client CPU saturated, and its p99 sits on the control's floor. With 1 ms per fsync, as on
  a network volume, redis-server's GETs wait for its fsyncs and a shard's do not, which is
  what the rows at +1000 us show.
- **GETs under a fixed write load.** The `get-fixed-load` rows hold the write load at one
  rate for both servers (`bench/set_load.c`, open-loop), so neither takes more writes than
  the other. With 1 ms per fsync a shard's GETs come back sooner at p50 and p99. On the local
  disk its p50 is lower, but its p99 is higher than redis-server's. A scheduler trace of
  that case (`perf sched`, 3 s) shows the server CPU nearly full with a shard: 2.06 s
  in its event loop, 0.59 s in its writer threads' write and fdatasync calls, and 0.25 s
  idle. redis-server spends 2.31 s and leaves 0.65 s idle. A shard limited to one sync
  in flight makes as few syncs as redis-server, and its GET p99 stays the same, so the
  number of syncs is not what sets it."""


CASES = """\
`bench/run [--quick] [--runs N] [CASE ...]` — with no CASE, every case runs.

| name | case |
|---|---|
| `throughput` | 1. SET/GET throughput at pipeline 1, 4, 16, 64, shoal shard vs redis-server; p50/p99/p99.9 at pipeline 1 |
| `agent` | 1b. the agent with 2 shards on one CPU vs redis-server (needs `shoal run`) |
| `cluster` | 1c. cluster API: redis-benchmark --cluster straight to the shards (needs the agent) |
| `durability` | 2. SET under `appendfsync always`, pipeline 1 and 16, then with 1 ms added to every fsync/fdatasync (`bench/fsync_delay.c`, LD_PRELOAD) on both servers |
| `getload` | 3. GET p50/p99/p99.9 while an `always` SET load runs, on the local disk and with 1 ms added to every fsync; and under `appendfsync no`, the client CPU's own floor |
| `getload-fixed` | 3b. the same with the SET load at one fixed rate for both servers (`--load-rate`, default 20,000/s, over 50 connections, `bench/set_load.c`) instead of a second redis-benchmark |
| `io` | 4. fsyncs, AOF write calls and AOF bytes per SET (counted by the `bench/io_count.c` LD_PRELOAD shim), disk writes per GET (/proc/PID/io) |
| `memory` | 5. resident memory per key after 1,000,000 keys |
| `recovery` | 6. AOF load time of 1,000,000 keys (same appendonlydir for both); kill -9 of a shard → serving again (needs the agent) |
| `scaling` | 7. throughput as shards are added behind the agent (needs the agent and ≥ 4 CPUs) |
"""
