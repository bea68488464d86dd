# SPDX-License-Identifier: GPL-3.0-or-later
"""NotifyTo/EndTo addresses (docs/protocol.md §3.4.3) and subscription paths (§2 routing)."""

from __future__ import annotations

import pytest

from wec.protocol import (
    LocalProtocolError,
    RemoteProtocolError,
    collector_host,
    notify_address,
    subscription_uuid_from_path,
)

UUID = "9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95"


class TestCollectorHost:
    def test_configured_hostname_wins(self) -> None:
        assert collector_host("http://other:5985/wsman", "wec.corp.example") == "wec.corp.example"

    def test_configured_hostname_is_used_without_a_to(self) -> None:
        assert collector_host(None, " wec.corp.example ") == "wec.corp.example"

    @pytest.mark.parametrize(
        ("to", "host"),
        [
            ("http://wec.corp.example:5985/wsman/SubscriptionManager/WEC", "wec.corp.example"),
            ("https://wec.corp.example/wsman/", "wec.corp.example"),
            ("HTTP://WEC.Corp.Example:5985/x", "wec.corp.example"),
            ("http://10.20.30.40:5985/wsman", "10.20.30.40"),
            ("http://[2001:db8::10]:5985/wsman", "2001:db8::10"),
            ("http://[::1]/wsman", "::1"),
            ("  http://picard:5986/wsman/ ", "picard"),
            ("http://user@wec_lab.local:5985/", "wec_lab.local"),
        ],
    )
    def test_host_from_a_to(self, to: str, host: str) -> None:
        assert collector_host(to, None) == host

    def test_blank_configured_hostname_falls_back_to_a_to(self) -> None:
        assert collector_host("http://wec.corp.example/", "  ") == "wec.corp.example"

    @pytest.mark.parametrize(
        "to",
        [
            None,
            "",
            "not a url",
            "/wsman/SubscriptionManager/WEC",
            "http://[::1/wsman",
            "http://[not-ipv6]/",
            "http://evil host/",
            "http://a..b/",
            "http://-/",
            "http://ho%2Fst/",
            "http://x<y>/",
        ],
    )
    def test_no_usable_host_is_400(self, to: str | None) -> None:
        with pytest.raises(RemoteProtocolError) as info:
            collector_host(to, None)
        assert info.value.status == 400


class TestNotifyAddress:
    def test_http_with_uppercase_uuid(self) -> None:
        assert (
            notify_address("http", "wec.corp.example", 5985, UUID)
            == "http://wec.corp.example:5985/wsman/subscriptions/9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95"
        )

    def test_https_for_tls(self) -> None:
        assert notify_address("https", "wec", 5986, UUID.upper()).startswith(
            "https://wec:5986/wsman/subscriptions/"
        )

    def test_ipv6_hosts_are_bracketed(self) -> None:
        assert notify_address("http", "2001:db8::10", 5985, UUID).startswith("http://[2001:db8::10]:5985/")
        assert notify_address("http", "[::1]", 5985, UUID).startswith("http://[::1]:5985/")

    def test_round_trip_through_a_to_and_path(self) -> None:
        address = notify_address("http", collector_host("http://[2001:db8::10]:1/x", None), 5985, UUID)
        path = address.split(":5985", 1)[1]
        assert subscription_uuid_from_path(path) == UUID

    @pytest.mark.parametrize(
        ("scheme", "port", "uuid"),
        [("ftp", 5985, UUID), ("http", 0, UUID), ("http", 65536, UUID), ("http", 5985, "nope")],
    )
    def test_impossible_addresses_are_local_errors(self, scheme: str, port: int, uuid: str) -> None:
        with pytest.raises(LocalProtocolError):
            notify_address(scheme, "wec", port, uuid)


class TestSubscriptionUuidFromPath:
    @pytest.mark.parametrize(
        "path",
        [
            "/wsman/subscriptions/9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
            "/wsman/subscriptions/9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95",
            "/wsman/subscriptions/9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95/1",
            "/wsman/subscriptions/9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95?x=1",
        ],
    )
    def test_canonical_lowercase_uuid(self, path: str) -> None:
        assert subscription_uuid_from_path(path) == UUID

    @pytest.mark.parametrize(
        "path",
        [
            "/wsman/SubscriptionManager/WEC",
            "/wsman/subscriptions/",
            "/wsman/subscriptions/s1",
            "/wsman/Subscriptions/9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
            "/wsman/subscriptions/9D4C2B7A1E3F4A588C6D0B7E2F1A3C95",
            "/wsman/subscriptions/{9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C9}",
            "/wsman/subscriptions/+D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
            "/x/wsman/subscriptions/9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
            "",
        ],
    )
    def test_not_a_subscription_path(self, path: str) -> None:
        assert subscription_uuid_from_path(path) is None
