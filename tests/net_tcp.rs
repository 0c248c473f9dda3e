//! TCP sockets: echo under load, every byte checked.

mod support;

use std::io::{Read, Write};
use std::net::Shutdown;

use support::{run_green, with_each_runtime};
use weft::net::{TcpListener, TcpStream};

/// A message unique to client `id`, `len` bytes long.
fn message(id: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (id.wrapping_mul(31).wrapping_add(i * 7) % 251) as u8).collect()
}

/// Serves an echo on `listener` for `conns` connections, each in its own
/// green thread, then returns.
fn echo_server(listener: TcpListener, conns: usize) -> Vec<weft::JoinHandle<()>> {
    (0..conns)
        .map(|_| {
            let (mut stream, _) = listener.accept().expect("accept");
            weft::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let n = stream.read(&mut buf).expect("server read");
                    if n == 0 {
                        return;
                    }
                    stream.write_all(&buf[..n]).expect("server write");
                }
            })
        })
        .collect()
}

#[test]
fn tcp_echo_1000_concurrent_clients() {
    const CLIENTS: usize = 1000;
    const LEN: usize = 10_000;
    with_each_runtime("tcp-echo", |rt| {
        run_green(rt, || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = weft::spawn(move || {
                for h in echo_server(listener, CLIENTS) {
                    h.join().unwrap();
                }
            });
            let clients: Vec<_> = (0..CLIENTS)
                .map(|id| {
                    weft::spawn(move || {
                        let mut stream = TcpStream::connect(addr).unwrap();
                        let msg = message(id, LEN);
                        let writer = stream.try_clone().unwrap();
                        let to_send = msg.clone();
                        // Write and read at once: a message larger than the
                        // socket buffers would deadlock a write-then-read.
                        let w = weft::spawn(move || {
                            (&writer).write_all(&to_send).unwrap();
                            writer.shutdown(Shutdown::Write).unwrap();
                        });
                        let mut back = Vec::new();
                        stream.read_to_end(&mut back).unwrap();
                        w.join().unwrap();
                        assert!(back == msg, "client {id}: echo differs");
                    })
                })
                .collect();
            for c in clients {
                c.join().unwrap();
            }
            server.join().unwrap();
        });
    });
}
