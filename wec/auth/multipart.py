# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``multipart/encrypted`` framing of WinRM session encryption (docs/protocol.md §4.2).

Pure byte handling, no GSSAPI: :func:`parse_encrypted` splits a request body into the GSS
token header and the ciphertext, :func:`build_encrypted` writes a response body.

Theory of operation. The body is a two-part MIME document (MS-WSMV §2.2.9.1.2.2.1)::

    --Encrypted Boundary\\r\\n
    Content-Type: application/HTTP-Kerberos-session-encrypted\\r\\n
    OriginalContent: type=application/soap+xml;charset=UTF-16;Length=<L>\\r\\n
    --Encrypted Boundary\\r\\n
    Content-Type: application/octet-stream\\r\\n
    <H: uint32 LE><GSS header, H bytes><ciphertext>--Encrypted Boundary--\\r\\n

The second part has no blank line after its header and no CRLF before the closing delimiter,
so it is not really MIME: its binary payload is delimited only by the closing delimiter at the
very end of the body. We therefore strip that delimiter from the end and never search forward
through ciphertext (which may contain any byte sequence, including the boundary). Windows writes
the header lines flush left; pywinrm (following MS-WSMV) indents them with a tab: both parse.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wec.auth.errors import DecryptError

__all__ = [
    "KERBEROS_PROTOCOL",
    "PROTOCOLS",
    "SOAP_UTF16",
    "SPNEGO_PROTOCOL",
    "EncryptedBody",
    "build_encrypted",
    "parse_encrypted",
]

KERBEROS_PROTOCOL = "application/HTTP-Kerberos-session-encrypted"
SPNEGO_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
# The labels this collector accepts (CredSSP is not supported: it needs TLS inside HTTP).
PROTOCOLS = (KERBEROS_PROTOCOL, SPNEGO_PROTOCOL)
SOAP_UTF16 = "application/soap+xml;charset=UTF-16"

_BOUNDARY = "Encrypted Boundary"
_OCTET_STREAM = "application/octet-stream"
# Bounds on the text parts, so that garbage cannot make us scan or allocate much.
_MAX_CONTENT_TYPE = 1024
_MAX_LINE = 1024
_MAX_HEADER_LINES = 8
_MAX_LENGTH_DIGITS = 12
_HLEN = struct.Struct("<I")


@dataclass(frozen=True)
class EncryptedBody:
    """One parsed ``multipart/encrypted`` body."""

    protocol: str  # canonical label, one of PROTOCOLS
    original_type: str  # OriginalContent type, e.g. "application/soap+xml;charset=UTF-16"
    original_length: int | None  # OriginalContent Length (cleartext bytes), if sent
    header: bytes  # the GSS wrap token header (H bytes; 60 for AES256-SHA1)
    data: bytes  # the ciphertext (plus padding, if the enctype pads)


def parse_encrypted(content_type: str, body: bytes) -> EncryptedBody:
    """Parse a request body; any malformation raises :class:`DecryptError`."""
    protocol, boundary = _parse_content_type(content_type)
    delimiter = b"--" + boundary
    pos = _expect_delimiter(body, 0, delimiter)

    # Part 1: the protocol label and the cleartext description, up to the next delimiter.
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADER_LINES + 1):
        line, pos = _read_line(body, pos)
        if line.rstrip(b" \t") == delimiter:
            break
        if not line.strip(b" \t"):
            continue  # a blank line in the text part is harmless
        name, value = _parse_header(line)
        if name in headers:
            raise DecryptError(f"multipart: duplicate header {name!r} in the first part")
        headers[name] = value
    else:
        raise DecryptError("multipart: no delimiter after the first part's headers")

    part_type = headers.get("content-type")
    if part_type is None:
        raise DecryptError("multipart: the first part has no Content-Type")
    if _canonical_protocol(part_type) != protocol:
        raise DecryptError(f"multipart: first part type {part_type!r} does not match protocol {protocol!r}")
    original = headers.get("originalcontent")
    if original is None:
        raise DecryptError("multipart: the first part has no OriginalContent")
    original_type, original_length = _parse_original_content(original)

    # Part 2: exactly one header line, then the payload runs to the closing delimiter.
    line, pos = _read_line(body, pos)
    name, value = _parse_header(line)
    if name != "content-type" or value.lower() != _OCTET_STREAM:
        raise DecryptError(f"multipart: expected 'Content-Type: {_OCTET_STREAM}', got {line[:80]!r}")

    closing = delimiter + b"--"
    end = _content_end(body)  # transport padding / CRLF after the closing delimiter
    if end - len(closing) < pos or body[end - len(closing) : end] != closing:
        raise DecryptError("multipart: the body does not end with the closing delimiter")
    # Offsets into the body rather than a slice of the payload: the ciphertext (the bulk
    # of a ~100 KB body) is copied once, into ``data``.
    payload_end = end - len(closing)
    if payload_end - pos < _HLEN.size:
        raise DecryptError("multipart: the encrypted part is shorter than its header length field")
    (header_len,) = _HLEN.unpack_from(body, pos)
    room = payload_end - pos - _HLEN.size
    if header_len == 0 or header_len > room:
        raise DecryptError(
            f"multipart: token header length {header_len} does not fit the {room} bytes that follow"
        )
    start = pos + _HLEN.size + header_len
    return EncryptedBody(
        protocol=protocol,
        original_type=original_type,
        original_length=original_length,
        header=body[pos + _HLEN.size : start],
        data=body[start:payload_end],
    )


_TRAILING_BLANKS = b" \t\r\n"


def _content_end(body: bytes) -> int:
    """``len(body.rstrip(_TRAILING_BLANKS))``, without copying the body when (as always from
    Windows) only a few blank bytes follow the closing delimiter."""
    window = 64
    if len(body) > window:
        kept = len(body[-window:].rstrip(_TRAILING_BLANKS))
        if kept:
            return len(body) - window + kept
    return len(body.rstrip(_TRAILING_BLANKS))


def build_encrypted(
    protocol: str,
    header: bytes,
    data: bytes,
    original_length: int,
    original_type: str = SOAP_UTF16,
) -> tuple[str, bytes]:
    """Return ``(content_type, body)`` in Windows' byte-exact form (docs/protocol.md §4.2).

    With the Kerberos label, ``len(body) == 234 + len(str(L)) + 4 + H + len(data)``.
    """
    if _canonical_protocol(protocol) != protocol:
        raise ValueError(f"unknown session-encryption protocol {protocol!r}")
    if original_length < 0:
        raise ValueError("original_length must be >= 0")
    delimiter = f"--{_BOUNDARY}\r\n".encode("ascii")
    text = (
        f"Content-Type: {protocol}\r\nOriginalContent: type={original_type};Length={original_length}\r\n"
    ).encode("ascii")
    body = b"".join(
        (
            delimiter,
            text,
            delimiter,
            f"Content-Type: {_OCTET_STREAM}\r\n".encode("ascii"),
            _HLEN.pack(len(header)),
            header,
            data,
            f"--{_BOUNDARY}--\r\n".encode("ascii"),
        )
    )
    content_type = f'multipart/encrypted;protocol="{protocol}";boundary="{_BOUNDARY}"'
    return content_type, body


# -- helpers -----------------------------------------------------------------------------------


def _canonical_protocol(label: str) -> str | None:
    """The canonical spelling of a known label (MIME types compare case-insensitively)."""
    folded = label.strip().lower()
    for known in PROTOCOLS:
        if folded == known.lower():
            return known
    return None


def _parse_content_type(content_type: str) -> tuple[str, bytes]:
    """Return (protocol, boundary) from the HTTP Content-Type value (RFC 2045 §5.1)."""
    if len(content_type) > _MAX_CONTENT_TYPE:
        raise DecryptError("multipart: Content-Type header too long")
    media, _, rest = content_type.partition(";")
    if media.strip().lower() != "multipart/encrypted":
        raise DecryptError(f"multipart: Content-Type is {media.strip()!r}, not multipart/encrypted")
    params = _parse_params(rest)
    raw_protocol = params.get("protocol")
    if raw_protocol is None:
        raise DecryptError("multipart: Content-Type has no protocol parameter")
    protocol = _canonical_protocol(raw_protocol)
    if protocol is None:
        raise DecryptError(f"multipart: unsupported protocol {raw_protocol!r}")
    boundary = params.get("boundary")
    if boundary is None:
        raise DecryptError("multipart: Content-Type has no boundary parameter")
    # RFC 2046 §5.1.1: 1 to 70 characters, printable ASCII, not ending in a space.
    if not 1 <= len(boundary) <= 70 or boundary.endswith(" ") or not all(" " <= c <= "~" for c in boundary):
        raise DecryptError(f"multipart: invalid boundary {boundary!r}")
    return protocol, boundary.encode("ascii")


def _parse_params(text: str) -> dict[str, str]:
    """Parse ``;name=value;name="quoted value"`` into a dict with lower-case names."""
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t;":
            i += 1
            continue
        eq = text.find("=", i)
        if eq < 0:
            raise DecryptError(f"multipart: Content-Type parameter without a value: {text[i:]!r}")
        name = text[i:eq].strip().lower()
        if not name or any(c in name for c in ' \t;"'):
            raise DecryptError(f"multipart: bad Content-Type parameter name {text[i:eq]!r}")
        i = eq + 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            value_chars: list[str] = []
            i += 1
            while True:
                if i >= n:
                    raise DecryptError("multipart: unterminated quoted string in Content-Type")
                c = text[i]
                if c == "\\" and i + 1 < n:
                    value_chars.append(text[i + 1])
                    i += 2
                elif c == '"':
                    i += 1
                    break
                else:
                    value_chars.append(c)
                    i += 1
            value = "".join(value_chars)
            while i < n and text[i] in " \t":
                i += 1
            if i < n and text[i] != ";":
                raise DecryptError("multipart: garbage after a quoted Content-Type parameter")
        else:
            semi = text.find(";", i)
            end = n if semi < 0 else semi
            value = text[i:end].strip()
            i = end
        if name in params:
            raise DecryptError(f"multipart: duplicate Content-Type parameter {name!r}")
        params[name] = value
    return params


def _read_line(body: bytes, pos: int) -> tuple[bytes, int]:
    """The CRLF-terminated line at ``pos`` (without its CRLF) and the position after it."""
    eol = body.find(b"\r\n", pos, pos + _MAX_LINE + 2)
    if eol < 0:
        raise DecryptError("multipart: truncated or overlong header line")
    return body[pos:eol], eol + 2


def _expect_delimiter(body: bytes, pos: int, delimiter: bytes) -> int:
    line, nxt = _read_line(body, pos)
    if line.rstrip(b" \t") != delimiter:
        raise DecryptError("multipart: the body does not start with the boundary delimiter")
    return nxt


def _parse_header(line: bytes) -> tuple[str, str]:
    """``Name: value`` with optional leading whitespace (MS-WSMV's tab) → (lower name, value)."""
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError as err:
        raise DecryptError("multipart: non-ASCII byte in a part header") from err
    name, colon, value = text.strip(" \t").partition(":")
    if not colon or not name or name != name.strip():
        raise DecryptError(f"multipart: malformed part header {text[:80]!r}")
    return name.lower(), value.strip(" \t")


def _parse_original_content(value: str) -> tuple[str, int | None]:
    """``type=<media type with parameters>;Length=<decimal>`` → (type, length)."""
    pieces = [p.strip() for p in value.split(";")]
    first = pieces[0]
    if first[:5].lower() != "type=" or not first[5:]:
        raise DecryptError(f"multipart: OriginalContent does not start with type=: {value[:80]!r}")
    type_parts = [first[5:]]
    length: int | None = None
    for piece in pieces[1:]:
        key, eq, val = piece.partition("=")
        if key.strip().lower() == "length" and eq:
            val = val.strip()
            if length is not None:
                raise DecryptError("multipart: OriginalContent has two Length parameters")
            if not val.isascii() or not val.isdigit() or len(val) > _MAX_LENGTH_DIGITS:
                raise DecryptError(f"multipart: bad OriginalContent Length {val[:20]!r}")
            length = int(val)
        else:
            type_parts.append(piece)
    return ";".join(type_parts), length
