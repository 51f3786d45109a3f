//! One task of a SLURM job array: item `$SLURM_ARRAY_TASK_ID` of a
//! parameter sweep, cached in the store every task shares.
//!
//! Each task also runs the sweep's baseline, item 0, which every task needs
//! to compare against: the tasks that start together wait for the one that
//! claimed it instead of all computing it.
//!
//! ```text
//! sbatch examples/slurm/sweep.sbatch          # on a cluster
//! examples/slurm/run-local.sh                 # the same array, without SLURM
//! ```
//!
//! Prints one line, `task=3 item=3 calls=2 body_runs=1 hits=1 result=… baseline=…`.

use std::process::ExitCode;

use fleche_example_hpc::{body_runs, scope_from_env, simulate};

/// The variable SLURM sets in each task of an array.
const TASK_VAR: &str = "SLURM_ARRAY_TASK_ID";
/// The item every task compares with.
const BASELINE: u64 = 0;

fn main() -> ExitCode {
    let task = match std::env::var(TASK_VAR).map(|v| v.parse::<u64>()) {
        Ok(Ok(task)) => task,
        Ok(Err(e)) => return fail(&format!("${TASK_VAR} is not a task number: {e}")),
        Err(_) => {
            return fail(&format!(
                "${TASK_VAR} is not set: run me as a task of a job array \
                 (sbatch --array=0-9), or set it by hand"
            ));
        }
    };
    let scope = match scope_from_env() {
        Ok(scope) => scope,
        Err(e) => return fail(&e),
    };
    // The array's index is the item here; a bigger sweep would map it to a
    // parameter set (a row of a table, a chunk of items).
    let item = task;
    let (baseline, result) = scope.run(|| (simulate(BASELINE), simulate(item)));
    let (calls, runs) = (2, body_runs());
    println!(
        "task={task} item={item} calls={calls} body_runs={runs} hits={} result={result} baseline={baseline}",
        calls - runs
    );
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("slurm_task: {message}");
    ExitCode::FAILURE
}
