//! The `select!` macro: parses the arms into [`RecvArm`]s and [`SendArm`]s
//! on the caller's stack, runs [`run`] over them, and runs the body of the
//! arm that fired. `macro_rules!` only; the arms get their names from a
//! fixed list, which bounds a select to 32 channel arms.
//!
//! [`RecvArm`]: super::select::RecvArm
//! [`SendArm`]: super::select::SendArm
//! [`run`]: super::select::run

/// Waits on several channel operations and completes exactly one, Go-style.
///
/// ```text
/// weft::select! {
///     recv(rx) -> msg => body,             // msg: Result<T, RecvError>
///     send(tx, value) -> res => body,      // res: Result<(), SendError<T>>
///     default(duration) => body,           // optional: fires if nothing did in time
/// }
/// ```
///
/// * `recv(rx)` takes a receiver of [`mpsc`], [`mpmc`] or [`oneshot`] (by
///   reference); it is ready when a message is there or every sender is
///   gone (`Err(RecvError)`).
/// * `send(tx, value)` takes an [`mpsc::Sender`], [`mpsc::SyncSender`] or
///   [`mpmc::Sender`]; it is ready when the channel has room (or a waiting
///   receiver, for a rendezvous channel), or the receivers are gone
///   (`Err(SendError(value))`). `value` is evaluated once, before waiting;
///   if another arm fires, it is not sent and is dropped when `select!`
///   returns.
/// * `default(duration)` fires if no operation completed within
///   `duration`; a bare `default` fires at once if none is ready (a
///   non-blocking select). Without a `default` arm, `select!` waits.
///
/// Exactly one arm fires. When several are ready, the one tried first is
/// random, so no arm starves. Operations of arms that did not fire have
/// no effect: nothing is received, nothing is sent. The select parks the
/// green thread (or blocks the OS thread) while it waits. A body is an
/// expression followed by a comma, or a block; the arms' bodies are the
/// branches of one `if`, so they must have the same type.
///
/// ```
/// use std::time::Duration;
/// use weft::sync::mpsc;
///
/// let (tx1, rx1) = mpsc::channel::<i32>();
/// let (tx2, rx2) = mpsc::sync_channel::<&str>(0);
/// weft::spawn(move || tx1.send(7).unwrap());
///
/// let got = weft::select! {
///     recv(rx1) -> msg => format!("rx1: {}", msg.unwrap()),
///     recv(rx2) -> msg => format!("rx2: {msg:?}"),
/// };
/// assert_eq!(got, "rx1: 7");
///
/// // Nobody receives on the rendezvous channel: the send cannot happen.
/// let (_tx_keep, rx_unused) = mpsc::channel::<()>();
/// weft::select! {
///     send(tx2, "hello") -> _res => panic!("nobody is receiving"),
///     recv(rx_unused) -> _msg => panic!("nobody sends"),
///     default(Duration::from_millis(10)) => {}
/// }
/// drop(rx2);
///
/// // Non-blocking: `default` without a duration.
/// let (_tx3, rx3) = mpsc::channel::<u8>();
/// let ready = weft::select! {
///     recv(rx3) -> _msg => true,
///     default => false,
/// };
/// assert!(!ready);
/// ```
///
/// [`mpsc`]: crate::sync::mpsc
/// [`mpmc`]: crate::sync::mpmc
/// [`oneshot`]: crate::sync::oneshot
/// [`mpsc::Sender`]: crate::sync::mpsc::Sender
/// [`mpsc::SyncSender`]: crate::sync::mpsc::SyncSender
/// [`mpmc::Sender`]: crate::sync::mpmc::Sender
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__weft_select!(
            @parse [$($tokens)*] [] [] [] []
            (__weft_arm0 __weft_arm1 __weft_arm2 __weft_arm3 __weft_arm4 __weft_arm5 __weft_arm6 __weft_arm7
             __weft_arm8 __weft_arm9 __weft_arm10 __weft_arm11 __weft_arm12 __weft_arm13 __weft_arm14 __weft_arm15
             __weft_arm16 __weft_arm17 __weft_arm18 __weft_arm19 __weft_arm20 __weft_arm21 __weft_arm22 __weft_arm23
             __weft_arm24 __weft_arm25 __weft_arm26 __weft_arm27 __weft_arm28 __weft_arm29 __weft_arm30 __weft_arm31)
        )
    };
}

/// The parser behind [`select!`]. State: `[unparsed] [setup] [arm refs]
/// [dispatch] [default] (unused arm names)`.
#[doc(hidden)]
#[macro_export]
macro_rules! __weft_select {
    // Everything parsed.
    (@parse [] $setup:tt $refs:tt $dispatch:tt [] $idents:tt) => {
        $crate::__weft_select!(@finish $setup $refs $dispatch
            ($crate::sync::__select::Timeout::Never)
            ({ ::core::unreachable!("select!: run returned the default arm of a select without one") }))
    };
    (@parse [] $setup:tt $refs:tt $dispatch:tt [now $body:tt] $idents:tt) => {
        $crate::__weft_select!(@finish $setup $refs $dispatch ($crate::sync::__select::Timeout::Now) ({ $body }))
    };
    (@parse [] $setup:tt $refs:tt $dispatch:tt [after ($timeout:expr) $body:tt] $idents:tt) => {
        $crate::__weft_select!(@finish $setup $refs $dispatch
            ($crate::sync::__select::Timeout::After($timeout)) ({ $body }))
    };

    // Arm heads.
    (@parse [default $($tail:tt)*] $setup:tt $refs:tt $dispatch:tt [$($default:tt)+] $idents:tt) => {
        ::core::compile_error!("select!: more than one `default` arm")
    };
    (@parse [default($timeout:expr) => $($tail:tt)*] $setup:tt $refs:tt $dispatch:tt $default:tt $idents:tt) => {
        $crate::__weft_select!(@body [$($tail)*] (after ($timeout)) $setup $refs $dispatch $default $idents)
    };
    (@parse [default => $($tail:tt)*] $setup:tt $refs:tt $dispatch:tt $default:tt $idents:tt) => {
        $crate::__weft_select!(@body [$($tail)*] (now) $setup $refs $dispatch $default $idents)
    };
    (@parse [$($tokens:tt)+] $setup:tt $refs:tt $dispatch:tt $default:tt ()) => {
        ::core::compile_error!("select!: at most 32 channel arms")
    };
    (@parse [recv($rx:expr) -> $res:pat => $($tail:tt)*] $setup:tt $refs:tt $dispatch:tt $default:tt
        ($id:ident $($idents:ident)*)) => {
        $crate::__weft_select!(@body [$($tail)*] (recv $id ($rx) ($res)) $setup $refs $dispatch $default ($($idents)*))
    };
    (@parse [send($tx:expr, $msg:expr) -> $res:pat => $($tail:tt)*] $setup:tt $refs:tt $dispatch:tt $default:tt
        ($id:ident $($idents:ident)*)) => {
        $crate::__weft_select!(@body [$($tail)*] (send $id ($tx) ($msg) ($res)) $setup $refs $dispatch $default ($($idents)*))
    };
    (@parse [$($tokens:tt)*] $($state:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "select!: expected `recv(rx) -> pat => body`, `send(tx, value) -> pat => body`, ",
            "`default(duration) => body` or `default => body`, found: ",
            ::core::stringify!($($tokens)*)
        ))
    };

    // Arm bodies: a block with or without a comma, or an expression and a
    // comma (or the end).
    (@body [$body:block, $($rest:tt)*] $head:tt $($state:tt)*) => {
        $crate::__weft_select!(@push $head ($body) [$($rest)*] $($state)*)
    };
    (@body [$body:block $($rest:tt)*] $head:tt $($state:tt)*) => {
        $crate::__weft_select!(@push $head ($body) [$($rest)*] $($state)*)
    };
    (@body [$body:expr, $($rest:tt)*] $head:tt $($state:tt)*) => {
        $crate::__weft_select!(@push $head ($body) [$($rest)*] $($state)*)
    };
    (@body [$body:expr] $head:tt $($state:tt)*) => {
        $crate::__weft_select!(@push $head ($body) [] $($state)*)
    };

    // One parsed arm into the state.
    (@push (recv $id:ident ($rx:expr) ($res:pat)) ($body:expr) [$($rest:tt)*]
        [$($setup:tt)*] [$($refs:tt)*] [$($dispatch:tt)*] $default:tt $idents:tt) => {
        $crate::__weft_select!(@parse [$($rest)*]
            [$($setup)* let mut $id = ($rx).recv_arm();]
            [$($refs)* &mut $id,]
            [$($dispatch)* if $id.fired() { let $res = $id.into_result(); $body } else]
            $default $idents)
    };
    (@push (send $id:ident ($tx:expr) ($msg:expr) ($res:pat)) ($body:expr) [$($rest:tt)*]
        [$($setup:tt)*] [$($refs:tt)*] [$($dispatch:tt)*] $default:tt $idents:tt) => {
        $crate::__weft_select!(@parse [$($rest)*]
            [$($setup)* let mut $id = ($tx).send_arm($msg);]
            [$($refs)* &mut $id,]
            [$($dispatch)* if $id.fired() { let $res = $id.into_result(); $body } else]
            $default $idents)
    };
    (@push (now) ($body:expr) [$($rest:tt)*] $setup:tt $refs:tt $dispatch:tt [] $idents:tt) => {
        $crate::__weft_select!(@parse [$($rest)*] $setup $refs $dispatch [now ($body)] $idents)
    };
    (@push (after ($timeout:expr)) ($body:expr) [$($rest:tt)*] $setup:tt $refs:tt $dispatch:tt [] $idents:tt) => {
        $crate::__weft_select!(@parse [$($rest)*] $setup $refs $dispatch [after ($timeout) ($body)] $idents)
    };

    (@finish [$($setup:tt)*] [$($refs:tt)*] [$($dispatch:tt)*] ($timeout:expr) ($last:block)) => {{
        #[allow(unused_imports)]
        use $crate::sync::__select::{SelectRecv as _, SelectSend as _};
        $($setup)*
        $crate::sync::__select::run(&mut [$($refs)*], $timeout);
        $($dispatch)* $last
    }};
}
