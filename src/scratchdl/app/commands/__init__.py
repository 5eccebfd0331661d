"""Subcommands of `scratchdl`: each module has `add_parser(subparsers)` and a `run(args)`."""
