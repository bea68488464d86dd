#!/usr/bin/env bash
# Install what wec needs on a fresh Debian 12 machine: system packages (MIT Kerberos for
# gssapi and the test KDC, rsyslog and HAProxy for the test receivers, the PostgreSQL server
# whose initdb the store and multi-node tests run themselves) and a virtualenv in
# .venv with the runtime and test dependencies. Idempotent: a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libkrb5-dev krb5-kdc krb5-admin-server krb5-user rsyslog rsyslog-relp haproxy redis-server python3-venv
  postgresql)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.wec-requirements
want=$(cat requirements/*.txt setup.py | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing Python dependencies (gssapi builds from source the first time)"
  .venv/bin/pip install -q -U pip wheel setuptools
  .venv/bin/pip install -q -r requirements/test.txt
  .venv/bin/pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi
