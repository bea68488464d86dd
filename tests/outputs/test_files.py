# SPDX-License-Identifier: GPL-3.0-or-later
"""The Files driver on a real filesystem: path variables (docs/outputs.md), one event per
line, shared handles, idle close, logrotate, failures that become OutputError."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wec.formats.base import EventMeta
from wec.outputs.base import OutputBatch, OutputError
from wec.outputs.context import DriverContext
from wec.outputs.files import FileHandles, FilesDriver, render_path, sanitize_client


def meta(ip: str = "192.0.2.10", principal: str = "WIN10$@WINDOMAIN.LOCAL") -> EventMeta:
    return EventMeta(
        ip=ip,
        time_received=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        principal=principal,
        subscription_uuid="9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
        subscription_version="1B2C3D4E-0000-4000-8000-000000000001",
        subscription_name="security-core",
    )


def batch(*records: bytes, m: EventMeta | None = None) -> OutputBatch:
    return OutputBatch(records=tuple(records), meta=m or meta())


@pytest.fixture
def handles() -> Iterator[FileHandles]:
    h = FileHandles(idle_timeout=600.0)
    try:
        yield h
    finally:
        h.close_all()


# --- path variables ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "ip", "expected"),
    [
        ("/l/{ip}/m", "127.0.0.1", "/l/127.0.0.1/m"),
        ("/l/{ip:1}/m", "127.0.0.1", "/l/127/m"),
        ("/l/{ip:2}/m", "127.0.0.1", "/l/127.0/m"),
        ("/l/{ip:3}/m", "192.0.2.10", "/l/192.0.2/m"),
        ("/l/{ip:4}/m", "192.0.2.10", "/l/192.0.2.10/m"),
        ("/l/{ip:9}/m", "192.0.2.10", "/l/192.0.2.10/m"),  # N clamped to 4
        ("/l/{ip:0}/m", "192.0.2.10", "/l/192/m"),  # never an empty component
        ("/l/{ip:2}/{ip}/m", "10.1.2.3", "/l/10.1/10.1.2.3/m"),
        ("/l/{ip:2}/m", "2001:db8::10", "/l/2001:0db8/m"),
        ("/l/{ip:4}/m", "2001:db8::10", "/l/2001:0db8:0000:0000/m"),
        ("/l/{ip:8}/m", "2001:db8::10", "/l/2001:0db8:0000:0000:0000:0000:0000:0010/m"),
        ("/l/{ip:20}/m", "2001:db8::10", "/l/2001:0db8:0000:0000:0000:0000:0000:0010/m"),  # clamped to 8
        ("/l/{ip}/m", "2001:db8::10", "/l/2001:0db8:0000:0000:0000:0000:0000:0010/m"),
        ("/l/{ip}/m", "not-an-ip/../x", "/l/not-an-ip..x/m"),  # sanitised like a client
    ],
)
def test_ip_variables(template: str, ip: str, expected: str) -> None:
    assert render_path(template, ip=ip, client="C", node=None) == expected


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("COMPUTER$@REALM", "COMPUTER@REALM"),
        ("WIN10$@WINDOMAIN.LOCAL", "WIN10@WINDOMAIN.LOCAL"),
        ("../../etc", "....etc"),
        ("..", "_"),
        (".", "_"),
        ("...", "_"),
        ("", "_"),
        ("a/b\\c d\x00e", "abcde"),
        ("CN=srv01,OU=Servers", "CNsrv01OUServers"),
        ("Ünïcødé-01_x@R", "ncd-01_x@R"),
        ("x" * 300, "x" * 255),
    ],
)
def test_client_is_sanitised(client: str, expected: str) -> None:
    assert sanitize_client(client) == expected
    assert render_path("/l/{client}/m", ip="1.2.3.4", client=client, node=None) == f"/l/{expected}/m"
    assert render_path("/l/{principal}/m", ip="1.2.3.4", client=client, node=None) == f"/l/{expected}/m"


@settings(max_examples=200, deadline=None)
@given(client=st.text(max_size=300), ip=st.one_of(st.ip_addresses().map(str), st.text(max_size=50)))
def test_no_variable_value_can_escape_the_directory(client: str, ip: str) -> None:
    base = Path("/srv/wec/out")
    rendered = render_path(str(base / "{ip:2}" / "{ip}" / "{client}" / "{node}" / "messages"), ip=ip,
                           client=client, node=client)  # fmt: skip
    path = Path(rendered)

    parts = path.parts[len(base.parts) :]
    assert len(parts) == 5
    assert parts[-1] == "messages"
    for part in parts:
        assert part not in ("", ".", "..")
        assert "/" not in part and "\x00" not in part
        assert len(part) <= 255
    assert os.path.normpath(rendered).startswith(str(base) + "/")


def test_node_variable_is_the_node_name() -> None:
    assert render_path("/l/{node}/m", ip="1.2.3.4", client="C", node="wec-a") == "/l/wec-a/m"
    assert render_path("/l/{node}/m", ip="1.2.3.4", client="C", node="../x") == "/l/..x/m"


def test_node_variable_stays_literal_without_node_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, handles: FileHandles
) -> None:
    template = str(tmp_path / "{node}" / "messages")

    with caplog.at_level(logging.WARNING, logger="wec.outputs.files"):
        driver = FilesDriver.from_config(
            {"path": template}, context=DriverContext(node_name=None, file_handles=handles)
        )
    driver.write(batch(b"<Event/>"))

    assert "node_name is not set" in caplog.text
    assert (tmp_path / "{node}" / "messages").read_bytes() == b"<Event/>\n"


def test_node_name_from_the_context(tmp_path: Path, handles: FileHandles) -> None:
    driver = FilesDriver.from_config(
        {"path": str(tmp_path / "{node}" / "{ip}" / "messages")},
        context=DriverContext(node_name="wec-b", file_handles=handles),
    )
    driver.write(batch(b"<Event/>"))

    assert (tmp_path / "wec-b" / "192.0.2.10" / "messages").read_bytes() == b"<Event/>\n"


# --- writing -------------------------------------------------------------------------------


def test_directories_are_created_and_batches_appended(tmp_path: Path, handles: FileHandles) -> None:
    driver = FilesDriver(
        path=str(tmp_path / "out" / "{ip:2}" / "{ip}" / "{client}" / "messages"), handles=handles
    )

    driver.write(batch(b"<Event>1</Event>", b"<Event>2</Event>"))
    driver.write(batch(b"<Event>3</Event>"))

    target = tmp_path / "out" / "192.0" / "192.0.2.10" / "WIN10@WINDOMAIN.LOCAL" / "messages"
    assert target.read_bytes() == b"<Event>1</Event>\n<Event>2</Event>\n<Event>3</Event>\n"


def test_existing_file_is_appended_not_truncated(tmp_path: Path, handles: FileHandles) -> None:
    target = tmp_path / "messages"
    target.write_bytes(b"old line\n")

    FilesDriver(path=str(target), handles=handles).write(batch(b"new line"))

    assert target.read_bytes() == b"old line\nnew line\n"


def test_each_source_gets_its_own_file(tmp_path: Path, handles: FileHandles) -> None:
    driver = FilesDriver(path=str(tmp_path / "{ip}" / "{client}"), handles=handles)

    driver.write(batch(b"a", m=meta("192.0.2.1", "WIN10$@R")))
    driver.write(batch(b"b", m=meta("2001:db8::1", "SRV01$@R")))

    assert (tmp_path / "192.0.2.1" / "WIN10@R").read_bytes() == b"a\n"
    assert (tmp_path / "2001:0db8:0000:0000:0000:0000:0000:0001" / "SRV01@R").read_bytes() == b"b\n"


def test_empty_batch_writes_nothing(tmp_path: Path, handles: FileHandles) -> None:
    FilesDriver(path=str(tmp_path / "d" / "messages"), handles=handles).write(batch())

    assert not (tmp_path / "d").exists()


def test_newlines_inside_an_event_are_escaped(tmp_path: Path, handles: FileHandles) -> None:
    target = tmp_path / "messages"
    driver = FilesDriver(path=str(target), handles=handles)

    driver.write(batch(b"<Message>line one\r\nline two\nthree\rfour</Message>", b"<Event>plain</Event>"))

    lines = target.read_bytes().split(b"\n")
    assert lines == [
        b"<Message>line one&#13;&#10;line two&#10;three&#13;four</Message>",
        b"<Event>plain</Event>",
        b"",
    ]


@pytest.mark.parametrize(
    "records",
    [
        (b"a", b"b", b"c"),  # no line end anywhere: the whole-batch check
        (b"a", b"b\nc", b"d"),
        (b"a\r", b"b"),
        (b"",),
        (b"", b""),
        tuple(bytes([i % 256]) * (i % 7) for i in range(300)),  # every byte, some \r and \n
    ],
)
def test_each_record_is_one_line_whichever_check_decides(records: tuple[bytes, ...]) -> None:
    driver = FilesDriver(path="unused", handles=FileHandles())
    escaped = [r.replace(b"\r", b"&#13;").replace(b"\n", b"&#10;") for r in records]
    assert driver._payload(records) == b"".join(e + b"\n" for e in escaped)


def test_escape_newlines_false_keeps_them(tmp_path: Path, handles: FileHandles) -> None:
    target = tmp_path / "messages"
    driver = FilesDriver.from_config({"path": str(target), "escape_newlines": False}, context=DriverContext())
    driver.handles = handles

    driver.write(batch(b"a\r\nb"))

    assert target.read_bytes() == b"a\r\nb\n"


def test_fsync_true_writes_through(tmp_path: Path, handles: FileHandles) -> None:
    target = tmp_path / "messages"
    driver = FilesDriver.from_config({"path": str(target), "fsync": True}, context=DriverContext())
    driver.handles = handles
    assert driver.fsync is True

    driver.write(batch(b"<Event>durable</Event>"))
    driver.write(batch(b"<Event>again</Event>"))

    assert target.read_bytes() == b"<Event>durable</Event>\n<Event>again</Event>\n"


# --- shared handles and concurrency ---------------------------------------------------------


def test_two_drivers_share_one_handle_for_one_file(tmp_path: Path, handles: FileHandles) -> None:
    target = tmp_path / "all" / "messages"
    a = FilesDriver(path=str(target), handles=handles)
    b = FilesDriver(path=str(tmp_path / "all" / "messages"), handles=handles)

    a.write(batch(b"from a"))
    b.write(batch(b"from b"))

    assert len(handles) == 1
    assert target.read_bytes() == b"from a\nfrom b\n"


def test_drivers_share_the_handles_of_their_context(tmp_path: Path, handles: FileHandles) -> None:
    target = tmp_path / "messages"
    context = DriverContext(file_handles=handles)
    a = FilesDriver.from_config({"path": str(target)}, context=context)
    b = FilesDriver.from_config({"path": str(target)}, context=context)

    a.write(batch(b"from a"))
    b.write(batch(b"from b"))
    a.close()  # the handles belong to the context's owner (wecd's Daemon), not to a driver

    assert a.handles is b.handles is handles
    assert len(handles) == 1
    b.write(batch(b"b again"))
    assert target.read_bytes() == b"from a\nfrom b\nb again\n"


def test_a_driver_without_shared_handles_closes_its_own(tmp_path: Path) -> None:
    driver = FilesDriver.from_config({"path": str(tmp_path / "messages")}, context=DriverContext())
    driver.write(batch(b"x"))
    assert len(driver.handles) == 1

    driver.close()

    assert len(driver.handles) == 0


def _record(writer: int, n: int) -> bytes:
    # long enough that a torn write would show
    return f"<Event writer='{writer}' n='{n}'>".encode() + b"x" * 3000 + b"</Event>"


def test_concurrent_writers_never_interleave_inside_a_line(tmp_path: Path, handles: FileHandles) -> None:
    target = tmp_path / "messages"
    drivers = [FilesDriver(path=str(target), handles=handles) for _ in range(2)]
    writers, batches, per_batch = 4, 25, 8
    errors: list[BaseException] = []

    def run(w: int) -> None:
        driver = drivers[w % 2]
        try:
            for i in range(batches):
                driver.write(batch(*(_record(w, i * per_batch + j) for j in range(per_batch))))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert not errors
    lines = target.read_bytes().split(b"\n")
    assert lines[-1] == b""
    expected = {_record(w, n) for w in range(writers) for n in range(batches * per_batch)}
    assert len(lines) - 1 == len(expected)
    assert set(lines[:-1]) == expected


def test_writes_survive_concurrent_reopen(tmp_path: Path, handles: FileHandles) -> None:
    """SIGHUP (reopen) or the idle reaper may close a handle another thread is about to use;
    the write must land anyway, never fail with 'I/O operation on closed file'."""
    target = tmp_path / "messages"
    driver = FilesDriver(path=str(target), handles=handles)
    stop = threading.Event()
    errors: list[BaseException] = []
    reopens = 0

    def reopener() -> None:
        nonlocal reopens
        while not stop.is_set() and reopens < 20000:
            driver.reopen()
            reopens += 1

    def writer(w: int) -> None:
        try:
            for i in range(300):
                driver.write(batch(f"w{w} {i}".encode()))
        except BaseException as err:
            errors.append(err)

    r = threading.Thread(target=reopener)
    ws = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    r.start()
    for t in ws:
        t.start()
    for t in ws:
        t.join(30)
    stop.set()
    r.join(30)

    assert not errors, errors[0]
    assert reopens > 0
    lines = target.read_bytes().split(b"\n")[:-1]
    assert sorted(lines) == sorted(f"w{w} {i}".encode() for w in range(3) for i in range(300))


# --- idle close and logrotate ----------------------------------------------------------------


def test_idle_handles_are_closed_and_reopened_on_demand(tmp_path: Path) -> None:
    handles = FileHandles(idle_timeout=0.0)
    driver = FilesDriver(path=str(tmp_path / "{ip}"), handles=handles)
    driver.write(batch(b"one", m=meta("192.0.2.1")))
    driver.write(batch(b"two", m=meta("192.0.2.2")))
    assert len(handles) == 2

    assert handles.close_idle() == 2
    assert len(handles) == 0

    driver.write(batch(b"three", m=meta("192.0.2.1")))
    assert (tmp_path / "192.0.2.1").read_bytes() == b"one\nthree\n"
    handles.close_all()


def test_handles_in_use_are_not_idle(tmp_path: Path, handles: FileHandles) -> None:
    FilesDriver(path=str(tmp_path / "m"), handles=handles).write(batch(b"x"))

    assert handles.close_idle() == 0
    assert len(handles) == 1


def test_reopen_after_logrotate_creates_a_new_file(tmp_path: Path, handles: FileHandles) -> None:
    target = tmp_path / "messages"
    driver = FilesDriver(path=str(target), handles=handles)
    driver.write(batch(b"before rotation"))
    target.rename(tmp_path / "messages.1")  # what logrotate does

    driver.write(batch(b"still the old file"))  # the open handle follows the moved inode
    driver.reopen()  # SIGHUP
    driver.write(batch(b"after rotation"))

    assert (tmp_path / "messages.1").read_bytes() == b"before rotation\nstill the old file\n"
    assert target.read_bytes() == b"after rotation\n"


# --- failures ------------------------------------------------------------------------------


def test_unusable_path_is_an_output_error_and_recovers(tmp_path: Path, handles: FileHandles) -> None:
    (tmp_path / "192.0.2.10").write_bytes(b"a regular file where a directory should be")
    driver = FilesDriver(path=str(tmp_path / "{ip}" / "messages"), handles=handles)

    with pytest.raises(OutputError, match=r"Not a directory|File exists"):
        driver.write(batch(b"lost?"))
    assert len(handles) == 0

    (tmp_path / "192.0.2.10").unlink()
    driver.write(batch(b"delivered"))
    assert (tmp_path / "192.0.2.10" / "messages").read_bytes() == b"delivered\n"


def test_path_through_a_regular_file_is_enotdir(tmp_path: Path, handles: FileHandles) -> None:
    (tmp_path / "file").write_bytes(b"")
    driver = FilesDriver(path=str(tmp_path / "file" / "sub" / "messages"), handles=handles)

    with pytest.raises(OutputError) as info:
        driver.write(batch(b"x"))

    assert isinstance(info.value.__cause__, OSError)
    assert "Not a directory" in str(info.value)
    assert str(tmp_path / "file" / "sub" / "messages") in str(info.value)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full is not available")
def test_write_error_is_an_output_error_and_drops_the_handle(handles: FileHandles) -> None:
    driver = FilesDriver(path="/dev/full", handles=handles)

    with pytest.raises(OutputError, match="No space left"):
        driver.write(batch(b"<Event/>"))

    assert len(handles) == 0  # reopened on the next batch


def test_directory_as_file_is_an_output_error(tmp_path: Path, handles: FileHandles) -> None:
    (tmp_path / "messages").mkdir()

    with pytest.raises(OutputError):
        FilesDriver(path=str(tmp_path / "messages"), handles=handles).write(batch(b"x"))


# --- configuration -------------------------------------------------------------------------


def test_unknown_config_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="filename"):
        FilesDriver.from_config({"path": "/tmp/x", "filename": "messages"}, context=DriverContext())


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({}, "path"),
        ({"path": ""}, "path"),
        ({"path": 5}, "path"),
        ({"path": "/tmp/x", "fsync": "false"}, "fsync"),
        ({"path": "/tmp/x", "fsync": 1}, "fsync"),
        ({"path": "/tmp/x", "escape_newlines": "no"}, "escape_newlines"),
    ],
)
def test_invalid_config_is_rejected_naming_the_key(config: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        FilesDriver.from_config(config, context=DriverContext())


def test_relative_path_starts_from_the_context_base_dir(tmp_path: Path, handles: FileHandles) -> None:
    driver = FilesDriver.from_config(
        {"path": "events/{ip}/messages"}, context=DriverContext(base_dir=str(tmp_path), file_handles=handles)
    )
    assert driver.path == str(tmp_path / "events" / "{ip}" / "messages")

    driver.write(batch(b"<Event/>"))

    assert (tmp_path / "events" / "192.0.2.10" / "messages").read_bytes() == b"<Event/>\n"


def test_absolute_path_ignores_the_base_dir(tmp_path: Path) -> None:
    driver = FilesDriver.from_config(
        {"path": str(tmp_path / "abs")}, context=DriverContext(base_dir="/elsewhere")
    )

    assert driver.path == str(tmp_path / "abs")


_TORN_SCRIPT = r"""
import resource, signal, sys
from wec.formats.base import EventMeta
from wec.outputs.base import OutputBatch, OutputError
from wec.outputs.files import FileHandles, FilesDriver

path = sys.argv[1]
meta = EventMeta(ip="127.0.0.1", principal="WS1$@R", subscription_uuid="U", subscription_version="V",
                 subscription_name="s", time_received="t")
driver = FilesDriver(path=path, handles=FileHandles())
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, write() fails with EFBIG
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (100, hard))
batch = OutputBatch(records=tuple(b'{"n":%d,"pad":"%s"}' % (i, b"x" * 40) for i in range(3)), meta=meta)
try:
    driver.write(batch)  # 100 bytes go out, then EFBIG: half a batch, cut back to 0
    sys.exit("the write should have failed")
except OutputError:
    pass
import os
assert os.path.getsize(path) == 0, os.path.getsize(path)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
driver.write(batch)  # the source's resend
"""


def test_a_write_cut_by_efbig_is_truncated_away_and_the_resend_is_whole(tmp_path: Path) -> None:
    # A write that fails half-way (disk full, file size limit) would leave half a batch and a
    # line without its newline. The driver cuts the file back to where the batch began: no
    # partial line for a reader, no event of the refused batch counted as delivered; the
    # resent batch is then written whole.
    import json
    import subprocess
    import sys

    out = tmp_path / "events.log"
    subprocess.run([sys.executable, "-c", _TORN_SCRIPT, str(out)], check=True, timeout=60)
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b""
    parsed = [json.loads(line)["n"] for line in lines[:-1]]  # every line is a whole event
    assert parsed == [0, 1, 2]
