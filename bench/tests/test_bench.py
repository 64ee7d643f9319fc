"""Unit tests of bench/run's parsers, statistics and SVG writer:
    python3 -m unittest discover -s bench/tests"""

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from shoalbench import rb, report, resp, stats, svg  # noqa: E402

SAMPLE = """ GET: rps=0.0 (overall: 0.0) avg_msec=-nan (overall: -nan)\r====== GET ======
  20000 requests completed in 0.04 seconds

Latency by percentile distribution:
0.000% <= 0.111 milliseconds (cumulative count 32)
50.000% <= 0.567 milliseconds (cumulative count 10080)
99.805% <= 8.487 milliseconds (cumulative count 19968)
99.902% <= 8.511 milliseconds (cumulative count 19984)
100.000% <= 8.575 milliseconds (cumulative count 20000)

Cumulative distribution of latencies:
99.950% <= 0.103 milliseconds (cumulative count 0)

Summary:
  throughput summary: 571428.56 requests per second
  latency summary (msec):
          avg       min       p50       p95       p99       max
        0.763     0.104     0.567     1.399     5.327     8.575
"""


class ParseTest(unittest.TestCase):
    def test_summary_fields(self):
        r = rb.parse(SAMPLE)
        self.assertAlmostEqual(r["rps"], 571428.56)
        self.assertEqual(r["p50"], 0.567)
        self.assertEqual(r["p99"], 5.327)
        self.assertEqual(r["max"], 8.575)

    def test_p999_from_percentile_block_only(self):
        # 99.902% is the first line at or above 99.9; the 99.950% line in the
        # latency-bucket block must not be read.
        self.assertEqual(rb.parse(SAMPLE)["p999"], 8.511)

    def test_missing_summary_is_an_error(self):
        with self.assertRaises(ValueError):
            rb.parse("Could not connect to Redis")

    def test_command_pins_client(self):
        cmd = rb.command(8100, "set", 1000, pipeline=16, cpu=1)
        self.assertEqual(cmd[:3], ["taskset", "-c", "1"])
        self.assertIn("-P", cmd)
        self.assertEqual(cmd[cmd.index("-P") + 1], "16")
        self.assertEqual(cmd[cmd.index("-r") + 1], "100000")


class StatsTest(unittest.TestCase):
    def test_median_ignores_missing(self):
        self.assertEqual(stats.median([3, None, 1, 2]), 2)
        self.assertIsNone(stats.median([None]))

    def test_alternate_flips(self):
        self.assertEqual(stats.alternate(["a", "b"], 0), ["a", "b"])
        self.assertEqual(stats.alternate(["a", "b"], 1), ["b", "a"])

    def test_ratio(self):
        self.assertEqual(stats.ratio(2.0, 4.0), 0.5)
        self.assertIsNone(stats.ratio(1.0, 0))
        self.assertIsNone(stats.ratio(None, 1.0))


class IoCountShimTest(unittest.TestCase):
    """bench/io_count.c counts only the matching regular files, across processes."""

    def test_counts_only_aof_files(self):
        if shutil.which("cc") is None:
            self.skipTest("no C compiler")
        work = tempfile.mkdtemp()
        try:
            so = os.path.join(work, "io_count.so")
            subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so,
                            os.path.join(HERE, "..", "io_count.c"), "-ldl", "-lpthread"],
                           check=True)
            counts = os.path.join(work, "counts")
            with open(counts, "wb") as f:
                f.write(bytes(4096))
            aof = os.path.join(work, "appendonlydir-a.incr.aof")
            other = os.path.join(work, "other.txt")
            script = ("import os\n"
                      "a = os.open(%r, os.O_CREAT | os.O_WRONLY)\n"
                      "o = os.open(%r, os.O_CREAT | os.O_WRONLY)\n"
                      "for _ in range(3): os.write(a, b'x' * 100)\n"
                      "os.pwrite(a, b'y' * 10, 0)\n"
                      "os.write(o, b'z' * 50)\n"
                      "os.fdatasync(a); os.fsync(a); os.fsync(o)\n") % (aof, other)
            env = dict(os.environ, LD_PRELOAD=so, IO_COUNT_FILE=counts,
                       IO_COUNT_MATCH="appendonly")
            subprocess.run([sys.executable, "-c", script], env=env, check=True)
            with open(counts, "rb") as f:
                syncs, writes, nbytes, seen = struct.unpack("<4Q", f.read(32))
            self.assertEqual((syncs, writes, nbytes), (2, 4, 310))
            self.assertGreaterEqual(seen, 8)
        finally:
            shutil.rmtree(work, ignore_errors=True)


class RespTest(unittest.TestCase):
    def test_encode(self):
        self.assertEqual(resp.encode("SET", b"k", 5), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n")


class SvgTest(unittest.TestCase):
    def test_nice_ceiling(self):
        self.assertEqual(svg.nice_ceiling(0.9), 1.0)
        self.assertEqual(svg.nice_ceiling(180000), 200000.0)
        self.assertEqual(svg.nice_ceiling(230), 250.0)

    def test_chart_is_valid_xml_with_one_bar_per_value(self):
        text = svg.bar_chart("t <&>", ["P=1", "P=16"], [("shoal", [1.0, 2.0]), ("redis", [3.0, None])])
        root = ET.fromstring(text)
        bars = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.find(
            "{http://www.w3.org/2000/svg}title") is not None]
        self.assertEqual(len(bars), 3)
        heights = sorted(float(b.get("height")) for b in bars)
        self.assertAlmostEqual(heights[2], 3 * heights[0])


class ReportTest(unittest.TestCase):
    def test_table_ratio_column(self):
        t = report.table([("throughput", "SET rps", 50.0, 100.0, "higher", "", 0.6)])
        self.assertIn("| 0.50 |", t)
        self.assertIn("| **0.60** |", t)

    def test_paired_ratio_cancels_shared_load(self):
        # Round 2 ran while the machine was busy: both servers halved.
        a = [{"rps": 100.0}, {"rps": 50.0}, {"rps": 100.0}]
        b = [{"rps": 80.0}, {"rps": 40.0}, {"rps": 80.0}]
        self.assertAlmostEqual(stats.paired_ratios(a, b)["rps"], 1.25)

    def test_max_spread_walks_nested_results(self):
        fig = stats.median_fields([{"rps": 90.0}, {"rps": 100.0}, {"rps": 110.0}])
        self.assertAlmostEqual(report.max_spread({"throughput": {"set/P1": {"shoal": fig}}}), 10.0)

    def test_spread(self):
        fig = stats.median_fields([{"rps": 90.0}, {"rps": 100.0}, {"rps": 110.0}])
        self.assertEqual(fig["rps"], 100.0)
        self.assertAlmostEqual(stats.spread(fig), 10.0)
        self.assertIsNone(stats.spread(stats.median_fields([{"rps": 1.0}])))


if __name__ == "__main__":
    unittest.main()


class SetLoadTest(unittest.TestCase):
    """bench/set_load.c sends SETs at the asked rate, whatever the server does, with keys
    from the keyspace and values of the asked size, and counts the replies."""

    def test_rate_keys_and_counts(self):
        if shutil.which("cc") is None:
            self.skipTest("no C compiler")
        import socket
        import threading
        import time
        work = tempfile.mkdtemp()
        listener = socket.socket()
        try:
            exe = os.path.join(work, "set_load")
            subprocess.run(["cc", "-O2", "-o", exe, os.path.join(HERE, "..", "set_load.c")],
                           check=True)
            listener.bind(("127.0.0.1", 0))
            listener.listen(16)
            seen = []

            def serve(conn):
                buf = b""
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                    while True:
                        parsed = parse_command(buf)
                        if parsed is None:
                            break
                        args, buf = parsed
                        seen.append(args)
                        conn.sendall(b"+OK\r\n")

            def accept():
                while True:
                    try:
                        conn, _ = listener.accept()
                    except OSError:
                        return
                    threading.Thread(target=serve, args=(conn,), daemon=True).start()

            threading.Thread(target=accept, daemon=True).start()
            port = listener.getsockname()[1]
            proc = subprocess.Popen([exe, str(port), "2000", "4", "50", "16"],
                                    stdout=subprocess.PIPE, text=True)
            time.sleep(1.5)
            proc.terminate()
            out, _ = proc.communicate(timeout=10)
            self.assertEqual(proc.returncode, 0, out)
            words = out.split()
            counts = {k: int(v) for k, v in zip(words[0::2], words[1::2])}
            # 1.5 s at 2000/s, give or take the start-up and the last tick.
            self.assertGreater(counts["sent"], 2400)
            self.assertLess(counts["sent"], 3300)
            self.assertEqual(counts["behind"], 0)
            self.assertLessEqual(counts["replies"], counts["sent"])
            self.assertGreater(counts["replies"], counts["sent"] - 50)
            self.assertGreaterEqual(len(seen), counts["replies"])
            keys = set()
            for args in seen:
                self.assertEqual(args[0], b"SET")
                self.assertEqual(args[2], b"x" * 16)
                self.assertRegex(args[1].decode(), r"^key:\d{12}$")
                self.assertLess(int(args[1][4:]), 50)
                keys.add(args[1])
            # Keys are drawn over the whole keyspace, not one key again and again.
            self.assertGreater(len(keys), 40)
        finally:
            listener.close()
            shutil.rmtree(work, ignore_errors=True)


def parse_command(buf):
    """One RESP array of bulk strings from the front of buf: (args, rest), or None."""
    if not buf.startswith(b"*"):
        if buf:
            raise ValueError("not a RESP array: %r" % buf[:20])
        return None
    end = buf.find(b"\r\n")
    if end < 0:
        return None
    n, pos, args = int(buf[1:end]), end + 2, []
    for _ in range(n):
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None
        size = int(buf[pos + 1:end])
        if len(buf) < end + 2 + size + 2:
            return None
        args.append(buf[end + 2:end + 2 + size])
        pos = end + 2 + size + 2
    return args, buf[pos:]
