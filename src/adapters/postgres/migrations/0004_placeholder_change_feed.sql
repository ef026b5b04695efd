-- PLACEHOLDER on the hooksapi branch only: engineer 2's 0004 (the change feed) takes this
-- number. Delete this file when merging (migrations must be numbered 1, 2, 3... with no gap).
SELECT 1;
