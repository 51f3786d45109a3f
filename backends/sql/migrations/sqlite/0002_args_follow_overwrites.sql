-- fleche-sql schema 2 (SQLite): the argument side table follows overwrites.
--
-- Schema 1 kept `fleche_call_args` by triggers on insert and delete only,
-- assuming a record's arguments never change under its key. But `put`
-- replaces whatever record is under the key, arguments included: after an
-- overwrite with other arguments, a query by the new arguments missed the
-- record and a query by the old ones returned it (the conformance suite's
-- handles_see_each_others_writes caught it). An update that changes the
-- arguments now rewrites the key's rows, and the table is rebuilt once
-- from the records, dropping rows that earlier overwrites left stale.
--
-- Arguments that are not a JSON array of objects (a row damaged by
-- another program) index nothing rather than fail the statement: the
-- record then reads as corrupt, and the put that repairs it indexes it.
CREATE TRIGGER fleche_calls_args_update AFTER UPDATE OF args ON fleche_calls
WHEN OLD.args IS NOT NEW.args
BEGIN
    DELETE FROM fleche_call_args WHERE key = OLD.key;
    INSERT OR IGNORE INTO fleche_call_args (key, name, digest)
    SELECT NEW.key, json_extract(a.value, '$.name'), json_extract(a.value, '$.digest')
    FROM json_each(CASE WHEN json_valid(NEW.args) THEN NEW.args ELSE '[]' END) AS a
    WHERE a.type = 'object';
END;

DELETE FROM fleche_call_args;
INSERT OR IGNORE INTO fleche_call_args (key, name, digest)
SELECT c.key, json_extract(a.value, '$.name'), json_extract(a.value, '$.digest')
FROM fleche_calls AS c,
     json_each(CASE WHEN json_valid(c.args) THEN c.args ELSE '[]' END) AS a
WHERE a.type = 'object';
