# SPDX-License-Identifier: GPL-3.0-or-later
"""Summarise py-spy raw (collapsed) profiles: the share of samples per function, inclusive.

    .venv/bin/python -m bench.profile_summary DIR/candidate-*.txt [--top 25]

Each line of a raw profile is ``frame;frame;... count``; a function is counted once per
stack it appears in (inclusive time). Idle samples (threads waiting in ``select``, ``wait``,
``accept``…) are dropped first, so the shares are of the CPU-busy samples.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_IDLE = re.compile(r"\b(wait|select|poll|accept|sleep|_recv_into|readinto|recv|get)\b \(")
_FRAME = re.compile(r"^(?P<fn>[^ ]+) \((?P<file>[^:]+)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    file = m["file"]
    for marker in ("/wec/", "/accel/", "/lxml/", "/cheroot/", "/werkzeug/", "/gssapi/"):
        i = file.find(marker)
        if i >= 0:
            file = file[i + 1 :]
            break
    else:
        file = Path(file).name
    return f"{m['fn']} ({file})"


def summarise(paths: list[Path], top: int) -> str:
    incl: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    busy = 0
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            frames = stack.split(";")
            if frames and _IDLE.search(frames[-1]):
                continue
            count = int(n)
            busy += count
            leaf[_name(frames[-1])] += count
            for name in {_name(f) for f in frames}:
                incl[name] += count
    lines = [f"busy samples: {busy}", "", "inclusive %  function"]
    lines += [f"{100 * c / busy:10.1f}  {f}" for f, c in incl.most_common(top)] if busy else []
    lines += ["", "self %  function"]
    lines += [f"{100 * c / busy:6.1f}  {f}" for f, c in leaf.most_common(top)] if busy else []
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_summary")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    print(summarise(args.files, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
