"""The command line: parse options, call the library, print. No logic of its own.

Each group lives in its own module; this one puts them under the root command.
"""

from .commands import attempts, demo, enqueue, init, process, status
from .config import config
from .endpoint import endpoint
from .importing import import_
from .receiving import listen, verify
from .recovery import dead, prune, replay
from .root import cli

for command in (init, endpoint, enqueue, process, status, attempts, dead, replay, prune, config, demo, verify, listen):
    cli.add_command(command)
cli.add_command(import_)

__all__ = ["cli"]
