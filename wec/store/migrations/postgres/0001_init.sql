-- SPDX-License-Identifier: GPL-3.0-or-later
-- wec schema version 1 for PostgreSQL: the same tables, columns and meanings as the SQLite
-- schema of the same number (docs/high-availability.md). Integers are BIGINT because SQLite's
-- INTEGER is 64-bit; booleans stay 0/1 so that both backends share one row codec.
-- No BEGIN/COMMIT: the runner wraps the script in a transaction and records the version.
-- Plain SQL that CockroachDB accepts too (no functions, triggers or extensions).

CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Bumped by every put/delete of a subscription; polled by every node (db_sync_interval).
INSERT INTO meta (key, value) VALUES ('subscriptions_generation', '0');

CREATE TABLE subscriptions (
    uuid TEXT PRIMARY KEY NOT NULL,          -- canonical: lowercase with dashes
    name TEXT NOT NULL UNIQUE,
    query TEXT NOT NULL,
    uri TEXT,
    heartbeat_interval BIGINT NOT NULL,
    connection_retry_count BIGINT NOT NULL,
    connection_retry_interval BIGINT NOT NULL,
    max_time BIGINT NOT NULL,
    max_elements BIGINT,
    max_envelope_size BIGINT NOT NULL,
    read_existing_events INTEGER NOT NULL,   -- 0 | 1
    content_format TEXT NOT NULL,            -- Raw | RenderedText
    ignore_channel_error INTEGER NOT NULL,   -- 0 | 1
    locale TEXT,
    data_locale TEXT,
    enabled INTEGER NOT NULL,                -- 0 | 1
    revision TEXT,
    filter TEXT,                             -- JSON object, NULL = every source
    outputs TEXT NOT NULL                    -- JSON array of {driver, format, enabled, config}
);

-- Key: the authenticated identity, not MachineID. Deleting a subscription deletes its
-- bookmarks and heartbeats. The bookmark is its UTF-8 text as BYTEA: kept verbatim whatever it
-- holds (TEXT refuses U+0000); read it with convert_from(bookmark, 'UTF8').
CREATE TABLE bookmarks (
    client TEXT NOT NULL,
    subscription TEXT NOT NULL REFERENCES subscriptions (uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    bookmark BYTEA NOT NULL,
    PRIMARY KEY (client, subscription)
);
CREATE INDEX bookmarks_by_subscription ON bookmarks (subscription);

-- Times are microseconds since 1970-01-01T00:00:00Z, so state boundaries compare exactly.
CREATE TABLE heartbeats (
    client TEXT NOT NULL,
    subscription TEXT NOT NULL REFERENCES subscriptions (uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    ip TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    last_event_seen BIGINT,
    PRIMARY KEY (client, subscription)
);
CREATE INDEX heartbeats_by_subscription ON heartbeats (subscription);
