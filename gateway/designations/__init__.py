"""Designations: which resellers each customer designated (clause 22, paragraph 3)."""
