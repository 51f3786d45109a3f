//! fleche on a cluster: what the MPI sweep (`mpi_sweep`) and the SLURM job
//! array task (`slurm_task`) share.
//!
//! - [`scope_from_env`]: the one place that reads the environment, so every
//!   rank or array task of a job uses the one store the job names;
//! - [`simulate`](fn@simulate): the cached "expensive" function of the sweep;
//! - [`body_runs`]: how often its body ran in this process, so a run can
//!   show that the cache computed each item exactly once across the job.
//!
//! See the user guide's chapter "HPC: MPI and SLURM" (`book/src/hpc.md`,
//! also this crate's module `guide`).

/// The user guide's chapter "HPC: MPI and SLURM" (`book/src/hpc.md`);
/// its Rust example is compiled as a test of this crate, which has MPI.
#[cfg(feature = "mpi")]
#[doc = include_str!("../../../book/src/hpc.md")]
pub mod guide {}

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fleche::{Scope, fleche};

/// The variable naming the store every worker of a job shares: a URL such
/// as `file:///shared/fs/cache` or `postgres://host/db?schema=sweep`.
/// Workers inherit it from the launcher's environment (`mpirun -x
/// FLECHE_CACHE`, `sbatch --export=ALL`). Simple to set from a shell.
pub const CACHE_VAR: &str = fleche::CACHE_ENV;

/// The variable a *program* that starts the job sets instead: the whole
/// scope — cache and tags — as [`fleche::Scope::pass_to`] writes it.
/// Taken before [`CACHE_VAR`].
pub const SCOPE_VAR: &str = fleche::SCOPE_ENV;

/// The scope the sweep runs in, from this process's environment: the
/// scope in [`SCOPE_VAR`], else a cache on the store named by
/// [`CACHE_VAR`].
///
/// Every worker calls this and nothing else reads the environment, so this
/// is where the job's configuration arrives. One of the variables is
/// required: without them each machine would use its own default cache
/// (under the user's home directory, which a cluster often mounts over
/// NFS), and the workers would not share their results. The store is
/// opened with `open`, not lazily: a worker that cannot reach it says so at
/// once instead of running the whole sweep uncached.
pub fn scope_from_env() -> Result<Scope, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(value) = var(SCOPE_VAR) {
        let config = fleche::ScopeConfig::from_env(&value)
            .map_err(|e| fleche::ErrorChain(&e).to_string())?;
        let cache = fleche::open_config(&config.cache).map_err(|e| {
            format!(
                "cannot open the cache of ${SCOPE_VAR}: {}",
                fleche::ErrorChain(&e)
            )
        })?;
        return Ok(Scope::current().with_cache(cache).with_tags(config.tags));
    }
    let url = var(CACHE_VAR).ok_or_else(|| {
        format!(
            "${CACHE_VAR} is not set: name the store every worker shares, \
             e.g. {CACHE_VAR}=file:///shared/dir or postgres://host/db?schema=sweep \
             (or start the workers with ${SCOPE_VAR}, see Scope::pass_to)"
        )
    })?;
    let cache = fleche::open(&url).map_err(|e| {
        format!(
            "cannot open ${CACHE_VAR} ({}): {}",
            fleche::redact_url(&url),
            fleche::ErrorChain(&e)
        )
    })?;
    Ok(Scope::current().with_cache(cache))
}

/// How long one run of the body takes: a stand-in for hours of simulation.
pub const BODY_TIME: Duration = Duration::from_millis(10);

static BODY_RUNS: AtomicU64 = AtomicU64::new(0);

/// How many times [`simulate`](fn@simulate)'s body has run in this process.
pub fn body_runs() -> u64 {
    BODY_RUNS.load(Ordering::Relaxed)
}

/// The sweep's cached step: an "expensive simulation" of parameter `item`.
/// The `name` keeps its key the same whichever binary calls it.
#[fleche(name = "fleche_example_hpc::simulate")]
pub fn simulate(item: u64) -> u64 {
    BODY_RUNS.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(BODY_TIME);
    // Small enough that the sum over any sweep fits in a u64.
    item.wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
        >> 40
}
