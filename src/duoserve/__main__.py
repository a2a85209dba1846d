"""`python -m duoserve`: the same as the `duoserve` command."""

from .cli import main

main()
