"""The runner: from ``matrix.yaml`` to cell records and a report.

Data flows one way: matrix -> cells -> environment -> running server ->
probe result -> cell record -> report.  Each module owns one step.
"""
