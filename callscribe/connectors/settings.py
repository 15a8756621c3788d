"""Settings every source shares: how its recordings may be fetched, which channel is
which speaker, and whether platforms may be given its recording URLs."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from pydantic import Field

from callscribe.config.base import ConfigModel
from callscribe.connectors.fetch import FetchPolicy
from callscribe.domain import Speaker

SHARE_RECORDING_URLS = (
    "Give platforms that play recordings (Qolio, Usedesk, Okdesk) this source's own "
    "recording URL: only for URLs that stay valid for days and that the platform can reach "
    "without a login or VPN. Otherwise they get callscribe's own signed link when "
    "[daemon] public_url is set, or none."
)


class SourceSettings(ConfigModel):
    """A source type whose URLs are single-use or need credentials (Mango's signed
    downloads) declares ``share_recording_urls: Literal[False]``, so no setting can hand
    them out; one whose senders choose lasting URLs (the generic webhook) defaults to
    True."""

    channels: tuple[Speaker, Speaker] | None = Field(
        None,
        description="Who is on the left and right channel of this source's stereo "
        "recordings; default: [transcription] channels.",
    )
    recording_hosts: tuple[str, ...] = Field(
        (),
        description="Hosts recordings may be downloaded from ('files.example.com', "
        "'*.example.com'); empty: any public host.",
    )
    allow_private_hosts: bool = Field(
        False,
        description="Allow recording URLs on private networks (an on-prem PBX on the LAN). "
        "Loopback and link-local addresses stay refused.",
    )
    allow_http: bool = Field(
        False, description="Allow plain http:// recording URLs (https only by default)."
    )
    loopback_ports: tuple[int, ...] = Field(
        (),
        description="Ports on this machine the recordings may come from (a PBX web server "
        "on the same host, e.g. [8088]); every other local port stays refused.",
    )
    share_recording_urls: bool = Field(False, description=SHARE_RECORDING_URLS)

    def fetch_policy(self, max_bytes: int, local_dirs: Collection[Path] = ()) -> FetchPolicy:
        """Where this source's recordings may be fetched from, as these settings say."""
        return FetchPolicy(
            schemes=frozenset({"https", "http"} if self.allow_http else {"https"}),
            hosts=self.recording_hosts,
            allow_private=self.allow_private_hosts,
            max_bytes=max_bytes,
            local_dirs=local_dirs,
            loopback_ports=self.loopback_ports,
        )
