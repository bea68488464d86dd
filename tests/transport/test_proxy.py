# SPDX-License-Identifier: GPL-3.0-or-later
"""PROXY protocol v1/v2 header parsing (HAProxy's proxy-protocol.txt; docs/protocol.md §2.4)."""

from __future__ import annotations

import io
import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wec.transport.proxy import V2_SIGNATURE, ProxyHeaderError, ProxyInfo, read_proxy_header

REQUEST = b"POST /wsman HTTP/1.1\r\nHost: wec:5985\r\nContent-Length: 0\r\n\r\n"


def _reader(data: bytes) -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO(data))


def _parse(header: bytes) -> tuple[ProxyInfo, bytes]:
    """Parse ``header`` followed by an HTTP request; returns the info and what is left."""
    rfile = _reader(header + REQUEST)
    info = read_proxy_header(rfile)
    return info, rfile.read()


def v2(command: int, family: int, body: bytes, version: int = 2, transport: int = 1) -> bytes:
    return (
        V2_SIGNATURE
        + bytes([(version << 4) | command, (family << 4) | transport])
        + struct.pack("!H", len(body))
        + body
    )


def v2_inet(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    body = ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed
    return v2(1, 1, body + struct.pack("!HH", sport, dport) + tlvs)


def v2_inet6(src: str, dst: str, sport: int, dport: int) -> bytes:
    body = ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
    return v2(1, 2, body + struct.pack("!HH", sport, dport))


# --- v1 ----------------------------------------------------------------------------------


def test_v1_tcp4_gives_the_source_address_and_leaves_the_request() -> None:
    info, rest = _parse(b"PROXY TCP4 192.0.2.10 10.0.0.5 50123 5985\r\n")

    assert info == ("192.0.2.10", 50123)
    assert (info.address, info.port) == ("192.0.2.10", 50123)
    assert rest == REQUEST


def test_v1_tcp6_gives_the_source_address_in_canonical_form() -> None:
    info, rest = _parse(b"PROXY TCP6 2001:DB8:0:0::10 2001:db8::1 65535 5985\r\n")

    assert info == ("2001:db8::10", 65535)
    assert rest == REQUEST


def test_v1_unknown_is_a_connection_without_source() -> None:
    info, rest = _parse(b"PROXY UNKNOWN\r\n")

    assert info == (None, None)
    assert rest == REQUEST


def test_v1_unknown_may_carry_ignored_addresses() -> None:
    info, rest = _parse(b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n")

    assert info == (None, None)
    assert rest == REQUEST


def test_v1_longest_legal_line_is_accepted() -> None:
    line = (
        b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        b" 65535 65535\r\n"
    )
    assert len(line) == 104  # the spec's worst case (107 with the UNKNOWN form's slack)

    info, rest = _parse(line)

    assert info == ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535)
    assert rest == REQUEST


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"PROXY TCP4 " + b"1" * 120 + b"\r\n", id="too-long"),
        pytest.param(b"PROXY TCP4 192.0.2.10 10.0.0.5 50123 5985\n", id="lf-only"),
        pytest.param(b"PROXY TCP4 192.0.2.10 10.0.0.5 50123 5985", id="no-crlf-eof"),
        pytest.param(b"PROXY TCP4 192.0.2.10 10.0.0.5 50123\r\n", id="missing-port"),
        pytest.param(b"PROXY TCP4 192.0.2.10 10.0.0.5 50123 5985 extra\r\n", id="extra-field"),
        pytest.param(b"PROXY TCP4 192.0.2.10  10.0.0.5 50123 5985\r\n", id="double-space"),
        pytest.param(b"PROXY TCP4 192.0.2.300 10.0.0.5 50123 5985\r\n", id="bad-ipv4"),
        pytest.param(b"PROXY TCP4 192.0.2.10 10.0.0 50123 5985\r\n", id="bad-destination"),
        pytest.param(b"PROXY TCP6 2001:db8::zz 2001:db8::1 50123 5985\r\n", id="bad-ipv6"),
        pytest.param(b"PROXY TCP4 2001:db8::10 10.0.0.5 50123 5985\r\n", id="ipv6-labelled-tcp4"),
        pytest.param(b"PROXY TCP6 192.0.2.10 2001:db8::1 50123 5985\r\n", id="ipv4-labelled-tcp6"),
        pytest.param(b"PROXY TCP4 192.0.2.10 10.0.0.5 65536 5985\r\n", id="port-too-big"),
        pytest.param(b"PROXY TCP4 192.0.2.10 10.0.0.5 -1 5985\r\n", id="negative-port"),
        pytest.param(b"PROXY TCP4 192.0.2.10 10.0.0.5 http 5985\r\n", id="port-not-a-number"),
        pytest.param(b"PROXY UDP4 192.0.2.10 10.0.0.5 50123 5985\r\n", id="udp"),
        pytest.param(b"PROXY \r\n", id="empty"),
        pytest.param(b"PROXY", id="truncated-signature"),
        pytest.param(b"", id="nothing"),
        pytest.param(b"proxy TCP4 192.0.2.10 10.0.0.5 50123 5985\r\n", id="lower-case"),
        pytest.param(b"PROXY TCP4 \xc0\xa8\x00\x01 10.0.0.5 50123 5985\r\n", id="binary-address"),
    ],
)
def test_v1_malformed_header_is_refused(line: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        read_proxy_header(_reader(line))


def test_v1_malformed_header_followed_by_a_request_is_refused() -> None:
    with pytest.raises(ProxyHeaderError):
        read_proxy_header(_reader(b"PROXY TCP4 192.0.2.10 10.0.0.5 50123\r\n" + REQUEST))


def test_plain_http_without_header_is_refused() -> None:
    with pytest.raises(ProxyHeaderError, match="does not start with a PROXY header"):
        read_proxy_header(_reader(REQUEST))


# --- v2 ----------------------------------------------------------------------------------


def test_v2_ipv4_gives_the_source_address_and_leaves_the_request() -> None:
    info, rest = _parse(v2_inet("192.0.2.10", "10.0.0.5", 50123, 5985))

    assert info == ("192.0.2.10", 50123)
    assert rest == REQUEST


def test_v2_ipv6_gives_the_source_address() -> None:
    info, rest = _parse(v2_inet6("2001:db8::10", "2001:db8::1", 443, 5985))

    assert info == ("2001:db8::10", 443)
    assert rest == REQUEST


def test_v2_tlvs_after_the_addresses_are_consumed() -> None:
    # PP2_TYPE_ALPN (0x01) and PP2_TYPE_AUTHORITY (0x02), as HAProxy may append them.
    tlvs = b"\x01\x00\x08http/1.1" + b"\x02\x00\x0ewec.test.local"

    info, rest = _parse(v2_inet("192.0.2.10", "10.0.0.5", 50123, 5985, tlvs))

    assert info == ("192.0.2.10", 50123)
    assert rest == REQUEST


def test_v2_local_is_a_health_check_without_source() -> None:
    info, rest = _parse(v2(0, 0, b""))

    assert info == (None, None)
    assert rest == REQUEST


def test_v2_local_with_addresses_ignores_them() -> None:
    info, rest = _parse(v2(0, 1, bytes(12)))

    assert info == (None, None)
    assert rest == REQUEST


def test_v2_proxy_with_unspec_family_has_no_source() -> None:
    info, rest = _parse(v2(1, 0, b""))

    assert info == (None, None)
    assert rest == REQUEST


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(v2_inet("192.0.2.10", "10.0.0.5", 1, 2)[:20], id="truncated-body"),
        pytest.param(V2_SIGNATURE + b"\x21", id="truncated-fixed-part"),
        pytest.param(V2_SIGNATURE[:9], id="truncated-signature"),
        pytest.param(V2_SIGNATURE[:6] + b"XXXXXX" + b"\x21\x11\x00\x0c" + bytes(12), id="bad-signature"),
        pytest.param(v2(1, 1, bytes(12), version=1), id="version-1"),
        pytest.param(v2(1, 1, bytes(12), version=3), id="version-3"),
        pytest.param(v2(2, 1, bytes(12)), id="unknown-command"),
        pytest.param(v2(1, 1, bytes(11)), id="ipv4-body-too-short"),
        pytest.param(v2(1, 2, bytes(35)), id="ipv6-body-too-short"),
        pytest.param(v2(1, 3, bytes(216)), id="unix-family"),
        pytest.param(v2(1, 4, bytes(12)), id="unknown-family"),
    ],
)
def test_v2_malformed_header_is_refused(header: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        read_proxy_header(_reader(header))


# --- never anything but ProxyInfo or ProxyHeaderError -------------------------------------


def _must_parse_or_refuse(data: bytes) -> None:
    rfile = _reader(data)
    try:
        info = read_proxy_header(rfile)
    except ProxyHeaderError:
        return
    assert isinstance(info, ProxyInfo)
    if info.address is not None:
        ipaddress.ip_address(info.address)
        assert info.port is not None
        assert 0 <= info.port <= 65535
    else:
        assert info.port is None


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_proxy_header_error(data: bytes) -> None:
    _must_parse_or_refuse(data)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_v1_lines_parse_or_raise_proxy_header_error(tail: bytes) -> None:
    _must_parse_or_refuse(b"PROXY " + tail)


_V1_WORDS = st.lists(
    st.one_of(
        st.sampled_from(["TCP4", "TCP6", "UNKNOWN", "UDP4", "", "1.2.3.4", "::1", "65535", "0", "99999"]),
        st.ip_addresses().map(str),
        st.integers(-5, 70000).map(str),
        st.text(max_size=8),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(_V1_WORDS, st.sampled_from([b"\r\n", b"\n", b"", b"\r"]))
def test_structured_v1_lines_parse_or_raise_proxy_header_error(words: list[str], end: bytes) -> None:
    _must_parse_or_refuse(b"PROXY " + " ".join(words).encode("utf-8") + end + REQUEST)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=80), st.integers(0, 100))
def test_arbitrary_v2_headers_parse_or_raise_proxy_header_error(
    ver_cmd: int, fam: int, body: bytes, declared: int
) -> None:
    header = V2_SIGNATURE + bytes([ver_cmd, fam]) + struct.pack("!H", declared) + body
    _must_parse_or_refuse(header)


@settings(max_examples=100, deadline=None)
@given(st.ip_addresses(v=4), st.ip_addresses(v=4), st.integers(0, 65535), st.integers(0, 65535))
def test_v2_ipv4_round_trip(
    src: ipaddress.IPv4Address, dst: ipaddress.IPv4Address, sport: int, dport: int
) -> None:
    info, rest = _parse(v2_inet(str(src), str(dst), sport, dport))

    assert info == (str(src), sport)
    assert rest == REQUEST


@settings(max_examples=100, deadline=None)
@given(st.ip_addresses(v=6), st.integers(0, 65535))
def test_v1_tcp6_round_trip(src: ipaddress.IPv6Address, sport: int) -> None:
    info, rest = _parse(f"PROXY TCP6 {src} ::1 {sport} 5985\r\n".encode())

    assert info == (str(src), sport)
    assert rest == REQUEST


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"PROXY TCP4 192.0.2.10 10.0.0.5 +80 5985\r\n", id="signed-port"),
        pytest.param(b"PROXY TCP4 192.0.2.10 10.0.0.5 5_0 5985\r\n", id="underscore-port"),
        pytest.param(b"PROXY TCP4 192.0.2.10 10.0.0.5 50123 \t5985\r\n", id="tab-port"),
        pytest.param(b"PROXY TCP6 fe80::1%eth0 2001:db8::1 50123 5985\r\n", id="scoped-source"),
        pytest.param(b"PROXY TCP6 fe80::1%.. 2001:db8::1 50123 5985\r\n", id="scope-dots"),
    ],
)
def test_v1_only_plain_decimal_ports_and_unscoped_addresses(line: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        read_proxy_header(_reader(line))
