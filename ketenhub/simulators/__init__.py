"""Simulators of every partner and destination, for tests, the demo and the benchmark.

They speak the real protocols over real sockets, enforce their side of the contract, keep what
they accepted where a test or a person can look, and can be told to misbehave."""
