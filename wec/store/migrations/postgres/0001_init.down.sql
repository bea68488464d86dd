-- SPDX-License-Identifier: GPL-3.0-or-later
-- Undo schema version 1: back to an empty database.
DROP TABLE heartbeats;
DROP TABLE bookmarks;
DROP TABLE subscriptions;
DROP TABLE meta;
