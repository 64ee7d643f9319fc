"""Medians and ratios over repeated runs."""

import statistics


def median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def median_fields(runs, fields=("rps", "p50", "p99", "p999")):
    """Per-field median over a list of parsed redis-benchmark results."""
    out = {f: median(r.get(f) for r in runs) for f in fields}
    rps = [r["rps"] for r in runs if r.get("rps") is not None]
    out["runs"] = len(runs)
    out["rps_min"] = min(rps) if rps else None
    out["rps_max"] = max(rps) if rps else None
    return out


def spread(fig):
    """How far a median's runs spread, as the min–max range around it (±%)."""
    lo, hi, mid = fig.get("rps_min"), fig.get("rps_max"), fig.get("rps")
    if not lo or not hi or not mid or fig.get("runs", 0) < 2:
        return None
    return 100.0 * (hi - lo) / 2 / mid


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def alternate(servers, round_index):
    """The order in which to run servers in one round: flipped every round so a slow
    drift of the machine (other load, thermal) does not always favour one side."""
    return list(servers) if round_index % 2 == 0 else list(reversed(servers))


def paired_ratios(a_runs, b_runs, fields=("rps", "p50", "p99", "p999")):
    """Median over rounds of a/b, each round's two runs taken back to back: load that
    comes and goes on a shared machine hits both runs of a round alike, so this is
    steadier than the ratio of the two medians."""
    out = {}
    for f in fields:
        out[f] = median(ratio(a.get(f), b.get(f)) for a, b in zip(a_runs, b_runs))
    return out
