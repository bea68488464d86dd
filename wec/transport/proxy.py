# SPDX-License-Identifier: GPL-3.0-or-later
"""PROXY protocol v1 and v2 (HAProxy's spec), read once at the start of a TCP connection.

Behind a layer-4 load balancer the collector sees the balancer's address; the PROXY header
carries the source's real address, which wec needs for ``{ip}`` in output paths, heartbeats
and event metadata. Only the source address is used. A connection that does not start with a
valid header is refused: on a port configured for PROXY, anything else is an attacker or a
misconfiguration, and guessing would let a source forge its IP.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Protocol

__all__ = ["ProxyHeaderError", "ProxyInfo", "read_proxy_header"]

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V1_MAX = 107  # the spec's bound for a v1 line, CRLF included


class ProxyHeaderError(ValueError):
    """The connection did not start with a valid PROXY header."""


class _Reader(Protocol):
    def read(self, n: int, /) -> bytes: ...
    def readline(self, limit: int = ..., /) -> bytes: ...


class ProxyInfo(tuple[str | None, int | None]):
    """(source address, source port); (None, None) for LOCAL/UNKNOWN (health checks)."""

    __slots__ = ()

    @property
    def address(self) -> str | None:
        return self[0]

    @property
    def port(self) -> int | None:
        return self[1]


def _read_exact(rfile: _Reader, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = rfile.read(n - len(data))
        if not chunk:
            raise ProxyHeaderError("connection closed inside the PROXY header")
        data += chunk
    return data


def _v1(rfile: _Reader) -> ProxyInfo:
    rest = rfile.readline(_V1_MAX - 6 + 1)
    line = b"PROXY " + rest
    if not line.endswith(b"\r\n") or len(line) > _V1_MAX:
        raise ProxyHeaderError("PROXY v1 line too long or not CRLF-terminated")
    parts = line[:-2].decode("ascii", "replace").split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyInfo((None, None))
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError(f"malformed PROXY v1 line: {line[:_V1_MAX]!r}")
    # Ports are plain decimal: int() alone would also take "+80", " 80" or "8_0".
    if not (parts[4].isdigit() and parts[5].isdigit()):
        raise ProxyHeaderError(f"malformed PROXY v1 ports: {parts[4]!r} {parts[5]!r}")
    # A scope ("fe80::1%eth0") is not an address a balancer may report, and it would end
    # up in {ip} of output paths: refuse it.
    if "%" in parts[2] or "%" in parts[3]:
        raise ProxyHeaderError("PROXY v1 address with a scope id")
    try:
        src = ipaddress.ip_address(parts[2])
        ipaddress.ip_address(parts[3])
        sport, dport = int(parts[4]), int(parts[5])
    except ValueError as err:
        raise ProxyHeaderError(f"malformed PROXY v1 addresses: {err}") from err
    if (src.version == 4) != (parts[1] == "TCP4") or not (0 <= sport <= 65535 and 0 <= dport <= 65535):
        raise ProxyHeaderError("PROXY v1 address family or port out of range")
    return ProxyInfo((str(src), sport))


def _v2(rfile: _Reader, first: bytes) -> ProxyInfo:
    head = first + _read_exact(rfile, 16 - len(first))
    if head[:12] != V2_SIGNATURE:
        raise ProxyHeaderError(f"connection does not start with a PROXY header: {head[:12]!r}")
    ver_cmd, fam, length = head[12], head[13], struct.unpack("!H", head[14:16])[0]
    if ver_cmd >> 4 != 2:
        raise ProxyHeaderError("PROXY v2 header with a wrong version")
    body = _read_exact(rfile, length)
    command = ver_cmd & 0x0F
    if command == 0:  # LOCAL: the balancer's own health check
        return ProxyInfo((None, None))
    if command != 1:
        raise ProxyHeaderError(f"PROXY v2 unknown command {command}")
    family = fam >> 4
    if family == 1 and length >= 12:  # AF_INET
        return ProxyInfo((str(ipaddress.IPv4Address(body[0:4])), struct.unpack("!H", body[8:10])[0]))
    if family == 2 and length >= 36:  # AF_INET6
        return ProxyInfo((str(ipaddress.IPv6Address(body[0:16])), struct.unpack("!H", body[32:34])[0]))
    if family == 0:
        return ProxyInfo((None, None))
    raise ProxyHeaderError(f"PROXY v2 unsupported address family {family} (length {length})")


def read_proxy_header(rfile: _Reader) -> ProxyInfo:
    """Consume the PROXY header at the start of ``rfile`` and return the source address.

    Reads exactly the header's bytes, so the HTTP request behind it is left in the buffer.
    """
    first = _read_exact(rfile, 6)
    if first == b"PROXY ":
        return _v1(rfile)
    if first == V2_SIGNATURE[:6]:
        return _v2(rfile, first)
    raise ProxyHeaderError(f"connection does not start with a PROXY header: {first!r}")
