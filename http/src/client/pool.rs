//! The client's keep-alive pool: idle connections per host and port.
//!
//! # Rules
//!
//! 1. A connection enters the pool only through [`Pool::put`], called when a
//!    response's body has been read to its end (or had no content) and the
//!    response allowed reuse. It enters with no unconsumed bytes: a server
//!    that sent more than the response is not trusted with another request.
//! 2. Each host keeps at most `max_idle_per_host` connections, oldest first;
//!    a connection over the limit closes the oldest.
//! 3. A connection idle longer than `idle_timeout` is closed the next time
//!    its host's list is touched (a `put` or a `take` for that host). There
//!    is no reaper thread: a client that stops talking to a host keeps that
//!    host's idle sockets open (half-closed by the server, usually) until it
//!    is dropped.
//! 4. [`Pool::take`] hands out the most recently used connection (its
//!    server is the least likely to have timed it out), after a
//!    non-blocking peek: a connection the server closed (end of stream),
//!    reset, or wrote to while idle (a `408` it sent before closing) is
//!    closed and the next one tried. The peek cannot catch a close that is
//!    still in flight; the client's retry rule covers that (see `mod.rs`).
//!
//! The lock is a `std::sync::Mutex` held only for list operations, never
//! across a socket call: closing sockets and peeking happen after it is
//! released. Any thread.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft::net::TcpStream;

use super::request::Key;
use super::Shared;
use crate::body::{self, Framing, Home, Inbound, Returned};

/// Idle connections by host and port. Any thread.
pub(crate) struct Pool {
    idle: Mutex<HashMap<Key, VecDeque<Idle>>>,
    max_idle_per_host: usize,
    idle_timeout: Duration,
}

/// A pooled connection and when it became idle.
struct Idle {
    inbound: Inbound,
    since: Instant,
}

impl Pool {
    pub(crate) fn new(max_idle_per_host: usize, idle_timeout: Duration) -> Pool {
        Pool { idle: Mutex::new(HashMap::new()), max_idle_per_host, idle_timeout }
    }

    /// An idle connection to `key` that still looks open, if any.
    pub(crate) fn take(&self, key: &Key) -> Option<Inbound> {
        loop {
            let (found, expired) = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                let list = idle.get_mut(key)?;
                let expired = self.expire(list);
                let found = list.pop_back();
                if list.is_empty() {
                    idle.remove(key);
                }
                (found, expired)
            };
            drop(expired);
            let inbound = found?.inbound;
            if still_open(&inbound.stream) {
                return Some(inbound);
            }
        }
    }

    /// Keeps `inbound`, idle, for a later request to `key` (rule 1 and 2).
    pub(crate) fn put(&self, key: &Key, mut inbound: Inbound) {
        if self.max_idle_per_host == 0 || !inbound.unconsumed().is_empty() {
            return;
        }
        inbound.release_if_empty();
        let closed = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let list = idle.entry(key.clone()).or_default();
            let mut closed = self.expire(list);
            if list.len() >= self.max_idle_per_host {
                closed.extend(list.pop_front());
            }
            list.push_back(Idle { inbound, since: Instant::now() });
            closed
        };
        drop(closed);
    }

    /// Removes the connections of `list` idle past the timeout, for the
    /// caller to drop (close) outside the lock. The oldest are at the front.
    fn expire(&self, list: &mut VecDeque<Idle>) -> Vec<Idle> {
        let now = Instant::now();
        let fresh = list.iter().position(|i| now.duration_since(i.since) < self.idle_timeout).unwrap_or(list.len());
        list.drain(..fresh).collect()
    }

    /// Idle connections to `key` right now (tests).
    #[cfg(test)]
    pub(crate) fn idle_count(&self, key: &Key) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).get(key).map_or(0, VecDeque::len)
    }
}

/// Whether an idle connection still looks usable: a non-blocking peek finds
/// nothing to read. End of stream, data, or an error all mean it is not.
fn still_open(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    let open = matches!(stream.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    stream.set_nonblocking(false).is_ok() && open
}

/// Where a response body's connection goes when the body is dropped: back
/// to the pool if the response allowed reuse and the body ended (or its
/// remainder is drained), else closed.
pub(crate) struct ReturnTo {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: Key,
}

impl Home for ReturnTo {
    fn give_back(&self, mut returned: Returned) {
        // Unwinding (a panic, a cancelled green thread): no socket calls
        // in a destructor now; the connection closes.
        if returned.broken || std::thread::panicking() {
            return;
        }
        if !matches!(returned.framing, Framing::Done) {
            let config = &self.shared.config;
            // The whole drain, not each read, is bounded by one read timeout.
            let mut drain = || body::drain(&mut returned, config.max_drain, config.read_timeout);
            let drained = match config.read_timeout {
                Some(limit) => weft::timeout(limit, drain).unwrap_or(false),
                None => drain(),
            };
            if !drained {
                return;
            }
        }
        self.shared.pool.put(&self.key, returned.inbound);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A connected pair: the pooled side (weft) and the peer (weft too).
    fn pair() -> (Inbound, TcpStream) {
        let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (Inbound::new(Arc::new(client)), server)
    }

    fn key() -> Key {
        Key { host: "h".into(), port: 1 }
    }

    #[test]
    fn pool_keeps_at_most_max_per_host_and_hands_out_the_newest() {
        let pool = Pool::new(2, Duration::from_secs(60));
        let (a, _pa) = pair();
        let (b, _pb) = pair();
        let (c, _pc) = pair();
        let c_addr = c.stream.local_addr().unwrap();
        pool.put(&key(), a);
        pool.put(&key(), b);
        pool.put(&key(), c);
        assert_eq!(pool.idle_count(&key()), 2);
        assert_eq!(pool.take(&key()).unwrap().stream.local_addr().unwrap(), c_addr);
        assert!(pool.take(&Key { host: "h".into(), port: 2 }).is_none());
    }

    #[test]
    fn pool_skips_connections_closed_or_written_while_idle() {
        let pool = Pool::new(8, Duration::from_secs(60));
        let (open, _peer_open) = pair();
        let open_addr = open.stream.local_addr().unwrap();
        pool.put(&key(), open);
        // A blocking peek waits for the peer's FIN or bytes to arrive, so
        // the pool's non-blocking peek is sure to see them.
        let (closed, peer_closed) = pair();
        drop(peer_closed);
        assert_eq!(closed.stream.peek(&mut [0u8; 1]).unwrap(), 0);
        pool.put(&key(), closed);
        let (chatty, mut peer_chatty) = pair();
        peer_chatty.write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n").unwrap();
        assert_eq!(chatty.stream.peek(&mut [0u8; 1]).unwrap(), 1);
        pool.put(&key(), chatty);

        let taken = pool.take(&key()).unwrap();
        assert_eq!(taken.stream.local_addr().unwrap(), open_addr);
        assert_eq!(pool.idle_count(&key()), 0);
    }

    #[test]
    fn pool_drops_connections_idle_past_the_timeout() {
        let pool = Pool::new(8, Duration::ZERO);
        let (a, _pa) = pair();
        pool.put(&key(), a);
        assert!(pool.take(&key()).is_none());
    }

    #[test]
    fn pool_refuses_connections_with_unconsumed_bytes() {
        let pool = Pool::new(8, Duration::from_secs(60));
        let (mut a, _pa) = pair();
        a.push(b"extra");
        pool.put(&key(), a);
        assert_eq!(pool.idle_count(&key()), 0);
    }
}
