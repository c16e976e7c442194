"""The one Flask app that every cell of the matrix serves.

It must import unchanged on every Flask from 0.10 to 3.x and on Python 2.7 to
3.13, so it sticks to APIs that all of them share and to syntax Python 2.7
still parses.
"""
