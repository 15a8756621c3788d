"""Mango Office's VPBX API as a source (docs/sources/mango.md)."""

from callscribe.connectors.sources.mango.config import MangoConfig
from callscribe.connectors.sources.mango.source import MangoSource

__all__ = ["MangoConfig", "MangoSource"]
