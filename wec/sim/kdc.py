# SPDX-License-Identifier: GPL-3.0-or-later
"""A throwaway MIT Kerberos KDC on loopback, for the demo, smoke tests and the test suite.

Nothing global changes: everything points at private files through ``KRB5_CONFIG`` and
``KRB5_KDC_PROFILE``. The KDC listens on 127.0.0.1 only and is stopped by PID. It needs the
MIT KDC binaries (Debian: krb5-kdc, krb5-admin-server). Never use it for production: the
master password is fixed and the realm lives in a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Kdc", "free_port", "kdc_available", "start_kdc", "wait_for_port"]

REALM = "WEC.TEST"
SERVICE_HOST = "wec.test.local"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def kdc_available() -> bool:
    return all(
        shutil.which(b) or Path(f"/usr/sbin/{b}").exists() for b in ("krb5kdc", "kdb5_util", "kadmin.local")
    )


def _bin(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


@dataclass
class Kdc:
    directory: Path
    port: int
    realm: str
    proc: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)
    service_keytab: Path = Path()
    # machine principal (e.g. "WIN10$@WEC.TEST") -> its keytab
    client_keytabs: dict[str, Path] = field(default_factory=dict)

    @property
    def krb5_conf(self) -> Path:
        return self.directory / "krb5.conf"

    def kadmin(self, query: str) -> None:
        subprocess.run(
            [_bin("kadmin.local"), "-r", self.realm, "-q", query],
            env={**os.environ, **self.env},
            check=True,
            capture_output=True,
            timeout=30,
        )

    def add_client(self, name: str) -> Path:
        """Create a principal ``name@REALM`` (e.g. ``WIN11$``) with its own keytab."""
        principal = f"{name}@{self.realm}"
        if principal in self.client_keytabs:
            return self.client_keytabs[principal]
        kt = self.directory / f"client-{len(self.client_keytabs)}.keytab"
        self.kadmin(f"addprinc -randkey {principal}")
        self.kadmin(f"ktadd -k {kt} {principal}")
        self.client_keytabs[principal] = kt
        return kt

    def add_service(self, spn: str, keytab: Path) -> None:
        self.kadmin(f"addprinc -randkey {spn}@{self.realm}")
        self.kadmin(f"ktadd -k {keytab} {spn}@{self.realm}")

    def apply_env(self) -> None:
        """Point this process's GSSAPI at the KDC (tests run in-process clients/servers)."""
        os.environ.update(self.env)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start_kdc(
    directory: Path,
    clients: tuple[str, ...] = ("WIN10$",),
    realm: str = REALM,
    service_host: str = SERVICE_HOST,
) -> Kdc:
    """Create a realm in ``directory``, start krb5kdc on a free port and return it.

    The service keytab holds ``HTTP/<service_host>`` and ``HOST/<service_host>``
    (Windows Server 2025 asks for HOST/).
    """
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (directory / "krb5.conf").write_text(f"""[libdefaults]
    default_realm = {realm}
    dns_lookup_realm = false
    dns_lookup_kdc = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
    ignore_acceptor_hostname = false
[realms]
    {realm} = {{
        kdc = 127.0.0.1:{port}
    }}
[domain_realm]
    .{service_host} = {realm}
    {service_host} = {realm}
""")
    (directory / "kdc.conf").write_text(f"""[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}
[realms]
    {realm} = {{
        database_name = {directory}/principal
        key_stash_file = {directory}/stash
        acl_file = {directory}/kadm5.acl
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}
[logging]
    kdc = FILE:{directory}/kdc.log
""")
    (directory / "kadm5.acl").write_text("")
    env = {
        "KRB5_CONFIG": str(directory / "krb5.conf"),
        "KRB5_KDC_PROFILE": str(directory / "kdc.conf"),
        "KRB5CCNAME": f"FILE:{directory}/ccache",
        "KRB5RCACHETYPE": "none",
    }
    full_env = {**os.environ, **env}
    subprocess.run(
        [_bin("kdb5_util"), "create", "-s", "-r", realm, "-P", "wec-test-master", "-W"],
        env=full_env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    proc = subprocess.Popen(
        [_bin("krb5kdc"), "-n", "-r", realm],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kdc = Kdc(directory=directory, port=port, realm=realm, proc=proc, env=env)
    try:
        wait_for_port(port, timeout=15)
        kdc.service_keytab = directory / "http.keytab"
        kdc.add_service(f"HTTP/{service_host}", kdc.service_keytab)
        kdc.add_service(f"HOST/{service_host}", kdc.service_keytab)
        for c in clients:
            kdc.add_client(c)
    except BaseException:
        kdc.stop()
        raise
    return kdc
