# SPDX-License-Identifier: GPL-3.0-or-later
"""The two error families of the protocol core.

``RemoteProtocolError`` is the peer's fault (bad XML, a missing header, an unknown action);
it carries the HTTP status the transport should answer with. ``LocalProtocolError`` is ours
(we were asked to build something impossible). Only the transport turns them into statuses.
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "RemoteProtocolError"]


class RemoteProtocolError(Exception):
    """The source sent something we cannot accept. ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class LocalProtocolError(Exception):
    """We tried to build a message that cannot be built (a bug or a bad configuration)."""
