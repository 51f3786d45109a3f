//! What the HPC tests share: running a launcher with a deadline, and
//! reading the `key=value` lines the binaries print.

#![allow(dead_code)] // each test binary uses its own part

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest a launch may take before the test kills it: a hung MPI job
/// must fail the test, not stall the suite.
pub(crate) const DEADLINE: Duration = Duration::from_secs(180);

/// The `file://` URL of a store in `dir`.
pub(crate) fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// Starts `cmd` with its output piped.
pub(crate) fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// Waits for `child` until [`DEADLINE`] (killing it then) and returns its
/// output; panics, with its output, unless it succeeded. The output is
/// read meanwhile, so a chatty child never blocks on a full pipe.
pub(crate) fn finish(mut child: Child, what: &str) -> Output {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status: status.unwrap_or_else(|| ExitStatus::from_raw(9)),
        stdout: stdout.join().expect("read stdout"),
        stderr: stderr.join().expect("read stderr"),
    };
    let how = match status {
        None => format!("did not finish in {DEADLINE:?}"),
        Some(s) if !s.success() => format!("failed ({s})"),
        Some(_) => return out,
    };
    panic!(
        "{what} {how}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The fields of the one line of `out` that starts with `first=`.
pub(crate) fn fields(out: &Output, first: &str) -> HashMap<String, String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{first}=")))
        .unwrap_or_else(|| panic!("no `{first}=` line in:\n{stdout}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The field `key` of `fields`, as a number.
pub(crate) fn number(fields: &HashMap<String, String>, key: &str) -> u64 {
    fields
        .get(key)
        .unwrap_or_else(|| panic!("no `{key}` in {fields:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("`{key}` in {fields:?} is not a number: {e}"))
}
