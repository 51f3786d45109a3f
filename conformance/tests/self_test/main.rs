//! The suite tests itself: deliberately broken stores must be caught, each
//! by the case that checks the promise it breaks, and correct stores must
//! pass.
//!
//! Every broken store is a real store behind a wrapper ([`broken::Broken`])
//! that delegates everything and gets one thing wrong (a [`Fault`]), the
//! way a backend author could. The wrapper with no fault passes around
//! every real store we have — memory, file, SQLite, and PostgreSQL and
//! Redis when their servers are there — so a failure is the fault's doing,
//! not the wrapper's.
//!
//! Most broken stores wrap the memory store (one test each, below). The
//! two whose fault only another process can see — writes lost, or left
//! torn, by a process killed before it finished them — wrap the file
//! store and SQLite, and run the cross-process cases (module `real`, with
//! the `__child` tests those cases start).
//!
//! `cargo test -p fleche-conformance --test self_test -- --nocapture`
//! prints each report, with the cases that caught each store.

mod broken;
mod factory;
mod real;

use std::sync::Arc;

use fleche_conformance::{
    Factory, Harness, Location, Needs, Outcome, Report, Stores, cases, run_one,
};
use fleche_core::{Digest, StoreError, async_trait};
use futures::stream::{self, StreamExt};

use broken::Fault;
use factory::{MapFactory, broken};

fn failed(report: &Report) -> Vec<&'static str> {
    report.failures().map(|r| r.name).collect()
}

/// How many cases run at once against a store in memory: all of them.
const ALL: usize = usize::MAX;

/// How many cases run at once against a store on disk or a server: as
/// many as `cargo test` of a backend's suite runs on a small machine,
/// twice over. Each case opens its own store (a schema, a namespace, a
/// directory), so the servers' connection limits stay far away.
const SOME: usize = 4;

/// A factory shared by several harnesses.
struct Shared(Arc<dyn Factory>);

#[async_trait]
impl Factory for Shared {
    async fn create(&self) -> Result<Location, StoreError> {
        self.0.create().await
    }
    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        self.0.open(at).await
    }
    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        self.0.destroy(at).await
    }
    async fn damage_record(&self, at: &Location, key: Digest) -> Result<bool, StoreError> {
        self.0.damage_record(at, key).await
    }
    fn secret(&self, at: &Location) -> Option<String> {
        self.0.secret(at)
    }
}

/// Runs every case of the suite with `harness`'s factory and launcher,
/// `at_once` of them at a time, and prints the report under `title`.
///
/// Each case gets a harness of its own (a harness destroys the stores it
/// made after each case), so cases running at once see no store of
/// another's — as when `cargo test` runs a `suite!`'s tests in parallel.
/// The cases mostly wait (for leases, children, servers), so running them
/// at once keeps the self-test's wall time near that of its slowest cases.
async fn report(title: &str, harness: &Harness, at_once: usize) -> Report {
    let started = std::time::Instant::now();
    let runs = cases().iter().map(|case| {
        let mut own = Harness::new(Shared(harness.factory.clone()));
        if let Some(launcher) = &harness.launcher {
            own = own.with_launcher(launcher.clone());
        }
        async move {
            tokio::spawn(async move { run_one(&own, case).await })
                .await
                .expect("run_one catches a case's panic")
        }
    });
    let rows: Vec<_> = stream::iter(runs)
        .buffered(at_once.min(cases().len()))
        .collect()
        .await;
    let report = Report { rows };
    println!(
        "=== {title}: caught by {:?} (in {:.1?})\n{report}\n",
        failed(&report),
        started.elapsed()
    );
    report
}

/// The suite with `harness` (`at_once` cases at a time) on a store titled
/// `title`: something fails, and each of `must` is among the failures.
async fn caught_with(title: &str, harness: &Harness, at_once: usize, must: &[&str]) {
    let report = report(title, harness, at_once).await;
    assert!(
        !report.passed(),
        "the suite passed a store with {title}:\n{report}"
    );
    for name in must {
        assert!(
            cases().iter().any(|c| c.name == *name),
            "{name} is not a case of the suite"
        );
        assert!(
            matches!(report.outcome(name), Some(Outcome::Failed(_))),
            "{name} did not catch {title}:\n{report}"
        );
    }
}

/// The suite on a memory store with `fault`: caught by each of `must`.
async fn caught(fault: Fault, must: &[&str]) {
    let harness = Harness::new(broken(fault));
    caught_with(&format!("{fault:?}"), &harness, ALL, must).await;
}

/// The cases the store behind `harness` may skip: those whose capability
/// it declares it lacks, the cross-process ones without a launcher, and
/// the damaged-record case when the factory cannot damage (`damage`).
async fn excused(harness: &Harness, damage: bool) -> Vec<&'static str> {
    let caps = harness
        .capabilities()
        .await
        .expect("the store's capabilities");
    cases()
        .iter()
        .filter(|c| match c.needs {
            Needs::Nothing => false,
            Needs::Claims => !caps.claims,
            Needs::Persistence => !caps.persistent,
            Needs::Processes => !caps.shared || harness.launcher.is_none(),
            Needs::Damage => !damage,
        })
        .map(|c| c.name)
        .collect()
}

/// A correct store passes every case it can run, and skips exactly the
/// cases its capabilities (and the harness) excuse.
async fn passes(title: &str, harness: &Harness, at_once: usize, damage: bool) {
    let expected = excused(harness, damage).await;
    let report = report(title, harness, at_once).await;
    assert!(report.passed(), "{title} failed:\n{report}");
    assert_eq!(
        report.rows.len(),
        cases().len(),
        "{title}: not every case ran"
    );
    let skipped: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .map(|r| r.name)
        .collect();
    assert_eq!(skipped, expected, "{title}: unexpected skips:\n{report}");
    // Passing with skips is not complete, and the summary says why.
    assert_eq!(
        report.complete(),
        skipped.is_empty(),
        "{title}: skips make a report incomplete"
    );
    assert_eq!(
        report.skipped().iter().map(|(_, n)| n).sum::<usize>(),
        skipped.len(),
        "{title}: {:?}",
        report.skipped()
    );
    if !skipped.is_empty() {
        let summary = report.to_string();
        let last = summary.lines().last().unwrap_or_default();
        assert!(
            last.contains(&format!("{} skipped (", skipped.len())),
            "{title}: {last}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_memory_store_passes() {
    let harness = Harness::new(MapFactory::new(fleche_memory::MemoryStore::new));
    passes("MemoryStore", &harness, ALL, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_faithful_wrapper_passes() {
    let harness = Harness::new(broken(Fault::None));
    passes("Broken(None)", &harness, ALL, true).await;
}

/// One test per fault: `name => Fault, [cases that must catch it]`.
macro_rules! caught {
    ($($test:ident => $fault:ident, [$($case:literal),+ $(,)?];)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                caught(Fault::$fault, &[$($case),+]).await;
            }
        )+
    };
}

caught! {
    // Values.
    truncated_values_are_caught => TruncatesLargeValues, ["values_round_trip_exactly"];
    padded_values_are_caught => PadsValuesToEightBytes, ["values_round_trip_exactly"];
    errors_on_missing_keys_are_caught => ErrorsOnMissingKey,
        ["values_missing_key_is_none", "calls_missing_key_is_none"];
    value_tombstones_are_caught => ValueTombstoneIgnoresPut, ["values_put_after_delete"];
    get_many_sorted_by_key_is_caught => GetManySortedByKey, ["values_get_many_keeps_order"];
    get_many_present_first_is_caught => GetManyPresentFirst, ["values_get_many_keeps_order"];
    get_many_dropping_missing_keys_is_caught => GetManyDropsMissing,
        ["values_get_many_keeps_order"];
    put_many_dropping_its_last_item_is_caught => PutManyDropsLast,
        ["values_put_many_stores_every_item"];

    // Records.
    timestamps_in_milliseconds_are_caught => TruncatesTimestampsToMillis,
        ["calls_round_trip_every_field"];
    timestamps_in_seconds_are_caught => TruncatesTimestampsToSeconds,
        ["calls_round_trip_every_field"];
    dropped_null_metadata_is_caught => DropsNullMetadata, ["calls_round_trip_every_field"];
    flattened_deep_metadata_is_caught => FlattensDeepMetadata, ["calls_round_trip_every_field"];
    kept_old_metadata_is_caught => KeepsOldMetadata,
        ["lww_sequential_overwrites", "lww_concurrent_writers_one_whole_record"];
    first_writer_wins_is_caught => FirstWriterWins, ["lww_sequential_overwrites"];
    record_tombstones_are_caught => RecordTombstoneIgnoresPut, ["calls_put_after_delete"];
    result_cache_surviving_overwrite_is_caught => ResultCacheSurvivesOverwrite,
        ["calls_get_result_follows_overwrite_and_delete"];
    result_cache_surviving_delete_is_caught => ResultCacheSurvivesDelete,
        ["calls_get_result_follows_overwrite_and_delete"];

    // Concurrency and handles.
    dropped_concurrent_writes_are_caught => DropsConcurrentPuts,
        ["writers_concurrent_tasks_lose_nothing"];
    torn_concurrent_records_are_caught => TearsConcurrentRecords,
        ["lww_concurrent_writers_one_whole_record"];
    conflicts_between_identical_puts_are_caught => ConflictsOnConcurrentPuts,
        ["values_concurrent_identical_puts", "calls_concurrent_identical_puts"];
    handles_caching_reads_are_caught => HandleCachesReads, ["handles_see_each_others_writes"];

    // Queries.
    metadata_compared_as_text_is_caught => QueryMetadataAsText, ["calls_query_by_metadata"];
    functions_matched_by_prefix_are_caught => QueryFunctionByPrefix, ["calls_query_by_function"];
    argument_names_matched_by_prefix_are_caught => QueryArgNameByPrefix,
        ["calls_query_by_argument"];
    a_query_of_its_first_condition_only_is_caught => QueryFirstConditionOnly,
        ["calls_query_conditions_all_hold"];
    a_query_that_ors_its_conditions_is_caught => QueryOrsConditions,
        ["calls_query_conditions_all_hold"];
    created_after_needing_created_before_is_caught => QueryAfterNeedsBefore,
        ["calls_query_one_sided_time_bounds"];
    an_inclusive_created_before_is_caught => QueryBeforeInclusive,
        ["calls_query_one_sided_time_bounds"];
    a_limit_needing_an_order_is_caught => QueryLimitNeedsOrder,
        ["calls_query_limit_without_order"];
    a_limit_before_the_filter_is_caught => QueryLimitBeforeFilter,
        ["calls_query_limit_without_order"];
    a_stale_query_index_is_caught => QueryIndexStaleOnOverwrite,
        ["calls_query_after_overwrite_and_delete"];

    // Claims.
    two_claim_winners_are_caught => TwoClaimWinners,
        ["claims_one_winner_among_many", "claims_expired_taken_over_once"];
    claims_claimed_but_unsupported_are_caught => ClaimsUnsupported, [
        "claims_one_winner_among_many",
        "claims_expired_taken_over_once",
        "claims_renew_extends_the_lease",
        "claims_stale_owner_does_nothing",
        "claims_release_allows_a_new_claim",
    ];
    leases_rounded_up_to_seconds_are_caught => LeaseRoundedUpToSeconds,
        ["claims_lease_is_the_ttl"];
    a_renew_that_adds_is_caught => RenewAddsTtl, ["claims_renew_sets_the_lease"];
    a_renew_that_does_not_extend_is_caught => RenewDoesNotExtend,
        ["claims_renew_extends_the_lease", "claims_renew_sets_the_lease"];
    a_release_of_all_the_owners_claims_is_caught => ReleaseDropsAllOfOwner,
        ["claims_release_is_per_key"];
    a_renew_that_claims_an_unheld_key_is_caught => RenewOfUnheldKeyClaims,
        ["errors_claim_operations_are_typed"];

    // Errors.
    untyped_claim_errors_are_caught => ClaimErrorsUntyped,
        ["errors_claim_operations_are_typed"];
    damaged_records_read_as_missing_are_caught => DamagedReadsAsNone,
        ["errors_damaged_record_is_corrupt"];
    damaged_records_read_as_unavailable_are_caught => DamagedReadsAsUnavailable,
        ["errors_damaged_record_is_corrupt"];
    damaged_records_read_as_backend_errors_are_caught => DamagedReadsAsBackend,
        ["errors_damaged_record_is_corrupt"];
    corrupt_errors_without_the_key_are_caught => CorruptWithoutKey,
        ["errors_damaged_record_is_corrupt"];
    damage_that_is_never_cleared_is_caught => DamageIsNeverCleared, ["errors_damaged_record_is_corrupt"];
    a_damaged_record_that_cannot_be_deleted_is_caught => DeleteOfDamagedFails,
        ["errors_damaged_record_is_corrupt"];
    a_query_that_ignores_damage_is_caught => QueryIgnoresDamage,
        ["errors_damaged_record_is_corrupt"];
    a_password_in_an_error_is_caught => ErrorShowsPassword, ["errors_hide_credentials"];
    a_password_in_debug_is_caught => DebugShowsPassword, ["errors_hide_credentials"];
    a_nameless_backend_is_caught => NamelessBackend, ["errors_claim_operations_are_typed"];
    an_empty_debug_is_caught => EmptyDebug, ["errors_hide_credentials"];
}
