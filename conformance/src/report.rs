//! Running cases and reporting outcomes.

use std::fmt;
use std::time::{Duration, Instant};

use futures::FutureExt;

use crate::cases::{Case, Needs, cases};
use crate::harness::{CaseError, Harness};

/// How a case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every check held.
    Passed,
    /// The store does not offer what the case checks; nothing was checked.
    Skipped(String),
    /// A promise is broken: what was seen.
    Failed(String),
}

/// One line of a report.
#[derive(Clone, Debug)]
pub struct Row {
    /// The case.
    pub name: &'static str,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub duration: Duration,
}

/// The outcome of every case.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// One row per case, in the suite's order.
    pub rows: Vec<Row>,
}

impl Report {
    /// The rows that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
    }

    /// Whether no case failed. Skipped cases count as passing here: a
    /// store that declares every capability false passes. A CI that must
    /// know every promise was checked asks [`Report::complete`].
    pub fn passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// Whether every case ran and passed: none failed, none skipped.
    ///
    /// ```
    /// use fleche_conformance::{Outcome, Report, Row};
    /// let row = |outcome| Row { name: "case", outcome, duration: Default::default() };
    /// let skipping = Report { rows: vec![row(Outcome::Passed), row(Outcome::Skipped("the store does not offer claims".into()))] };
    /// assert!(skipping.passed() && !skipping.complete());
    /// assert!(skipping.to_string().ends_with("1 passed, 0 failed, 1 skipped (the store does not offer claims: 1)"));
    /// ```
    pub fn complete(&self) -> bool {
        self.rows.iter().all(|r| r.outcome == Outcome::Passed)
    }

    /// How many cases were skipped, per reason (a capability the store
    /// declares it lacks, a launcher missing), in the order first seen.
    pub fn skipped(&self) -> Vec<(&str, usize)> {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for row in &self.rows {
            if let Outcome::Skipped(why) = &row.outcome {
                match counts.iter_mut().find(|(w, _)| *w == why.as_str()) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((why, 1)),
                }
            }
        }
        counts
    }

    /// The outcome of the case called `name`.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.rows
            .iter()
            .find(|r| r.name == name)
            .map(|r| &r.outcome)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut passed, mut failed, mut skipped) = (0, 0, 0);
        for row in &self.rows {
            let (tag, detail) = match &row.outcome {
                Outcome::Passed => {
                    passed += 1;
                    ("ok     ", String::new())
                }
                Outcome::Skipped(why) => {
                    skipped += 1;
                    ("SKIPPED", format!(" ({why})"))
                }
                Outcome::Failed(why) => {
                    failed += 1;
                    ("FAILED ", format!("\n          {why}"))
                }
            };
            writeln!(f, "{tag} {:<48} {:>9.3?}{detail}", row.name, row.duration)?;
        }
        write!(
            f,
            "conformance: {passed} passed, {failed} failed, {skipped} skipped"
        )?;
        // Why, so that a store that skips much cannot pass unnoticed.
        let reasons: Vec<String> = self
            .skipped()
            .iter()
            .map(|(why, n)| format!("{why}: {n}"))
            .collect();
        if !reasons.is_empty() {
            write!(f, " ({})", reasons.join(", "))?;
        }
        Ok(())
    }
}

/// Whether the store offers what `needs` asks; `Err` says why not.
async fn check_needs(h: &Harness, needs: Needs) -> Result<(), String> {
    if needs == Needs::Nothing {
        return Ok(());
    }
    let caps = h.capabilities().await?;
    match needs {
        Needs::Nothing => Ok(()),
        Needs::Claims if !caps.claims => Err("the store does not offer claims".into()),
        Needs::Persistence if !caps.persistent => Err("the store is not persistent".into()),
        Needs::Processes if !caps.shared => Err("the store is not shared between processes".into()),
        Needs::Processes if h.launcher.is_none() => {
            Err("no way to start child processes was given".into())
        }
        _ => Ok(()),
    }
}

/// Runs one case; a panic inside it is a failure.
pub async fn run_one(h: &Harness, case: &Case) -> Row {
    let started = Instant::now();
    let outcome = match check_needs(h, case.needs).await {
        Err(why) => Outcome::Skipped(why),
        Ok(()) => match std::panic::AssertUnwindSafe((case.run)(h))
            .catch_unwind()
            .await
        {
            Ok(Ok(())) => Outcome::Passed,
            Ok(Err(CaseError::Failed(why))) => Outcome::Failed(why),
            Ok(Err(CaseError::Skipped(why))) => Outcome::Skipped(why),
            Err(panic) => Outcome::Failed(format!("panicked: {}", panic_message(&panic))),
        },
    };
    h.clean_up().await;
    Row {
        name: case.name,
        outcome,
        duration: started.elapsed(),
    }
}

/// Runs every case, one after another, and reports.
pub async fn run_all(h: &Harness) -> Report {
    let mut report = Report::default();
    for case in cases() {
        report.rows.push(run_one(h, case).await);
    }
    report
}

pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".into())
}
