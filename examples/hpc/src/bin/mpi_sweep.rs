//! A parameter sweep over MPI ranks that share one fleche store.
//!
//! Rank `r` of `size` runs the items `i` with `i % size == r`; every rank
//! also runs the first few items (the "shared" ones) at the same moment, to
//! show that the store's claims let one rank compute each of them while the
//! others wait for its result. Rank 0 gathers each rank's counts and prints
//! one line; run it twice and the second run computes nothing.
//!
//! ```text
//! cargo build --release -p fleche-example-hpc --bin mpi_sweep
//! export FLECHE_CACHE=file:///tmp/fleche-mpi     # or postgres://…, redis://…, s3://…
//! mpirun -n 4 -x FLECHE_CACHE target/release/mpi_sweep [ITEMS]
//! ```
//!
//! Open MPI refuses to run as root without `--allow-run-as-root`, and more
//! ranks than cores without `--oversubscribe`.

use std::process::ExitCode;
use std::time::Instant;

use fleche_example_hpc::{body_runs, scope_from_env, simulate};
use mpi::Threading;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

/// Items when no count is given.
const DEFAULT_ITEMS: u64 = 40;
/// How many of the first items every rank runs.
const SHARED_ITEMS: u64 = 4;

/// One rank's counts, gathered to rank 0 as a row of `u64`s.
const CALLS: usize = 0;
const BODY_RUNS: usize = 1;
const CHECKSUM: usize = 2;
const FIELDS: usize = 3;

fn main() -> ExitCode {
    // Only the main thread calls MPI; fleche's runtime has threads of its
    // own, so "single" would be a lie.
    let Some((universe, _)) = mpi::initialize_with_threading(Threading::Funneled) else {
        eprintln!("mpi_sweep: MPI was already initialized");
        return ExitCode::FAILURE;
    };
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());

    let items = match std::env::args().nth(1).map(|a| a.parse::<u64>()) {
        None => DEFAULT_ITEMS,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            if rank == 0 {
                eprintln!("mpi_sweep: the item count must be a number: {e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let shared = SHARED_ITEMS.min(items);

    // The store comes from the environment mpirun passed on. Rank 0 opens
    // it first — making the directory or schema of a new store — and the
    // others once it has: a thousand ranks do not all set up one store at
    // once. A rank that cannot open it stops the whole job, which would
    // otherwise wait for it in the collectives below.
    let open = || {
        scope_from_env().unwrap_or_else(|e| {
            eprintln!("mpi_sweep (rank {rank}): {e}");
            world.abort(2)
        })
    };
    let scope = if rank == 0 { Some(open()) } else { None };
    world.barrier();
    let scope = scope.unwrap_or_else(open);

    let mine = (0..items).filter(|i| i % size as u64 == rank as u64 && *i >= shared);
    // Everyone starts the shared items together: a stampede on each.
    world.barrier();
    let started = Instant::now();
    let mut row = [0u64; FIELDS];
    scope.run(|| {
        for item in 0..shared {
            let result = simulate(item);
            row[CALLS] += 1;
            // Each item counts once in the checksum, on its owner.
            if item % size as u64 == rank as u64 {
                row[CHECKSUM] += result;
            }
        }
        for item in mine {
            row[CHECKSUM] += simulate(item);
            row[CALLS] += 1;
        }
    });
    row[BODY_RUNS] = body_runs();

    let root = world.process_at_rank(0);
    if rank != 0 {
        root.gather_into(&row[..]);
        return ExitCode::SUCCESS;
    }
    let mut rows = vec![0u64; FIELDS * size as usize];
    root.gather_into_root(&row[..], &mut rows[..]);
    let elapsed = started.elapsed();

    let total = |field: usize| rows.chunks(FIELDS).map(|r| r[field]).sum::<u64>();
    let (calls, runs) = (total(CALLS), total(BODY_RUNS));
    let per_rank: Vec<String> = rows
        .chunks(FIELDS)
        .map(|r| r[BODY_RUNS].to_string())
        .collect();
    println!(
        "ranks={size} items={items} shared={shared} calls={calls} body_runs={runs} hits={} \
         checksum={} per_rank_body_runs=[{}] time_ms={}",
        calls - runs,
        total(CHECKSUM),
        per_rank.join(","),
        elapsed.as_millis(),
    );
    ExitCode::SUCCESS
}
