# SPDX-License-Identifier: GPL-3.0-or-later
"""A throwaway PostgreSQL cluster for tests: initdb into a temporary directory, a free port.

initdb refuses to run as root, so when the tests run as root the cluster belongs to the
unprivileged ``postgres`` OS user (created by the Debian package). The server runs in the
foreground as our child process and is stopped by its PID. Durability is switched off
(fsync, full_page_writes): the cluster lives for one test session.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

from tests.support.ports import free_port
from wec.store.settings import DatabaseSettings

__all__ = ["PgCluster", "pg_bindir", "start_cluster", "stat_statements_options"]

_names = itertools.count(1)


def pg_bindir() -> Path | None:
    """The directory holding initdb and postgres (Debian's newest version first), or None."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(os.path.realpath(found)).parent))
    for c in candidates:
        if (Path(c) / "initdb").exists() and (Path(c) / "postgres").exists():
            return Path(c)
    return None


def _owner() -> str | None:
    """The OS user to run PostgreSQL as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root and no 'postgres' OS user to own the test cluster") from None
    return "postgres"


@dataclass
class PgCluster:
    directory: Path
    bindir: Path
    port: int
    user: str | None  # OS user owning the cluster (None: the current one)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)
    options: tuple[str, ...] = ()  # more server settings, "name=value"
    _prep: _Preparer | None = field(default=None, repr=False)
    _prep_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def _as_owner(self) -> dict[str, Any]:
        if not self.user:
            return {}
        return {"user": self.user, "group": pwd.getpwnam(self.user).pw_gid, "extra_groups": []}

    def start(self, timeout: float = 30.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(self.bindir / "postgres"),
                    "-D", str(self.data),
                    "-p", str(self.port),
                    "-k", str(self.directory),
                    "-c", "listen_addresses=127.0.0.1",
                    "-c", "fsync=off",
                    "-c", "full_page_writes=off",
                    "-c", "synchronous_commit=off",
                    "-c", "max_connections=200",
                    *(arg for opt in self.options for arg in ("-c", opt)),
                ],
                stdout=log,
                stderr=log,
                **self._as_owner(),
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                psycopg2.connect(**self.connect_kwargs("postgres")).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"postgres did not start:\n{self.log_path.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> None:
        """SIGINT: "fast" shutdown (sessions cut, clean); SIGQUIT: "immediate" (a crash)."""
        self.stop_preparing()  # its connection would die with the server
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def destroy(self) -> None:
        self.stop_preparing()
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def connect_kwargs(self, dbname: str) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "user": "postgres", "dbname": dbname}

    def admin(self, sql: str) -> None:
        conn = psycopg2.connect(**self.connect_kwargs("postgres"))
        try:
            conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def create_database(self, prefix: str = "wec") -> str:
        name = f"{prefix}_{os.getpid()}_{next(_names)}"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- databases made ahead of time, for one-database-per-test suites --------------------------
    def fresh_database(self, timeout: float = 60.0) -> str:
        """An empty database, created in the background while the previous test ran."""
        with self._prep_lock:
            if self._prep is None:
                self._prep = _Preparer(self)
        return self._prep.take(timeout)

    def drop_later(self, name: str) -> None:
        """Drop ``name`` in the background (the preparer's thread)."""
        with self._prep_lock:
            prep = self._prep
        if prep is None:
            self.drop_database(name)
        else:
            prep.drops.put(name)

    def stop_preparing(self) -> None:
        with self._prep_lock:
            prep, self._prep = self._prep, None
        if prep is not None:
            prep.close()

    def settings(self, dbname: str, **overrides: Any) -> DatabaseSettings:
        fields: dict[str, Any] = {
            "type": "Postgres",
            "host": "127.0.0.1",
            "port": self.port,
            "dbname": dbname,
            "user": "postgres",
            "ssl_mode": "Disable",
        }
        fields.update(overrides)
        return DatabaseSettings(**fields)


class _Preparer:
    """A thread keeping ``spare`` empty databases ready and dropping used ones, on one connection."""

    def __init__(self, cluster: PgCluster, spare: int = 2) -> None:
        self.cluster = cluster
        self.ready: queue.Queue[str | BaseException] = queue.Queue()
        self.drops: queue.Queue[str] = queue.Queue()
        self._spare = spare
        self._stop = threading.Event()
        self._wanted = threading.Semaphore(spare)
        self._thread = threading.Thread(target=self._run, name="pg-preparer", daemon=True)
        self._thread.start()

    def take(self, timeout: float) -> str:
        item = self.ready.get(timeout=timeout)
        self._wanted.release()
        if isinstance(item, BaseException):
            raise RuntimeError("cannot create a test database") from item
        return item

    def _run(self) -> None:
        conn = psycopg2.connect(**self.cluster.connect_kwargs("postgres"))
        conn.autocommit = True
        try:
            while not self._stop.is_set():
                while not self.drops.empty():
                    with conn.cursor() as cur:
                        cur.execute(f'DROP DATABASE IF EXISTS "{self.drops.get()}" WITH (FORCE)')
                if not self._wanted.acquire(timeout=0.05):
                    continue
                name = f"wec_{os.getpid()}_{next(_names)}"
                try:
                    with conn.cursor() as cur:
                        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
                    self.ready.put(name)
                except psycopg2.Error as err:
                    self.ready.put(err)
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)


def stat_statements_options(bindir: Path) -> tuple[str, ...]:
    """Server settings loading pg_stat_statements (statement counts), if it is installed."""
    if not (bindir.parent / "lib" / "pg_stat_statements.so").exists():
        return ()
    return ("shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all")


def start_cluster(bindir: Path | None = None, options: tuple[str, ...] = ()) -> PgCluster:
    """initdb a new cluster under /tmp (readable by its owner) and start it on a free port."""
    bindir = bindir or pg_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, postgres)")
    owner = _owner()
    directory = Path(tempfile.mkdtemp(prefix="wec-pg-"))
    if owner:
        shutil.chown(directory, owner)
    cluster = PgCluster(
        directory, bindir, free_port(), owner, log_path=directory / "postgres.log", options=options
    )
    try:
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D", str(cluster.data),
                "-A", "trust",
                "-U", "postgres",
                "-E", "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=directory,
            **cluster._as_owner(),
        )  # fmt: skip
        cluster.start()
    except BaseException:
        cluster.destroy()
        raise
    return cluster
