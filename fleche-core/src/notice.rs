//! Warnings that reach a person even when nobody listens to `tracing`.
//!
//! fleche reports store failures, damaged data and long waits as `tracing`
//! events. A program that installed no subscriber would see none of them:
//! its cache could stop working in silence. So when no subscriber is
//! listening, [`warning!`](crate::notice::warning) prints the event to stderr
//! instead — like Python's `warnings` — at most once per
//! [`Site::EVERY`] per place in the code, saying how many it held back.

use std::fmt::{self, Write as _};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::NoSubscriber;
use tracing::{Dispatch, Event, Metadata, Subscriber};

/// Logs a warning with `tracing::warn!`'s syntax; printed to stderr
/// (rate-limited) when no `tracing` subscriber is listening.
macro_rules! warning {
    ($($arg:tt)+) => {{
        static SITE: $crate::notice::Site = $crate::notice::Site::new();
        if $crate::notice::unheard() {
            if let Some(held) = SITE.due() {
                $crate::notice::to_stderr(held, || ::tracing::warn!($($arg)+));
            }
        } else {
            ::tracing::warn!($($arg)+);
        }
    }};
}
pub(crate) use warning;

/// Whether no `tracing` subscriber would see an event.
pub(crate) fn unheard() -> bool {
    tracing::dispatcher::get_default(|d| d.is::<NoSubscriber>())
}

/// One place in the code that warns, and when it last printed.
pub(crate) struct Site {
    /// Milliseconds after [`START`] of the last print, plus one (0: never).
    last: AtomicU64,
    /// Warnings held back since then.
    held: AtomicU64,
}

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

impl Site {
    /// The shortest time between two prints of one site.
    pub(crate) const EVERY: Duration = Duration::from_secs(10);

    pub(crate) const fn new() -> Self {
        Self {
            last: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(held back)` if this site may print now; otherwise counts one
    /// more held back.
    pub(crate) fn due(&self) -> Option<u64> {
        let now = START.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= Self::EVERY.as_millis() as u64;
        if due
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.held.swap(0, Ordering::Relaxed))
        } else {
            self.held.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Runs `emit` (a `tracing` macro) with a subscriber that prints to stderr.
pub(crate) fn to_stderr(held: u64, emit: impl FnOnce()) {
    static STDERR: LazyLock<Dispatch> = LazyLock::new(|| Dispatch::new(Stderr));
    HELD.with(|h| h.set(held));
    tracing::dispatcher::with_default(&STDERR, emit);
}

thread_local! {
    static HELD: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Prints events as one line: `fleche warning: message (k=v, …)`.
struct Stderr;

impl Subscriber for Stderr {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line::default();
        event.record(&mut line);
        let mut text = line.message.trim_start_matches("fleche: ").to_owned();
        if !line.fields.is_empty() {
            let _ = write!(text, " ({})", line.fields.join(", "));
        }
        let held = HELD.with(|h| h.get());
        if held > 0 {
            let _ = write!(text, " [{held} more like it held back]");
        }
        eprintln!("fleche warning: {text}");
    }
}

#[derive(Default)]
struct Line {
    message: String,
    fields: Vec<String>,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields.push(format!("{}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields.push(format!("{}={value}", field.name()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_prints_once_then_counts_what_it_holds_back() {
        let site = Site::new();
        assert_eq!(site.due(), Some(0));
        assert_eq!(site.due(), None);
        assert_eq!(site.due(), None);
        assert_eq!(site.held.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn without_a_subscriber_nobody_hears() {
        assert!(unheard());
        let subscriber = Dispatch::new(Stderr);
        tracing::dispatcher::with_default(&subscriber, || assert!(!unheard()));
    }
}
