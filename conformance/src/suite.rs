//! The `suite!` macro and the functions its tests call.

use std::io::Write;
use std::sync::Arc;

use crate::cases::{Needs, cases};
use fleche_core::Capabilities;

use crate::harness::{Factory, Harness, Launcher};
use crate::report::{Outcome, run_one};

/// Makes a module `conformance` with one test per case of the suite for a
/// store factory; see the crate documentation.
///
/// The three capability flags must be `true` or `false`. A case whose
/// capability is declared `false` is ignored, with the reason; one declared
/// `true` fails if the store's `Capabilities` disagree.
///
/// `damage: true` says the factory implements
/// [`Factory::damage_record`](crate::Factory::damage_record), so the case
/// that checks how damaged data is reported runs; without it (or with
/// `false`) that case is ignored with the reason.
///
/// A store that needs a server adds `server: "ENV_VAR"`, the variable that
/// names the server: while it is unset every test says loudly that it did
/// not run, and fails instead when `FLECHE_TEST_REQUIRE_ALL=1` (see
/// [`server_url`](crate::server_url)).
#[macro_export]
macro_rules! suite {
    (factory: $factory:expr, claims: $claims:tt, persistent: $persistent:tt, processes: $processes:tt
     $(, damage: $damage:tt)? $(, server: $server:literal)? $(,)?) => {
        $crate::__suite!(
            factory: $factory,
            flags: ($claims, $persistent, $processes, [$($damage)?]),
            server: [$($server)?]
        );
    };
}

/// `suite!` with its optional arguments filled in.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite {
    (factory: $factory:expr, flags: ($c:tt, $p:tt, $pr:tt, []), server: $server:tt) => {
        $crate::__suite!(factory: $factory, flags: ($c, $p, $pr, [false]), server: $server);
    };
    (factory: $factory:expr, flags: $flags:tt, server: []) => {
        $crate::__suite!(factory: $factory, flags: $flags, server: [""]);
    };
    (factory: $factory:expr, flags: ($claims:tt, $persistent:tt, $processes:tt, [$damage:tt]), server: [$server:literal]) => {
        /// The fleche conformance suite, one test per promise.
        mod conformance {
            #[allow(unused_imports)]
            use super::*;

            fn __factory() -> impl $crate::Factory + 'static {
                $factory
            }

            /// Whether the store's server is there (always, without one).
            fn __server_present() -> bool {
                $server.is_empty() || $crate::server_url($server).is_some()
            }

            fn __run(name: &str, declared: bool) {
                if !__server_present() {
                    return;
                }
                $crate::__private::run_test(name, declared, __factory(), ::core::module_path!());
            }

            $crate::__cases!(tests ($claims, $persistent, $processes, $damage));

            /// The flags given to `suite!` agree with the store's capabilities.
            #[test]
            fn declared_capabilities_match() {
                if !__server_present() {
                    return;
                }
                $crate::__private::check_declared(__factory(), $claims, $persistent, $processes);
            }

            /// Not a case: the child process of the cross-process cases.
            #[test]
            #[ignore = "helper: runs only as the child process of a cross-process case"]
            fn __child() {
                $crate::__private::child_test(__factory());
            }
        }
    };
}

/// One test of `suite!`: run, or ignored with the reason when the
/// capability it needs is declared `false`.
#[doc(hidden)]
#[macro_export]
macro_rules! __case {
    (@ Nothing $flags:tt $name:ident) => {
        $crate::__case!(true, "", $name);
    };
    (@ Claims ($claims:tt, $persistent:tt, $processes:tt, $damage:tt) $name:ident) => {
        $crate::__case!($claims, "declared: the store does not offer claims", $name);
    };
    (@ Persistence ($claims:tt, $persistent:tt, $processes:tt, $damage:tt) $name:ident) => {
        $crate::__case!($persistent, "declared: the store is not persistent", $name);
    };
    (@ Processes ($claims:tt, $persistent:tt, $processes:tt, $damage:tt) $name:ident) => {
        $crate::__case!(
            $processes,
            "declared: the store is not shared between processes",
            $name
        );
    };
    (@ Damage ($claims:tt, $persistent:tt, $processes:tt, $damage:tt) $name:ident) => {
        $crate::__case!(
            $damage,
            "declared: the factory cannot damage stored records",
            $name
        );
    };
    (true, $reason:literal, $name:ident) => {
        #[test]
        fn $name() {
            __run(::core::stringify!($name), true);
        }
    };
    (false, $reason:literal, $name:ident) => {
        #[test]
        #[ignore = $reason]
        fn $name() {
            __run(::core::stringify!($name), false);
        }
    };
}

/// A launcher that starts this test binary again running only
/// `<module>::__child`, where `module` is the `module_path!()` of the module
/// `suite!` made. For [`run_all`](crate::run_all) from a test.
pub fn launcher_for_test_binary(module: &str) -> Launcher {
    // Test names leave out the crate name, the first segment of the path.
    let path = module.split_once("::").map_or("", |(_, rest)| rest);
    let child = if path.is_empty() {
        "__child".to_owned()
    } else {
        format!("{path}::__child")
    };
    Arc::new(move || {
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let mut cmd = std::process::Command::new(exe);
        cmd.args([
            "--exact",
            &child,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        cmd
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a Tokio runtime for the conformance suite")
}

/// Runs the case `name` as a test: panics with the failure, if any.
pub fn run_test(name: &str, declared: bool, factory: impl Factory + 'static, module: &str) {
    let case = cases()
        .iter()
        .find(|c| c.name == name)
        .expect("a case of the registry");
    let mut harness = Harness::new(factory).with_launcher(launcher_for_test_binary(module));
    // One test per case, all in this process: ask the store's capabilities
    // once per suite, not once per case (making a store can take seconds).
    static CAPABILITIES: std::sync::Mutex<
        Option<std::collections::HashMap<String, Arc<tokio::sync::OnceCell<Capabilities>>>>,
    > = std::sync::Mutex::new(None);
    harness.capabilities = CAPABILITIES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(Default::default)
        .entry(module.to_owned())
        .or_default()
        .clone();
    let row = runtime().block_on(run_one(&harness, case));
    match row.outcome {
        Outcome::Passed => {}
        Outcome::Failed(why) => panic!("conformance case {name} failed: {why}"),
        Outcome::Skipped(why) if declared && case.needs != Needs::Nothing => {
            panic!("conformance case {name}: the suite was told the store offers this, but {why}")
        }
        Outcome::Skipped(why) => panic!("conformance case {name} could not run: {why}"),
    }
}

/// Fails unless the flags declared to `suite!` are what the store's
/// `Capabilities` say (`processes` is `shared`): a store must not be
/// excused from cases it could run, nor claim what it cannot do.
pub fn check_declared(
    factory: impl Factory + 'static,
    claims: bool,
    persistent: bool,
    processes: bool,
) {
    let caps = runtime()
        .block_on(Harness::new(factory).capabilities())
        .unwrap_or_else(|e| panic!("fleche-conformance: {e}"));
    let mut wrong = Vec::new();
    for (flag, declared, actual) in [
        ("claims", claims, caps.claims),
        ("persistent", persistent, caps.persistent),
        ("processes", processes, caps.shared),
    ] {
        if declared != actual {
            wrong.push(format!(
                "{flag}: declared {declared}, but the store's capabilities say {actual}"
            ));
        }
    }
    assert!(wrong.is_empty(), "fleche-conformance: {}", wrong.join("; "));
}

/// The body of the generated `__child` test.
pub fn child_test(factory: impl Factory + 'static) {
    let ran = runtime().block_on(crate::child::main(&factory));
    if !ran {
        println!(
            "fleche-conformance: __child only does something as the child of a cross-process case"
        );
    }
}

/// The environment variable that makes a missing server an error.
pub const REQUIRE_ALL_ENV: &str = "FLECHE_TEST_REQUIRE_ALL";

/// The URL of the test server named by the environment variable `var`
/// (`FLECHE_TEST_POSTGRES_URL`, …), for tests that need a real server.
///
/// When `var` is unset it prints a loud `SKIPPED` line on stderr and returns
/// `None`, so a developer without the server still runs the rest; with
/// `FLECHE_TEST_REQUIRE_ALL=1` (as CI sets) it panics instead, so a backend
/// can never go untested unnoticed.
///
/// ```
/// // No such server here: the test that asked says it skipped.
/// # if std::env::var_os(fleche_conformance::REQUIRE_ALL_ENV).is_none() {
/// assert_eq!(fleche_conformance::server_url("FLECHE_TEST_NO_SUCH_SERVER"), None);
/// # }
/// ```
pub fn server_url(var: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    let missing = format!(
        "{var} is not set; run `eval \"$(scripts/services up)\"` to test against the real server"
    );
    require(url.is_some(), &missing).then_some(url).flatten()
}

/// Whether a test that needs something (a server, a tool) may run:
/// `true` if it is `present`. If not, prints a loud `SKIPPED` line saying
/// what is `missing` and returns `false`, or panics instead under
/// `FLECHE_TEST_REQUIRE_ALL=1` — the policy of [`server_url`], for needs
/// other than a server variable.
///
/// ```
/// assert!(fleche_conformance::require(true, "nothing"));
/// ```
pub fn require(present: bool, missing: &str) -> bool {
    if present {
        return true;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_owned();
    if std::env::var(REQUIRE_ALL_ENV).is_ok_and(|v| v == "1") {
        panic!("{test}: {missing}, and {REQUIRE_ALL_ENV}=1 forbids skipping");
    }
    // Written to stderr directly: the test harness captures `eprintln!` of
    // passing tests, and a skip must not pass unseen.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {missing}");
    false
}

/// A name that no other test, in this process or any other, uses: for the
/// namespace a test makes for itself (a schema, a key or bucket prefix).
/// `what`, the process id, a counter and the clock's nanoseconds, joined
/// by `_`: lowercase letters, digits and `_` when `what` is, so it is a
/// valid SQL identifier too.
///
/// ```
/// let a = fleche_conformance::unique_name("cache");
/// assert!(a.starts_with("cache_") && a != fleche_conformance::unique_name("cache"));
/// ```
pub fn unique_name(what: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!("{what}_{}_{n}_{nanos}", std::process::id())
}
