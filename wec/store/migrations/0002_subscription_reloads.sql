-- SPDX-License-Identifier: GPL-3.0-or-later
-- wec schema version 2: per-subscription reload requests (`wec subscriptions reload`).
-- A running server compares each counter with the one it saw last and rebuilds the outputs
-- of the subscriptions whose counter moved (OpenWEC keeps a random "internal version" per
-- subscription for the same purpose). A missing row means 0.

CREATE TABLE subscription_reloads (
    subscription TEXT PRIMARY KEY NOT NULL
        REFERENCES subscriptions (uuid) ON UPDATE CASCADE ON DELETE CASCADE,
    counter INTEGER NOT NULL
);
