-- SPDX-License-Identifier: GPL-3.0-or-later
-- wec schema version 2 for PostgreSQL: per-subscription reload requests
-- (`wec subscriptions reload`), as in the SQLite migration of the same number. Every node
-- compares each counter with the one it saw last and rebuilds the outputs whose counter moved.
-- A missing row means 0.

CREATE TABLE subscription_reloads (
    subscription TEXT PRIMARY KEY NOT NULL
        REFERENCES subscriptions (uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    counter BIGINT NOT NULL
);
