"""Benchmarks that print ratios (run by hand: ``python -m bench <name>``)."""
