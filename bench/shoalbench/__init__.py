"""Side-by-side benchmarks of shoal against redis-server (see bench/run)."""
