"""Running redis-benchmark and reading its report.

The plain (non --csv) report is parsed because only it carries the percentile
distribution from which p99.9 can be read; --csv stops at p99.
"""

import re
import subprocess

_RPS = re.compile(r"throughput summary:\s*([0-9.]+) requests per second")
_PCT = re.compile(r"^\s*([0-9.]+)% <= ([0-9.]+) milliseconds", re.M)
_SUMMARY = re.compile(
    r"avg\s+min\s+p50\s+p95\s+p99\s+max\s*\n\s*"
    r"([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)"
)


def parse(text):
    """Return {"rps", "avg", "p50", "p95", "p99", "p999", "max"} (ms) from one test's report.

    p99.9 is the smallest recorded latency whose cumulative share reaches 99.9%,
    the same conservative reading HdrHistogram gives for a percentile.
    """
    m = _RPS.search(text)
    if not m:
        raise ValueError("no throughput summary in redis-benchmark output")
    out = {"rps": float(m.group(1))}
    s = _SUMMARY.search(text)
    if s:
        for name, val in zip(("avg", "min", "p50", "p95", "p99", "max"), s.groups()):
            out[name] = float(val)
    # Only the first block ("Latency by percentile distribution") holds percentiles;
    # the second block is bucketed by latency and would bias the reading.
    dist = text.split("Cumulative distribution of latencies", 1)[0]
    p999 = None
    for pct, ms in _PCT.findall(dist):
        if float(pct) >= 99.9:
            p999 = float(ms)
            break
    if p999 is None and "max" in out:
        p999 = out["max"]
    out["p999"] = p999
    return out


# Scheduling priority for redis-benchmark and both servers (bench/run --nice): on a
# machine shared with other work, a raised priority keeps their bursts off the runs.
NICE = 0


def on_client_cpu(cpu):
    """The prefix that runs a client program at NICE on `cpu` (None: any CPU)."""
    cmd = ["nice", "-n", str(NICE)] if NICE else []
    if cpu is not None:
        cmd += ["taskset", "-c", str(cpu)]
    return cmd


def command(port, test, requests, clients=50, size=16, keyspace=100000, pipeline=1, cpu=1,
            cluster=False):
    cmd = on_client_cpu(cpu) + [
        "redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
        "-t", test, "-n", str(requests), "-c", str(clients),
        "-d", str(size), "-P", str(pipeline),
    ]
    if keyspace:
        cmd += ["-r", str(keyspace)]
    if cluster:
        # Cluster mode: redis-benchmark reads CLUSTER SLOTS and talks to each shard.
        cmd += ["--cluster"]
    return cmd


def run(port, test, requests, timeout=600, **kw):
    """Run one redis-benchmark test and return its parsed figures."""
    proc = subprocess.run(
        command(port, test, requests, **kw),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError("redis-benchmark failed: " + proc.stdout[-500:])
    return parse(proc.stdout)


def spawn(port, test, requests, **kw):
    """Start redis-benchmark in the background (a load generator whose figures are not read)."""
    return subprocess.Popen(
        command(port, test, requests, **kw),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def stop(proc):
    """End a background redis-benchmark. SIGTERM, not SIGINT: under SIGINT it may wait
    for replies that a server holding them for a sync will not send soon."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
