//! The SLURM job array of `examples/slurm/sweep.sbatch`, emulated: its ten
//! tasks as processes started together, each with its own
//! `SLURM_ARRAY_TASK_ID` and the shared store in `FLECHE_CACHE`, as
//! `sbatch --export=ALL` would start them. Needs no SLURM.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::{fields, file_url, finish, number, spawn};
use fleche_example_hpc::simulate;

/// `#SBATCH --array=0-9`.
const TASKS: u64 = 10;

/// Runs the whole array at once on the store at `url`; each task's fields.
fn run_array(url: &str) -> Vec<HashMap<String, String>> {
    run_array_with(|cmd| {
        cmd.env("FLECHE_CACHE", url);
    })
}

/// Runs the whole array at once, each task's environment set by `env`.
fn run_array_with(env: impl Fn(&mut Command)) -> Vec<HashMap<String, String>> {
    let children: Vec<_> = (0..TASKS)
        .map(|task| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_slurm_task"));
            env(&mut cmd);
            let child = spawn(cmd.env("SLURM_ARRAY_TASK_ID", task.to_string()));
            (task, child)
        })
        .collect();
    children
        .into_iter()
        .map(|(task, child)| {
            let out = finish(child, &format!("array task {task}"));
            let f = fields(&out, "task");
            assert_eq!(number(&f, "task"), task);
            f
        })
        .collect()
}

#[test]
fn each_item_of_the_array_runs_once_and_a_rerun_hits() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir.path().join("cache"));
    // The ten tasks make the new store together.
    let first = run_array(&url);
    let cache = fleche::open(&url).unwrap();
    let runs: u64 = first.iter().map(|f| number(f, "body_runs")).sum();
    // Ten distinct items (the baseline is item 0), in an empty store: each
    // ran at least once, so ten runs mean exactly once each, although every
    // task also asked for the baseline at the same time.
    assert_eq!(runs, TASKS, "body runs of the first array: {first:?}");
    let baselines: Vec<&String> = first.iter().map(|f| &f["baseline"]).collect();
    assert!(
        baselines.iter().all(|b| *b == baselines[0]),
        "{baselines:?}"
    );

    fleche::with_cache(cache, || {
        for item in 0..TASKS {
            assert!(simulate::contains(&item).unwrap(), "item {item} is stored");
        }
    });

    let second = run_array(&url);
    let runs: u64 = second.iter().map(|f| number(f, "body_runs")).sum();
    assert_eq!(runs, 0, "body runs of the rerun: {second:?}");
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a["result"], b["result"], "the rerun reads the same results");
        assert_eq!(number(b, "hits"), 2);
    }
}

#[test]
fn a_task_without_its_environment_says_what_is_missing() {
    let out = Command::new(env!("CARGO_BIN_EXE_slurm_task"))
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env("FLECHE_CACHE", "memory://")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("$SLURM_ARRAY_TASK_ID is not set"),
        "{stderr}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_slurm_task"))
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env_remove("FLECHE_CACHE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("$FLECHE_CACHE is not set"), "{stderr}");
}

/// A program that submits the array hands the whole scope over instead
/// (`FLECHE_SCOPE`, as `sbatch --export=ALL` passes it on): the tasks use
/// its cache, and its tags land in their records.
#[test]
fn a_submitting_program_hands_its_scope_to_the_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir.path().join("cache"));
    let cache = fleche::open(&url).unwrap();
    let scope = fleche::Scope::current()
        .with_cache(cache.clone())
        .with_tags([("job", "array-42")]);
    let first = run_array_with(|cmd| {
        cmd.env_remove("FLECHE_CACHE");
        scope.pass_to(cmd).unwrap();
    });
    let runs: u64 = first.iter().map(|f| number(f, "body_runs")).sum();
    assert_eq!(runs, TASKS, "{first:?}");
    let record = fleche::bridge::block_on(cache.record(simulate::digest(&3)))
        .unwrap()
        .expect("task 3 stored its item");
    let tags = format!("{:?}", record.metadata.get("tags"));
    assert!(tags.contains("array-42"), "{tags}");
}
