-- SPDX-License-Identifier: GPL-3.0-or-later
-- wec schema version 3 for PostgreSQL: the `computer_mismatch` option of a subscription
-- (accept | log | drop, docs/subscriptions.md), as in the SQLite migration of the same number.
-- Existing subscriptions keep OpenWEC's behaviour, 'accept'.

ALTER TABLE subscriptions ADD COLUMN computer_mismatch TEXT NOT NULL DEFAULT 'accept';
