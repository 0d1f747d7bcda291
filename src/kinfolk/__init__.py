"""Kinfolk: one shared, trustworthy record of each person for the whole organisation."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kinfolk")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
