"""The release number, in one place: the package, `--version` and the start-up lines read it."""

__version__ = "0.1.0"
