"""Shared state of one `bench/run` invocation."""

import os
import subprocess
import tempfile

from .servers import Caps


class Skip(Exception):
    """A case cannot run on this build (a flag or component is missing)."""


class Context:
    def __init__(self, args, repo):
        self.args = args
        self.repo = repo
        self.binary = os.path.abspath(args.binary) if args.binary else os.path.join(
            repo, "target", "release", "shoal")
        self.caps = Caps(self.binary)
        self.work = tempfile.mkdtemp(prefix="shoal-bench-", dir=args.work_dir)
        self.port_base = args.port_base
        self.rows = []       # (case, metric, shoal, redis, better, note, paired ratio)
        self.results = {}    # raw figures per case, written to results.json
        self.skipped = {}    # case -> reason
        self.charts = []     # (title, relative path)
        self._built = set()

    def log(self, text):
        print(text, flush=True)

    def port(self, offset):
        return self.port_base + offset

    def data_dir(self, name):
        return os.path.join(self.work, name)

    def row(self, case, metric, shoal, redis, better="higher", note="", paired=None):
        self.rows.append((case, metric, shoal, redis, better, note, paired))

    def rb_kwargs(self):
        a = self.args
        return {"clients": a.clients, "size": a.size, "keyspace": a.keyspace, "cpu": a.client_cpu}

    def requests_for(self, depth):
        # Deeper pipelines run far faster; more requests keep each run long
        # enough (about a second or more) to average over scheduler noise.
        return self.args.requests * min(depth, 10)

    def shim(self, name):
        """Build bench/<name>.c once as an LD_PRELOAD library and return the .so path."""
        return self._build(name, name + ".so", ["-shared", "-fPIC"], ["-ldl", "-lpthread"])

    def tool(self, name):
        """Build the program bench/<name>.c once and return its path."""
        return self._build(name, name, [], [])

    def _build(self, name, out_name, flags, libs):
        out = os.path.join(self.work, out_name)
        if out not in self._built:
            src = os.path.join(self.repo, "bench", name + ".c")
            subprocess.run(["cc", "-O2"] + flags + ["-o", out, src] + libs, check=True)
            self._built.add(out)
        return out

    def fsync_shim(self):
        """The LD_PRELOAD shim that adds FSYNC_DELAY_US to every fsync/fdatasync."""
        return self.shim("fsync_delay")
