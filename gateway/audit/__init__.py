"""The access log: one append-only, hash-chained record of every event.

DESIGN: the log comes first — no event without its entry, no entry without its event.
"""
