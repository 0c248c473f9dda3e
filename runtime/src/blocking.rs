// TEMPORARY placeholder until the blocking pool branch merges (not committed).
pub fn unblock<F: FnOnce() -> T + Send, T: Send>(f: F) -> T {
    f()
}
