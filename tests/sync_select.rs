//! `weft::select!`: every arm kind, exactly one arm fires, losing arms
//! consume and lose nothing, and a randomized stress of many selecting
//! senders and receivers in which every numbered message arrives exactly
//! once. Every test runs on a 1-worker and a 2-worker runtime.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{RecvError, SendError, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use support::{run_green, with_each_runtime, XorShift};
use weft::sync::{mpmc, mpsc, oneshot};

struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn select_recv_fires_on_the_ready_channel_only() {
    with_each_runtime("select-recv", |rt| {
        run_green(rt, || {
            let (tx1, rx1) = mpsc::channel();
            let (_tx2, rx2) = mpsc::channel::<i32>();
            tx1.send(1).unwrap();
            let got = weft::select! {
                recv(rx1) -> m => m,
                recv(rx2) -> _m => panic!("rx2 is empty"),
            };
            assert_eq!(got, Ok(1));
            assert_eq!(rx2.try_recv(), Err(TryRecvError::Empty));
        });
    });
}

#[test]
fn select_waits_for_a_later_message() {
    with_each_runtime("select-wait", |rt| {
        let (tx1, rx1) = mpsc::channel::<u8>();
        let (tx2, rx2) = mpsc::sync_channel::<&str>(0);
        let selecting = Arc::new(AtomicBool::new(false));
        let s = selecting.clone();
        let selector = rt.spawn(move || {
            s.store(true, SeqCst);
            weft::select! {
                recv(rx1) -> _m => None,
                recv(rx2) -> m => Some(m.unwrap()),
            }
        });
        while !selecting.load(SeqCst) {
            weft::yield_now();
        }
        tx2.send("late").unwrap(); // rendezvous: completes with the select
        assert_eq!(selector.join().unwrap(), Some("late"));
        drop(tx1);
    });
}

#[test]
fn select_send_fires_when_there_is_room() {
    with_each_runtime("select-send", |rt| {
        run_green(rt, || {
            let (full_tx, _full_rx) = mpsc::sync_channel(0); // nobody receives
            let (tx, rx) = mpsc::sync_channel(1);
            let which = weft::select! {
                send(full_tx, 1) -> _r => "full",
                send(tx, 2) -> r => { r.unwrap(); "room" }
            };
            assert_eq!(which, "room");
            assert_eq!(rx.try_recv(), Ok(2));
        });
    });
}

#[test]
fn select_send_to_a_waiting_receiver_on_rendezvous() {
    with_each_runtime("select-send-rendezvous", |rt| {
        let (tx, rx) = mpsc::sync_channel(0);
        let receiver = rt.spawn(move || rx.recv());
        let (_other_tx, other_rx) = mpsc::channel::<()>();
        run_green(rt, move || {
            weft::select! {
                send(tx, 5) -> r => r.unwrap(),
                recv(other_rx) -> _m => panic!("nobody sends here"),
            }
        });
        assert_eq!(receiver.join().unwrap(), Ok(5));
    });
}

#[test]
fn select_default_fires_when_nothing_is_ready() {
    with_each_runtime("select-default", |rt| {
        run_green(rt, || {
            let (tx, rx) = mpsc::channel::<u8>();
            let fired = weft::select! {
                recv(rx) -> _m => "recv",
                default => "default",
            };
            assert_eq!(fired, "default");
            tx.send(1).unwrap();
            let fired = weft::select! {
                recv(rx) -> m => { assert_eq!(m, Ok(1)); "recv" }
                default => "default",
            };
            assert_eq!(fired, "recv", "a ready arm wins over default");
        });
    });
}

#[test]
fn select_timeout_fires_and_consumes_nothing() {
    with_each_runtime("select-timeout", |rt| {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        run_green(rt, move || {
            let (tx, rx) = mpsc::sync_channel::<Counted>(0); // nobody receives
            let (_tx2, rx2) = mpsc::channel::<u8>();
            let fired = weft::select! {
                send(tx, Counted(d.clone())) -> _r => "send",
                recv(rx2) -> _m => "recv",
                default(Duration::from_millis(20)) => "timeout",
            };
            assert_eq!(fired, "timeout");
            // The losing send's message was not sent and was dropped once.
            assert_eq!(d.load(SeqCst), 1);
            assert!(rx.try_recv().is_err());
        });
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn select_fires_on_disconnection() {
    with_each_runtime("select-disconnect", |rt| {
        run_green(rt, || {
            let (tx, rx) = mpsc::channel::<u8>();
            drop(tx);
            let got = weft::select! {
                recv(rx) -> m => m,
                default(Duration::from_secs(3600)) => panic!("a disconnected channel is ready"),
            };
            assert_eq!(got, Err(RecvError));

            let (tx, rx) = mpsc::sync_channel(0);
            drop(rx);
            let got = weft::select! {
                send(tx, String::from("mine")) -> r => r,
            };
            assert_eq!(got, Err(SendError(String::from("mine"))), "the message comes back");
        });
        // A select parked on a channel wakes when its senders go.
        let (tx, rx) = mpsc::channel::<u8>();
        let selector = rt.spawn(move || weft::select! { recv(rx) -> m => m });
        rt.spawn(move || drop(tx)).join().unwrap();
        assert_eq!(selector.join().unwrap(), Err(RecvError));
    });
}

#[test]
fn select_over_oneshot_and_mpmc() {
    with_each_runtime("select-kinds", |rt| {
        let (otx, orx) = oneshot::channel();
        let (_mtx, mrx) = mpmc::channel::<u8>();
        rt.spawn(move || otx.send(11).unwrap());
        let got = run_green(rt, move || {
            weft::select! {
                recv(orx) -> m => m.unwrap(),
                recv(mrx) -> _m => 0,
            }
        });
        assert_eq!(got, 11);
    });
}

#[test]
fn select_from_an_os_thread() {
    with_each_runtime("select-os", |rt| {
        let (tx, rx) = mpsc::channel();
        rt.spawn(move || tx.send(3).unwrap());
        let (_tx2, rx2) = mpsc::channel::<u8>();
        let got = weft::select! {
            recv(rx2) -> _m => 0,
            recv(rx) -> m => m.unwrap(),
        };
        assert_eq!(got, 3);
    });
}

/// Producers select-send each numbered message on one of two channels
/// (bounded and rendezvous, so senders queue); consumers select-receive
/// from both, with timeouts and non-blocking selects mixed in. Every
/// number must arrive exactly once: a losing send arm that sent anyway
/// duplicates a number, a losing receive arm that consumed one loses it.
#[test]
fn select_stress_every_message_exactly_once() {
    with_each_runtime("select-stress", |rt| {
        const PRODUCERS: u64 = 4;
        const PER_PRODUCER: u64 = 2_000;
        let (tx1, rx1) = mpmc::sync_channel::<u64>(1);
        let (tx2, rx2) = mpmc::sync_channel::<u64>(0);
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (tx1, tx2) = (tx1.clone(), tx2.clone());
                rt.spawn(move || {
                    let mut rng = XorShift::new(p);
                    for i in 0..PER_PRODUCER {
                        let n = p * PER_PRODUCER + i;
                        loop {
                            let sent = weft::select! {
                                send(tx1, n) -> r => r.is_ok(),
                                send(tx2, n) -> r => r.is_ok(),
                                default(Duration::from_micros(rng.below(200) as u64)) => false,
                            };
                            if sent {
                                break;
                            }
                        }
                        if rng.one_in(8) {
                            weft::yield_now();
                        }
                    }
                })
            })
            .collect();
        drop((tx1, tx2));
        let consume = |seed: u64, rx1: mpmc::Receiver<u64>, rx2: mpmc::Receiver<u64>| {
            move || {
                let mut rng = XorShift::new(seed);
                let mut got = Vec::new();
                let (mut open1, mut open2) = (true, true);
                while open1 || open2 {
                    let mode = rng.below(4);
                    let msg = match (open1, open2) {
                        (true, true) if mode == 0 => weft::select! {
                            recv(rx1) -> m => m.map_err(|_| 1),
                            recv(rx2) -> m => m.map_err(|_| 2),
                            default => continue,
                        },
                        (true, true) if mode == 1 => weft::select! {
                            recv(rx1) -> m => m.map_err(|_| 1),
                            recv(rx2) -> m => m.map_err(|_| 2),
                            default(Duration::from_micros(50)) => continue,
                        },
                        (true, true) => weft::select! {
                            recv(rx1) -> m => m.map_err(|_| 1),
                            recv(rx2) -> m => m.map_err(|_| 2),
                        },
                        (true, false) => rx1.recv().map_err(|_| 1),
                        (false, _) => rx2.recv().map_err(|_| 2),
                    };
                    match msg {
                        Ok(n) => got.push(n),
                        Err(1) => open1 = false,
                        Err(_) => open2 = false,
                    }
                }
                got
            }
        };
        let consumers: Vec<_> = (0..4).map(|c| rt.spawn(consume(100 + c, rx1.clone(), rx2.clone()))).collect();
        let os_consumer = std::thread::spawn(consume(200, rx1.clone(), rx2.clone()));
        drop((rx1, rx2));
        producers.into_iter().for_each(|h| h.join().unwrap());
        let mut all: Vec<u64> = consumers.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.extend(os_consumer.join().unwrap());
        all.sort_unstable();
        let total = PRODUCERS * PER_PRODUCER;
        assert_eq!(all.len() as u64, total, "lost or duplicated messages");
        assert!(all.iter().copied().eq(0..total), "every number exactly once");
    });
}

#[test]
fn sync_types_are_send_and_sync_like_std() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<weft::sync::Mutex<u8>>();
    send_sync::<weft::sync::RwLock<u8>>();
    send_sync::<weft::sync::Condvar>();
    send_sync::<weft::sync::Semaphore>();
    send_sync::<weft::sync::Barrier>();
    send_sync::<weft::sync::WaitGroup>();
    send_sync::<weft::sync::OnceLock<u8>>();
    send_sync::<mpsc::Sender<u8>>();
    send_sync::<mpsc::SyncSender<u8>>();
    send::<mpsc::Receiver<u8>>();
    send_sync::<mpmc::Sender<u8>>();
    send_sync::<mpmc::Receiver<u8>>();
    send::<oneshot::Sender<u8>>();
    send::<oneshot::Receiver<u8>>();
}
