"""The runtime: the array-module seam `xp`, threads, atomic files and errors, and the callbacks,
checkpoints and MPI around the book's training loop. Imports the book, never the engines or the app.
"""
