-- fleche-sql schema 1 (PostgreSQL). The tables live in the schema the
-- store was opened with (the connection's search_path). Digests are 32-byte
-- BYTEA; times are microseconds (records) since the Unix epoch; claims use
-- the server's clock.

-- Values: bytes under their BLAKE3 digest.
CREATE TABLE fleche_values (
    digest BYTEA PRIMARY KEY,
    bytes  BYTEA NOT NULL
);

-- Call records, one row each. `args` is the ordered JSON array
-- [{"name": …, "digest": hex}, …]; `metadata` is a JSON object.
CREATE TABLE fleche_calls (
    key           BYTEA PRIMARY KEY,
    function      TEXT NOT NULL,
    version       BIGINT NOT NULL,
    code          BYTEA,
    args          JSONB NOT NULL,
    result_digest BYTEA NOT NULL,
    result_inline BYTEA,
    metadata      JSONB NOT NULL,
    created_at    BIGINT NOT NULL,
    format        INTEGER NOT NULL
);
CREATE INDEX fleche_calls_function_created ON fleche_calls (function, created_at);
CREATE INDEX fleche_calls_created ON fleche_calls (created_at);
-- Containment (@>) queries by argument and by metadata use these.
CREATE INDEX fleche_calls_args ON fleche_calls USING GIN (args jsonb_path_ops);
CREATE INDEX fleche_calls_metadata ON fleche_calls USING GIN (metadata jsonb_path_ops);

-- Claims: who computes a key now, and until when (server time).
CREATE TABLE fleche_claims (
    key        BYTEA PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    -- The owner this claim was taken from when it had expired; the claimer
    -- reads it back to learn whether it took over.
    previous_owner TEXT
);
