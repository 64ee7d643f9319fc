"""Medians and ratios over repeated runs."""

import statistics


def median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def median_fields(runs, fields=("rps", "p50", "p99", "p999")):
    """Per-field median over a list of parsed redis-benchmark results."""
    return {f: median(r.get(f) for r in runs) for f in fields} | {"runs": len(runs)}


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def alternate(servers, round_index):
    """The order in which to run servers in one round: flipped every round so a slow
    drift of the machine (other load, thermal) does not always favour one side."""
    return list(servers) if round_index % 2 == 0 else list(reversed(servers))
