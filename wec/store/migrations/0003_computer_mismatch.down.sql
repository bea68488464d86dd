-- SPDX-License-Identifier: GPL-3.0-or-later
-- Undo schema version 3: forget the `computer_mismatch` option (every subscription accepts).
ALTER TABLE subscriptions DROP COLUMN computer_mismatch;
