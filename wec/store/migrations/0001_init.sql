-- SPDX-License-Identifier: GPL-3.0-or-later
-- wec schema version 1: subscriptions, bookmarks, heartbeats (docs/protocol.md §7).
-- Migration scripts hold no BEGIN/COMMIT: the runner wraps each one in a transaction and
-- records the new version in meta itself.

CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Bumped by every put/delete of a subscription; polled by running servers (db_sync_interval).
INSERT INTO meta (key, value) VALUES ('subscriptions_generation', '0');

CREATE TABLE subscriptions (
    uuid TEXT PRIMARY KEY NOT NULL,          -- canonical: lowercase with dashes
    name TEXT NOT NULL UNIQUE,
    query TEXT NOT NULL,
    uri TEXT,
    heartbeat_interval INTEGER NOT NULL,
    connection_retry_count INTEGER NOT NULL,
    connection_retry_interval INTEGER NOT NULL,
    max_time INTEGER NOT NULL,
    max_elements INTEGER,
    max_envelope_size INTEGER NOT NULL,
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

-- Key: the authenticated identity, not MachineID (docs/protocol.md §7.4). Deleting a subscription
-- deletes its bookmarks and heartbeats.
CREATE TABLE bookmarks (
    client TEXT NOT NULL,
    subscription TEXT NOT NULL REFERENCES subscriptions (uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    bookmark TEXT NOT NULL,
    PRIMARY KEY (client, subscription)
);
CREATE INDEX bookmarks_by_subscription ON bookmarks (subscription);

-- Times are microseconds since 1970-01-01T00:00:00Z, so state boundaries compare exactly.
CREATE TABLE heartbeats (
    client TEXT NOT NULL,
    subscription TEXT NOT NULL REFERENCES subscriptions (uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    ip TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    last_event_seen INTEGER,
    PRIMARY KEY (client, subscription)
);
CREATE INDEX heartbeats_by_subscription ON heartbeats (subscription);
