-- Full-text search (api.md section 10). search holds the entry's words as the core
-- normalises them (flextype_core.query.search_text), written by flextype as a tsvector
-- literal with positions: PostgreSQL's parser never sees the text, so matches are the
-- other drivers'. search_of is the sha256 of the body search was built from: a body
-- changed by hand (or a row inserted by hand) has search_ok false, and queries over a
-- range holding such rows let the core decide (flextype_adapters.postgres.search_plan)
-- until `flextype db migrate` or a server start rebuilds them. search_exact is false when
-- PostgreSQL could not keep every word position (over 16,383 words, or one word more than
-- 256 times): phrases are checked by the core there.
ALTER TABLE entries ADD COLUMN search tsvector NOT NULL DEFAULT ''::tsvector;
ALTER TABLE entries ADD COLUMN search_of bytea;
ALTER TABLE entries ADD COLUMN search_exact boolean NOT NULL DEFAULT true;
ALTER TABLE entries ADD COLUMN search_ok boolean NOT NULL GENERATED ALWAYS AS (
    coalesce(search_of = sha256(body), false)
) STORED;
CREATE INDEX entries_search ON entries USING gin (search);
CREATE INDEX entries_unsearched ON entries (id) WHERE NOT search_ok;
CREATE INDEX entries_search_inexact ON entries (id) WHERE NOT search_exact;
