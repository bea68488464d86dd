# SPDX-License-Identifier: GPL-3.0-or-later
"""A Windows-source simulator: test client, benchmark engine and ``wec sim`` smoke test.

Independent of the server on purpose: nothing here imports ``wec.protocol``, ``wec.auth``,
``wec.transport``, ``wec.store``, ``wec.formats`` or ``accel``, so a misreading of the protocol
cannot hide itself in both ends. Entry points: :func:`wec.sim.runner.run_machines`,
:class:`wec.sim.machine.Machine`, :func:`wec.sim.cli.main`. See docs/simulator.md.

This package initialiser stays empty of imports so that ``wec.sim.sldc`` can be imported
without pulling in gssapi and lxml.
"""
