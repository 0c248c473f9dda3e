//! `weft::sync::{mpsc, mpmc, oneshot}`: std's channel semantics between
//! green threads and OS threads: per-sender FIFO, disconnection both ways,
//! bounded backpressure, rendezvous, in-flight messages dropped with the
//! channel, timeouts, and receivers that park instead of blocking their
//! worker. Every test runs on a 1-worker and a 2-worker runtime.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use support::{run_green, with_each_runtime, XorShift};
use weft::sync::{mpmc, mpsc, oneshot};

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn until(flag: &AtomicBool) {
    while !flag.load(SeqCst) {
        weft::yield_now();
    }
}

#[test]
fn channel_keeps_each_senders_order() {
    with_each_runtime("chan-fifo", |rt| {
        for bound in [None, Some(0), Some(3)] {
            let (tx, rx) = mpmc_or_mpsc(bound);
            let senders: Vec<_> = (0..4u64)
                .map(|id| {
                    let tx = tx.clone();
                    rt.spawn(move || {
                        let mut rng = XorShift::new(id);
                        for seq in 0..500u64 {
                            tx(id, seq);
                            if rng.one_in(5) {
                                weft::yield_now();
                            }
                        }
                    })
                })
                .collect();
            drop(tx);
            let mut next = [0u64; 4];
            let received = run_green(rt, move || {
                let mut n = 0;
                while let Ok((id, seq)) = rx.recv() {
                    assert_eq!(seq, next[id as usize], "sender {id} out of order");
                    next[id as usize] += 1;
                    n += 1;
                }
                n
            });
            senders.into_iter().for_each(|h| h.join().unwrap());
            assert_eq!(received, 4 * 500, "bound {bound:?}");
        }
    });
}

type SendFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// A send closure and the receiver of an unbounded or bounded mpsc channel.
fn mpmc_or_mpsc(bound: Option<usize>) -> (SendFn, mpsc::Receiver<(u64, u64)>) {
    match bound {
        None => {
            let (tx, rx) = mpsc::channel();
            (Arc::new(move |a, b| tx.send((a, b)).unwrap()), rx)
        }
        Some(n) => {
            let (tx, rx) = mpsc::sync_channel(n);
            (Arc::new(move |a, b| tx.send((a, b)).unwrap()), rx)
        }
    }
}

#[test]
fn channel_disconnects_when_senders_or_receiver_drop() {
    with_each_runtime("chan-disconnect", |rt| {
        run_green(rt, || {
            // All senders gone: buffered messages first, then RecvError.
            let (tx, rx) = mpsc::channel();
            let tx2 = tx.clone();
            tx.send(1).unwrap();
            drop(tx);
            tx2.send(2).unwrap();
            drop(tx2);
            assert_eq!(rx.recv(), Ok(1));
            assert_eq!(rx.try_recv(), Ok(2));
            assert_eq!(rx.recv(), Err(RecvError));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
            assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Disconnected));
            // Receiver gone: the message comes back.
            let (tx, rx) = mpsc::sync_channel(1);
            drop(rx);
            assert_eq!(tx.send(5), Err(SendError(5)));
            assert_eq!(tx.try_send(6), Err(TrySendError::Disconnected(6)));
        });
    });
}

#[test]
fn channel_blocked_receiver_wakes_on_disconnect() {
    with_each_runtime("chan-disconnect-wake", |rt| {
        let (tx, rx) = mpsc::channel::<u8>();
        let receiver = rt.spawn(move || rx.recv());
        let sender = rt.spawn(move || {
            weft::yield_now();
            drop(tx);
        });
        sender.join().unwrap();
        assert_eq!(receiver.join().unwrap(), Err(RecvError));
    });
}

#[test]
fn channel_blocked_sender_gets_message_back_when_receiver_drops() {
    with_each_runtime("chan-disconnect-sender", |rt| {
        let (tx, rx) = mpsc::sync_channel(0);
        let waiting = Arc::new(AtomicBool::new(false));
        let w = waiting.clone();
        let sender = rt.spawn(move || {
            w.store(true, SeqCst);
            tx.send(String::from("back"))
        });
        until(&waiting);
        drop(rx);
        assert_eq!(sender.join().unwrap(), Err(SendError(String::from("back"))));
    });
}

#[test]
fn sync_channel_full_sender_parks_until_recv() {
    with_each_runtime("chan-backpressure", |rt| {
        let (tx, rx) = mpsc::sync_channel(2);
        let sent = Arc::new(AtomicUsize::new(0));
        let about_to_block = Arc::new(AtomicBool::new(false));
        let (s, b) = (sent.clone(), about_to_block.clone());
        let sender = rt.spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            s.store(2, SeqCst);
            assert!(matches!(tx.try_send(99), Err(TrySendError::Full(99))), "two fill it");
            b.store(true, SeqCst);
            tx.send(3).unwrap(); // parks: the channel is full
            s.store(3, SeqCst);
        });
        let workers = rt.workers();
        run_green(rt, move || {
            until(&about_to_block);
            if workers == 1 {
                // The sender ran until it parked in send(3): it has not
                // returned from it, and nothing more was buffered.
                assert_eq!(sent.load(SeqCst), 2);
            }
            assert_eq!(rx.recv(), Ok(1)); // makes room: send(3) completes
            assert_eq!(rx.recv(), Ok(2));
            assert_eq!(rx.recv(), Ok(3));
        });
        sender.join().unwrap();
    });
}

#[test]
fn rendezvous_send_meets_a_receiver() {
    with_each_runtime("chan-rendezvous", |rt| {
        let (tx, rx) = mpsc::sync_channel(0);
        assert!(matches!(tx.try_send(0), Err(TrySendError::Full(0))), "nobody receives yet");
        let waiting = Arc::new(AtomicBool::new(false));
        let w = waiting.clone();
        let receiver = rt.spawn(move || {
            w.store(true, SeqCst);
            let first = rx.recv().unwrap();
            let rest: Vec<i32> = rx.iter().collect();
            (first, rest)
        });
        until(&waiting);
        let mut first = 1;
        // The receiver is parked in recv (or about to be): the handoff is
        // direct, so a try_send succeeds once it waits.
        while let Err(TrySendError::Full(v)) = tx.try_send(first) {
            first = v;
            weft::yield_now();
        }
        for i in 2..=100 {
            tx.send(i).unwrap();
        }
        drop(tx);
        let (first, rest) = receiver.join().unwrap();
        assert_eq!(first, 1);
        assert_eq!(rest, (2..=100).collect::<Vec<_>>());
    });
}

#[test]
fn channel_drops_in_flight_messages_with_the_channel() {
    with_each_runtime("chan-drop", |rt| {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        run_green(rt, move || {
            let (tx, rx) = mpsc::channel();
            for _ in 0..5 {
                tx.send(Counted(d.clone())).unwrap();
            }
            drop(rx.recv().unwrap());
            assert_eq!(d.load(SeqCst), 1);
            drop(tx);
            drop(rx);
            assert_eq!(d.load(SeqCst), 5, "four in flight, dropped with the channel");
            // Receiver gone first: buffered messages go at once.
            let (tx, rx) = mpsc::sync_channel(3);
            for _ in 0..3 {
                tx.send(Counted(d.clone())).unwrap();
            }
            drop(rx);
            assert_eq!(d.load(SeqCst), 8);
            let Err(SendError(back)) = tx.send(Counted(d.clone())) else { panic!("disconnected") };
            drop(back);
            assert_eq!(d.load(SeqCst), 9, "dropped once, by us");
        });
        assert_eq!(drops.load(SeqCst), 9);
    });
}

#[test]
fn channel_recv_timeout_times_out_and_leaves_later_message() {
    with_each_runtime("chan-timeout", |rt| {
        run_green(rt, || {
            let (tx, rx) = mpsc::channel();
            assert_eq!(rx.recv_timeout(Duration::from_millis(10)), Err(RecvTimeoutError::Timeout));
            tx.send(3).unwrap();
            assert_eq!(rx.recv_timeout(Duration::from_millis(10)), Ok(3));
        });
        // On an OS thread too.
        let (_tx, rx) = mpsc::channel::<()>();
        assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    });
}

#[test]
fn channel_blocked_recv_does_not_block_its_worker() {
    with_each_runtime("chan-progress", |rt| {
        let got = run_green(rt, || {
            let (tx, rx) = mpsc::channel();
            let waiting = Arc::new(AtomicBool::new(false));
            let w = waiting.clone();
            let receiver = weft::spawn(move || {
                w.store(true, SeqCst);
                rx.recv().unwrap() // parks; this worker goes on running us
            });
            until(&waiting);
            tx.send(7).unwrap();
            receiver.join().unwrap()
        });
        assert_eq!(got, 7);
    });
}

#[test]
fn channel_shared_by_os_threads_and_green_threads() {
    with_each_runtime("chan-mixed", |rt| {
        let (tx, rx) = mpsc::sync_channel(1);
        let (back_tx, back_rx) = mpsc::channel();
        // OS thread -> green threads -> OS thread.
        let os_sender = {
            let tx = tx.clone();
            std::thread::spawn(move || (0..500).for_each(|i| tx.send(i).unwrap()))
        };
        let green_sender = rt.spawn(move || (500..1000).for_each(|i| tx.send(i).unwrap()));
        let relay = rt.spawn(move || rx.iter().for_each(|v| back_tx.send(v).unwrap()));
        let mut all: Vec<i32> = back_rx.iter().collect();
        os_sender.join().unwrap();
        green_sender.join().unwrap();
        relay.join().unwrap();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    });
}

#[test]
fn mpmc_delivers_each_message_to_exactly_one_receiver() {
    with_each_runtime("mpmc", |rt| {
        for bound in [None, Some(0), Some(4)] {
            let (tx, rx) = match bound {
                None => mpmc::channel(),
                Some(n) => mpmc::sync_channel(n),
            };
            let consumers: Vec<_> = (0..4)
                .map(|_| {
                    let rx = rx.clone();
                    rt.spawn(move || rx.iter().collect::<Vec<u32>>())
                })
                .collect();
            let os_consumer = {
                let rx = rx.clone();
                std::thread::spawn(move || rx.iter().collect::<Vec<u32>>())
            };
            drop(rx);
            let producers: Vec<_> = (0..4u32)
                .map(|p| {
                    let tx = tx.clone();
                    rt.spawn(move || (0..250).for_each(|i| tx.send(p * 1000 + i).unwrap()))
                })
                .collect();
            drop(tx);
            producers.into_iter().for_each(|h| h.join().unwrap());
            let mut all: Vec<u32> = consumers.into_iter().flat_map(|h| h.join().unwrap()).collect();
            all.extend(os_consumer.join().unwrap());
            all.sort();
            let expected: Vec<u32> = (0..4).flat_map(|p| (0..250).map(move |i| p * 1000 + i)).collect();
            assert_eq!(all, expected, "bound {bound:?}");
        }
    });
}

#[test]
fn oneshot_sends_once_and_reports_disconnection() {
    with_each_runtime("oneshot", |rt| {
        let (tx, rx) = oneshot::channel();
        rt.spawn(move || tx.send(String::from("once")).unwrap());
        assert_eq!(rx.recv(), Ok(String::from("once")));

        let (tx, rx) = oneshot::channel::<u8>();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
        rt.spawn(move || drop(tx)).join().unwrap();
        assert_eq!(rx.recv(), Err(RecvError), "sender dropped unsent");

        let (tx, rx) = oneshot::channel();
        drop(rx);
        assert_eq!(tx.send(9), Err(SendError(9)));

        let (tx, rx) = oneshot::channel();
        let waiter = rt.spawn(move || rx.recv_timeout(Duration::from_secs(3600)));
        tx.send(1).unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(1));
    });
}
