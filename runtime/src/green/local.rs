//! Green-thread-local storage: [`GreenLocal`] and the `green_local!` macro.
//!
//! # Why `thread_local!` is not enough
//!
//! A `thread_local!` belongs to an OS thread. All green threads of one
//! worker run on that worker's OS thread, so they share every
//! `thread_local!` value: a per-request id kept in one would be overwritten
//! by the next green thread the worker switches to. `green_local!` gives
//! each green thread its own value, created on first access and destroyed
//! when the green thread ends (also when it is cancelled or unwound at
//! shutdown). Outside green threads it falls back to one value per OS
//! thread, like `thread_local!`.
//!
//! # Where the values live
//!
//! In a [`Locals`] table on the green thread's own stack, in the frame of
//! its body; its control block holds a pointer to it that only the green
//! thread itself reads. Because a green thread never moves to another OS
//! thread (DESIGN.md decision 1), the values need not be `Send`.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::context;

/// The values of one green thread (or one OS thread), by key index. Only
/// the thread that owns it touches it.
#[derive(Default)]
pub(crate) struct Locals {
    values: RefCell<Vec<Option<Box<dyn Any>>>>,
}

/// Rounds of destruction before values that keep re-creating others (a
/// destructor that touches a green-local) are leaked.
const DESTROY_ROUNDS: usize = 8;

impl Locals {
    fn with<T: 'static, R>(&self, key: usize, init: fn() -> T, f: impl FnOnce(&T) -> R) -> R {
        let present = self.values.borrow().get(key).is_some_and(Option::is_some);
        if !present {
            // Not borrowed while `init` runs: it may use other green-locals.
            let value: Box<dyn Any> = Box::new(init());
            let mut values = self.values.borrow_mut();
            if values.len() <= key {
                values.resize_with(key + 1, || None);
            }
            if values[key].is_none() {
                values[key] = Some(value);
            }
        }
        let ptr: *const T = {
            let values = self.values.borrow();
            let value = values[key].as_ref().expect("initialised above");
            value.downcast_ref::<T>().expect("a green-local key always holds its own type")
        };
        // SAFETY: the value is boxed, so its address does not change when
        // the table grows; it is dropped only by `destroy`, which runs after
        // the green thread's code has finished (so not during `f`), and
        // values are only ever reached from the owning thread.
        f(unsafe { &*ptr })
    }

    /// Drops every value. A destructor may touch green-locals again; those
    /// values are dropped in a further round.
    pub(crate) fn destroy(&self) {
        for _ in 0..DESTROY_ROUNDS {
            let values = std::mem::take(&mut *self.values.borrow_mut());
            if values.iter().all(Option::is_none) {
                return;
            }
            for value in values {
                // A panicking destructor has been reported by the panic hook;
                // the others still run.
                let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(value)));
            }
        }
        std::mem::forget(std::mem::take(&mut *self.values.borrow_mut()));
    }
}

thread_local! {
    static OS_LOCALS: Locals = Locals::default();
}

/// A key for green-thread-local values; declare with [`green_local!`](crate::green_local).
pub struct GreenLocal<T: 'static> {
    init: fn() -> T,
    /// Index in every `Locals` table, plus one; 0 until first use.
    index: AtomicUsize,
    _value: PhantomData<fn() -> T>,
}

impl<T: 'static> GreenLocal<T> {
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> GreenLocal<T> {
        GreenLocal { init, index: AtomicUsize::new(0), _value: PhantomData }
    }

    fn index(&'static self) -> usize {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let index = self.index.load(Relaxed);
        if index != 0 {
            return index - 1;
        }
        let fresh = NEXT.fetch_add(1, Relaxed);
        match self.index.compare_exchange(0, fresh, Relaxed, Relaxed) {
            Ok(_) => fresh - 1,
            Err(won) => won - 1,
        }
    }

    /// Runs `f` with the calling green thread's value, creating it on first
    /// access. Outside green threads: the calling OS thread's value. (A
    /// destructor of a green-local that touches another one re-creates it;
    /// that value is destroyed in a further round.)
    ///
    /// # Panics
    ///
    /// On an OS thread whose thread-locals are being destroyed, as
    /// `thread_local!`'s `with` does.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let index = self.index();
        let locals = context::with_green(|g| g.map_or(std::ptr::null(), |g| g.locals()));
        if !locals.is_null() {
            // SAFETY: the pointer is set by the green thread's body to its
            // own `Locals`, which outlives every call of user code in that
            // green thread, and we are that green thread.
            return unsafe { &*locals }.with(index, self.init, f);
        }
        OS_LOCALS.with(|locals| locals.with(index, self.init, f))
    }
}

impl<T: 'static> fmt::Debug for GreenLocal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenLocal").finish_non_exhaustive()
    }
}

/// Declares green-thread-local values, with `thread_local!`'s syntax: each
/// green thread gets its own value, created on first access and destroyed
/// when the green thread ends. On OS threads, one value per thread.
///
/// ```
/// use std::cell::Cell;
///
/// weft::green_local! {
///     static REQUEST_ID: Cell<u64> = Cell::new(0);
/// }
///
/// let handles: Vec<_> = (1..=3u64)
///     .map(|i| weft::spawn(move || {
///         REQUEST_ID.with(|id| id.set(i));
///         weft::yield_now(); // other green threads of this worker run
///         REQUEST_ID.with(|id| id.get())
///     }))
///     .collect();
/// let ids: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(ids, [1, 2, 3]);
/// ```
#[macro_export]
macro_rules! green_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])* $vis static $name: $crate::GreenLocal<$t> = $crate::GreenLocal::new({
            fn __init() -> $t {
                $init
            }
            __init
        });
        $crate::green_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::green_local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}

/// Destroys a green thread's values when its body ends, normally or by
/// unwinding, and unhooks the table from the control block.
pub(crate) struct DestroyOnExit<'a>(pub(crate) &'a Locals);

impl Drop for DestroyOnExit<'_> {
    fn drop(&mut self) {
        self.0.destroy();
        context::with_green(|g| {
            if let Some(g) = g {
                g.set_locals(std::ptr::null());
            }
        });
    }
}
