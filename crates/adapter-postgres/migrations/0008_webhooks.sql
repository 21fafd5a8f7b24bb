-- Webhooks (issue 13, part 3): subscriptions per project, the outbox of
-- events, and one delivery per event and subscription. A change writes its
-- events and their deliveries in its own statement or transaction, so an
-- acknowledged change always comes with its events, through any crash.
-- Every key starts with project_id (Citus: colocated with task_results).

CREATE TABLE webhooks (
    project_id        text COLLATE "C" NOT NULL,
    id                text COLLATE "C" NOT NULL,
    url               text NOT NULL,
    -- Event type names this subscription receives (never empty).
    events            text[] NOT NULL,
    -- The signing secret, sealed like the credentials' secret keys
    -- (XChaCha20-Poly1305 under --credential-keys, bound to the row).
    secret_ciphertext bytea NOT NULL,
    nonce             bytea NOT NULL,
    key_id            text NOT NULL,
    created_at        timestamptz NOT NULL,
    PRIMARY KEY (project_id, id)
);

-- The outbox: one row per event that at least one subscription asked for.
CREATE TABLE webhook_events (
    project_id  text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    type        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    -- {"asset_id": .. | null, "tasks": [{"task_id", "asset_id"}]}
    data        jsonb NOT NULL,
    PRIMARY KEY (project_id, id)
);

-- One event's delivery to one webhook, leased by delivery workers as the
-- cleanup leases its items.
CREATE TABLE webhook_deliveries (
    project_id   text COLLATE "C" NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    webhook_id   text COLLATE "C" NOT NULL,
    event_id     text COLLATE "C" NOT NULL,
    -- Attempts made (failed ones, and the successful one).
    attempts     integer NOT NULL DEFAULT 0,
    due_at       timestamptz NOT NULL,
    lease_owner  text NULL,
    lease_until  timestamptz NULL,
    delivered_at timestamptz NULL,
    parked_at    timestamptz NULL,
    last_error   text NOT NULL DEFAULT '',
    -- When it was last due, delivered or parked.
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (project_id, id)
);

-- Workers claim due deliveries project by project, as the cleanup does:
-- first the projects with due ones (this index), then each project's
-- oldest due ones (the same index, led by project_id).
CREATE INDEX webhook_deliveries_due
    ON webhook_deliveries (project_id, due_at, id)
    WHERE delivered_at IS NULL AND parked_at IS NULL;

-- A webhook's deliveries, newest first (the deliveries listing).
CREATE INDEX webhook_deliveries_by_webhook
    ON webhook_deliveries (project_id, webhook_id, id);
