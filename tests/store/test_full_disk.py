# SPDX-License-Identifier: GPL-3.0-or-later
"""The SQLite store on a full disk (issue 13): a bookmark that cannot be committed raises
StoreError, so the collector refuses the Ack, and what was committed before stays.

The disk is "full" for real: a child process runs with RLIMIT_FSIZE just above the
database's size (SIGXFSZ ignored, as wecd does), so SQLite's writes fail with EFBIG exactly as
they would with ENOSPC; the limit is then lifted in the same process to show recovery.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_SCRIPT = r"""
import json, os, resource, signal, sys
from wec.model import OutputConfig, Subscription
from wec.store.base import StoreError
from wec.store.sqlite import SQLiteStore

path = sys.argv[1]
store = SQLiteStore(path)
store.init()
sub = Subscription(uuid=Subscription.new_uuid(), name="s", query="<QueryList/>",
                   outputs=(OutputConfig("Files", "Raw", {"path": "/tmp/x"}),))
store.put_subscription(sub)
store.put_bookmark("WS1$@R", sub.uuid, "<BookmarkList>first</BookmarkList>")
used = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (used + 4096, hard))
result = {"refused": 0, "stored": 0, "errors": []}
for i in range(200):  # bookmarks of growing size: the WAL soon hits the limit
    try:
        store.put_bookmark("WS%d$@R" % i, sub.uuid, "<BookmarkList>%s</BookmarkList>" % ("x" * 4000))
        result["stored"] += 1
    except StoreError as err:
        result["refused"] += 1
        result["errors"].append(str(err))
        break
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
result["first"] = store.get_bookmark("WS1$@R", sub.uuid)
store.put_bookmark("WS1$@R", sub.uuid, "<BookmarkList>after</BookmarkList>")  # space is back
result["after"] = store.get_bookmark("WS1$@R", sub.uuid)
print(json.dumps(result))
"""


def test_a_bookmark_that_cannot_be_written_raises_and_the_store_recovers(tmp_path: Path) -> None:
    db = tmp_path / "wec.sqlite"
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(db)], capture_output=True, text=True, timeout=60, check=True
    )
    result = json.loads(out.stdout)
    assert result["refused"] == 1, result
    assert any("full" in e.lower() or "disk" in e.lower() or "i/o" in e.lower() for e in result["errors"])
    assert result["first"] == "<BookmarkList>first</BookmarkList>"
    assert result["after"] == "<BookmarkList>after</BookmarkList>"
