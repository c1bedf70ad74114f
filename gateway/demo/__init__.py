"""Demo data and a one-command demo server."""
