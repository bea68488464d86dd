# SPDX-License-Identifier: GPL-3.0-or-later
"""Where sources must send their events (docs/protocol.md §3.4.3).

``http(s)://<host>:<port>/wsman/subscriptions/<UUID-UPPER>``: the host is the configured
``hostname``, else the host the source itself used in the Enumerate's ``a:To`` (it reached
us that way, and Kerberos needs that same name in the SPN); the port is ``advertized_port``.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Final
from urllib.parse import urlsplit

from ._ids import is_hyphenated_uuid
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = ["SUBSCRIPTIONS_PATH", "collector_host", "notify_address", "subscription_uuid_from_path"]

SUBSCRIPTIONS_PATH: Final = "/wsman/subscriptions/"

# RFC 1123 host names (plus "_", seen in lab DNS). Anything else in a:To is refused, so that a
# source cannot make us write an arbitrary string into the URLs we hand out.
_HOSTNAME_RE: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252}[A-Za-z0-9_.])?", re.ASCII)


def _valid_host(host: str) -> bool:
    if _HOSTNAME_RE.fullmatch(host) is not None and ".." not in host:
        return True
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def collector_host(to: str | None, configured_hostname: str | None) -> str:
    """The host name to put in NotifyTo/EndTo addresses.

    The configured hostname wins. Otherwise the host part of the request's ``a:To`` (its
    port is ignored: ours is ``advertized_port``). IPv6 literals come back without
    brackets. Raises :class:`RemoteProtocolError` (400) when neither gives a host.
    """
    if configured_hostname is not None and configured_hostname.strip():
        return configured_hostname.strip()
    if to is None:
        raise RemoteProtocolError("no hostname configured and no a:To in the request", 400)
    try:
        host = urlsplit(to.strip()).hostname
    except ValueError as err:  # e.g. an unbalanced "[" in the netloc
        raise RemoteProtocolError(f"a:To is not a URL: {to[:200]!r}", 400) from err
    if not host or not _valid_host(host):
        raise RemoteProtocolError(f"no usable host in a:To {to[:200]!r}", 400)
    return host


def notify_address(scheme: str, host: str, port: int, sub_uuid: str) -> str:
    """``<scheme>://<host>:<port>/wsman/subscriptions/<UUID-UPPER>`` (IPv6 hosts bracketed)."""
    if scheme not in ("http", "https"):
        raise LocalProtocolError(f"scheme must be http or https, not {scheme!r}")
    if not 0 < port < 65536:
        raise LocalProtocolError(f"port out of range: {port}")
    try:
        canonical = str(uuid.UUID(sub_uuid)).upper()
    except ValueError as err:
        raise LocalProtocolError(f"not a subscription UUID: {sub_uuid!r}") from err
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}{SUBSCRIPTIONS_PATH}{canonical}"


def subscription_uuid_from_path(path: str) -> str | None:
    """The subscription UUID in a ``/wsman/subscriptions/<uuid>[/...]`` request path.

    Returns the canonical lowercase form (as ``Subscription.uuid`` stores it), or None when
    the path is not a subscription endpoint or its first segment is not a UUID. Trailing
    segments are tolerated (Windows WEC's own addresses end in ``/<GUID>/1``).
    """
    path = path.split("?", 1)[0]
    if not path.startswith(SUBSCRIPTIONS_PATH):
        return None
    segment = path[len(SUBSCRIPTIONS_PATH) :].split("/", 1)[0]
    if not is_hyphenated_uuid(segment):  # the only form we hand out
        return None
    return segment.lower()
