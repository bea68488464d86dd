# SPDX-License-Identifier: GPL-3.0-or-later
"""Coverage-guided fuzzing of one target (tests/fuzz/targets.py) with atheris (libFuzzer).

    pip install -r requirements/fuzz.txt
    python -m tests.fuzz.atheris_main TARGET [CORPUS_DIR] [-max_total_time=600] [-jobs=N] ...

TARGET is one of envelope, multipart, proxy, sldc, event. The target's seeds are copied into
CORPUS_DIR (default: a fresh temporary directory) first; libFuzzer keeps the inputs that reach
new code there, so a corpus directory kept between runs makes each run start where the last one
stopped. A crash writes ``crash-<sha1>`` with the input: turn it into a test in
tests/fuzz/test_regressions.py. Hangs are libFuzzer's ``-timeout`` (20 s by default here; the
targets' own watchdog is for the pytest runs only: both would use SIGALRM).
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str]) -> int:
    try:
        import atheris
    except ImportError:
        print("atheris is not installed: pip install -r requirements/fuzz.txt", file=sys.stderr)
        return 2
    # Numba compiles the SLDC kernels from their Python source: instrumented, they no longer
    # compile. They stay uninstrumented (their wrappers are).
    numba_kernels = ["accel._sldc_kernel", "accel._jit", "wec.sim._sldc_kernel"]
    with atheris.instrument_imports(include=["wec", "accel", "tests.fuzz"], exclude=numba_kernels):
        from tests.fuzz.targets import TARGETS, seeds

    positional = [a for a in argv[1:] if not a.startswith("-")]
    options = [a for a in argv[1:] if a.startswith("-")]
    if not positional or positional[0] not in TARGETS:
        print(f"usage: python -m tests.fuzz.atheris_main {{{','.join(TARGETS)}}} [CORPUS_DIR] "
              "[libFuzzer options]", file=sys.stderr)  # fmt: skip
        return 2
    name = positional[0]
    corpus = (
        Path(positional[1]) if len(positional) > 1 else Path(tempfile.mkdtemp(prefix=f"wec-fuzz-{name}-"))
    )
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in seeds(name):
        (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    if not any(o.startswith("-timeout=") for o in options):
        options.append("-timeout=20")
    target = TARGETS[name]
    print(f"fuzzing {name}; corpus {corpus}", file=sys.stderr)
    atheris.Setup([argv[0], *options, str(corpus)], target)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
