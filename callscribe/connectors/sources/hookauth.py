"""Who may post to a webhook: a sender-address allow-list and a shared token, checked
before anything the sender wrote is believed (reliability.md R-WH-4, R-WH-10).

UIS, Calltouch and scripts posting to the generic source sign nothing, so a secret token
the sender repeats (in a header, the URL path or the body) plus, where the vendor
publishes its addresses, an allow-list of networks are all there is.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network

from pydantic import ConfigDict, Field, field_validator

from callscribe.config.base import Secret, SecretValue
from callscribe.connectors.settings import SourceSettings
from callscribe.errors import SourceError

Networks = tuple[IPv4Network | IPv6Network, ...]

# A token that travels in a URL path or a notification body the vendor stores: at least
# 128 bits (R-WH-10) in characters that need no escaping in either place.
URL_SAFE_128_BITS = re.compile(r"[A-Za-z0-9_-]{32,200}")
_SHORT = (
    "must be at least 32 characters of letters, digits, '-' and '_' (128 bits or more: it "
    "is the only thing that tells the vendor from anyone on the internet). Generate one "
    "with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
)


def url_token(token: Secret) -> Secret:
    """Validator for a token that goes into a URL path or a vendor's template."""
    if not URL_SAFE_128_BITS.fullmatch(token.reveal()):
        raise ValueError(_SHORT)
    return token


class VendorHookSettings(SourceSettings):
    """What every vendor webhook source has: the token it repeats and where it may post
    from."""

    # The token is the only thing between the internet and the queue; a failed check
    # must not print it (pydantic shows the input in its error text by default).
    model_config = ConfigDict(hide_input_in_errors=True)

    token: SecretValue = Field(
        description="Secret the vendor repeats with every webhook (where: the source's "
        "page): at least 32 letters, digits, '-' or '_'. Use credential:NAME."
    )
    allowed_ips: Networks = Field(
        (), description="Networks the vendor may post from, e.g. ['203.0.113.0/24']; empty: any."
    )

    _token_strength = field_validator("token")(url_token)


def check_client_address(networks: Networks, client_ip: str | None) -> None:
    """Return if ``networks`` is empty or holds the sender's address; 403 otherwise."""
    if not networks:
        return
    try:
        address = ipaddress.ip_address(client_ip or "")
    except ValueError:
        raise SourceError("client address unknown; allowed_ips is set", status=403) from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # a dual-stack socket reports ::ffff:a.b.c.d
    if not any(address in network for network in networks):
        raise SourceError(f"client address {address} is not in allowed_ips", status=403)


class TokenCheck:
    """Compares what a sender offers with the source's token, in constant time.

    Both sides are hashed before comparing, so the comparison also hides the token's
    length; ``compare_digest`` hides where the first difference is.
    """

    def __init__(self, token: Secret) -> None:
        self._digest = hashlib.sha256(token.reveal().encode("utf-8")).digest()

    def compare(self, candidates: Iterable[bytes]) -> list[bool]:
        """Whether each candidate is the token; every one is compared, so the time taken
        does not say which one was wrong.  The caller decides whether one match is enough."""
        return [
            hmac.compare_digest(hashlib.sha256(candidate).digest(), self._digest)
            for candidate in candidates
        ]
