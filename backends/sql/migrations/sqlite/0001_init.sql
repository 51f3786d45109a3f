-- fleche-sql schema 1 (SQLite). Digests are 32-byte BLOBs; times are
-- microseconds (records) or milliseconds (claims) since the Unix epoch.

-- Values: bytes under their BLAKE3 digest.
CREATE TABLE fleche_values (
    digest BLOB PRIMARY KEY NOT NULL,
    bytes  BLOB NOT NULL
) WITHOUT ROWID;

-- Call records, one row each. `args` is the ordered JSON array
-- [{"name": …, "digest": hex}, …]; `metadata` is a JSON object.
CREATE TABLE fleche_calls (
    key           BLOB PRIMARY KEY NOT NULL,
    function      TEXT NOT NULL,
    version       INTEGER NOT NULL,
    code          BLOB,
    args          TEXT NOT NULL,
    result_digest BLOB NOT NULL,
    result_inline BLOB,
    metadata      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    format        INTEGER NOT NULL
);
CREATE INDEX fleche_calls_function_created ON fleche_calls (function, created_at);
CREATE INDEX fleche_calls_created ON fleche_calls (created_at);

-- Argument digests of each call, for indexed queries by argument. Kept by
-- triggers, so that writing a record stays one statement. A call's
-- arguments never change (they are part of its key), so an upsert that
-- replaces a record leaves them as they are.
CREATE TABLE fleche_call_args (
    key    BLOB NOT NULL,
    name   TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (key, name)
) WITHOUT ROWID;
CREATE INDEX fleche_call_args_name_digest ON fleche_call_args (name, digest);

CREATE TRIGGER fleche_calls_args_insert AFTER INSERT ON fleche_calls
BEGIN
    INSERT OR IGNORE INTO fleche_call_args (key, name, digest)
    SELECT NEW.key, json_extract(a.value, '$.name'), json_extract(a.value, '$.digest')
    FROM json_each(NEW.args) AS a;
END;

CREATE TRIGGER fleche_calls_args_delete AFTER DELETE ON fleche_calls
BEGIN
    DELETE FROM fleche_call_args WHERE key = OLD.key;
END;

-- Claims: who computes a key now, until when (the database's clock, ms).
CREATE TABLE fleche_claims (
    key        BLOB PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    -- The owner this claim was taken from when it had expired; the claimer
    -- reads it back to learn whether it took over.
    previous_owner TEXT
) WITHOUT ROWID;
