"""The installed version of the `himoe` distribution."""

import importlib_metadata

try:
    __version__ = importlib_metadata.version("himoe")
except importlib_metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
