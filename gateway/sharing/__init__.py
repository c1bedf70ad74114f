"""Sharing: what a reseller may see — the customers who designated it and are not withheld."""
