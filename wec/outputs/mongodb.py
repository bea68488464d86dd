# SPDX-License-Identifier: GPL-3.0-or-later
"""The MongoDB driver: one document per event, de-duplicated by a unique index.

Documents. The output's format must be Json (checked when the driver is built): each record
is parsed back into a document, so the document is the Json format's object (docs/protocol.md
§10.2) with two values made queryable as dates:

- ``System.TimeCreated`` becomes a BSON date (UTC, millisecond precision). Windows gives
  100 ns precision, so the original string is kept beside it as ``System.TimeCreatedText``;
- ``OpenWEC.TimeReceived`` becomes a BSON date too (the TTL index uses it).

With ``keep_raw = true`` the event XML is stored as ``Raw`` (it needs the pipeline to pass
the raw XML with the batch, ``OutputBatch.raw``).

De-duplication (docs/protocol.md §8.2, docs/design.md §5.1). A failed batch is resent whole, so a
batch may arrive twice. A unique index on (``System.Computer``, ``System.Channel``,
``System.EventRecordID``, ``System.TimeCreated``, ``OpenWEC.Client``) makes the second copy
of an event a duplicate-key error (11000), which counts as delivered. ``TimeCreated`` is in
the key because record IDs restart when a machine is reinstalled under the same name;
``OpenWEC.Client`` (the authenticated principal) because ``Computer`` is written by the
source itself: without it, one compromised machine could send events under another's name
and have that machine's real events dropped as duplicates. The index is partial (only
documents that have an ``EventRecordID``) so that events lacking one are never merged.

``insert_many(ordered=False)`` writes every non-duplicate of a batch even when some are
duplicates; any other error fails the batch.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from bson.errors import BSONError
from pymongo import ASCENDING, MongoClient, WriteConcern
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, ConfigurationError, OperationFailure, PyMongoError

from wec.outputs.base import OutputBatch, OutputError
from wec.outputs.context import ConfigReader, DriverContext

__all__ = ["INDEXES", "MongoDBDriver", "to_document", "uri_write_concern"]

_KEYS = (
    "uri", "database", "collection", "keep_raw", "ttl_days", "write_concern", "timeout",
    "allow_unacknowledged",
)  # fmt: skip
_DUPLICATE_KEY = 11000
_INDEX_CONFLICTS = {85, 86}  # IndexOptionsConflict, IndexKeySpecsConflict

DEDUP_INDEX = "wec_dedup"
TTL_INDEX = "wec_ttl"
# name → keys. The SOC's usual questions: "this event ID, lately", "this machine, lately",
# "this channel, lately"; each index ends with the time so that ranges and sorts use it.
INDEXES: dict[str, list[tuple[str, int]]] = {
    "wec_eventid_time": [("System.EventID", ASCENDING), ("System.TimeCreated", ASCENDING)],
    "wec_computer_time": [("System.Computer", ASCENDING), ("System.TimeCreated", ASCENDING)],
    "wec_channel_time": [("System.Channel", ASCENDING), ("System.TimeCreated", ASCENDING)],
}
TTL_KEYS = [("OpenWEC.TimeReceived", ASCENDING)]
DEDUP_KEYS = [
    ("System.Computer", ASCENDING),
    ("System.Channel", ASCENDING),
    ("System.EventRecordID", ASCENDING),
    ("System.TimeCreated", ASCENDING),
    ("OpenWEC.Client", ASCENDING),
]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", re.ASCII)


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 time as an aware UTC datetime (sub-microsecond digits cut), or None."""
    m = _ISO.fullmatch(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        value = datetime.fromisoformat(
            f"{year}-{month}-{day}T{hour}:{minute}:{second}.{micro:06d}{'+00:00' if zone == 'Z' else zone}"
        )
        # An offset can carry 0001-01-01 or 9999-12-31 out of datetime's range in UTC.
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def to_document(record: bytes, raw: str | None = None) -> dict[str, Any]:
    """One Json-format record as the document stored; raises ValueError if it is not JSON."""
    doc = orjson.loads(record)
    if not isinstance(doc, dict):
        raise ValueError("a Json record must be an object")
    system = doc.get("System")
    if isinstance(system, dict):
        record_id = system.get("EventRecordID")
        if isinstance(record_id, int) and not _INT64_MIN <= record_id <= _INT64_MAX:
            # A u64 in the Json format, but BSON integers are signed 64-bit: keep it exact as text.
            system["EventRecordID"] = str(record_id)
        created = system.get("TimeCreated")
        if isinstance(created, str) and (when := parse_time(created)) is not None:
            system["TimeCreated"] = when
            system["TimeCreatedText"] = created
    openwec = doc.get("OpenWEC")
    if isinstance(openwec, dict):
        received = openwec.get("TimeReceived")
        if isinstance(received, str) and (when := parse_time(received)) is not None:
            openwec["TimeReceived"] = when
    if raw is not None:
        doc["Raw"] = raw
    return doc


def uri_write_concern(uri: str) -> str | None:
    """The ``w`` option of a connection string, or None (option names are case-insensitive)."""
    query = uri.partition("?")[2]
    for name, value in parse_qsl(query.replace(";", "&"), keep_blank_values=True):
        if name.lower() == "w":
            return value
    return None


def _unacknowledged(w: str | int | None) -> bool:
    return w is not None and str(w).strip() == "0"


def _only_duplicates(err: BulkWriteError) -> bool:
    details = err.details
    return not details.get("writeConcernErrors") and all(
        e.get("code") == _DUPLICATE_KEY for e in details.get("writeErrors", ())
    )


class MongoDBDriver:
    """See the module docstring. Build it with :meth:`from_config`."""

    def __init__(
        self,
        uri: str,
        database: str = "wec",
        collection: str = "events",
        *,
        keep_raw: bool = False,
        ttl_days: int | None = None,
        write_concern: str | int | None = None,
        timeout: float = 30.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.uri = uri
        self.keep_raw = keep_raw
        self.ttl_days = ttl_days
        self._log = logger or logging.getLogger("wec.outputs.mongodb")
        ms = int(timeout * 1000)
        try:
            self._client: MongoClient[dict[str, Any]] = MongoClient(
                uri,
                serverSelectionTimeoutMS=ms,
                connectTimeoutMS=ms,
                socketTimeoutMS=ms,
                appname="wec",
                tz_aware=True,
            )
        except (ConfigurationError, ValueError, TypeError) as err:
            raise ValueError(f"MongoDB: invalid configuration: {err}") from err
        try:
            wc = WriteConcern(w=write_concern) if write_concern is not None else None
            self.collection: Collection[dict[str, Any]] = self._client[database].get_collection(
                collection, write_concern=wc
            )
        except (ConfigurationError, ValueError, TypeError) as err:
            self._client.close()
            raise ValueError(f"MongoDB: invalid configuration: {err}") from err
        self._indexes_ready = False
        self._index_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: dict[str, Any], *, context: DriverContext) -> MongoDBDriver:
        if context.format_name != "Json":
            raise ValueError(f'MongoDB: the output\'s format must be "Json", got {context.format_name!r}')
        r = ConfigReader("MongoDB", config)
        r.check_keys(_KEYS)
        write_concern: str | int | None = None
        if r.has("write_concern"):
            value = config["write_concern"]
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            if not (isinstance(value, str) and value) and not (type(value) is int and value >= 0):
                raise r.error(
                    "write_concern", f'expected "majority", a tag name or an integer >= 0, got {value!r}'
                )
            write_concern = value
        # w=0 ("fire and forget"): the server never reports a failed insert, so a batch would
        # be acknowledged to the source although nothing was written (docs/outputs.md).
        uri = r.required_string("uri")
        effective = write_concern if write_concern is not None else uri_write_concern(uri)
        if _unacknowledged(effective) and not r.boolean("allow_unacknowledged", False):
            where = "write_concern = 0" if write_concern is not None else "w=0 in the uri"
            raise ValueError(
                f"MongoDB: {where} makes failed writes invisible, so events could be lost while "
                'the source is told they were delivered; use 1 or "majority" (or set '
                "allow_unacknowledged = true to accept that loss)"
            )
        r.boolean("allow_unacknowledged", False)
        return cls(
            uri,
            r.string("database", "wec") or "wec",
            r.string("collection", "events") or "events",
            keep_raw=r.boolean("keep_raw", False),
            ttl_days=r.integer("ttl_days", minimum=1),
            write_concern=write_concern,
            timeout=r.number("timeout", 30.0),
            logger=context.logger,
        )

    # --- indexes -------------------------------------------------------------------------------

    def ensure_indexes(self) -> None:
        """Create the indexes (idempotent); align the TTL index with ``ttl_days``."""
        col = self.collection
        col.create_index(
            DEDUP_KEYS,
            name=DEDUP_INDEX,
            unique=True,
            partialFilterExpression={"System.EventRecordID": {"$exists": True}},
        )
        for name, keys in INDEXES.items():
            col.create_index(keys, name=name)
        if self.ttl_days is None:
            # The TTL index is ours (by name): without ttl_days, events must stop expiring.
            if TTL_INDEX in col.index_information():
                col.drop_index(TTL_INDEX)
            return
        seconds = self.ttl_days * 86400
        try:
            col.create_index(TTL_KEYS, name=TTL_INDEX, expireAfterSeconds=seconds)
        except OperationFailure as err:
            if err.code not in _INDEX_CONFLICTS:
                raise
            # ttl_days changed: collMod updates the TTL in place (no rebuild).
            change = {"name": TTL_INDEX, "expireAfterSeconds": seconds}
            col.database.command("collMod", col.name, index=change)

    def _ready(self) -> None:
        if self._indexes_ready:
            return
        with self._index_lock:
            if not self._indexes_ready:
                # Without the unique index a resent batch would duplicate: no index, no write.
                self.ensure_indexes()
                self._indexes_ready = True

    # --- the Driver contract -------------------------------------------------------------------

    def _documents(self, batch: OutputBatch) -> list[dict[str, Any]]:
        raws = batch.raw
        if self.keep_raw and (raws is None or len(raws) != len(batch.records)):
            raise OutputError(
                "MongoDB output: keep_raw is set but the batch carries no raw XML (OutputBatch.raw)"
            )
        docs = []
        for i, record in enumerate(batch.records):
            try:
                docs.append(to_document(record, raws[i] if self.keep_raw and raws is not None else None))
            except ValueError as err:  # orjson.JSONDecodeError is a ValueError
                raise OutputError(
                    f"MongoDB output: event {i + 1} of {len(batch.records)} is not a Json "
                    f"record ({err}); is the output's format Json?"
                ) from err
        return docs

    def write(self, batch: OutputBatch) -> None:
        if not batch.records:
            return
        docs = self._documents(batch)
        try:
            self._ready()
            self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as err:
            if _only_duplicates(err):
                self._log.debug(
                    "MongoDB output: %d duplicate event(s) ignored", len(err.details.get("writeErrors", ()))
                )
                return
            first = (err.details.get("writeErrors") or err.details.get("writeConcernErrors") or [{}])[0]
            raise OutputError(
                f"MongoDB output: batch of {len(docs)} not fully written: {first.get('errmsg', err)}"
            ) from err
        except PyMongoError as err:
            raise OutputError(f"MongoDB output: cannot write {len(docs)} event(s): {err}") from err
        except (BSONError, OverflowError) as err:  # not PyMongoErrors: DocumentTooLarge (> 16 MiB)…
            raise OutputError(f"MongoDB output: cannot encode {len(docs)} event(s): {err}") from err

    def reopen(self) -> None:
        """Nothing to reopen: the client reconnects by itself."""

    def close(self) -> None:
        self._client.close()
