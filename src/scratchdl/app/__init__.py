"""The application: the `scratchdl` command and its subcommands, the web apps, the experiments
and the figures. Imports everything; nothing imports it but the command line.
"""
