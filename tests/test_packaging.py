# SPDX-License-Identifier: GPL-3.0-or-later
"""Packaging: the optional output clients are extras, and an output whose client is missing
is refused with a message that names the extra to install.

A missing library is simulated the way Python itself reports one: ``sys.modules[name] = None``
makes ``import name`` raise ``ModuleNotFoundError``; the driver module is dropped from
``sys.modules`` for the test so that it is imported again.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import wec
from wec.model import OutputConfig
from wec.outputs.context import DriverContext
from wec.outputs.pipeline import build_pipeline
from wec.outputs.registry import CLIENTS, DRIVERS, MissingClient, build_driver, validate_output
from wec.subscriptions.files import SubscriptionFileError, parse_subscription

ROOT = Path(__file__).resolve().parent.parent
# A configuration each driver accepts when its client is there.
CONFIGS = {
    "Redis": {"addr": "127.0.0.1:6379", "list": "wec"},
    "Kafka": {"topic": "wec", "options": {"bootstrap.servers": "127.0.0.1:9092"}},
    "MongoDB": {"uri": "mongodb://127.0.0.1:27017", "database": "wec"},
}
FORMAT = {"MongoDB": "Json"}  # MongoDB stores documents: Json only
QUERY = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'


def _hide_client(monkeypatch: pytest.MonkeyPatch, driver: str) -> None:
    module, _ = DRIVERS[driver]
    monkeypatch.delitem(sys.modules, module, raising=False)
    for name in CLIENTS[driver][2]:
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]


def _file(driver: str) -> str:
    config = ", ".join(
        f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {{}}" for k, v in CONFIGS[driver].items()
    )
    return textwrap.dedent(f"""\
        uuid = "0b9f0d3e-6a61-4c1e-9d1f-3c8a5e2b7f10"
        name = "x"
        query = '{QUERY}'
        [[outputs]]
        driver = "{driver}"
        format = "{FORMAT.get(driver, "Raw")}"
        config = {{ {config} }}
        """)


@pytest.mark.parametrize("driver", sorted(CLIENTS))
def test_each_optional_driver_validates_with_its_client(driver: str) -> None:
    # The other tests are meaningful only if these configurations are otherwise valid.
    assert validate_output(driver, FORMAT.get(driver, "Raw"), CONFIGS[driver]) == CONFIGS[driver]


@pytest.mark.parametrize("driver", sorted(CLIENTS))
def test_a_missing_client_names_its_extra(driver: str, monkeypatch: pytest.MonkeyPatch) -> None:
    extra, distribution, _ = CLIENTS[driver]
    _hide_client(monkeypatch, driver)
    fmt = FORMAT.get(driver, "Raw")
    with pytest.raises(MissingClient, match=rf"pip install 'wec\[{extra}\]'") as err:
        validate_output(driver, fmt, CONFIGS[driver])
    assert isinstance(err.value, ImportError) and distribution in str(err.value)
    assert err.value.extra == extra and err.value.driver == driver
    # `wec subscriptions load` (the file rules) says it with the file and the output.
    with pytest.raises(
        SubscriptionFileError, match=rf"#1 config: the {driver} output needs .*wec\[{extra}\]"
    ):
        parse_subscription(_file(driver), source="x.toml")
    # Start-up: building the subscription's outputs fails the same way (the registry logs it).
    with pytest.raises(MissingClient, match=rf"wec\[{extra}\]"):
        build_driver(driver, dict(CONFIGS[driver]), DriverContext(format_name=fmt))


def test_a_missing_client_does_not_affect_other_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_client(monkeypatch, "Kafka")
    config = {"path": "/nonexistent/{ip}"}
    assert validate_output("Files", "Raw", config) == config
    outputs = [
        OutputConfig("Files", "Raw", dict(config)),
        OutputConfig("Kafka", "Raw", {"topic": "t"}, False),
    ]
    pipeline = build_pipeline(outputs, lambda f: DriverContext(format_name=f, check_only=True))
    pipeline.close()  # the disabled Kafka output is not built, so its missing client is no matter


def test_another_import_error_is_not_taken_for_a_missing_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # A broken installation of wec itself must not be reported as "install the extra".
    monkeypatch.setitem(sys.modules, "wec.outputs.redis", None)  # type: ignore[arg-type]
    with pytest.raises(ImportError) as err:
        validate_output("Redis", "Raw", CONFIGS["Redis"])
    assert not isinstance(err.value, MissingClient)


def test_wec_subscriptions_load_refuses_it_in_a_fresh_process(tmp_path: Path) -> None:
    (tmp_path / "wec.toml").write_text(
        textwrap.dedent(f"""\
            [database]
            type = "SQLite"
            path = "{tmp_path / "wec.sqlite"}"
            [[collectors]]
            listen_address = "127.0.0.1"
            [collectors.authentication]
            type = "Kerberos"
            service_principal_name = "HTTP/wec.test.local@WEC.TEST"
            """)
    )
    sub = tmp_path / "kafka.toml"
    sub.write_text(_file("Kafka"))
    # The interpreter starts without confluent_kafka, as after `pip install wec` without extras.
    code = textwrap.dedent(f"""\
        import sys
        sys.modules["confluent_kafka"] = None
        from wec.cli.main import main
        sys.exit(main(["-c", {str(tmp_path / "wec.toml")!r}, "db", "init"])
                 or main(["-c", {str(tmp_path / "wec.toml")!r}, "subscriptions", "load", {str(sub)!r}, "-y"]))
        """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert run.returncode == 2, run.stderr
    assert "pip install 'wec[kafka]'" in run.stderr and "kafka.toml" in run.stderr


def _requirement_names(name: str) -> dict[str, str]:
    """requirement file → {distribution: comment}."""
    out = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-r")):
            continue
        requirement, _, comment = line.partition("#")
        dist = requirement.strip().split(">")[0].split("=")[0].split("[")[0].split("<")[0]
        out[dist.strip().lower()] = comment.strip()
    return out


def test_the_extras_are_the_registry_clients() -> None:
    extras = _requirement_names("extras.txt")
    assert extras == {dist: extra for extra, dist, _ in CLIENTS.values()}
    runtime = _requirement_names("runtime.txt")
    assert not set(runtime) & set(extras), "an optional client is also a runtime dependency"
    test = (ROOT / "requirements" / "test.txt").read_text().splitlines()
    assert "-r extras.txt" in test and "-r runtime.txt" in test  # CI tests every driver


# Import name → distribution, for the runtime dependencies.
_DISTRIBUTIONS = {"prometheus_client": "prometheus-client", "psycopg2": "psycopg2-binary"}


def _third_party_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(n, ast.Import):
            names |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
            names.add(n.module.split(".")[0])
    return {m for m in names if m not in sys.stdlib_module_names and m not in ("wec", "accel")}


def test_runtime_requirements_are_exactly_what_wec_imports_unconditionally() -> None:
    optional = {DRIVERS[d][0].replace(".", "/") + ".py" for d in CLIENTS}
    client_modules = {m for _, _, modules in CLIENTS.values() for m in modules}
    imported: set[str] = set()
    for top in ("wec", "accel"):
        for path in (ROOT / top).rglob("*.py"):
            names = _third_party_imports(path)
            rel = path.relative_to(ROOT).as_posix()
            if rel in optional:
                names -= client_modules
            assert not names & client_modules, f"{rel} imports an optional client"
            imported |= names
    assert {_DISTRIBUTIONS.get(m, m) for m in imported} == set(_requirement_names("runtime.txt"))


def test_the_version_is_written_once() -> None:
    run = subprocess.run(
        [sys.executable, "setup.py", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == wec.__version__
