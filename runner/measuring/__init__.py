"""The fourth step: the probes, their HTTP client and load generators, and their maths."""
