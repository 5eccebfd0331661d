"""`scratchdl serve`'s web page: an ASGI app (Starlette) and its one HTML file.

Needs the `web` extra (`pip install "scratchdl[web]"`); nothing else in the package
imports this module.
"""
