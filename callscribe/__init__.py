"""callscribe: self-hosted call transcription for PBX operators."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("callscribe")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
