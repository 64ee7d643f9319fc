"""Starting, measuring and stopping the servers under test.

Both servers are started under `taskset -c <cpu>` so the kernel never moves
them off the benchmark's server CPU, and redis-benchmark gets the other CPU.
"""

import os
import shutil
import signal
import subprocess
import time

from . import rb, resp


def descendants(pid):
    """pid plus every process whose parent chain leads to it (an agent's shards)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces; fields resume after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_io(pid):
    out = {}
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            k, v = line.split(":")
            out[k.strip()] = int(v)
    return out


class Server:
    name = "?"

    def __init__(self, port, data_dir, cpu=0, env=None):
        self.port = port
        self.data_dir = data_dir
        self.cpu = cpu
        self.env = env
        self.proc = None
        self.log_path = os.path.join(data_dir, "server.log")

    def argv(self):
        raise NotImplementedError

    def start(self, wait=True, timeout=120.0):
        os.makedirs(self.data_dir, exist_ok=True)
        cmd = ["taskset", "-c", str(self.cpu)] + self.argv() if self.cpu is not None else self.argv()
        if rb.NICE:
            cmd = ["nice", "-n", str(rb.NICE)] + cmd
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.log = open(self.log_path, "ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, cwd=self.data_dir, stdout=self.log, stderr=subprocess.STDOUT, env=env
        )
        if wait:
            return resp.wait_ready(self.port, timeout=timeout, proc=self.proc)
        return None

    @property
    def pid(self):
        return self.proc.pid

    def rss_kib(self):
        """Resident memory of the server and all its child processes."""
        return sum(rss_kib(p) for p in descendants(self.pid))

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.log.close()
        self.proc = None

    def wipe(self):
        shutil.rmtree(self.data_dir, ignore_errors=True)


class Redis(Server):
    name = "redis"

    def __init__(self, port, data_dir, appendonly=False, appendfsync="everysec", **kw):
        super().__init__(port, data_dir, **kw)
        self.appendonly = appendonly
        self.appendfsync = appendfsync

    def argv(self):
        return [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", self.data_dir, "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            # A plain RESP base file, so shoal can load the same directory.
            "--aof-use-rdb-preamble", "no",
            "--auto-aof-rewrite-percentage", "0",
        ]


class ShoalShard(Server):
    name = "shoal"

    def __init__(self, port, data_dir, binary, caps, appendonly=False,
                 appendfsync="everysec", **kw):
        super().__init__(port, data_dir, **kw)
        self.binary = binary
        self.caps = caps
        self.appendonly = appendonly
        self.appendfsync = appendfsync

    def argv(self):
        cmd = [self.binary, "shard", "--port", str(self.port), "--data-dir", self.data_dir,
               "--log-level", "warn"]
        if self.appendonly:
            cmd += self.caps.appendonly_args(self.appendfsync)
        return cmd


class Caps:
    """What the built shoal binary supports, read from its --help texts."""

    def __init__(self, binary):
        self.binary = binary
        self.shard_help = self._help(["shard", "--help"])
        self.run_help = self._help(["run", "--help"])

    def _help(self, args):
        try:
            p = subprocess.run([self.binary] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=30)
        except OSError:
            return None
        return p.stdout if p.returncode == 0 else None

    @property
    def aof(self):
        return bool(self.shard_help) and "--appendonly" in self.shard_help

    @property
    def agent(self):
        return self.run_help is not None

    def agent_flag(self, flag):
        return bool(self.run_help) and flag in self.run_help

    def appendonly_args(self, fsync):
        h = self.shard_help or ""
        # A value-taking flag shows a placeholder after it ("--appendonly <APPENDONLY>").
        args = ["--appendonly", "yes"] if "--appendonly <" in h else ["--appendonly"]
        if "--appendfsync" in h:
            args += ["--appendfsync", fsync]
        return args
