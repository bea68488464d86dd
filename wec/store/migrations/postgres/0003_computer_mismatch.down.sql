-- SPDX-License-Identifier: GPL-3.0-or-later
-- Undo schema version 3 for PostgreSQL: forget the `computer_mismatch` option.
ALTER TABLE subscriptions DROP COLUMN computer_mismatch;
