"""Reproducible performance measurements (`make bench`); never timed assertions in tests."""
