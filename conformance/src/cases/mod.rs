//! The cases: one async function per promise, in a registry.

mod cache;
mod calls;
mod claims;
mod errors;
mod fixtures;
mod handles;
mod lww;
mod persistence;
mod processes;
mod queries;
mod together;
mod values;
mod writers;

use futures::future::BoxFuture;

use crate::harness::{CaseResult, Harness};

pub(crate) use processes::{child_see_and_change, child_write_until_killed, child_writes};

/// What a case needs from the store beyond the required operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Nothing: every store must pass.
    Nothing,
    /// `Capabilities::claims`.
    Claims,
    /// `Capabilities::persistent`.
    Persistence,
    /// `Capabilities::shared` and a way to start child processes.
    Processes,
    /// A factory that can damage stored records
    /// ([`Factory::damage_record`](crate::Factory::damage_record)).
    Damage,
}

/// One case of the suite.
#[derive(Clone, Copy)]
pub struct Case {
    /// Its name, also the name of its test.
    pub name: &'static str,
    /// What it needs.
    pub needs: Needs,
    /// Runs it.
    pub run: for<'a> fn(&'a Harness) -> BoxFuture<'a, CaseResult>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("needs", &self.needs)
            .finish()
    }
}

/// The suite's cases, listed once: this list makes the registry
/// ([`cases`]) and the tests of [`suite!`](crate::suite). `__cases!(MODE)`
/// hands it to `__cases_apply!` with `MODE`.
#[doc(hidden)]
#[macro_export]
macro_rules! __cases {
    ($($mode:tt)*) => {
        $crate::__cases_apply! { ($($mode)*)
            values::values_round_trip_exactly => Nothing,
            values::values_missing_key_is_none => Nothing,
            values::values_contains_and_delete_are_idempotent => Nothing,
            values::values_put_after_delete => Nothing,
            values::values_list_by_prefix => Nothing,
            values::values_expand_and_shrink => Nothing,
            values::values_get_many_keeps_order => Nothing,
            values::values_put_many_stores_every_item => Nothing,
            values::values_concurrent_identical_puts => Nothing,
            calls::calls_round_trip_every_field => Nothing,
            calls::calls_missing_key_is_none => Nothing,
            calls::calls_delete_is_idempotent => Nothing,
            calls::calls_put_after_delete => Nothing,
            calls::calls_get_result_follows_overwrite_and_delete => Nothing,
            calls::calls_concurrent_identical_puts => Nothing,
            queries::calls_query_by_function => Nothing,
            queries::calls_query_by_argument => Nothing,
            queries::calls_query_by_metadata => Nothing,
            queries::calls_query_by_time_range_order_and_limit => Nothing,
            queries::calls_query_conditions_all_hold => Nothing,
            queries::calls_query_one_sided_time_bounds => Nothing,
            queries::calls_query_limit_without_order => Nothing,
            queries::calls_query_after_overwrite_and_delete => Nothing,
            lww::lww_sequential_overwrites => Nothing,
            lww::lww_concurrent_writers_one_whole_record => Nothing,
            writers::writers_concurrent_tasks_lose_nothing => Nothing,
            handles::handles_see_each_others_writes => Nothing,
            processes::writers_separate_processes_lose_nothing => Processes,
            processes::processes_see_each_others_writes => Processes,
            processes::processes_killed_after_durable_writes_keep_them => Processes,
            claims::claims_one_winner_among_many => Claims,
            claims::claims_expired_taken_over_once => Claims,
            claims::claims_renew_extends_the_lease => Claims,
            claims::claims_stale_owner_does_nothing => Claims,
            claims::claims_release_allows_a_new_claim => Claims,
            claims::claims_lease_is_the_ttl => Claims,
            claims::claims_renew_sets_the_lease => Claims,
            claims::claims_release_is_per_key => Claims,
            errors::errors_claim_operations_are_typed => Nothing,
            errors::errors_damaged_record_is_corrupt => Damage,
            errors::errors_hide_credentials => Nothing,
            cache::cache_repairs_corrupt_value => Nothing,
            cache::cache_repairs_corrupt_record => Nothing,
            cache::cache_does_not_store_errors => Nothing,
            persistence::persistence_survives_reopening => Persistence,
        }
    };
}

/// What the case list becomes: the registry (`registry`, expanded in this
/// module, where the case functions are) or one test per case (`tests
/// (CLAIMS, PERSISTENT, PROCESSES, DAMAGE)`, expanded by `suite!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __cases_apply {
    ((registry) $($module:ident :: $name:ident => $needs:ident),* $(,)?) => {
        /// Every case, in a stable order.
        pub fn cases() -> &'static [Case] {
            const CASES: &[Case] = &[
                $(Case { name: stringify!($name), needs: Needs::$needs, run: |h| Box::pin($module::$name(h)) },)*
            ];
            CASES
        }
    };
    ((tests $flags:tt) $($module:ident :: $name:ident => $needs:ident),* $(,)?) => {
        $( $crate::__case!(@ $needs $flags $name); )*
    };
}

crate::__cases!(registry);
