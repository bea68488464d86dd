# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import io
import logging
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wec.logsetup import AccessLineFormatter, OneLineFormatter
from wec.sanitize import escape_controls, redact, redact_mapping


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("nul\x00", "nul\\x00"),
        ("c1\x85", "c1\\x85"),
        ("sep\u2028", "sep\\u2028"),
        ("tab\t", "tab\\t"),
        ("é ü 中", "é ü 中"),
    ],
)
def test_escape_controls(text: str, expected: str) -> None:
    assert escape_controls(text) == expected


@given(st.text())
def test_escaped_text_is_always_one_printable_line(text: str) -> None:
    out = escape_controls(text)
    assert out.splitlines() in ([], [out])
    assert not [ch for ch in out if unicodedata.category(ch) in ("Cc", "Zl", "Zp")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "mongodb://wec:S3cret@db1:27017,db2/?authSource=admin",
            "mongodb://wec:***@db1:27017,db2/?authSource=admin",
        ),
        ("redis://:S3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("wec:S3cret@127.0.0.1:6379", "wec:***@127.0.0.1:6379"),
        ("#1 Redis/Raw wec:pa:ss@h:1", "#1 Redis/Raw wec:***@h:1"),
        ("host=db password=S3cret user=wec", "host=db password=*** user=wec"),
        ("sasl.password=S3cret", "sasl.password=***"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("/var/log/wec/{client}/events.log", "/var/log/wec/{client}/events.log"),
        ("tls = true, port: 6514", "tls = true, port: 6514"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_mapping_masks_secret_keys_and_urls_recursively() -> None:
    config = {
        "uri": "mongodb://wec:S3cret@db/",
        "password": "pw",
        "options": {"sasl.password": "x", "bootstrap.servers": "k:9092"},
        "port": 5,
        "empty_password": "",
    }
    assert redact_mapping(config) == {
        "uri": "mongodb://wec:***@db/",
        "password": "***",
        "options": {"sasl.password": "***", "bootstrap.servers": "k:9092"},
        "port": 5,
        "empty_password": "",
    }


def _logged(formatter: logging.Formatter, log: Callable[[logging.Logger], None]) -> str:
    """What ``log`` writes through a handler with ``formatter`` (INFO and above)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("wec.test.sanitize")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        log(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_the_log_formatter_keeps_each_record_on_lines_of_its_own() -> None:
    def log(logger: logging.Logger) -> None:
        logger.warning("path %s", "/x\nERROR forged")
        try:
            raise ValueError("boom\nERROR forged too")
        except ValueError:
            logger.exception("failed")

    lines = _logged(OneLineFormatter("%(levelname)s %(message)s"), log).splitlines()
    assert lines[0] == "WARNING path /x\\nERROR forged"
    assert lines[1] == "ERROR failed"
    assert all(line.startswith("    ") for line in lines[2:])


def test_the_access_log_formatter_escapes_controls_and_leaves_the_line_as_built() -> None:
    # An access line carries the peer's path and principal, never an output setting: it is
    # escaped (a newline in a path must not forge a line) but not run through redact().
    written = _logged(
        AccessLineFormatter("%(message)s"),
        lambda logger: logger.info(
            '%s - %s "POST %s" %d', "127.0.0.1:5000", "PC1$@EXAMPLE.TEST", "/a:b@c\r\n200 x", 200
        ),
    )
    assert written == '127.0.0.1:5000 - PC1$@EXAMPLE.TEST "POST /a:b@c\\r\\n200 x" 200\n'
