# SPDX-License-Identifier: GPL-3.0-or-later
"""Loading a TLS collector's files (wec.auth.tls): the key formats OpenWEC accepts, a clear
error for each unusable file, the CA thumbprints, and the pass-through session."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.pki import Ca, Issued, pem_key, write_chain
from wec.auth.errors import DecryptError
from wec.auth.tls import (
    TLS12_CIPHERS,
    ClientIdentity,
    TlsConfigError,
    TlsSession,
    client_identity,
    load_credentials,
    thumbprint,
)


@pytest.fixture(scope="module")
def cas() -> tuple[Ca, Ca]:
    return Ca("WEC Unit CA 1"), Ca("WEC Unit CA 2")


def _files(tmp_path: Path, ca: Ca, server: Issued, key_pem: bytes | None = None) -> tuple[str, str, str]:
    ca_file = write_chain(tmp_path / "ca.pem", ca)
    crt, key = server.write(tmp_path, "server")
    if key_pem is not None:
        key.write_bytes(key_pem)
    return str(ca_file), str(crt), str(key)


@pytest.mark.parametrize(
    ("rsa_key", "fmt", "marker"),
    [
        (False, "pkcs8", b"BEGIN PRIVATE KEY"),
        (False, "traditional", b"BEGIN EC PRIVATE KEY"),  # SEC1
        (True, "pkcs8", b"BEGIN PRIVATE KEY"),
        (True, "traditional", b"BEGIN RSA PRIVATE KEY"),  # PKCS#1
    ],
)
def test_key_formats(tmp_path: Path, cas: tuple[Ca, Ca], rsa_key: bool, fmt: str, marker: bytes) -> None:
    server = cas[0].issue("wec.test.local", client=False, server=True, rsa_key=rsa_key)
    key_pem = pem_key(server.key, fmt)
    assert marker in key_pem
    creds = load_credentials(*_files(tmp_path, cas[0], server, key_pem))
    assert creds.context.verify_mode == ssl.CERT_REQUIRED
    assert creds.context.minimum_version == ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("fmt", ["pkcs8", "traditional"])
def test_an_encrypted_key_is_a_clear_error(tmp_path: Path, cas: tuple[Ca, Ca], fmt: str) -> None:
    server = cas[0].issue("wec.test.local", client=False, server=True)
    files = _files(tmp_path, cas[0], server, pem_key(server.key, fmt, password=b"secret"))
    with pytest.raises(TlsConfigError, match="the private key is encrypted"):
        load_credentials(*files)


def test_a_key_of_another_certificate_is_refused(tmp_path: Path, cas: tuple[Ca, Ca]) -> None:
    server = cas[0].issue("wec.test.local", client=False, server=True)
    other = cas[0].issue("other.test.local", client=False, server=True)
    with pytest.raises(TlsConfigError, match="does not belong to the certificate"):
        load_credentials(*_files(tmp_path, cas[0], server, pem_key(other.key)))


def test_missing_or_empty_files(tmp_path: Path, cas: tuple[Ca, Ca]) -> None:
    server = cas[0].issue("wec.test.local", client=False, server=True)
    ca_file, crt, key = _files(tmp_path, cas[0], server)
    with pytest.raises(TlsConfigError, match="cannot read the CA certificate file"):
        load_credentials(str(tmp_path / "nope.pem"), crt, key)
    (tmp_path / "empty.pem").write_text("")
    with pytest.raises(TlsConfigError, match="at least one CA"):
        load_credentials(str(tmp_path / "empty.pem"), crt, key)
    with pytest.raises(TlsConfigError, match="no PEM private key"):
        load_credentials(ca_file, crt, ca_file)
    with pytest.raises(TlsConfigError, match="no PEM CRL"):
        load_credentials(ca_file, crt, key, ca_file)


def test_thumbprints_of_every_ca_keyed_by_subject_cn(tmp_path: Path, cas: tuple[Ca, Ca]) -> None:
    server = cas[0].issue("wec.test.local", client=False, server=True)
    _, crt, key = _files(tmp_path, cas[0], server)
    bundle = write_chain(tmp_path / "bundle.pem", cas[0], cas[1], cas[0])  # a duplicate is ignored
    creds = load_credentials(str(bundle), crt, key)
    der = cas[1].cert.public_bytes(serialization.Encoding.DER)
    assert creds.thumbprints == {"WEC Unit CA 1": cas[0].thumbprint, "WEC Unit CA 2": cas[1].thumbprint}
    assert creds.thumbprints["WEC Unit CA 2"] == hashlib.sha1(der).hexdigest().upper() == thumbprint(der)
    assert creds.issuer_thumbprint(ClientIdentity("x", "WEC Unit CA 2")) == cas[1].thumbprint
    assert creds.issuer_thumbprint(ClientIdentity("x", "Another CA")) is None


def test_two_cas_with_the_same_cn_are_refused(tmp_path: Path, cas: tuple[Ca, Ca]) -> None:
    server = cas[0].issue("wec.test.local", client=False, server=True)
    _, crt, key = _files(tmp_path, cas[0], server)
    twin = Ca("WEC Unit CA 1", org="another org")
    bundle = write_chain(tmp_path / "bundle.pem", cas[0], twin)
    with pytest.raises(TlsConfigError, match="same subject CN 'WEC Unit CA 1'"):
        load_credentials(str(bundle), crt, key)


def test_tls12_suites_are_ecdhe_aes_gcm_only() -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers(TLS12_CIPHERS)
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == {
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
    }


def test_client_identity_is_the_first_subject_cn() -> None:
    decoded = {
        "subject": (
            (("organizationName", "corp"),),
            (("commonName", "a.corp"),),
            (("commonName", "b.corp"),),
        ),
        "issuer": ((("commonName", "Corp CA"),),),
    }
    assert client_identity(decoded) == ClientIdentity("a.corp", "Corp CA")
    assert client_identity({"subject": ((("organizationName", "corp"),),)}) == ClientIdentity(None, None)


def test_the_session_passes_bodies_through() -> None:
    s = TlsSession("win10.corp", "AB" * 20)
    assert (s.principal, s.url_scheme, s.issuer_thumbprint) == ("win10.corp", "https", "AB" * 20)
    assert s.decrypt_request("application/soap+xml;charset=UTF-16", b"\xff\xfex") == b"\xff\xfex"
    assert s.encrypt_response(b"\xff\xfey") == ("application/soap+xml;charset=UTF-16", b"\xff\xfey")
    with pytest.raises(DecryptError, match="multipart/encrypted body on a TLS connection"):
        s.decrypt_request('multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted"', b"x")
