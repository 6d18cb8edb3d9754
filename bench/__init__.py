"""Benchmarks: the embedded fault proxy against direct loopback and a real Toxiproxy server.

Run as ``python -m bench``. The load generator (this process), the test servers and each proxy run in
separate processes so that no two of them share a GIL, as in a user's test run where the proxy lives in
the test process and the system under test elsewhere.
"""
