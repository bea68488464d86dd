# SPDX-License-Identifier: GPL-3.0-or-later
"""Packaging for wec, a Linux collector for Windows Event Forwarding."""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _lines(name: str) -> list[str]:
    lines = (HERE / "requirements" / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith(("#", "-r"))]


def _requirements(name: str) -> list[str]:
    return [ln.partition("#")[0].strip() for ln in _lines(name)]


def _extras() -> dict[str, list[str]]:
    """requirements/extras.txt: one requirement per line, its extra's name in the comment."""
    extras: dict[str, list[str]] = {}
    for line in _lines("extras.txt"):
        requirement, _, extra = line.partition("#")
        extras.setdefault(extra.strip(), []).append(requirement.strip())
    extras["all"] = sorted({r for reqs in extras.values() for r in reqs})
    return extras


EXTRAS = _extras()


def _version() -> str:
    # Read, not imported: importing wec would need its dependencies before they are installed.
    text = (HERE / "wec" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise RuntimeError("wec/__init__.py has no __version__")
    return match.group(1)


setup(
    name="wec",
    version=_version(),
    description="Windows Event Forwarding collector (OpenWEC-compatible), in Python",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="GPL-3.0-or-later",
    python_requires=">=3.11",
    packages=find_packages(include=["wec", "wec.*", "accel", "accel.*"]),
    package_data={"wec": ["py.typed", "store/migrations/*.sql", "store/migrations/postgres/*.sql"], "accel": ["py.typed"]},
    install_requires=_requirements("runtime.txt"),
    extras_require={**EXTRAS, "test": _requirements("test.txt") + EXTRAS["all"]},
    entry_points={
        "console_scripts": [
            "wecd = wec.cli.wecd:main",
            "wec = wec.cli.main:main",
        ]
    },
    classifiers=[
        "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)",
        "Programming Language :: Python :: 3.11",
        "Operating System :: POSIX :: Linux",
    ],
)
