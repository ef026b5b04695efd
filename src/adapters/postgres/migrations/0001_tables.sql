-- Entries, tokens and the change log. Ids are materialized paths compared byte by byte
-- (COLLATE "C" = code-point order for UTF-8), so a subtree is the index range
-- id >= 'movies/' AND id < 'movies0' ('/' is 0x2F, '0' is 0x30).

CREATE TABLE entries (
    id text COLLATE "C" PRIMARY KEY,
    parent text COLLATE "C" NOT NULL,        -- '' for a top-level entry
    depth integer NOT NULL,                  -- number of segments of id
    data jsonb NOT NULL,                     -- what SQL filters on
    data_exact boolean NOT NULL DEFAULT true,-- false: data could not hold the fields exactly
    body bytea NOT NULL                      -- the fields as msgspec JSON, in their order
);
CREATE INDEX entries_parent ON entries (parent, id);
CREATE INDEX entries_data ON entries USING gin (data jsonb_path_ops);
CREATE INDEX entries_inexact ON entries (id) WHERE NOT data_exact;

CREATE TABLE tokens (
    id text COLLATE "C" PRIMARY KEY,
    body bytea NOT NULL,                     -- the token (msgspec JSON); the columns below win
    calls bigint NOT NULL DEFAULT 0,
    limit_calls bigint NOT NULL DEFAULT 0,
    last_used_at bigint
);

CREATE TABLE changes (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at timestamptz NOT NULL DEFAULT now(),
    kind text NOT NULL,                      -- 'entries' | 'tokens' | 'media'
    id text COLLATE "C" NOT NULL,
    op text NOT NULL                         -- 'create' | 'update' | 'delete'
);
CREATE INDEX changes_xid ON changes (xid);
CREATE INDEX changes_kind_seq ON changes (kind, seq);
