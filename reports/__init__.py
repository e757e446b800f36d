"""Reporting: the machine-readable drill summary and what people read."""
