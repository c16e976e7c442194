"""The third step: a cell's server (and nginx in front) started, ready, stopped."""
