"""The second step: each cell's interpreter and virtualenv (built, cached, locked)."""
