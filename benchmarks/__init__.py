"""Benchmarks: scripts run by hand (each docstring gives its command), never imported by
edgedistil. A package only so the tests can import the shared helpers, ``benchmarks._timing``."""
