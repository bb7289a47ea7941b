"""Benchmarking: scenarios, subprocess runner, roofline estimates, result schema."""
