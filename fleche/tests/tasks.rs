//! Calls that travel to other processes: a `Task` (a registered function
//! and a scope) serialized to a child process, and a scope handed over in
//! `FLECHE_SCOPE`. The children are this test binary again, running one
//! of the ignored `child_*` tests.

use std::process::Command;

use fleche::{Scope, Task, fleche};

#[fleche]
fn cube(x: u64) -> u64 {
    x * x * x
}

#[fleche]
fn halve(x: u64) -> Result<u64, String> {
    if x.is_multiple_of(2) {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

/// A plain step that calls a cached function.
#[fleche::register]
fn pipeline(x: u64) -> u64 {
    cube(x + 1) * 3
}

/// A fresh file store, its directory, and a scope over it with a tag.
fn file_scope() -> (tempfile::TempDir, Scope) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}?fsync=false", dir.path().display());
    let cache = fleche::open(&url).unwrap();
    let scope = Scope::current()
        .with_cache(cache)
        .with_tags([("sweep", "tasks-test")]);
    (dir, scope)
}

/// Runs the ignored test `name` as a child with these variables; its
/// stdout, after checking it succeeded.
fn child(name: &str, vars: &[(&str, &str)], prepare: impl FnOnce(&mut Command)) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--ignored", "--nocapture"])
        .env("FLECHE_TASKS_CHILD", "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    prepare(&mut cmd);
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    stdout
}

fn in_child() -> bool {
    std::env::var_os("FLECHE_TASKS_CHILD").is_some()
}

/// The value the child printed as `name=value`.
fn printed(stdout: &str, name: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in:\n{stdout}"))
        .to_owned()
}

#[test]
fn a_task_runs_in_another_process_in_the_same_cache() {
    let (_dir, scope) = file_scope();
    let task: Task<(u64,), u64> = scope.run(|| fleche::task(cube)).unwrap();
    assert_eq!(task.function(), "tasks::cube");
    let json = serde_json::to_string(&task).unwrap();
    // A bound function serializes as its task.
    let bound = scope.run(|| fleche::bind(cube));
    assert_eq!(serde_json::to_string(&bound).unwrap(), json);

    assert_eq!(task.lookup(&(4,)).unwrap(), None);
    let out = child("child_runs_a_task", &[("TASK", &json)], |_| {});
    assert_eq!(printed(&out, "result"), "64");
    assert_eq!(printed(&out, "computed"), "1");
    // The parent sees the child's result, with the scope's tag.
    assert_eq!(task.lookup(&(4,)).unwrap(), Some(64));
    let cache = scope.cache().unwrap().clone();
    let record = fleche::bridge::block_on(cache.record(cube::digest(&4)))
        .unwrap()
        .unwrap();
    let tags = record.metadata.get("tags").expect("tags recorded");
    assert!(format!("{tags:?}").contains("tasks-test"), "{tags:?}");
    // A second child hits.
    let out = child("child_runs_a_task", &[("TASK", &json)], |_| {});
    assert_eq!(printed(&out, "computed"), "0");
}

#[test]
#[ignore = "helper: runs as a child of a_task_runs_in_another_process_in_the_same_cache"]
fn child_runs_a_task() {
    if !in_child() {
        return;
    }
    let task: Task<(u64,), u64> = serde_json::from_str(&std::env::var("TASK").unwrap()).unwrap();
    println!("result={}", task.call((4,)));
    let stats = task.scope().cache().unwrap().stats();
    println!("computed={}", stats.computed);
}

#[test]
fn a_registered_plain_function_carries_the_scope_to_the_calls_it_makes() {
    let (_dir, scope) = file_scope();
    let task: Task<(u64,), u64> = scope.run(|| fleche::task(pipeline)).unwrap();
    assert_eq!(task.lookup(&(1,)).unwrap(), None, "not cached itself");
    let json = serde_json::to_string(&task).unwrap();
    let out = child("child_runs_the_pipeline", &[("TASK", &json)], |_| {});
    assert_eq!(printed(&out, "result"), "24");
    scope.run(|| assert_eq!(cube::load(&2).unwrap(), Some(8)));
}

#[test]
#[ignore = "helper: runs as a child of a_registered_plain_function_carries_the_scope_to_the_calls_it_makes"]
fn child_runs_the_pipeline() {
    if !in_child() {
        return;
    }
    let task: Task<(u64,), u64> = serde_json::from_str(&std::env::var("TASK").unwrap()).unwrap();
    println!("result={}", task.call((1,)));
}

#[test]
fn a_task_of_a_fallible_function_looks_up_ok_results() {
    let (_dir, scope) = file_scope();
    let task: Task<(u64,), Result<u64, String>> = scope.run(|| fleche::task(halve)).unwrap();
    assert_eq!(task.call((8,)), Ok(4));
    assert_eq!(task.lookup(&(8,)).unwrap(), Some(Ok(4)));
    assert_eq!(task.call((3,)), Err("3 is odd".to_owned()));
    assert_eq!(task.lookup(&(3,)).unwrap(), None, "errors are not stored");
}

#[test]
fn what_cannot_travel_says_why() {
    let (_dir, scope) = file_scope();
    let closure = scope.run(|| fleche::bind(|x: u64| x + 1));
    let err = closure.task::<(u64,), u64>().unwrap_err().to_string();
    assert!(err.contains("is not a registered function"), "{err}");
    assert!(serde_json::to_string(&closure).is_err());

    let json = serde_json::to_string(&scope.run(|| fleche::task(cube)).unwrap()).unwrap();
    let wrong = serde_json::from_str::<Task<(String,), u64>>(&json)
        .unwrap_err()
        .to_string();
    assert!(
        wrong.contains("does not take (alloc::string::String,)"),
        "{wrong}"
    );
    let unknown = json.replace("tasks::cube", "tasks::nothing");
    let err = serde_json::from_str::<Task<(u64,), u64>>(&unknown)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no function of this program is registered"),
        "{err}"
    );

    // A cache built from stores has no URL to reopen it by.
    let store = std::sync::Arc::new(fleche::memory::MemoryStore::new());
    let bare = fleche::Cache::new(store.clone(), store);
    let err = fleche::with_cache(bare, || fleche::task::<_, (u64,), u64>(cube)).unwrap_err();
    assert!(matches!(err, fleche::Error::NotReopenable), "{err}");
}

#[test]
fn a_child_started_with_the_scope_uses_it_with_no_code_of_its_own() {
    let (_dir, scope) = file_scope();
    let out = child("child_calls_cube", &[], |cmd| scope.pass_to(cmd).unwrap());
    assert_eq!(printed(&out, "result"), "125");
    let cache = scope.cache().unwrap().clone();
    let record = fleche::bridge::block_on(cache.record(cube::digest(&5)))
        .unwrap()
        .expect("the child stored into the parent's cache");
    let tags = record.metadata.get("tags").expect("tags recorded");
    assert!(format!("{tags:?}").contains("tasks-test"), "{tags:?}");
    // FLECHE_SCOPE comes before FLECHE_CACHE.
    let elsewhere = tempfile::tempdir().unwrap();
    let other = format!("file://{}", elsewhere.path().display());
    child("child_calls_cube", &[("FLECHE_CACHE", &other)], |cmd| {
        scope.pass_to(cmd).unwrap()
    });
    assert!(!elsewhere.path().join("FLECHE-STORE").exists());
}

#[test]
fn a_malformed_scope_variable_is_named_in_the_error() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_calls_cube", "--ignored", "--nocapture"])
        .env("FLECHE_TASKS_CHILD", "1")
        .env(fleche::SCOPE_ENV, "{not json")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("$FLECHE_SCOPE"), "{stderr}");
}

#[test]
#[ignore = "helper: runs as a child of a_child_started_with_the_scope_uses_it_with_no_code_of_its_own"]
fn child_calls_cube() {
    if !in_child() {
        return;
    }
    println!("result={}", cube(5));
}
