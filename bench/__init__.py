"""Benchmarks: each module has ``main(argv) -> dict`` and prints one JSON object."""
