//! Stack overflow reports.
//!
//! A green thread that overflows its stack touches the guard page below it
//! and faults. The process-wide fault handler (`sys::signal`) calls
//! [`on_fault`] on the faulting worker's alternate signal stack; if the
//! address lies in the running green thread's guard page, it prints which
//! green thread overflowed and how large its stack is, then aborts, as std
//! does for an OS thread. Any other fault is passed on untouched.
//!
//! Everything here runs inside a signal handler: it reads only the
//! thread-local `RUNNING` cell and the control block it points to, formats
//! into a stack buffer and calls `write(2)` and `abort(3)`.

use super::context::RUNNING;
use crate::sys::signal;

/// Installs the fault handler (once per process).
pub(crate) fn install() {
    signal::install_fault_handler(on_fault);
}

fn on_fault(addr: usize) {
    let running = RUNNING.with(|r| r.get());
    let (lo, hi) = running.guard;
    if running.green.is_null() || addr < lo || addr >= hi {
        return;
    }
    // SAFETY: `green` points to the control block of the green thread that
    // is running on this OS thread; the worker's table keeps it alive.
    let green = unsafe { &*running.green };
    let mut out = Buf::new();
    out.push(b"\nthread '");
    out.push(green.name.as_deref().unwrap_or("<unnamed>").as_bytes());
    out.push(b"' (weft green thread ");
    out.push_u64(green.id.as_u64());
    out.push(b") has overflowed its stack of ");
    out.push_u64(green.stack_size as u64);
    out.push(b" bytes\nhelp: give it a larger stack with weft::Builder::stack_size\n");
    out.push(b"fatal runtime error: stack overflow, aborting\n");
    signal::write_stderr(out.as_bytes());
    signal::abort();
}

/// A fixed-size message buffer: no allocation inside a signal handler.
struct Buf {
    bytes: [u8; 512],
    len: usize,
}

impl Buf {
    fn new() -> Buf {
        Buf { bytes: [0; 512], len: 0 }
    }

    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    fn push_u64(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::Buf;

    #[test]
    fn overflow_message_buffer_formats_numbers_and_truncates() {
        let mut b = Buf::new();
        b.push(b"id ");
        b.push_u64(0);
        b.push(b" ");
        b.push_u64(18_446_744_073_709_551_615);
        assert_eq!(b.as_bytes(), b"id 0 18446744073709551615");
        b.push(&[b'x'; 600]);
        assert_eq!(b.as_bytes().len(), 512);
    }
}
