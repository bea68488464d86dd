# SPDX-License-Identifier: GPL-3.0-or-later
"""Attribution attacks against the real wecd and a real KDC (docs/security.md, "Attribution").

Each test authenticates real principals of the test realm over real sockets and checks what
the collector wrote, logged and counted: users and look-alike machine accounts posing as a
machine, spellings that dodge an ``Except`` filter, forged ``System/Computer`` values,
tickets for a foreign SPN, a failed re-authentication, messages posted to the wrong endpoint
and an unauthenticated MachineID filter.
"""

from __future__ import annotations

import sqlite3
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import SUBSCRIPTION_UUID, Collector, subscription_toml
from tests.support.kdc import Kdc
from tests.support.ports import free_port, wait_for_port
from wec.sim import soap
from wec.sim.transport import AuthError, ClientSecurity, WinRMConnection, acquire_credentials

pytestmark = pytest.mark.e2e

ENDPOINT = f"/wsman/subscriptions/{SUBSCRIPTION_UUID.upper()}"
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"

_OPEN: list[WinRMConnection] = []


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def monitored(tmp_path: Path, kdc: Kdc, *, settings: str = "", **kwargs: object) -> tuple[Collector, int]:
    """A collector with the Prometheus endpoint on, and its port."""
    mport = free_port()
    c = Collector(
        tmp_path / "collector",
        kdc,
        extra_settings=settings,
        extra_sections=f'[monitoring]\nlisten_address = "127.0.0.1"\nlisten_port = {mport}\n',
        **kwargs,  # type: ignore[arg-type]
    )
    return c, mport


def metric(port: int, name: str, **labels: str) -> float:
    wait_for_port(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def connect(
    collector: Collector,
    principal: str,
    path: str = ENDPOINT,
    *,
    spn_service: str = "HTTP",
    spn_host: str | None = None,
) -> WinRMConnection:
    """An authenticated connection as ``principal`` (the Windows way: the empty POST)."""
    keytab = collector.kdc.client_keytabs[principal]
    security = ClientSecurity(
        mode="kerberos",
        credentials=acquire_credentials(principal, str(keytab)),
        spn_service=spn_service,
        spn_host=spn_host,
    )
    conn = WinRMConnection(
        f"http://wec.test.local:{collector.port}{path}",
        security,
        connect_to=("127.0.0.1", collector.port),
        timeout=20,
    )
    _OPEN.append(conn)
    conn.open()
    return conn


def _refs(uuid: str) -> list[soap.RefParam]:
    return [
        soap.RefParam("http://schemas.xmlsoap.org/ws/2004/08/eventing", "Identifier", uuid.upper()),
        soap.RefParam(None, "Version", "00000000-0000-0000-0000-000000000000"),
    ]


def heartbeat(conn: WinRMConnection, uuid: str = SUBSCRIPTION_UUID) -> int:
    xml = soap.build_heartbeat(
        to=conn.url,
        machine_id="win10.wec.test.local",
        message_id=soap.new_uuid(),
        refs=_refs(uuid),
        session_id=soap.new_uuid(),
        operation_id=soap.new_uuid(),
    )
    return conn.post(soap.encode_utf16(xml), compress=True).status


def event(record: int, computer_xml: str) -> str:
    """One Security event; ``computer_xml`` is what System holds after Channel."""
    return (
        f"<Event xmlns='{EVENT_NS}'><System><Provider Name='Microsoft-Windows-Security-Auditing'/>"
        f"<EventID>4624</EventID><EventRecordID>{record}</EventRecordID><Channel>Security</Channel>"
        f"{computer_xml}</System><EventData><Data Name='TargetUserName'>alice</Data></EventData></Event>"
    )


def send_events(conn: WinRMConnection, events: list[str], last: int) -> int:
    xml = soap.build_events(
        to=conn.url,
        machine_id="win10.wec.test.local",
        message_id=soap.new_uuid(),
        refs=_refs(SUBSCRIPTION_UUID),
        events=events,
        bookmark_xml=soap.bookmark_list_xml({"Security": last}, "Security"),
        session_id=soap.new_uuid(),
        operation_id=soap.new_uuid(),
    )
    return conn.post(soap.encode_utf16(xml), compress=True).status


def written(collector: Collector) -> str:
    return "".join(p.read_text(errors="replace") for p in collector.output_files())


def stored_bookmarks(collector: Collector) -> list[str]:
    db = sqlite3.connect(collector.directory / "wec.sqlite")
    try:
        return [row[0] for row in db.execute("select client from bookmarks order by client")]
    finally:
        db.close()


def add_client(kdc: Kdc, name: str) -> str:
    kdc.add_client(name)
    return f"{name}@{kdc.realm}"


# --- 2. attribution -------------------------------------------------------------------------


def test_a_user_principal_is_refused_by_default(collector: Collector) -> None:
    user = add_client(collector.kdc, "WIN10")  # a user account named like the machine
    collector.start()
    with pytest.raises(AuthError, match="401"):
        connect(collector, user)
    assert "WIN10@WEC.TEST is not a computer account" in collector.logs()
    # The machine itself still gets in.
    assert heartbeat(connect(collector, "WIN10$@WEC.TEST")) == 200


def test_with_the_setting_off_a_user_is_accepted_but_cannot_share_the_machines_file(
    tmp_path: Path, kdc: Kdc
) -> None:
    user = add_client(kdc, "WIN10")
    c, mport = monitored(tmp_path, kdc, settings="kerberos_machine_accounts_only = false")
    c.add_subscription(subscription_toml())
    try:
        c.start()
        machine = connect(c, "WIN10$@WEC.TEST")
        assert send_events(machine, [event(1, "<Computer>win10.wec.test.local</Computer>")], 1) == 200
        # OpenWEC's behaviour: the user authenticates…
        impostor = connect(c, user)
        # …but WIN10@WEC.TEST renders to the {client} directory of WIN10$@WEC.TEST.
        assert send_events(impostor, [event(2, "<Computer>win10.wec.test.local</Computer>")], 2) == 403
        assert heartbeat(impostor) == 403
        logs = c.logs()
        assert "client WIN10@WEC.TEST renders to the same {client} as WIN10$@WEC.TEST" in logs
        assert metric(mport, "wec_client_name_collisions_total") == 2
        assert [p.relative_to(c.directory).as_posix() for p in c.output_files()] == [
            "out/WIN10@WEC.TEST/raw.xml"
        ]
        assert "<EventRecordID>2<" not in written(c)
        assert stored_bookmarks(c) == ["WIN10$@WEC.TEST"]
        assert heartbeat(machine) == 200  # the owner is not disturbed
    finally:
        c.stop()


def test_a_look_alike_machine_account_is_refused_even_after_a_restart(tmp_path: Path, kdc: Kdc) -> None:
    look_alike = add_client(kdc, "WIN10é$")  # "é" is dropped by {client}: WIN10@WEC.TEST
    c, mport = monitored(tmp_path, kdc)
    c.add_subscription(subscription_toml())
    try:
        c.start()
        assert send_events(connect(c, "WIN10$@WEC.TEST"), [event(1, "<Computer>WIN10</Computer>")], 1) == 200
        before = written(c)
        # The owners of each rendering come back from the stored bookmarks: the look-alike
        # cannot take the name by being first after a restart.
        c.restart()
        forged = connect(c, look_alike)
        assert send_events(forged, [event(9, "<Computer>WIN10</Computer>")], 9) == 403
        assert "renders to the same {client} as WIN10$@WEC.TEST" in c.logs()
        assert metric(mport, "wec_client_name_collisions_total") == 1
        assert written(c) == before
        assert stored_bookmarks(c) == ["WIN10$@WEC.TEST"]
    finally:
        c.stop()


@pytest.mark.parametrize(
    "spelling",
    [
        "win10$",  # another case: a distinct MIT principal, the same account to AD
        "WIN10$\\@wec.test.local",  # the enterprise spelling WIN10$\@wec.test.local@WEC.TEST
    ],
)
def test_an_except_filter_cannot_be_dodged_by_another_spelling(collector: Collector, spelling: str) -> None:
    dodger = add_client(collector.kdc, spelling)
    collector.add_subscription(
        subscription_toml(extra='[filter]\noperation = "Except"\ntargets = ["WIN10$@WEC.TEST"]\n')
    )
    collector.start()
    assert heartbeat(connect(collector, dodger)) == 403
    assert heartbeat(connect(collector, "WIN10$@WEC.TEST")) == 403
    assert heartbeat(connect(collector, "WIN11$@WEC.TEST")) == 200  # the filter admits others
    assert "is not allowed by the filter" in collector.logs()


# --- 3. forged Computer names -----------------------------------------------------------------

FORGED = [
    event(1, "<Computer>win10.wec.test.local</Computer>"),  # FQDN, other case: the host
    event(2, "<Computer>DC01.wec.test.local</Computer>"),  # another machine
    event(3, "<Computer>WIN10</Computer>"),  # the short name: the host
    # A decoy a scan could believe while a parser reads DC01: not verifiable, so a mismatch.
    event(4, "<!--<Computer>WIN10</Computer>--><Computer>DC01</Computer>"),
    event(5, ""),  # no Computer at all
]


@pytest.mark.parametrize("action", ["drop", "log", "accept"])
def test_computer_mismatch(tmp_path: Path, kdc: Kdc, action: str) -> None:
    c, mport = monitored(tmp_path, kdc)
    c.add_subscription(
        subscription_toml(options=f'max_time = 1\nheartbeat_interval = 30\ncomputer_mismatch = "{action}"')
    )
    try:
        c.start()
        conn = connect(c, "WIN10$@WEC.TEST")
        # Acked whatever the action: dropped events must not come back forever.
        assert send_events(conn, FORGED, 5) == 200
        assert send_events(conn, [event(6, "<Computer>DC01</Computer>")], 6) == 200
        out = written(c)
        records = {n for n in range(1, 7) if f"<EventRecordID>{n}<" in out}
        assert records == ({1, 3} if action == "drop" else {1, 2, 3, 4, 5, 6})
        assert stored_bookmarks(c) == ["WIN10$@WEC.TEST"]
        sub = {"subscription_uuid": SUBSCRIPTION_UUID.upper(), "subscription_name": "e2e-security"}
        counted = metric(mport, "wec_computer_mismatch_events_total", action=action, **sub)
        logs = c.logs()
        if action == "accept":
            assert counted == 0
            assert "name another computer" not in logs
        else:
            assert counted == 4
            # One line per source and minute: the second batch is counted, not logged again.
            assert logs.count("name another computer") == 1
            assert "3 of 5 event(s) from WIN10$@WEC.TEST" in logs
            assert f"computer_mismatch = {action}" in logs
    finally:
        c.stop()


# --- 7. Kerberos and routing hardening ---------------------------------------------------------

_ALIAS_SPN = "HTTP/alias.wec.test.local"


@pytest.fixture(scope="module")
def foreign_spn(kdc: Kdc) -> str:
    """A second SPN whose key is in the collector's keytab (a keytab shared with another name)."""
    kdc.add_service(_ALIAS_SPN, kdc.service_keytab)
    return _ALIAS_SPN


def test_without_an_spn_only_the_hostnames_spns_are_accepted(
    tmp_path: Path, kdc: Kdc, foreign_spn: str
) -> None:
    c = Collector(tmp_path / "collector", kdc, service_principal_name="")
    c.add_subscription(subscription_toml())
    try:
        c.start()
        with pytest.raises(AuthError, match="401"):
            connect(c, "WIN10$@WEC.TEST", spn_host="alias.wec.test.local")
        assert f"ticket for {foreign_spn}@WEC.TEST, not for an SPN of this collector" in c.logs()
        # HTTP/<hostname> and HOST/<hostname> (Windows Server 2025) both work.
        assert heartbeat(connect(c, "WIN10$@WEC.TEST")) == 200
        assert heartbeat(connect(c, "WIN11$@WEC.TEST", spn_service="HOST")) == 200
    finally:
        c.stop()


def test_a_failed_reauthentication_forgets_the_previous_principal(collector: Collector) -> None:
    collector.start()
    conn = connect(collector, "WIN10$@WEC.TEST")
    assert heartbeat(conn) == 200
    resp = conn._http.request(
        "POST",
        conn.target,
        [("Authorization", "Kerberos AAAA"), ("Content-Length", "0"), ("Host", conn.host_header)],
        b"",
    )
    assert resp.status == 401
    # Without an Authorization the connection is nobody's now.
    resp = conn._http.request("POST", conn.target, [("Content-Length", "0"), ("Host", conn.host_header)], b"")
    assert resp.status == 401
    access = (collector.directory / "access.log").read_text()
    refused = [line for line in access.splitlines() if '" 401 ' in line]
    assert len(refused) == 2
    assert all(" - - [" in line and "WIN10$" not in line for line in refused), refused
    assert "(None): 401 authentication failed" in collector.logs()


@pytest.mark.parametrize(
    "path",
    [
        "/wsman/SubscriptionManager/WEC",  # the enumeration URI
        "/wsman/subscriptions/0B9F0D3E-6A61-4C1E-9D1F-3C8A5E2B7F10",  # another subscription's
        "/elsewhere",
    ],
)
def test_heartbeat_and_events_must_use_the_subscriptions_endpoint(collector: Collector, path: str) -> None:
    collector.start()
    conn = connect(collector, "WIN10$@WEC.TEST", path)
    assert heartbeat(conn) == 404
    assert send_events(conn, [event(1, "<Computer>WIN10</Computer>")], 1) == 404
    assert "not to its endpoint" in collector.logs()
    assert not collector.output_files()
    assert stored_bookmarks(collector) == []


def test_a_machine_id_filter_is_warned_about_at_load(collector: Collector) -> None:
    collector.add_subscription(
        subscription_toml(
            extra=textwrap.dedent("""\
                [filter]
                operation = "Only"
                type = "MachineID"
                targets = ["win10.wec.test.local"]
                """)
        )
    )
    collector.wec("db", "init")
    loaded = collector.wec("subscriptions", "load", str(collector.directory / "subscriptions"), "--yes")
    assert "the filter is on MachineID" in loaded.stdout + loaded.stderr
    collector.start(init=False)
    assert collector.wait_for(lambda: "MachineID, a SOAP header" in collector.logs())
    assert collector.logs().count("MachineID, a SOAP header") == 1
