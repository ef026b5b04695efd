-- The change feed (/api/changes) reads the change log the caches already follow.
-- A move is one row (id = the new id, from_id = the old one), a copy one row per copy
-- (from_id = its source); etag is the ETag GET answers after the write (null for a
-- delete, and for rows logged before this migration). op is then one of 'create',
-- 'update', 'move', 'copy', 'delete'.
ALTER TABLE changes ADD COLUMN from_id text COLLATE "C", ADD COLUMN etag text;
-- Rows are dated when appended, under the change-log lock (Tx.flush), not when their
-- transaction began: so dates grow with positions, which purges rely on.
ALTER TABLE changes ALTER COLUMN at SET DEFAULT clock_timestamp();

-- One row: the log's name (cursors carry it, so a cursor of another log is refused)
-- and floor_seq, the position up to which changes may have been purged.
CREATE TABLE changes_meta (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    epoch text NOT NULL CHECK (epoch ~ '^[a-z0-9]{8}$'),
    floor_seq bigint NOT NULL DEFAULT 0
);
-- Eight characters of [a-z0-9], each from a fresh random UUID's first byte (a CSPRNG).
INSERT INTO changes_meta (epoch)
SELECT string_agg(
    substr('abcdefghijklmnopqrstuvwxyz0123456789',
           1 + get_byte(uuid_send(gen_random_uuid()), 0) % 36, 1), '' ORDER BY n)
FROM generate_series(1, 8) AS n;
