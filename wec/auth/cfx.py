# SPDX-License-Identifier: GPL-3.0-or-later
"""Decrypting a source's Kerberos Wrap tokens with OpenSSL: the fast path of request unwrap.

Why: MIT Kerberos as Debian builds it uses its own AES and SHA-1 (no AES-NI); under load a
profile of wecd showed ~15% of all its CPU time inside ``libk5crypto`` (bench/README.md),
nearly all of it decrypting request bodies. The ``cryptography`` package reaches OpenSSL's
AES-NI code for the same work.

Only the receiving direction, only the AES enctypes of RFC 3962 (17, 18), and only as a fast
path: :class:`wec.auth.kerberos.KerberosSession` asks here first and, when this returns None
(another enctype, an unusual token, a checksum that does not verify), lets GSSAPI decide.
What it accepts was sealed with the context's current key: the checksum covers the
confounder, the data, the filler and a copy of the token header (RFC 4121 §4.2.4), so the
flags, EC and the sequence number are bound to the data. Two framing details are not, and
this path, unlike MIT, does not insist on them: the rotation count (RRC is zero in the
checksummed copy; any value that undoes the rotation gives the same data) and the
AcceptorSubkey flag (the key is the current one whatever the flag says). Neither can be
changed without the key, and neither changes the data a token carries. Replays are
refused by the session (sequence numbers), as before. Responses are still wrapped by GSSAPI: they are
small, and its send sequence numbers stay its own.

References: RFC 3961 (n-fold, key derivation, the simplified profile), RFC 3962 (AES with
ciphertext stealing, HMAC-SHA1-96), RFC 4121 §4.2.6.2 (the Wrap token).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["WrapKeys", "derive_wrap_keys", "nfold", "unwrap", "unwrap_parts"]

# Key usage of a Wrap token sealed by the initiator (RFC 4121 §2).
KG_USAGE_INITIATOR_SEAL: Final = 24
# enctype → key length (RFC 3962: aes128-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96).
AES_SHA1_ENCTYPES: Final = {17: 16, 18: 32}

# RFC 4121 §4.2.6.2 Wrap token header: TOK_ID 05 04, flags, filler FF, EC, RRC, SND_SEQ (8
# bytes). The one description of it in wec (the session reads SND_SEQ and the flags too).
WRAP_TOK_ID: Final = b"\x05\x04"
TOKEN_HEADER_LEN: Final = 16
FLAG_SENT_BY_ACCEPTOR: Final = 0x01
FLAG_SEALED: Final = 0x02

_BLOCK: Final = 16
_MAC: Final = 12  # HMAC-SHA1-96
_ZERO_IV: Final = bytes(_BLOCK)


def nfold(data: bytes, nbytes: int) -> bytes:
    """RFC 3961 §5.1: stretch or shrink ``data`` to ``nbytes`` bytes.

    The input is repeated, each copy rotated 13 bits further right, up to the least common
    multiple of both lengths; the ``nbytes`` chunks are then added with end-around carry.
    """
    in_bits = len(data) * 8
    total = math.lcm(len(data), nbytes)
    value = int.from_bytes(data, "big")
    mask = (1 << in_bits) - 1
    copies = bytearray()
    for i in range(total // len(data)):
        shift = (13 * i) % in_bits
        rotated = ((value >> shift) | (value << (in_bits - shift))) & mask if shift else value
        copies += rotated.to_bytes(len(data), "big")
    out_bits = nbytes * 8
    out_mask = (1 << out_bits) - 1
    acc = 0
    for j in range(0, total, nbytes):
        acc += int.from_bytes(copies[j : j + nbytes], "big")
    while acc >> out_bits:
        acc = (acc & out_mask) + (acc >> out_bits)
    return acc.to_bytes(nbytes, "big")


def _aes_block(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def _derive(key: bytes, constant: bytes) -> bytes:
    """RFC 3961 §5.1 DK for AES: chained encryptions of the n-folded constant."""
    block = nfold(constant, _BLOCK)
    out = b""
    while len(out) < len(key):
        block = _aes_block(key, block)
        out += block
    return out[: len(key)]


@dataclass(frozen=True, slots=True)
class WrapKeys:
    """The encryption and integrity keys of one direction of a security context."""

    ke: bytes
    ki: bytes


def derive_wrap_keys(session_key: bytes, usage: int = KG_USAGE_INITIATOR_SEAL) -> WrapKeys:
    prefix = struct.pack(">I", usage)
    return WrapKeys(ke=_derive(session_key, prefix + b"\xaa"), ki=_derive(session_key, prefix + b"\x55"))


def _last(pieces: tuple[bytes | memoryview, ...], k: int) -> bytes:
    """The last ``k`` bytes of the concatenation of ``pieces`` (``k`` is at most 32)."""
    taken: list[bytes] = []
    for piece in reversed(pieces):
        if k <= 0:
            break
        part = bytes(piece[max(0, len(piece) - k) :])
        taken.append(part)
        k -= len(part)
    return b"".join(reversed(taken))


def _cts_decrypt_into(key: bytes, pieces: tuple[bytes | memoryview, ...], n: int) -> bytearray:
    """AES-CBC with ciphertext stealing and a zero IV, as RFC 3962 defines it (the last two
    blocks swapped, the last one possibly partial; ``n`` >= 16), of the concatenation of
    ``pieces`` (``n`` bytes in all), into one new buffer of exactly ``n`` bytes: the pieces
    are never joined, and the decryptor writes in place (a request body is ~100 KB; every
    copy of it costs)."""
    if n == _BLOCK:
        decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
        return bytearray(decryptor.update(_last(pieces, _BLOCK)) + decryptor.finalize())
    tail = n % _BLOCK or _BLOCK
    ending = _last(pieces, _BLOCK + tail)  # E(n) sent first, then the first bytes of E(n-1)
    last_full, stolen = ending[:_BLOCK], ending[_BLOCK:]
    one = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    d = one.update(last_full) + one.finalize()
    previous = stolen + d[tail:]  # E(n-1) whole again
    last_plain = (int.from_bytes(d[:tail], "big") ^ int.from_bytes(stolen, "big")).to_bytes(tail, "big")
    # update_into wants room for one more block than it is given.
    out = bytearray(n + _BLOCK)
    view = memoryview(out)
    cbc = Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV)).decryptor()
    head, pos = n - _BLOCK - tail, 0  # whole blocks before the last two: plain CBC
    for piece in pieces:
        if head <= 0:
            break
        chunk = memoryview(piece)[:head]
        pos += cbc.update_into(chunk, view[pos:])
        head -= len(chunk)
    cbc.update_into(previous, view[pos:])
    cbc.finalize()
    view.release()
    out[n - tail : n] = last_plain
    del out[n:]
    return out


def unwrap(keys: WrapKeys, token: bytes) -> bytes | None:
    """The data of an initiator's sealed Wrap token, or None when it is not one this fast
    path reads, or does not verify (the caller then asks GSSAPI)."""
    if len(token) <= TOKEN_HEADER_LEN:
        return None
    # Split after the rotated bytes, where Windows splits (any split gives the same answer).
    (rrc,) = struct.unpack(">H", token[6:8])
    split = TOKEN_HEADER_LEN + rrc % (len(token) - TOKEN_HEADER_LEN)
    return unwrap_parts(keys, token[:split], memoryview(token)[split:])


def unwrap_parts(keys: WrapKeys, header: bytes, data: bytes | memoryview) -> bytes | None:
    """:func:`unwrap` of the token ``header ‖ data`` without joining the two: Windows sends
    the token header and the first rotated bytes (``header``, 60 bytes for AES256) apart from
    the ciphertext (``data``, the bulk of the body; docs/protocol.md §4.3)."""
    if len(header) < TOKEN_HEADER_LEN:  # not Windows' framing: read it as one token
        whole = bytes(header) + bytes(data)
        return unwrap(keys, whole) if len(whole) > TOKEN_HEADER_LEN else None
    token_header = bytes(header[:TOKEN_HEADER_LEN])
    if token_header[0:2] != WRAP_TOK_ID or token_header[3] != 0xFF:
        return None
    flags = token_header[2]
    if flags & FLAG_SENT_BY_ACCEPTOR or not flags & FLAG_SEALED:
        return None
    rotated_head = memoryview(header)[TOKEN_HEADER_LEN:]
    size = len(rotated_head) + len(data)
    if size < _BLOCK + TOKEN_HEADER_LEN + _MAC:
        return None
    ec, rrc = struct.unpack(">HH", token_header[4:8])
    rrc %= size
    # RFC 4121 §4.2.5: the sender rotated (ciphertext ‖ MAC) right by RRC octets. Undone
    # as pieces when all the bytes that went round (the MAC and the end of the ciphertext)
    # are in the header part, as Windows and MIT send them (RRC 28, a 60-byte header part).
    pieces: tuple[bytes | memoryview, ...]
    if _MAC <= rrc <= len(rotated_head):
        front = rotated_head[:rrc]
        pieces = (rotated_head[rrc:], data, front[:-_MAC])
        mac = bytes(front[-_MAC:])
    else:  # any other split: join, then rotate
        body = bytes(rotated_head) + bytes(data)
        if rrc:
            body = body[rrc:] + body[:rrc]
        pieces, mac = (body[:-_MAC],), body[-_MAC:]
    n = size - _MAC
    plain = _cts_decrypt_into(keys.ke, pieces, n)
    expected = hmac.new(keys.ki, plain, hashlib.sha1).digest()[:_MAC]
    if not hmac.compare_digest(expected, mac):
        return None
    # confounder ‖ data ‖ EC filler bytes ‖ the token header with RRC = 0 (RFC 4121 §4.2.4)
    if n < _BLOCK + ec + TOKEN_HEADER_LEN:
        return None
    if plain[-TOKEN_HEADER_LEN:] != token_header[:6] + b"\x00\x00" + token_header[8:]:
        return None
    return bytes(memoryview(plain)[_BLOCK : n - ec - TOKEN_HEADER_LEN])
