"""Benchmarks: scripts that measure, run by hand (``python -m bench.<name>``), never tests."""
