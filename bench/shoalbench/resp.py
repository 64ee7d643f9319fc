"""A tiny pipelined RESP client: enough to prefill keys, ping and read INFO."""

import socket
import time


def encode(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = b"%d" % a
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


class Conn:
    def __init__(self, port, host="127.0.0.1", timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def read_reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest.decode() if kind == b"+" else int(rest)
        if kind == b"-":
            return RuntimeError(rest.decode(errors="replace"))
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read_reply() for _ in range(n)]
        raise ValueError("unexpected reply %r" % line[:40])

    def call(self, *args):
        self.sock.sendall(encode(*args))
        reply = self.read_reply()
        if isinstance(reply, RuntimeError):
            raise reply
        return reply

    def count_simple_replies(self, n):
        """Read n one-line replies (e.g. +OK) and return how many were errors; the first
        error's text is kept in `last_error`."""
        errors = 0
        for _ in range(n):
            line = self._line()
            if line[:1] == b"-":
                errors += 1
                if errors == 1:
                    self.last_error = line.decode(errors="replace").strip()
        return errors


def fill(port, count, size=16, batch=2000, prefix="key:", start=0):
    """SET exactly `count` distinct keys key:%012d (the names redis-benchmark's -r draws),
    pipelined in batches; returns the seconds taken."""
    value = b"x" * size
    conn = Conn(port, timeout=120.0)
    t0 = time.monotonic()
    try:
        i = start
        end = start + count
        while i < end:
            n = min(batch, end - i)
            payload = b"".join(
                b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                % (len(k), k, size, value)
                for k in ((prefix + "%012d" % j).encode() for j in range(i, i + n))
            )
            conn.sock.sendall(payload)
            errors = conn.count_simple_replies(n)
            if errors:
                raise RuntimeError("%d SET errors while filling, the first: %s"
                                   % (errors, conn.last_error))
            i += n
    finally:
        conn.close()
    return time.monotonic() - t0


def info(port, section=None):
    conn = Conn(port)
    try:
        raw = conn.call("INFO", section) if section else conn.call("INFO")
    finally:
        conn.close()
    out = {}
    for line in raw.decode(errors="replace").splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def wait_ready(port, timeout=60.0, proc=None):
    """Wait until PING answers PONG (not -LOADING); returns seconds waited."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %s before answering" % proc.returncode)
        try:
            conn = Conn(port, timeout=2.0)
            try:
                if conn.call("PING") == "PONG":
                    return time.monotonic() - t0
            finally:
                conn.close()
        except (OSError, RuntimeError, ValueError) as e:
            last = e
        time.sleep(0.005)
    raise TimeoutError("port %d not ready after %.0fs: %s" % (port, timeout, last))
