"""Benchmarks (``make bench``): each writes a JSON report, with baselines from the same run."""
