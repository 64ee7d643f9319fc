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
        self._shim = None

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

    def fsync_shim(self):
        """Build bench/fsync_delay.c once and return the .so path."""
        if self._shim is None:
            src = os.path.join(self.repo, "bench", "fsync_delay.c")
            out = os.path.join(self.work, "fsync_delay.so")
            subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", out, src, "-ldl"], check=True)
            self._shim = out
        return self._shim
