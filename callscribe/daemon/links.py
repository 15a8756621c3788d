"""Links to a call's recording that platforms (Qolio, Usedesk, Okdesk) can play from:
``<public_url>/recordings/<call id>/call-<call id>.wav?expires=<unix time>&sig=<hmac>``.

The signature is HMAC-SHA256 over the call id and the expiry time, with a key only this
service holds (``[daemon] link_secret``, or one generated once into the state folder), so
a link opens one call's recording until it expires and cannot be turned into another's.
Expiry times are rounded up to the hour: every attempt to deliver a call within the same
hour gives the same link, so a platform that is sent it twice sees the same text.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import math
import os
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path

from callscribe.config.daemon import DaemonSettings
from callscribe.errors import ConfigError

log = logging.getLogger(__name__)

PREFIX = "/recordings"
KEY_FILE = "link-secret"
MIN_SECRET_CHARS = 32
_ROUND = 3600
_PURPOSE = b"callscribe recording link v1"


def file_name(call_id: int, suffix: str) -> str:
    """The name a call's recording has in its link: the suffix tells players the format."""
    return f"call-{call_id}{suffix}"


class RecordingLinks:
    """Makes and checks signed, expiring links to recordings."""

    def __init__(
        self,
        key: bytes,
        public_url: str,
        lifetime_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._base = public_url.rstrip("/") + PREFIX
        self._lifetime = lifetime_seconds
        self._clock = clock

    def url(self, call_id: int, suffix: str) -> str:
        expires = math.ceil((self._clock() + self._lifetime) / _ROUND) * _ROUND
        signature = self._sign(call_id, expires)
        name = file_name(call_id, suffix)
        return f"{self._base}/{call_id}/{name}?expires={expires}&sig={signature}"

    def check(self, call_id: str, expires: str, signature: str) -> int | None:
        """The call id when the link is genuine and has not expired; None otherwise
        (which of the two is not told: to whoever is probing, both are "not found")."""
        canonical = call_id.isascii() and call_id.isdigit() and str(int(call_id)) == call_id
        if not canonical or not (expires.isascii() and expires.isdigit()) or len(expires) > 12:
            return None
        expected = self._sign(int(call_id), int(expires)).encode()
        genuine = hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape"))
        if not genuine or int(expires) <= self._clock():
            return None
        return int(call_id)

    def _sign(self, call_id: int, expires: int) -> str:
        message = b"%s\n%d\n%d" % (_PURPOSE, call_id, expires)
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def recording_links(daemon: DaemonSettings) -> RecordingLinks | None:
    """The link maker for these settings; None without ``public_url``."""
    if daemon.public_url is None:
        return None
    if daemon.link_secret is not None:
        key = daemon.link_secret.reveal().encode()
    else:
        key = stored_key(daemon.state_dir / KEY_FILE)
    return RecordingLinks(key, daemon.public_url, daemon.link_days * 86400)


def stored_key(path: Path) -> bytes:
    """The key kept in ``path``, made on first use (readable by this service only)."""
    try:
        key = _read_key(path)
        if key is None:
            _write_key(path)
            key = _read_key(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot keep the recording link key in {path}: {exc.strerror or exc}; "
            "make the state folder writable or set [daemon] link_secret"
        ) from None
    if key is None or len(key) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"the recording link key in {path} is too short; delete the file to have a new "
            "one made (links given out so far stop working)"
        )
    return key


def _read_key(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as file:
        mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
        if mode & 0o077:
            log.warning("%s could be read by others (mode %o); made 0600", path, mode)
            os.fchmod(file.fileno(), 0o600)
        return file.read(4096).strip()


def _write_key(path: Path) -> None:
    """Write a new key beside ``path`` and link it into place: another process that
    makes one at the same moment wins or loses whole, never leaving half a key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}-{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_urlsafe(32).encode() + b"\n")
            file.flush()
            os.fsync(file.fileno())
        # Made by another process meanwhile: theirs is the one.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    log.info("made a new recording link key in %s", path)
