"""Cases that need the agent: 1b (two shards behind the proxy on one CPU),
1c (cluster API: clients straight to the shards) and the kill -9 part of 6."""

import os
import signal
import subprocess
import time
import urllib.request

from . import resp
from .case_throughput import compare, spread_note
from .context import Skip
from .servers import Redis, Server, descendants


class Agent(Server):
    """`shoal run` with one database, configured by a file written beside its data.

    The AOF is off unless a case asks for it, like the redis-server it is compared with;
    the admin port is the case's own, so runs never collide on 8070."""

    name = "shoal"

    def __init__(self, ctx, port, data_dir, shards, cluster_api=False, appendonly=False,
                 appendfsync="everysec"):
        super().__init__(port, data_dir, cpu=ctx.args.server_cpu)
        self.ctx = ctx
        self.shards = shards
        self.cluster_api = cluster_api
        self.appendonly = appendonly
        self.appendfsync = appendfsync

    def start(self, wait=True, timeout=120.0):
        """Started once `/readyz` says every shard has loaded: the proxy answers PING
        itself, so a PONG does not mean a shard is past its load (it would say -LOADING)."""
        began = time.monotonic()
        super().start(wait=wait, timeout=timeout)
        if not wait:
            return None
        url = "http://127.0.0.1:%d/readyz" % (self.port + 1000)
        answered = time.monotonic()
        while time.monotonic() - began < timeout:
            try:
                with urllib.request.urlopen(url, timeout=2.0) as r:
                    if r.status == 200:
                        return time.monotonic() - began
            except OSError as e:
                # 503 until every shard has loaded. A refused connection for long means
                # no admin endpoint at all (bench/tests/fake_shoal): PONG is all there is.
                refused = isinstance(getattr(e, "reason", e), ConnectionRefusedError)
                if refused and time.monotonic() - answered > 2.0:
                    return time.monotonic() - began
            time.sleep(0.005)
        raise TimeoutError("%s not ready after %.0fs" % (url, timeout))

    def shard_port(self, i):
        """With the cluster API on, shard i listens on the database port + 1 + i."""
        return self.port + 1 + i

    def argv(self):
        conf = os.path.join(self.data_dir, "shoal.toml")
        with open(conf, "w") as f:
            f.write("data_dir = %r\nadmin_port = %d\nlog_level = \"warn\"\n"
                    "[[database]]\nname = \"bench\"\nport = %d\nshards = %d\n"
                    "appendonly = %s\nappendfsync = %r\ncluster_api = %s\n"
                    % (os.path.join(self.data_dir, "data"), self.port + 1000, self.port,
                       self.shards, str(self.appendonly).lower(), self.appendfsync,
                       str(self.cluster_api).lower()))
        return [self.ctx.binary, "run", "--config", conf]

    def shard_pids(self):
        """The agent's leaf processes: its shards (a shard has threads, not children)."""
        procs = descendants(self.pid)
        parents = set()
        for p in procs:
            try:
                with open("/proc/%d/stat" % p) as f:
                    parents.add(int(f.read().rsplit(")", 1)[1].split()[1]))
            except OSError:
                pass
        return [p for p in procs if p != self.pid and p not in parents]


def need_agent(ctx):
    if not ctx.caps.agent:
        raise Skip("this shoal binary has no `run` subcommand")


def side_by_side(ctx, agent, redis, shoal_side, section, label):
    """Fills both servers, then compares SET and GET at pipeline 1 and 16; `shoal_side` is
    what redis-benchmark talks to on shoal's side (the agent, or its cluster entry)."""
    figures = {}
    try:
        for s in (agent, redis):
            s.start()
            resp.fill(s.port, ctx.args.keyspace, size=ctx.args.size)
        for test in ("set", "get"):
            for depth in (1, 16):
                med = compare(ctx, [shoal_side, redis], test, depth,
                              label="%s %s P=%d" % (label, test.upper(), depth))
                figures["%s/P%d" % (test, depth)] = med
                ctx.row(section, "%s rps, pipeline %d" % (test.upper(), depth),
                        med["shoal"]["rps"], med["redis"]["rps"], note=spread_note(med),
                        paired=med["paired"]["rps"])
    finally:
        for s in (agent, redis):
            s.stop()
            s.wipe()
    return figures


def agent_two_shards(ctx):
    """1b: the agent with 2 shards, all on the server CPU, vs one redis-server there."""
    need_agent(ctx)
    agent = Agent(ctx, ctx.port(60), ctx.data_dir("agent2"), 2)
    redis = Redis(ctx.port(61), ctx.data_dir("agent2-redis"), cpu=ctx.args.server_cpu)
    ctx.results["agent_two_shards"] = side_by_side(
        ctx, agent, redis, agent, "agent-2-shards", "agent 2 shards")


class ClusterEntry:
    """The cluster API seen as one server: redis-benchmark --cluster starts at shard 0's
    port, reads CLUSTER SLOTS and then talks to every shard directly (no proxy hop)."""

    name = "shoal"
    rb_extra = {"cluster": True}

    def __init__(self, agent):
        self.agent = agent
        self.port = agent.shard_port(0)


def cluster_api(ctx):
    """1c: the cluster API with 2 shards on the server CPU against one redis-server there."""
    need_agent(ctx)
    agent = Agent(ctx, ctx.port(70), ctx.data_dir("cluster"), 2, cluster_api=True)
    redis = Redis(ctx.port(75), ctx.data_dir("cluster-redis"), cpu=ctx.args.server_cpu)
    ctx.results["cluster_api"] = side_by_side(
        ctx, agent, redis, ClusterEntry(agent), "cluster-api-2-shards", "cluster API")


def restart_after_kill(ctx):
    """Seconds from kill -9 of a shard until the agent serves its keys again."""
    need_agent(ctx)
    agent = Agent(ctx, ctx.port(80), ctx.data_dir("kill9"), 1, appendonly=True)
    try:
        agent.start()
        resp.fill(agent.port, ctx.args.keyspace, size=ctx.args.size)
        pids = agent.shard_pids()
        if not pids:
            raise Skip("agent has no shard child processes to kill")
        t0 = time.monotonic()
        os.kill(pids[0], signal.SIGKILL)
        # Serving again = a GET of a key gets a reply that is not an error
        # (-TRYAGAIN/-LOADING while the shard restarts); whether the value
        # survived is reported apart, since that depends on the AOF setting.
        reply, deadline = None, t0 + 120
        while time.monotonic() < deadline:
            try:
                c = resp.Conn(agent.port, timeout=2.0)
                try:
                    reply = c.call("GET", "key:%012d" % 0)
                    break
                finally:
                    c.close()
            except (OSError, RuntimeError, ValueError):
                pass
            time.sleep(0.005)
        else:
            raise RuntimeError("agent did not serve again within 120 s of kill -9")
        secs = time.monotonic() - t0
    finally:
        agent.stop()
        agent.wipe()
    ctx.results.setdefault("recovery", {})["kill9_to_serving_seconds"] = secs
    ctx.results["recovery"]["kill9_value_survived"] = reply is not None
    ctx.log("  kill -9 → serving again: %.3fs (value %s)"
            % (secs, "kept" if reply is not None else "lost"))
    ctx.row("recovery", "kill -9 of a shard → serving again (s)", secs, None, better="lower")
