"""Benchmarks: ``make bench`` (``python -m benchmarks``) runs every
``benchmarks/bench_*.py`` module's ``run(quick: bool) -> dict`` and writes its
figures as JSON to ``benchmarks/results/<name>.json`` (medians of repeated
runs; this machine is noisy)."""
