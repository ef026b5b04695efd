-- Rows whose body cannot hold a JSON object (a change made outside flextype): every
-- body flextype writes starts with '{' and ends with '}'. body_ok follows every change
-- of body, whoever makes it; a query looks the others up in its range through the small
-- partial index before trusting SQL's answer and, when there are some, decodes the
-- whole range and names them as unreadable (flextype_adapters.postgres.entry_queries).
ALTER TABLE entries ADD COLUMN body_ok boolean NOT NULL GENERATED ALWAYS AS (
    substr(body, 1, 1) = '\x7b'::bytea AND substr(body, length(body), 1) = '\x7d'::bytea
) STORED;
CREATE INDEX entries_suspect ON entries (id) WHERE NOT body_ok;
ANALYZE entries;  -- the planner learns how few rows are in doubt (data_exact, body_ok)
