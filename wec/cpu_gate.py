# SPDX-License-Identifier: GPL-3.0-or-later
"""One request thread at a time in the CPU-bound steps of a request, per process.

A wecd process runs Python on one core at a time (the GIL), whatever its number of request
threads; what those threads do at once is waiting. Left to the GIL, ten requests that each
decrypt, decompress and parse a batch do not run faster side by side: they trade the GIL
every time one of them calls into C code that releases it (libxml2 releases it around every
event's parse, OpenSSL and hashlib around large buffers), and every trade is a futex wake and
a task switch, dear on a virtual machine. Serialising those steps behind one lock turns the
trades into one hand-over per step (bench/README.md, "Third pass": Json with one worker,
context switches per event 3.0 → 0.5 and CPU per event 104 → 67 µs with that pass's other
changes; lower Ack latency in every configuration).

The gate is held only around pure computation on data already in memory:

* in the transport (``wec.transport.app``): decrypting, decompressing, decoding and parsing
  a request body that has been read whole;
* in the output pipeline (``wec.outputs.pipeline``): formatting a batch for its outputs.

Never around anything that waits: reading or writing a socket, an output write, a database
call. A thread waiting for the gate therefore waits at most for other threads' computation,
which the GIL would have made it wait for anyway. The lock is not reentrant: the two places
above never nest (the transport releases it before calling the service).

This module imports nothing of wec, so both layers may use it.
"""

from __future__ import annotations

import threading

__all__ = ["cpu_gate"]

# A plain lock: threading.Lock is implemented in C, costs one atomic operation when free,
# and a waiting thread sleeps without holding the GIL.
cpu_gate = threading.Lock()
