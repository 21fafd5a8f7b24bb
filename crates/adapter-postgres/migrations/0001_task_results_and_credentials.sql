-- vodsnap's schema: task results, their snapshots, and AK/SK credentials.
--
-- Every per-project table's primary key starts with project_id, so that a
-- deployment can distribute the tables by project (e.g. Citus
-- create_distributed_table(..., 'project_id')) without a schema change, and
-- so that every query, which names one project, stays on one shard.
--
-- Identifiers use the "C" collation: ordering "ties by task id" must be the
-- same byte order as the embedded store's, whatever the server's locale.

CREATE TABLE task_results (
    project_id     text COLLATE "C" NOT NULL,
    task_id        text COLLATE "C" NOT NULL,
    asset_id       text COLLATE "C" NOT NULL,
    -- The validated parameters, defaults filled in; jsonb because their
    -- shape depends on the type (time, dots, quantity).
    thumbnail_para jsonb NOT NULL,
    snapshot_count integer NOT NULL CHECK (snapshot_count BETWEEN 1 AND 10000),
    created_at     timestamptz NOT NULL,
    -- Deleted results stay as tombstones: a task id is never reused, and a
    -- repeated delete answers DELETED with the task's asset.
    deleted_at     timestamptz NULL,
    PRIMARY KEY (project_id, task_id)
);

-- The list call (oldest first, ties by task id) and the asset-only delete
-- (the asset's oldest live results) read only live rows.
CREATE INDEX task_results_live_by_asset
    ON task_results (project_id, asset_id, created_at, task_id)
    WHERE deleted_at IS NULL;
CREATE INDEX task_results_live
    ON task_results (project_id, created_at, task_id)
    WHERE deleted_at IS NULL;

-- The images of live task results. A delete removes a task's rows in the
-- same transaction that writes its tombstone.
CREATE TABLE snapshots (
    project_id text COLLATE "C" NOT NULL,
    task_id    text COLLATE "C" NOT NULL,
    offset_s   integer NOT NULL CHECK (offset_s >= 0),
    object_key text NOT NULL,
    PRIMARY KEY (project_id, task_id, offset_s),
    FOREIGN KEY (project_id, task_id) REFERENCES task_results (project_id, task_id)
);

-- Credentials are global, not per project: one access key may be granted
-- several projects, so there is no project to lead the key with. The table
-- is small and read by primary key; under Citus it would be a reference
-- table. The secret key must stay usable for HMAC, so it cannot be hashed:
-- it is sealed with an AEAD under the key named by key_id (see
-- CredentialCipher), and the access key is the associated data, so that a
-- ciphertext copied onto another row does not open.
CREATE TABLE credentials (
    access_key        text COLLATE "C" PRIMARY KEY CHECK (access_key <> ''),
    secret_ciphertext bytea NOT NULL,
    nonce             bytea NOT NULL,
    key_id            text NOT NULL,
    projects          text[] NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    revoked_at        timestamptz NULL
);
