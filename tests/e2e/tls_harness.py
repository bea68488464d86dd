# SPDX-License-Identifier: GPL-3.0-or-later
"""A wecd with two collectors, Kerberos on one port and HTTPS (``type = "Tls"``) on another,
and the PKI its TLS sources use (docs/tls.md): two CAs in the bundle, one server certificate,
one client certificate per simulated machine (CN = its FQDN)."""

from __future__ import annotations

import ssl
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.harness import Collector
from tests.support.pki import Ca, Issued, write_chain
from tests.support.ports import free_port, wait_for_port
from wec.sim.transport import ClientSecurity, WinRMConnection, tls_client_context

__all__ = ["SERVER_NAME", "TlsCollector", "TlsPki", "make_pki"]

SERVER_NAME = "wec.test.local"


@dataclass
class TlsPki:
    directory: Path
    ca1: Ca
    ca2: Ca
    server: Issued
    clients: dict[str, Issued]  # FQDN → certificate
    ca_bundle: Path  # both CAs: what the collector trusts
    server_ca: Path  # what the sources trust (the server's issuer)
    client_dir: Path  # <FQDN>.crt / <FQDN>.key, as `wec sim --tls-client-dir` reads them

    def context(self, cert: Issued | None) -> ssl.SSLContext:
        """A source's client context with ``cert`` (None: no client certificate)."""
        if cert is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cafile=str(self.server_ca))
            return ctx
        name = f"extra-{cert.cert.serial_number}"
        crt, key = cert.write(self.directory / "extra", name)
        return tls_client_context(self.server_ca, crt, key)


def make_pki(directory: Path) -> TlsPki:
    ca1, ca2 = Ca("WEC E2E CA 1"), Ca("WEC E2E CA 2")
    server = ca1.issue(SERVER_NAME, client=False, server=True, dns=(SERVER_NAME,))
    server.write(directory, "server")
    clients = {
        "sim001.wec.test.local": ca1.issue("sim001.wec.test.local"),
        "sim002.wec.test.local": ca1.issue("sim002.wec.test.local"),
        "sim003.wec.test.local": ca2.issue("sim003.wec.test.local"),
    }
    client_dir = directory / "clients"
    for fqdn, cert in clients.items():
        cert.write(client_dir, fqdn)
    return TlsPki(
        directory,
        ca1,
        ca2,
        server,
        clients,
        write_chain(directory / "ca-bundle.pem", ca1, ca2),
        write_chain(directory / "server-ca.pem", ca1),
        client_dir,
    )


@dataclass
class TlsCollector(Collector):
    pki: TlsPki | None = None
    tls_port: int = 0
    tls_extra: str = ""  # more keys of the TLS collector's [collectors.authentication]
    tls_files: Path = field(default_factory=Path)

    def __post_init__(self) -> None:
        if not self.tls_port:
            self.tls_port = free_port()
        self.tls_files = self.directory / "tls"
        super().__post_init__()

    @property
    def tls_url(self) -> str:
        return f"https://{SERVER_NAME}:{self.tls_port}/wsman/"

    def write_settings(self) -> None:
        super().write_settings()
        if self.pki is None:
            return
        # The collector's own copies: rotation tests overwrite them.
        self.tls_files.mkdir(parents=True, exist_ok=True)
        for name in ("server.crt", "server.key"):
            target = self.tls_files / name
            if not target.exists():
                target.write_bytes((self.pki.directory / name).read_bytes())
                target.chmod(0o600)
        bundle = self.tls_files / "ca.pem"
        if not bundle.exists():
            bundle.write_bytes(self.pki.ca_bundle.read_bytes())
        with self.config.open("a") as f:
            f.write(
                textwrap.dedent(f"""
                [[collectors]]
                hostname = "{SERVER_NAME}"
                listen_address = "127.0.0.1"
                listen_port = {self.tls_port}
                max_content_length = {self.max_content_length}

                [collectors.authentication]
                type = "Tls"
                ca_certificate = "tls/ca.pem"
                server_certificate = "tls/server.crt"
                server_private_key = "tls/server.key"
                """)
                + self.tls_extra
                + "\n"
            )

    def start(self, *, init: bool = True) -> None:
        super().start(init=init)
        wait_for_port(self.tls_port, timeout=30)

    def connect(self, cert: Issued | None, path: str = "/wsman/") -> WinRMConnection:
        """An HTTPS connection as a Windows source opens it (not connected yet)."""
        assert self.pki is not None
        security = ClientSecurity(mode="plain", ssl_context=self.pki.context(cert))
        return WinRMConnection(
            f"https://{SERVER_NAME}:{self.tls_port}{path}",
            security,
            connect_to=("127.0.0.1", self.tls_port),
            timeout=20,
        )
