//! TCP sockets: echo under load, every byte checked.

mod support;

use support::{assert_echo, echo_stream, run_green, with_each_runtime};
use weft::net::{TcpListener, TcpStream};

/// Serves an echo on `listener` for `conns` connections, each in its own
/// green thread, then returns.
fn echo_server(listener: TcpListener, conns: usize) -> Vec<weft::JoinHandle<()>> {
    (0..conns)
        .map(|_| {
            let (stream, _) = listener.accept().expect("accept");
            weft::spawn(move || echo_stream(stream))
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
                        assert_echo(TcpStream::connect(addr).unwrap(), id, LEN);
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
