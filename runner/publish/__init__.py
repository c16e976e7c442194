"""Publishing a run: the report as Markdown and as a page, its charts, its data files.

:mod:`runner.publish.artefacts` writes them all; see its docstring for the files.
"""
