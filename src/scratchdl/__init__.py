"""scratchdl: Deep Learning from Scratch (Koki Saitoh) as an installable NumPy package."""

__version__ = "0.1.0"
