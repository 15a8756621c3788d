"""The ``asterisk`` source: Asterisk (FreePBX, Issabel, VitalPBX) through AMI.

``source`` ties the parts together: ``link`` (panoramisk, login, reconnect, watchdog) →
``framing`` → ``calls`` (calls by Linkedid) → ``report`` (CallEvent) and ``recovery``
(what ended while the link was down); ``files`` reads the recordings, ``plan`` says which
files a recording is made of.  docs/sources/asterisk.md is the admin's side of it.
"""

from callscribe.connectors.sources.asterisk.config import AsteriskSourceConfig
from callscribe.connectors.sources.asterisk.source import AsteriskSource

__all__ = ["AsteriskSource", "AsteriskSourceConfig"]
