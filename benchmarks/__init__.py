"""Benchmarks that are not tests: `make bench-http` (python -m benchmarks.http_load)."""
