"""redis-py's RedisCluster against a shoal database with cluster_api = true.

usage: mixed_ops.py HOST PORT OPS

Runs OPS mixed commands (SET GET INCR HSET LPUSH SADD ZADD MGET-with-hash-tags DEL),
checks every reply against a model of the data, and prints
"ops=<n> errors=<n> seconds=<s> nodes=<n> keys_per_node=<a,b,...>".
Exits 1 on the first wrong reply or error.
"""
import random
import sys
import time

from redis.cluster import RedisCluster

host, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rc = RedisCluster(host=host, port=port, decode_responses=True)
rng = random.Random(1)
strings, counters, hashes, lists, sets, zsets = {}, {}, {}, {}, {}, {}


def fail(what, got, want):
    print(f"wrong reply to {what}: got {got!r}, want {want!r}", file=sys.stderr)
    sys.exit(1)


def k(prefix):
    return f"{prefix}:{rng.randrange(300)}"


start = time.monotonic()
for i in range(total):
    op = rng.randrange(10)
    if op == 0:
        key, val = k("s"), str(rng.random())
        rc.set(key, val)
        strings[key] = val
    elif op == 1:
        key = k("s")
        got = rc.get(key)
        if got != strings.get(key):
            fail(f"GET {key}", got, strings.get(key))
    elif op == 2:
        key = k("c")
        got = rc.incr(key)
        counters[key] = counters.get(key, 0) + 1
        if got != counters[key]:
            fail(f"INCR {key}", got, counters[key])
    elif op == 3:
        key, field = k("h"), f"f{rng.randrange(5)}"
        added = rc.hset(key, field, i)
        h = hashes.setdefault(key, {})
        if added != (0 if field in h else 1):
            fail(f"HSET {key} {field}", added, 0 if field in h else 1)
        h[field] = str(i)
    elif op == 4:
        key = k("l")
        n = rc.lpush(key, i)
        lists.setdefault(key, []).insert(0, str(i))
        if n != len(lists[key]):
            fail(f"LPUSH {key}", n, len(lists[key]))
    elif op == 5:
        key, member = k("set"), f"m{rng.randrange(20)}"
        added = rc.sadd(key, member)
        s = sets.setdefault(key, set())
        if added != (0 if member in s else 1):
            fail(f"SADD {key}", added, 0 if member in s else 1)
        s.add(member)
    elif op == 6:
        key, member = k("z"), f"m{rng.randrange(20)}"
        rc.zadd(key, {member: i})
        zsets.setdefault(key, {})[member] = i
        score = rc.zscore(key, member)
        if score != float(i):
            fail(f"ZSCORE {key} {member}", score, float(i))
    elif op == 7:
        tag = rng.randrange(50)
        keys = [f"{{t{tag}}}:{j}" for j in range(3)]
        for j, key in enumerate(keys[:2]):
            rc.set(key, f"{tag}-{j}")
            strings[key] = f"{tag}-{j}"
        got = rc.mget(keys)
        want = [strings.get(key) for key in keys]
        if got != want:
            fail(f"MGET {keys}", got, want)
    elif op == 8:
        key = k(rng.choice(["s", "c", "h", "l", "set", "z"]))
        existed = any(key in m for m in (strings, counters, hashes, lists, sets, zsets))
        n = rc.delete(key)
        if n != int(existed):
            fail(f"DEL {key}", n, int(existed))
        for m in (strings, counters, hashes, lists, sets, zsets):
            m.pop(key, None)
    else:
        key = k("h")
        got = rc.hgetall(key)
        if got != hashes.get(key, {}):
            fail(f"HGETALL {key}", got, hashes.get(key, {}))
elapsed = time.monotonic() - start

nodes = rc.get_primaries()
per_node = [rc.dbsize(target_nodes=n) for n in nodes]
print(
    f"ops={total} errors=0 seconds={elapsed:.3f} nodes={len(nodes)} "
    f"keys_per_node={','.join(str(n) for n in per_node)}"
)
