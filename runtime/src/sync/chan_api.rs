//! The public face that `mpsc`, `mpmc` and `oneshot` share: their handles
//! are thin wrappers of one `Arc<Chan<T>>` (see `chan`), so the methods
//! and trait impls that only forward to the core are written once here, as
//! macros each flavour invokes on its own types.
//!
//! Why macros and not one shared generic type: each flavour keeps std's
//! shape, with its own `Receiver`, `Iter`, `TryIter` and `IntoIter` types
//! and their own auto traits (`mpsc::Receiver` is not `Sync`; `mpmc`'s is
//! `Clone` and `Sync`), and its own docs. A shared type re-exported by
//! both would merge those types and their auto traits.

/// `Drop`, an opaque `Debug` and, with `clone = ...`, `Clone` for a channel
/// handle `$ty<T>` whose only field is `chan: Arc<Chan<T>>`.
///
/// `drop` names the `Chan` method that releases the handle's count (the
/// last one disconnects), `clone` the one that adds to it; `$debug` is
/// what `Debug` prints.
macro_rules! handle_impls {
    ($ty:ident, $debug:literal, drop = $drop:ident $(, clone = $add:ident)?) => {
        $(
            impl<T> Clone for $ty<T> {
                fn clone(&self) -> $ty<T> {
                    self.chan.$add();
                    $ty { chan: self.chan.clone() }
                }
            }
        )?

        impl<T> Drop for $ty<T> {
            fn drop(&mut self) {
                self.chan.$drop();
            }
        }

        impl<T> std::fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct($debug).finish_non_exhaustive()
            }
        }
    };
}

pub(crate) use handle_impls;

/// The receiving methods of a many-message channel's `Receiver<T>` (a
/// field `chan: Arc<Chan<T>>`), and the iterator types `Iter`, `TryIter`
/// and `IntoIter` with their `Iterator` and `IntoIterator` impls, defined
/// in the calling module. The caller gives each method's docs; std's error
/// types must be in scope there.
macro_rules! receiver_api {
    (
        $(#[$recv:meta])* fn recv;
        $(#[$try_recv:meta])* fn try_recv;
        $(#[$recv_timeout:meta])* fn recv_timeout;
        $(#[$iter:meta])* fn iter;
        $(#[$try_iter:meta])* fn try_iter;
    ) => {
        impl<T> Receiver<T> {
            $(#[$recv])*
            pub fn recv(&self) -> Result<T, RecvError> {
                self.chan.recv_blocking()
            }

            $(#[$try_recv])*
            pub fn try_recv(&self) -> Result<T, TryRecvError> {
                self.chan.try_recv()
            }

            $(#[$recv_timeout])*
            pub fn recv_timeout(&self, timeout: std::time::Duration) -> Result<T, RecvTimeoutError> {
                self.chan.recv_timeout(timeout)
            }

            $(#[$iter])*
            pub fn iter(&self) -> Iter<'_, T> {
                Iter { rx: self }
            }

            $(#[$try_iter])*
            pub fn try_iter(&self) -> TryIter<'_, T> {
                TryIter { rx: self }
            }
        }

        /// Waits for each message; see [`Receiver::iter`].
        #[derive(Debug)]
        pub struct Iter<'a, T: 'a> {
            rx: &'a Receiver<T>,
        }

        /// Takes the messages ready now; see [`Receiver::try_iter`].
        #[derive(Debug)]
        pub struct TryIter<'a, T: 'a> {
            rx: &'a Receiver<T>,
        }

        /// Owning version of [`Iter`].
        #[derive(Debug)]
        pub struct IntoIter<T> {
            rx: Receiver<T>,
        }

        impl<T> Iterator for Iter<'_, T> {
            type Item = T;
            fn next(&mut self) -> Option<T> {
                self.rx.recv().ok()
            }
        }

        impl<T> Iterator for TryIter<'_, T> {
            type Item = T;
            fn next(&mut self) -> Option<T> {
                self.rx.try_recv().ok()
            }
        }

        impl<T> Iterator for IntoIter<T> {
            type Item = T;
            fn next(&mut self) -> Option<T> {
                self.rx.recv().ok()
            }
        }

        impl<'a, T> IntoIterator for &'a Receiver<T> {
            type Item = T;
            type IntoIter = Iter<'a, T>;
            fn into_iter(self) -> Iter<'a, T> {
                self.iter()
            }
        }

        impl<T> IntoIterator for Receiver<T> {
            type Item = T;
            type IntoIter = IntoIter<T>;
            fn into_iter(self) -> IntoIter<T> {
                IntoIter { rx: self }
            }
        }
    };
}

pub(crate) use receiver_api;
