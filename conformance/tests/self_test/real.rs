//! The faithful wrapper around each real store passes, cross-process cases
//! included; and two stores whose fault one process cannot see — writes
//! lost or torn by a killed process — are caught by the cross-process
//! cases.
//!
//! Each store is in a module of its own, with the ignored `__child` test
//! that the cross-process cases start as a child process (as `suite!`
//! makes one): the child builds the same factory and opens the store by its
//! location.

use fleche_conformance::{Harness, launcher_for_test_binary};

use crate::broken::Fault;
use crate::factory::{FileInner, PgInner, RedisInner, SqliteInner, WrapFactory};

/// A harness on `factory` that starts children of the test `__child` in
/// `module`.
fn with_children(factory: impl fleche_conformance::Factory + 'static, module: &str) -> Harness {
    Harness::new(factory).with_launcher(launcher_for_test_binary(module))
}

mod file {
    use super::*;

    fn factory() -> WrapFactory<FileInner> {
        WrapFactory::new(Fault::None, FileInner)
    }

    #[test]
    #[ignore = "helper: runs only as the child process of a cross-process case"]
    fn __child() {
        fleche_conformance::__private::child_test(factory());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_faithful_wrapper_of_the_file_store_passes() {
        let harness = with_children(factory(), module_path!());
        crate::passes("Broken(None) around FileStore", &harness, crate::SOME, true).await;
    }
}

mod sqlite {
    use super::*;

    fn factory() -> WrapFactory<SqliteInner> {
        WrapFactory::new(Fault::None, SqliteInner)
    }

    #[test]
    #[ignore = "helper: runs only as the child process of a cross-process case"]
    fn __child() {
        fleche_conformance::__private::child_test(factory());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_faithful_wrapper_of_sqlite_passes() {
        let harness = with_children(factory(), module_path!());
        crate::passes(
            "Broken(None) around SqliteStore",
            &harness,
            crate::SOME,
            true,
        )
        .await;
    }
}

mod postgres {
    use super::*;

    const SERVER: &str = "FLECHE_TEST_POSTGRES_URL";

    fn factory() -> WrapFactory<PgInner> {
        let base = std::env::var(SERVER).unwrap_or_default();
        WrapFactory::new(Fault::None, PgInner { base })
    }

    #[test]
    #[ignore = "helper: runs only as the child process of a cross-process case"]
    fn __child() {
        fleche_conformance::__private::child_test(factory());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_faithful_wrapper_of_postgres_passes() {
        if fleche_conformance::server_url(SERVER).is_none() {
            return;
        }
        let harness = with_children(factory(), module_path!());
        crate::passes("Broken(None) around PgStore", &harness, crate::SOME, true).await;
    }
}

mod redis {
    use super::*;

    const SERVER: &str = "FLECHE_TEST_REDIS_URL";

    fn factory() -> WrapFactory<RedisInner> {
        let base = std::env::var(SERVER).unwrap_or_default();
        WrapFactory::new(Fault::None, RedisInner { base })
    }

    #[test]
    #[ignore = "helper: runs only as the child process of a cross-process case"]
    fn __child() {
        fleche_conformance::__private::child_test(factory());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_faithful_wrapper_of_redis_passes() {
        if fleche_conformance::server_url(SERVER).is_none() {
            return;
        }
        let harness = with_children(factory(), module_path!());
        crate::passes(
            "Broken(None) around RedisStore",
            &harness,
            crate::SOME,
            true,
        )
        .await;
    }
}

/// [`Fault::WriteBehind`] around the file store: within one process every
/// handle sees the buffer, so only other processes notice — one reading
/// what this process wrote, and one killed before it flushed.
mod write_behind {
    use super::*;

    fn factory() -> WrapFactory<FileInner> {
        WrapFactory::new(Fault::WriteBehind, FileInner)
    }

    #[test]
    #[ignore = "helper: runs only as the child process of a cross-process case"]
    fn __child() {
        fleche_conformance::__private::child_test(factory());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn write_behind_is_caught() {
        let harness = with_children(factory(), module_path!());
        crate::caught_with(
            "WriteBehind (around FileStore)",
            &harness,
            crate::SOME,
            &[
                "processes_see_each_others_writes",
                "processes_killed_after_durable_writes_keep_them",
            ],
        )
        .await;
    }
}

/// [`Fault::CompletesRecordsLater`] around SQLite: within one process every
/// handle sees whole records, so only other processes notice — above all
/// one killed while its latest records are still incomplete.
mod completes_later {
    use super::*;

    fn factory() -> WrapFactory<SqliteInner> {
        WrapFactory::new(Fault::CompletesRecordsLater, SqliteInner)
    }

    #[test]
    #[ignore = "helper: runs only as the child process of a cross-process case"]
    fn __child() {
        fleche_conformance::__private::child_test(factory());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn records_completed_later_are_caught() {
        let harness = with_children(factory(), module_path!());
        crate::caught_with(
            "CompletesRecordsLater (around SqliteStore)",
            &harness,
            crate::SOME,
            &["processes_killed_after_durable_writes_keep_them"],
        )
        .await;
    }
}
