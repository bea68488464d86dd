# SPDX-License-Identifier: GPL-3.0-or-later
"""Packaging for wec, a Linux collector for Windows Event Forwarding."""
from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _requirements(name: str) -> list[str]:
    lines = (HERE / "requirements" / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith(("#", "-r"))]


setup(
    name="wec",
    version="0.1.0",
    description="Windows Event Forwarding collector (OpenWEC-compatible), in Python",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="GPL-3.0-or-later",
    python_requires=">=3.11",
    packages=find_packages(include=["wec", "wec.*", "accel", "accel.*"]),
    package_data={"wec": ["py.typed", "store/migrations/*.sql", "store/migrations/postgres/*.sql"], "accel": ["py.typed"]},
    install_requires=_requirements("runtime.txt"),
    extras_require={"test": _requirements("test.txt")},
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
