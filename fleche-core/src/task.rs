//! Calls that travel as data: a function, named, and the scope to run it in.
//!
//! Python's `BoundWrapper` pickles a function with its cache; a Rust
//! closure cannot be sent to another process. But another process of the
//! *same program* has the same functions: `#[fleche]` registers each
//! (non-generic) function under its name at compile time, so a [`Task`] —
//! the function's name and the scope's configuration — serializes with
//! serde, and deserializes in a worker into a callable that runs under
//! that scope. Any process-pool crate that takes serde arguments can carry
//! it.
//!
//! Plain functions that call cached ones (a pipeline step) travel the same
//! way once marked `#[fleche::register]`.

use std::any::{Any, TypeId};
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Bound, Callable, Error, Scope, ScopeConfig};

/// A function that another process of the same program can call by name.
/// Made by `#[fleche]` and `#[fleche::register]`; not meant to be built by
/// hand.
#[doc(hidden)]
pub struct Registration {
    /// The name that travels: a `#[fleche]` function's name (its key's),
    /// else its module path and name.
    pub name: &'static str,
    /// `type_name` of the function item, to find the registration of a
    /// [`Bound`] function.
    pub type_name: fn() -> &'static str,
    /// The type of the arguments tuple and of the result.
    pub types: fn() -> (TypeId, TypeId),
    /// Calls the function with a boxed arguments tuple.
    pub call: fn(Box<dyn Any>) -> Box<dyn Any>,
    /// The stored result for a boxed arguments tuple, without running the
    /// function; `None` for functions that are not cached.
    pub lookup: Option<LookupFn>,
    /// What the function's crate does before a call (the `fleche` facade
    /// installs its drivers there).
    pub prepare: fn(),
}

/// A registration's lookup: the stored result for a boxed arguments tuple.
type LookupFn = fn(&dyn Any) -> Result<Option<Box<dyn Any>>, Error>;

inventory::collect!(Registration);

fn registrations() -> impl Iterator<Item = &'static Registration> {
    inventory::iter::<Registration>.into_iter()
}

/// The registration called `name`: exactly one.
fn by_name(name: &str) -> Result<&'static Registration, Error> {
    let mut found = registrations().filter(|r| r.name == name);
    match (found.next(), found.next()) {
        (Some(r), None) => Ok(r),
        (Some(_), Some(_)) => Err(Error::Task {
            function: name.to_owned(),
            problem: "several registered functions have this name; give one a `name = \"...\"`"
                .to_owned(),
        }),
        (None, _) => Err(Error::Task {
            function: name.to_owned(),
            problem: "no function of this program is registered under this name (is the worker \
                      the same program, built from the same code?)"
                .to_owned(),
        }),
    }
}

/// The registration of the function item `F`.
fn by_type<F: 'static>() -> Result<&'static Registration, Error> {
    let wanted = std::any::type_name::<F>();
    registrations()
        .find(|r| (r.type_name)() == wanted)
        .ok_or_else(|| Error::Task {
            function: wanted.to_owned(),
            problem: "is not a registered function: only `#[fleche]` functions (not generic ones) \
                      and `#[fleche::register]` functions travel to other processes; bind the \
                      function itself, not a closure or a function pointer"
                .to_owned(),
        })
}

/// Checks that `r` takes `A` and returns `R`.
fn check_types<A: 'static, R: 'static>(r: &Registration) -> Result<(), Error> {
    if (r.types)() == (TypeId::of::<A>(), TypeId::of::<R>()) {
        return Ok(());
    }
    Err(Error::Task {
        function: r.name.to_owned(),
        problem: format!(
            "does not take {} and return {}",
            std::any::type_name::<A>(),
            std::any::type_name::<R>()
        ),
    })
}

/// A call that travels as data: a registered function, by name, and the
/// configuration of the scope to run it in (cache URL and options, tags).
/// `Clone + Send + Sync`, `Serialize + Deserialize`: hand it to a worker
/// process in any form serde writes, and call it there; the worker reopens
/// the cache (once per process, however many tasks it runs) and the call
/// hits or stores in the same store as the parent.
///
/// `A` is the arguments tuple (`(u64,)` for one argument) and `R` the
/// result. Custom metadata providers are code and do not travel: register
/// them in the worker.
///
/// [`Task::submit`] hands a call to an executor only if its result is not
/// stored ([`crate::submit`]).
///
/// See the `fleche` crate's `task` for an example, and the book's
/// "Parallel execution" chapter for process pools.
pub struct Task<A, R> {
    function: &'static Registration,
    config: ScopeConfig,
    /// The scope, once known: the parent's own, or reopened in a worker.
    scope: Arc<OnceLock<Scope>>,
    types: PhantomData<fn(A) -> R>,
}

impl<A, R> Clone for Task<A, R> {
    fn clone(&self) -> Self {
        Self {
            function: self.function,
            config: self.config.clone(),
            scope: Arc::clone(&self.scope),
            types: PhantomData,
        }
    }
}

impl<A, R> fmt::Debug for Task<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("function", &self.function.name)
            .field("scope", &self.config)
            .finish()
    }
}

impl<A: 'static, R: 'static> Task<A, R> {
    /// The task of a bound function: the function's registration and the
    /// bound scope's configuration. Fails for a function that is not
    /// registered (a closure, a generic function), for the wrong `A` or
    /// `R`, and for a cache that has no URL to reopen it by.
    pub fn from_bound<F: Callable<A, Output = R> + 'static>(
        bound: &Bound<F>,
    ) -> Result<Self, Error> {
        let function = by_type::<F>()?;
        check_types::<A, R>(function)?;
        let scope = bound.scope().clone();
        Ok(Self {
            function,
            config: scope.to_config()?,
            scope: Arc::new(OnceLock::from(scope)),
            types: PhantomData,
        })
    }

    /// The function's registered name.
    pub fn function(&self) -> &'static str {
        self.function.name
    }

    /// The scope the task runs in, as it travels.
    pub fn scope_config(&self) -> &ScopeConfig {
        &self.config
    }

    /// Calls the function with `args` in the task's scope, reopening its
    /// cache first if this process has not yet.
    ///
    /// # Panics
    /// If the cache's configuration no longer opens (an unknown scheme:
    /// register the driver in the worker), or the function panics.
    pub fn call(&self, args: A) -> R {
        let scope = self.scope();
        let out = scope.run(|| (self.function.call)(Box::new(args)));
        *out.downcast::<R>().expect("registered types were checked")
    }

    /// The stored result for `args` in the task's cache, without running
    /// the function; `Ok(None)` on a miss, and for a function that is not
    /// cached itself (`#[fleche::register]`).
    pub fn lookup(&self, args: &A) -> Result<Option<R>, Error> {
        let Some(lookup) = self.function.lookup else {
            return Ok(None);
        };
        let scope = self.try_scope()?;
        let found = scope.run(|| lookup(args))?;
        Ok(found.map(|r| *r.downcast::<R>().expect("registered types were checked")))
    }

    /// The task's scope: known, or reopened (once per process and
    /// configuration, so the tasks of one worker share one cache).
    pub fn scope(&self) -> Scope {
        match self.try_scope() {
            Ok(scope) => scope,
            Err(e) => panic!(
                "fleche: cannot run {}: {}",
                self.function.name,
                crate::ErrorChain(&e)
            ),
        }
    }

    fn try_scope(&self) -> Result<Scope, Error> {
        if let Some(scope) = self.scope.get() {
            return Ok(scope.clone());
        }
        (self.function.prepare)();
        let scope = reopened(&self.config)?;
        Ok(self.scope.get_or_init(|| scope).clone())
    }
}

/// The scope of `config` in this process, reopened on first use.
fn reopened(config: &ScopeConfig) -> Result<Scope, Error> {
    static OPEN: Mutex<Vec<(ScopeConfig, Scope)>> = Mutex::new(Vec::new());
    let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, scope)) = open.iter().find(|(c, _)| c == config) {
        return Ok(scope.clone());
    }
    let scope = Scope::from_config(config)?;
    open.push((config.clone(), scope.clone()));
    Ok(scope)
}

/// What travels: the function's name and the scope.
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    function: std::borrow::Cow<'a, str>,
    scope: std::borrow::Cow<'a, ScopeConfig>,
}

impl<A, R> Serialize for Task<A, R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            function: self.function.name.into(),
            scope: std::borrow::Cow::Borrowed(&self.config),
        }
        .serialize(s)
    }
}

impl<'de, A: 'static, R: 'static> Deserialize<'de> for Task<A, R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(d)?;
        let function = by_name(&wire.function)
            .and_then(|f| check_types::<A, R>(f).map(|()| f))
            .map_err(|e| D::Error::custom(crate::ErrorChain(&e)))?;
        Ok(Self {
            function,
            config: wire.scope.into_owned(),
            scope: Arc::default(),
            types: PhantomData,
        })
    }
}

/// A bound function serializes as the [`Task`] it makes: its name and its
/// scope's configuration. It deserializes as a `Task`.
impl<F: 'static> Serialize for Bound<F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let function = by_type::<F>().map_err(|e| S::Error::custom(crate::ErrorChain(&e)))?;
        let config = self
            .scope()
            .to_config()
            .map_err(|e| S::Error::custom(crate::ErrorChain(&e)))?;
        Wire {
            function: function.name.into(),
            scope: std::borrow::Cow::Owned(config),
        }
        .serialize(s)
    }
}

impl<F: 'static> Bound<F> {
    /// This bound call as a [`Task`] for another process.
    pub fn task<A: 'static, R: 'static>(&self) -> Result<Task<A, R>, Error>
    where
        F: Callable<A, Output = R>,
    {
        Task::from_bound(self)
    }
}
