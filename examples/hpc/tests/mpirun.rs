//! `mpi_sweep` under `mpirun -n 4`, twice on one fresh store: the first run
//! computes every item exactly once — the shared items that all four ranks
//! ask for at the same moment included — and the second computes nothing.
//! On a file store in a temporary directory, and on a fresh PostgreSQL
//! schema when `FLECHE_TEST_POSTGRES_URL` is set.

mod common;

use std::process::Command;
use std::time::Instant;

use common::{fields, file_url, finish, number, spawn};

const RANKS: u64 = 4;
const ITEMS: u64 = 40;

/// Whether `mpirun` is there and is Open MPI's (whose options differ from
/// MPICH's); `None`, with a loud SKIPPED line, if it is missing (a panic
/// under `FLECHE_TEST_REQUIRE_ALL=1`).
fn mpirun() -> Option<bool> {
    let version = Command::new("mpirun").arg("--version").output();
    let found = version.as_ref().is_ok_and(|o| o.status.success());
    if !fleche_conformance::require(
        found,
        "mpirun is not installed; run scripts/mpi (Debian: openmpi-bin)",
    ) {
        return None;
    }
    let text = version.map(|o| o.stdout).unwrap_or_default();
    Some(String::from_utf8_lossy(&text).contains("Open MPI"))
}

/// Runs the sweep on `RANKS` ranks with `FLECHE_CACHE=url`; rank 0's line.
fn sweep(open_mpi: bool, url: &str, what: &str) -> std::collections::HashMap<String, String> {
    // Each launch gets its own session directory: Open MPI makes
    // `$TMPDIR/ompi.HOST.UID`, and two launches at once (the tests run in
    // parallel) race to make the same one, and one fails with "File
    // exists".
    let session = tempfile::tempdir().expect("a session directory for mpirun");
    let mut cmd = Command::new("mpirun");
    cmd.args(["-n", &RANKS.to_string()])
        .env("TMPDIR", session.path())
        .env("FLECHE_CACHE", url)
        // The test may run as root (containers, CI); Open MPI refuses that
        // unless both are set.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    if open_mpi {
        // More ranks than cores, and the variable passed to every rank
        // explicitly, as on a cluster (MPICH passes the whole environment).
        cmd.args(["--oversubscribe", "-x", "FLECHE_CACHE"]);
    }
    cmd.arg(env!("CARGO_BIN_EXE_mpi_sweep"))
        .arg(ITEMS.to_string());
    let start = Instant::now();
    let out = finish(spawn(&mut cmd), &format!("mpirun ({what})"));
    let f = fields(&out, "ranks");
    eprintln!("mpirun -n {RANKS} ({what}): {:.2?}: {f:?}", start.elapsed());
    assert_eq!(number(&f, "ranks"), RANKS);
    assert_eq!(number(&f, "items"), ITEMS);
    f
}

/// Two sweeps on the store at `url`, which starts empty.
fn twice(open_mpi: bool, url: &str) {
    let first = sweep(open_mpi, url, "first run");
    assert_eq!(
        number(&first, "body_runs"),
        ITEMS,
        "each item ran exactly once, the shared ones included: {first:?}"
    );
    // Every rank asked for the shared items too: those calls were hits.
    let shared = number(&first, "shared");
    assert_eq!(number(&first, "calls"), ITEMS + (RANKS - 1) * shared);
    assert_eq!(number(&first, "hits"), (RANKS - 1) * shared);

    let second = sweep(open_mpi, url, "second run");
    assert_eq!(number(&second, "body_runs"), 0, "{second:?}");
    assert_eq!(number(&second, "hits"), number(&second, "calls"));
    assert_eq!(
        first["checksum"], second["checksum"],
        "the second run reads the first one's results"
    );
}

#[test]
fn mpirun_sweep_on_a_file_store_runs_each_item_once() {
    let Some(open_mpi) = mpirun() else { return };
    let dir = tempfile::tempdir().unwrap();
    twice(open_mpi, &file_url(&dir.path().join("cache")));
}

#[cfg(feature = "postgres")]
#[test]
fn mpirun_sweep_on_postgres_runs_each_item_once() {
    let Some(base) = fleche_conformance::server_url("FLECHE_TEST_POSTGRES_URL") else {
        return;
    };
    let Some(open_mpi) = mpirun() else { return };
    let schema = PgSchema {
        url: format!(
            "{base}{}schema={}",
            if base.contains('?') { '&' } else { '?' },
            fleche_conformance::unique_name("fleche_mpi")
        ),
    };
    twice(open_mpi, &schema.url);
}

/// A schema of the test's own, dropped when the test ends, failed or not.
#[cfg(feature = "postgres")]
struct PgSchema {
    url: String,
}

#[cfg(feature = "postgres")]
impl Drop for PgSchema {
    fn drop(&mut self) {
        use fleche::bridge;
        let dropped = bridge::block_on(bridge::on_fleche_runtime(async {
            fleche_sql::PgStore::open(&self.url)
                .await
                .map_err(|e| e.to_string())?
                .destroy()
                .await
                .map_err(|e| e.to_string())
        }));
        if let Err(e) = dropped {
            eprintln!("could not drop the test schema of {}: {e}", self.url);
        }
    }
}
