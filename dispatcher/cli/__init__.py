"""The command line: parse options, call the library, print. No logic of its own.

Each group lives in its own module, imported only when one of its commands runs (see root.py).
"""

from .root import cli

__all__ = ["cli"]
