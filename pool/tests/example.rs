//! `examples/process_pool` run twice on one directory: the first run
//! dispatches every item and runs the body once per item, across worker
//! processes; the second finds every result stored, dispatches nothing and
//! runs nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The example's binary in this test's target directory and profile.
/// `cargo test` builds examples along with the tests (with the features of
/// the whole run); when it did not — asked for this test target only — or
/// the binary is older than the example's or the pool's source, cargo
/// builds it now.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/example-<hash>
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("process_pool{}", std::env::consts::EXE_SUFFIX));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let sources = ["examples/process_pool.rs", "src/lib.rs"]
        .map(|s| Path::new(env!("CARGO_MANIFEST_DIR")).join(s));
    let fresh = modified(&binary).is_some_and(|built| {
        sources
            .iter()
            .all(|s| modified(s).is_some_and(|m| m <= built))
    });
    if !fresh {
        let mut build = Command::new(env!("CARGO"));
        build
            .args([
                "build",
                "--quiet",
                "-p",
                "fleche-pool",
                "--example",
                "process_pool",
            ])
            .arg("--target-dir")
            .arg(profile_dir.parent().unwrap());
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        assert!(
            build.status().unwrap().success(),
            "the example does not build"
        );
    }
    binary
}

/// (dispatched, ran) of the store's line: `  file: 40 items in …:
/// dispatched=40 ran=40 …`.
fn counts(stdout: &str, store: &str) -> (u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{store}:")))
        .unwrap_or_else(|| panic!("no {store} line in:\n{stdout}"));
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name}= in {line}"))
    };
    (field("dispatched"), field("ran"))
}

fn run(binary: &Path, dir: &Path) -> String {
    let out = Command::new(binary)
        .arg(dir)
        .args(["--workers", "3", "--items", "12"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the example failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_second_run_on_the_same_directory_dispatches_nothing() {
    let binary = example_binary();
    let dir = tempfile::tempdir().unwrap();

    let first = run(&binary, dir.path());
    for store in ["file", "sqlite"] {
        assert_eq!(counts(&first, store), (12, 12), "{store}:\n{first}");
    }

    let second = run(&binary, dir.path());
    for store in ["file", "sqlite"] {
        assert_eq!(counts(&second, store), (0, 0), "{store}:\n{second}");
    }
}
