-- fleche-sql schema 2 (PostgreSQL): claims are UNLOGGED.
--
-- A claim is a lease for a few seconds of coordination, not data: writing
-- it through the WAL made every claim and every release wait for a disk
-- flush, two of the three flushes of a miss. An unlogged table is written
-- without the WAL, so its commits do not wait. After a server crash its
-- rows are gone, which for claims only means that the workers claim again;
-- correctness never depends on a claim. (A clean restart keeps them.)
ALTER TABLE fleche_claims SET UNLOGGED;
