# SPDX-License-Identifier: GPL-3.0-or-later
"""Who a source is: canonical principals, machine accounts, and the host an identity vouches for.

Pure functions at the bottom of wec's layers (they import nothing of wec), shared by the
Kerberos acceptor (machine accounts only, anonymous tickets), the client filters of the model
and the service (``computer_mismatch``). docs/security.md, "Attribution" explains the rules.

A Kerberos principal as GSSAPI displays it is ``name@REALM``, where ``name`` may contain
components separated by ``/`` and characters escaped with ``\\`` (RFC 1964 §2.1.1). An
*enterprise* principal (name type NT-ENTERPRISE, RFC 6806 §5) carries a whole
``account@suffix`` as its single component, displayed ``WIN10$\\@corp.example@CORP.EXAMPLE``:
the same account as ``WIN10$@CORP.EXAMPLE``, spelled differently. Active Directory compares
account names and realms without regard to case, so ``win10$@corp.example`` is that account
too. :func:`canonical_principal` folds all of these spellings into one, so that a filter
cannot be dodged by choosing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ANONYMOUS_PRINCIPAL",
    "NETBIOS_NAME_LENGTH",
    "Principal",
    "canonical_principal",
    "computer_matches",
    "find_computer",
    "is_anonymous",
    "is_machine_account",
    "parse_principal",
    "service_host_of",
]

# RFC 8062 §3: the anonymous principal and its realm.
ANONYMOUS_PRINCIPAL = "WELLKNOWN/ANONYMOUS"
_ANONYMOUS_REALM = "WELLKNOWN:ANONYMOUS"
# A computer's sAMAccountName (its Kerberos name without the "$") is its NetBIOS name: at most
# 15 characters, while the DNS host name in System/Computer may be longer.
NETBIOS_NAME_LENGTH = 15


@dataclass(frozen=True)
class Principal:
    """A principal split into its unescaped name and its realm ("" when there is none)."""

    name: str  # e.g. "WIN10$", "HTTP/wec.example", "WIN10$@corp.example" (enterprise)
    realm: str

    @property
    def account(self) -> str:
        """The account name: an enterprise name's part before its ``@``, else the name."""
        return self.name.split("@", 1)[0]


def parse_principal(text: str) -> Principal:
    """Split a displayed principal at its last unescaped ``@`` and unescape the name.

    The last one: a realm never contains ``@``, while an enterprise name written without
    its escape (``WIN10$@corp.example@CORP``, as an administrator may type it) does.
    """
    chars: list[str] = []
    at = -1  # index in `chars` of the last unescaped "@"
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            chars.append(text[i + 1])
            i += 2
            continue
        if ch == "@":
            at = len(chars)
        chars.append(ch)
        i += 1
    if at < 0:
        return Principal("".join(chars), "")
    return Principal("".join(chars[:at]), "".join(chars[at + 1 :]))


def canonical_principal(text: str) -> str:
    """One spelling per account: ``account@REALM`` case-folded, enterprise form unfolded.

    ``WIN10$\\@corp.example@CORP.EXAMPLE``, ``win10$@corp.example`` and ``WIN10$@CORP.EXAMPLE``
    all give ``win10$@corp.example``. An enterprise name's own suffix is dropped: the realm
    that issued the ticket is the one that vouched for the account. A text without a realm
    (a certificate CN, a filter target written without one) is only case-folded.
    """
    p = parse_principal(text)
    if not p.realm:
        return p.name.casefold()
    return f"{p.account}@{p.realm}".casefold()


def is_machine_account(text: str) -> bool:
    """True for a computer account (``HOST$@REALM``, also in enterprise form)."""
    account = parse_principal(text).account
    return len(account) > 1 and account.endswith("$") and "/" not in account


def is_anonymous(text: str) -> bool:
    """True for the anonymous principal of RFC 8062 (in any realm, in any case)."""
    p = parse_principal(text)
    return p.name.upper() == ANONYMOUS_PRINCIPAL or p.realm.upper() == _ANONYMOUS_REALM


def service_host_of(text: str) -> tuple[str, str] | None:
    """``("http", "wec.example")`` for ``HTTP/wec.example@REALM``; None for another shape."""
    parts = parse_principal(text).name.split("/")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0].casefold(), parts[1].casefold().rstrip(".")


# --- System/Computer --------------------------------------------------------------------------

# The start of an event up to its first child: an optional XML declaration, then <Event …>.
_EVENT_HEAD = re.compile(r"\s*(?:<\?xml[^>]*\?>\s*)?<(?:[A-Za-z_][\w.-]*:)?Event(?:\s[^>]*)?>\s*\Z")
_SYSTEM_OPEN = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?System[\s>]")
_SYSTEM_CLOSE = re.compile(r"</(?:[A-Za-z_][\w.-]*:)?System\s*>")
_COMPUTER_TAG = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?Computer[\s/>]")
_COMPUTER = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?Computer\s*>([^<&]*)</(?:[A-Za-z_][\w.-]*:)?Computer\s*>")


def find_computer(event_xml: str) -> str | None:
    """The ``System/Computer`` text of one event, found without parsing the XML.

    Only the ``System`` element is searched, and only a plain shape is believed: ``System`` is
    the first and only ``System`` element, right after the ``Event`` start tag; it holds
    exactly one ``Computer`` element, whose text has no entity reference; and no comment,
    CDATA section or processing instruction (which could hide a decoy from this scan while a
    real parser sees another value). Anything else gives None: the value cannot be verified.
    """
    # Windows writes "<System>…</System>" without a prefix: str.find first, regex otherwise.
    begin = event_xml.find("<System>")
    if begin < 0:
        start = _SYSTEM_OPEN.search(event_xml)
        if start is None:
            return None
        begin = start.start()
    stop = event_xml.find("</System>", begin)
    if stop < 0:
        end = _SYSTEM_CLOSE.search(event_xml, begin)
        if end is None:
            return None
        stop = end.start()
    # System must be Event's first child and the only one: a decoy System placed before the
    # real one (or after it) would be believed here while a reader takes another.
    if _EVENT_HEAD.match(event_xml, 0, begin) is None:
        return None
    after = stop + 9  # len("</System>"); the regex only when a start tag may follow
    if ("<System" in event_xml[after:] or ":System" in event_xml[after:]) and _SYSTEM_OPEN.search(
        event_xml, after
    ) is not None:
        return None
    system = event_xml[begin:stop]
    if "<!" in system or "<?" in system:
        return None
    if len(_COMPUTER_TAG.findall(system)) != 1:
        return None
    m = _COMPUTER.search(system)
    return m.group(1).strip() if m is not None else None


def computer_matches(computer: str, identity: str, *, netbios: bool) -> bool:
    """Does an event's ``Computer`` name the authenticated host ``identity``?

    Case-insensitive, trailing dots ignored. When either side is a short name (no dot), only
    the first DNS label of the other is compared (``WIN10`` vs ``win10.corp.example``). With
    ``netbios`` (a Kerberos account name), an identity of exactly 15 characters also matches
    a longer first label that starts with it: Windows truncates NetBIOS names there.
    """
    c = computer.strip().rstrip(".").casefold()
    i = identity.strip().rstrip(".").casefold()
    if not c or not i:
        return False
    if c == i:
        return True
    if "." in c and "." in i:
        return False
    c_label, i_label = c.split(".", 1)[0], i.split(".", 1)[0]
    if c_label == i_label:
        return True
    return netbios and len(i_label) == NETBIOS_NAME_LENGTH and c_label.startswith(i_label)
