"""Benchmarks that drive a real ``stayaway serve`` through a private Mosquitto (not part of the package)."""
