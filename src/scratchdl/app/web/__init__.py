"""`scratchdl serve`'s web page: an ASGI app (Starlette) and its one HTML file.

Needs the `web` extra (`pip install -e ".[web]"` in the checkout); nothing else in the
package imports this module.
"""
