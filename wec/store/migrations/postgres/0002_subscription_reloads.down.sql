-- SPDX-License-Identifier: GPL-3.0-or-later
-- Undo schema version 2: forget pending reload requests (nothing else depends on them).
DROP TABLE subscription_reloads;
