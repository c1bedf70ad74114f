"""Customers: the allowlisted content the company loads, and stop of use (paragraph 6)."""
