"""`scratchdl lab`: a web page where a learner trains the book's networks and watches them
learn, live. `config` reads a run's JSON configuration (the recipe of `scratchdl train`),
`datasets` holds the data the runs share, `views` draws what the page shows of a network,
`runs` trains each run with the library's Trainer on a thread of its own, and `server` is
the Starlette app that serves `index.html` and the API.

Needs the `web` extra (`pip install -e ".[web]"` in the checkout).
"""
