-- Secrets the server makes itself (flextype_core SecretStore), e.g. the key that signs
-- cursors: every server on the schema reads the same row. Made on first use by
-- INSERT ... ON CONFLICT DO NOTHING, so the first writer's bytes win.

CREATE TABLE secrets (
    name text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL CHECK (octet_length(value) = 32)
);
