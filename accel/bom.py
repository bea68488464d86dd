# SPDX-License-Identifier: GPL-3.0-or-later
"""The one byte-order-mark sniffer of the collector.

Windows writes its SOAP bodies and ``wecutil`` exports as UTF-16LE behind ``FF FE``; files
edited by hand may be UTF-8 with ``EF BB BF``, and a big-endian ``FE FF`` costs nothing to
accept. Every reader that has to guess an encoding from the first bytes asks :func:`sniff_bom`,
so that they all agree on what a BOM is. (``FF FE 00 00`` is read as UTF-16LE, not UTF-32LE:
no WEF peer writes UTF-32.)
"""

from __future__ import annotations

import codecs
from typing import NamedTuple

__all__ = ["BOMS", "Bom", "sniff_bom"]


class Bom(NamedTuple):
    encoding: str  # Python codec name without BOM handling: "utf-16-le", "utf-16-be", "utf-8"
    length: int  # bytes the BOM takes at the start of the data


#: Each BOM and the codec of the text behind it.
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF16_LE, "utf-16-le"),  # FF FE
    (codecs.BOM_UTF16_BE, "utf-16-be"),  # FE FF
    (codecs.BOM_UTF8, "utf-8"),  # EF BB BF
)


def sniff_bom(data: bytes) -> Bom | None:
    """The BOM ``data`` starts with, or ``None``; the caller picks its own no-BOM default."""
    for mark, encoding in BOMS:
        if data.startswith(mark):
            return Bom(encoding, len(mark))
    return None
