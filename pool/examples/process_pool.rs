//! A parameter sweep on worker processes sharing one store: Python's
//! `ProcessPoolExecutor` with `wrap_executor`, in Rust.
//!
//! ```text
//! cargo run -p fleche-pool --example process_pool [-- DIR] [--workers N] [--items N]
//! ```
//!
//! Sweeps `--items` (default 40) seeds through a body of about 20 ms on
//! `--workers` (default 4) worker processes, twice: on a file store and on
//! a SQLite store, both in DIR (default: a new temp directory, printed
//! first). Each line tells how many calls went to the workers, how many
//! times the body ran (counted across processes: each run appends its
//! process id to a log file in DIR) and the sweep's wall time. Run it again
//! with the same DIR: every result is stored, so nothing is dispatched and
//! the body runs 0 times.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fleche::{Task, fleche};
use fleche_pool::Pool;

/// A slow step of the sweep. `log` is left out of the key: it only says
/// where to record that the body ran.
#[fleche(ignore(log))]
fn simulate(seed: u64, log: PathBuf) -> f64 {
    std::thread::sleep(Duration::from_millis(20));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .expect("the run log opens");
    // One short line per run, in one appending write: whole, whichever
    // processes write at once.
    let line = format!("{}\n", std::process::id());
    file.write_all(line.as_bytes())
        .expect("the run log takes a line");
    (seed as f64).sqrt().sin()
}

struct Args {
    dir: Option<PathBuf>,
    workers: usize,
    items: u64,
}

fn parse_args() -> Args {
    let mut args = Args {
        dir: None,
        workers: 4,
        items: 40,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} takes a number"))
        };
        match arg.as_str() {
            "--workers" => args.workers = number("--workers").max(1) as usize,
            "--items" => args.items = number("--items"),
            other if other.starts_with("--") => panic!("unknown option {other}"),
            dir => args.dir = Some(PathBuf::from(dir)),
        }
    }
    args
}

/// The lines of a run log: one per run of the body, each a process id.
fn runs(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn sweep(pool: &Pool, name: &str, url: &str, dir: &Path, items: u64) {
    let cache = fleche::open(url).unwrap_or_else(|e| panic!("{url} does not open: {e}"));
    let task: Task<(u64, PathBuf), f64> =
        fleche::with_cache(cache, || fleche::task(simulate)).expect("simulate travels");
    let log = dir.join(format!("runs-{name}.log"));
    let (runs_before, dispatched_before) = (runs(&log).len(), pool.dispatched());

    let start = Instant::now();
    let results = pool
        .map(&task, (0..items).map(|seed| (seed, log.clone())))
        .expect("every item runs");
    let wall = start.elapsed();

    let ran = &runs(&log)[runs_before..];
    let mut processes: Vec<&String> = ran.iter().collect();
    processes.sort();
    processes.dedup();
    let checksum: f64 = results.iter().sum();
    println!(
        "{name:>6}: {items} items in {wall:>9.2?}: dispatched={} ran={} (in {} worker processes), checksum {checksum:.6}",
        pool.dispatched() - dispatched_before,
        ran.len(),
        processes.len(),
    );
}

fn main() {
    // Worker processes are this program again: they stop here and serve
    // the pool. Nothing before this line.
    fleche_pool::init();

    let args = parse_args();
    let dir = match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).expect("the directory can be made");
            std::fs::canonicalize(&dir).expect("the directory exists")
        }
        None => tempfile::Builder::new()
            .prefix("fleche-pool-example-")
            .tempdir()
            .expect("a temp directory")
            .keep(),
    };
    println!("directory: {}", dir.display());
    println!(
        "(run again on it: cargo run -p fleche-pool --example process_pool -- {})",
        dir.display()
    );

    let start = Instant::now();
    let pool = Pool::new(args.workers).expect("the workers start");
    println!(
        "pool of {} worker processes launched in {:.2?}; body ~20 ms, {} items per store",
        pool.size(),
        start.elapsed(),
        args.items
    );

    let file_url = format!("file://{}", dir.join("file-store").display());
    sweep(&pool, "file", &file_url, &dir, args.items);
    let sqlite_url = format!("sqlite://{}", dir.join("sweep.db").display());
    sweep(&pool, "sqlite", &sqlite_url, &dir, args.items);
}
