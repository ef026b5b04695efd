-- Webhooks (api.md section 12): each with its signing secret (a table of its own: only
-- the deliverer reads it, to sign), its progress through the change feed, and its last
-- 100 delivery attempts. Rows are msgspec JSON in bytea, as tokens are.

CREATE TABLE webhooks (
    id text COLLATE "C" PRIMARY KEY,
    created_at bigint NOT NULL,               -- Unix seconds: the list's order
    body bytea NOT NULL                       -- the webhook as the API shows it
);

CREATE TABLE webhook_secrets (
    id text COLLATE "C" PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    secret text NOT NULL                      -- whsec_...: kept to sign, never hashed
);

CREATE TABLE webhook_progress (
    id text COLLATE "C" PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    position bigint NOT NULL,                 -- the change-log position dealt with last
    attempt integer NOT NULL,                 -- failed attempts at the next change
    next_at double precision,                 -- no attempt before this Unix time
    generation bigint NOT NULL                -- grows with each replay
);

CREATE TABLE webhook_deliveries (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook text COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    body bytea NOT NULL                       -- one attempt (flextype_core Delivery)
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook, seq);
