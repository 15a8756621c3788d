"""callscribe's settings, validated in one place.

``transcription.py`` and ``daemon.py`` hold the sections, ``settings.py`` the whole file,
``loader.py`` reads it (TOML, environment, credentials).  Connector sections are declared
by each connector and listed in ``callscribe/connectors/registry.py``.
"""

from callscribe.config.base import ConfigModel, ConfigPath, Secret, SecretValue
from callscribe.config.transcription import (
    DEFAULT_HALLUCINATIONS,
    RenderSettings,
    TranscriptionSettings,
)

__all__ = [
    "DEFAULT_HALLUCINATIONS",
    "ConfigModel",
    "ConfigPath",
    "RenderSettings",
    "Secret",
    "SecretValue",
    "TranscriptionSettings",
]
