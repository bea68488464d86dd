# SPDX-License-Identifier: GPL-3.0-or-later
"""A real RELP receiver for the tests: rsyslog with ``imrelp`` (Debian ``rsyslog-relp``).

Same shape as :func:`tests.support.receivers.start_rsyslog` (a free loopback port, a
temporary directory, stopped by PID, restartable on the same port, every message as one JSON
line in ``out.jsonl``); the input is ``imrelp`` instead of ``imtcp``, optionally with TLS.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.ports import free_port
from tests.support.receivers import Rsyslog

__all__ = ["imrelp_available", "start_rsyslog_relp"]

_MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog", "/usr/lib/rsyslog")

_CONF = """\
global(workDirectory="{dir}/work" maxMessageSize="65536"
       parser.escapeControlCharactersOnReceive="off")
module(load="imrelp")
template(name="wecjson" type="list" option.jsonf="on") {{
  property(outname="pri" name="pri" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="raw" name="rawmsg" format="jsonf")
}}
input(type="imrelp" address="127.0.0.1" port="{port}" ruleset="remote" maxDataSize="64k"{tls})
ruleset(name="remote") {{
  action(type="omfile" file="{dir}/out.jsonl" template="wecjson")
}}
"""

_TLS = """
      tls="on" tls.cacert="{ca}" tls.mycert="{cert}" tls.myprivkey="{key}" tls.authmode="certvalid\""""


def imrelp_available() -> bool:
    return any(Path(d, "imrelp.so").exists() for d in _MODULE_DIRS)


def start_rsyslog_relp(directory: Path, *, tls: tuple[Path, Path, Path] | None = None) -> Rsyslog:
    """rsyslog receiving RELP on a free port; ``tls`` = (CA, server certificate, server key)
    turns on TLS (the client must then present a certificate the CA signed)."""
    import pytest

    exe = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    if not Path(exe).exists() or not imrelp_available():
        pytest.skip("rsyslog's imrelp is not installed (apt-get install rsyslog rsyslog-relp)")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "work").mkdir(exist_ok=True)
    port = free_port()
    tls_conf = _TLS.format(ca=tls[0], cert=tls[1], key=tls[2]) if tls is not None else ""
    conf = directory / "rsyslog.conf"
    conf.write_text(_CONF.format(dir=directory, port=port, tls=tls_conf))
    check = subprocess.run([exe, "-N1", "-f", str(conf)], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"rsyslog rejects the test configuration: {check.stderr}")
    r = Rsyslog(
        "rsyslog", [exe, "-n", "-f", str(conf), "-i", str(directory / "rsyslog.pid")], port, directory
    )
    r.start()
    return r
