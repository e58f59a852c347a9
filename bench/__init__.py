"""Benchmarks for Hemicycle; run them as modules (`python -m bench.fanout`). See bench/README.md."""
