//! A TCP echo server, ported from std by changing two imports:
//! `std::net` -> `weft::net` and `std::thread::spawn` -> `weft::spawn`.
//! One green thread per connection; Ctrl-C (SIGINT) or SIGTERM stops it.
//!
//! ```sh
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7000
//! ```

use std::io::{Read, Write};

use weft::net::{TcpListener, TcpStream};
use weft::signal::{Signals, SIGINT, SIGTERM};

fn handle(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:7000");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs HOST:PORT"),
            other => panic!("unknown argument {other:?} (expected --addr HOST:PORT)"),
        }
    }
    let listener = TcpListener::bind(&addr)?;
    println!("echo server on {}", listener.local_addr()?);

    let signals = Signals::new(&[SIGINT, SIGTERM])?;
    let accept_loop = weft::spawn(move || {
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => {
                    weft::spawn(move || {
                        if let Err(e) = handle(stream) {
                            eprintln!("connection ended: {e}");
                        }
                    });
                }
                Err(e) => eprintln!("accept failed: {e}"),
            }
        }
    });
    let signal = signals.wait()?;
    println!("signal {signal}: stopping");
    accept_loop.cancel();
    let _ = accept_loop.join();
    Ok(())
}
