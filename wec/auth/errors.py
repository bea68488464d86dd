# SPDX-License-Identifier: GPL-3.0-or-later
"""The errors of the authentication layer.

Native failures (``gssapi.exceptions.GSSError``, ``binascii.Error``, ``ValueError``) are caught
once, at this package's boundary, and re-raised as one of these with the original as
``__cause__`` (``raise AuthError(...) from err``). The transport maps them to statuses
(docs/protocol.md §2.5): ``AuthError`` → 401, ``DecryptError`` → 400. ``KerberosConfigError`` is ours,
not the peer's: it is raised at start-up and must stop the collector.
"""

from __future__ import annotations

__all__ = ["AuthError", "DecryptError", "KerberosConfigError"]


class AuthError(Exception):
    """The peer could not be authenticated (bad token, wrong scheme, missing flags): HTTP 401."""


class DecryptError(Exception):
    """An encrypted body is malformed, forged, replayed or undecryptable: HTTP 400."""


class KerberosConfigError(Exception):
    """The collector's own Kerberos set-up is unusable (missing keytab, unknown SPN)."""
