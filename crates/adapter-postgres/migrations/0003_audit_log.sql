-- The audit trail: every registration and delete call, written in the same
-- transaction as the change it records.
CREATE TABLE audit_log (
    project_id text COLLATE "C" NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    at         timestamptz NOT NULL,
    -- ak:{AK} or token:{subject}; never a secret.
    principal  text NOT NULL,
    request_id text NOT NULL,
    client     text NULL,
    action     text NOT NULL CHECK (action IN ('register', 'delete')),
    asset_id   text COLLATE "C" NULL,
    -- The task ids the call named, and those it touched (an asset-only
    -- delete names none), for `vodsnap audit --task`.
    requested  text[] NOT NULL,
    touched    text[] NOT NULL,
    -- [{"task_id", "status", "reason"}]
    outcomes   jsonb NOT NULL,
    PRIMARY KEY (project_id, id)
);

-- `vodsnap audit --project P --since T`.
CREATE INDEX audit_log_by_time ON audit_log (project_id, at, id);
