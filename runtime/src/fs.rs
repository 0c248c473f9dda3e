//! `weft::fs`: the part of [`std::fs`] a server needs, with std's
//! signatures and errors, each call run on the blocking pool.
//!
//! # Why files go through a pool
//!
//! Sockets wait in the reactor: a nonblocking socket says `WouldBlock` and
//! epoll says when to retry. Regular files have no such readiness: epoll
//! refuses them (`EPERM`), `O_NONBLOCK` is ignored for them, and a `read`
//! that misses the page cache simply waits for the disk, which on a busy
//! or network-backed disk takes milliseconds to seconds. Done on a worker,
//! that wait stalls every green thread the worker owns. So every call here
//! runs the std call through [`unblock`]: on a pool thread,
//! while the calling green thread parks. Outside green threads the calls
//! run inline, exactly as std's.
//!
//! Buffers are lent to the pool thread, not copied: `file.read(&mut buf)`
//! reads straight into `buf`.
//!
//! # Cost
//!
//! One hand-off to a pool thread and back per call, a few microseconds,
//! which is much more than a read from the page cache. Batch: read a whole
//! file with [`read`] or [`Read::read_to_end`] (one hand-off), write with
//! [`write()`] or [`Write::write_all`] (one hand-off), and wrap a `File` in a
//! [`std::io::BufReader`] / [`std::io::BufWriter`] for small reads and
//! writes. A few calls never touch the disk and run inline: `flush` (a
//! no-op for files, as in std), `try_clone` (`dup`), and the conversions.
//!
//! [`std::fs::DirEntry`] is std's: its `metadata` runs `statx` on the
//! caller's worker; in a green thread use [`metadata`]`(entry.path())`.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub use std::fs::{DirEntry, FileType, Metadata, Permissions};

use crate::unblock;

/// Reads the entire contents of a file into a bytes vector, as
/// [`std::fs::read`].
///
/// ```
/// let dir = std::env::temp_dir().join(format!("weft-doc-fs-read-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("greeting");
/// let h = weft::spawn({
///     let path = path.clone();
///     move || {
///         weft::fs::write(&path, b"hello").unwrap();
///         weft::fs::read(&path).unwrap() // parks this green thread, not the worker
///     }
/// });
/// assert_eq!(h.join().unwrap(), b"hello");
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    unblock(|| std::fs::read(path))
}

/// Reads the entire contents of a file into a string, as
/// [`std::fs::read_to_string`].
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    let path = path.as_ref();
    unblock(|| std::fs::read_to_string(path))
}

/// Writes a slice as the entire contents of a file, creating or truncating
/// it, as [`std::fs::write`].
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    let (path, contents) = (path.as_ref(), contents.as_ref());
    unblock(|| std::fs::write(path, contents))
}

/// Metadata of a path, following symlinks, as [`std::fs::metadata`].
pub fn metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    let path = path.as_ref();
    unblock(|| std::fs::metadata(path))
}

/// Metadata of a path, not following symlinks, as
/// [`std::fs::symlink_metadata`].
pub fn symlink_metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    let path = path.as_ref();
    unblock(|| std::fs::symlink_metadata(path))
}

/// The entries of a directory, as [`std::fs::read_dir`]. The whole
/// directory is listed in one hand-off to the pool; the iterator then
/// yields the entries (and any per-entry errors) without blocking.
pub fn read_dir<P: AsRef<Path>>(path: P) -> io::Result<ReadDir> {
    let path = path.as_ref();
    let entries = unblock(|| std::fs::read_dir(path).map(Iterator::collect::<Vec<_>>))?;
    Ok(ReadDir { entries: entries.into_iter() })
}

/// Creates a directory, as [`std::fs::create_dir`].
pub fn create_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    unblock(|| std::fs::create_dir(path))
}

/// Creates a directory and all missing parents, as
/// [`std::fs::create_dir_all`].
pub fn create_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    unblock(|| std::fs::create_dir_all(path))
}

/// Removes a file, as [`std::fs::remove_file`].
pub fn remove_file<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    unblock(|| std::fs::remove_file(path))
}

/// Removes an empty directory, as [`std::fs::remove_dir`].
pub fn remove_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    unblock(|| std::fs::remove_dir(path))
}

/// Removes a directory and everything in it, as
/// [`std::fs::remove_dir_all`]. One hand-off for the whole tree.
pub fn remove_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    unblock(|| std::fs::remove_dir_all(path))
}

/// Renames a file or directory, replacing `to` if it exists, as
/// [`std::fs::rename`].
pub fn rename<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    unblock(|| std::fs::rename(from, to))
}

/// Copies a file's contents and permissions, as [`std::fs::copy`];
/// returns the number of bytes copied.
pub fn copy<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<u64> {
    let (from, to) = (from.as_ref(), to.as_ref());
    unblock(|| std::fs::copy(from, to))
}

/// The absolute path with all symlinks resolved, as
/// [`std::fs::canonicalize`].
pub fn canonicalize<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    let path = path.as_ref();
    unblock(|| std::fs::canonicalize(path))
}

/// Iterator over the entries of a directory, from [`read_dir`]. The
/// entries were read when `read_dir` returned; iterating does not block.
#[derive(Debug)]
pub struct ReadDir {
    entries: std::vec::IntoIter<io::Result<DirEntry>>,
}

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;

    fn next(&mut self) -> Option<io::Result<DirEntry>> {
        self.entries.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for ReadDir {}

/// An open file whose I/O runs on the blocking pool; the shape of
/// [`std::fs::File`]. `Read`, `Write` and `Seek` are implemented for `File`
/// and for `&File`, as std does.
pub struct File {
    inner: std::fs::File,
}

impl File {
    /// Opens a file read-only, as [`std::fs::File::open`].
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Opens a file write-only, creating or truncating it, as
    /// [`std::fs::File::create`].
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new().write(true).create(true).truncate(true).open(path)
    }

    /// Creates a new file read-write, failing if it exists, as
    /// [`std::fs::File::create_new`].
    pub fn create_new<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).create_new(true).open(path)
    }

    /// A blank [`OpenOptions`], as [`std::fs::File::options`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// The file's metadata, as [`std::fs::File::metadata`].
    pub fn metadata(&self) -> io::Result<Metadata> {
        let file = &self.inner;
        unblock(|| file.metadata())
    }

    /// Truncates or extends the file, as [`std::fs::File::set_len`].
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        let file = &self.inner;
        unblock(|| file.set_len(size))
    }

    /// Flushes data and metadata to the device, as
    /// [`std::fs::File::sync_all`].
    pub fn sync_all(&self) -> io::Result<()> {
        let file = &self.inner;
        unblock(|| file.sync_all())
    }

    /// Flushes data to the device, as [`std::fs::File::sync_data`].
    pub fn sync_data(&self) -> io::Result<()> {
        let file = &self.inner;
        unblock(|| file.sync_data())
    }

    /// A new handle to the same open file (sharing the cursor), as
    /// [`std::fs::File::try_clone`]. Runs inline: `dup` does not touch the
    /// disk.
    pub fn try_clone(&self) -> io::Result<File> {
        self.inner.try_clone().map(File::from)
    }

    /// Changes the file's permissions, as
    /// [`std::fs::File::set_permissions`].
    pub fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        let file = &self.inner;
        unblock(|| file.set_permissions(perm))
    }

    /// The std file inside, for calls weft does not wrap (they then block
    /// the caller's worker).
    pub fn into_std(self) -> std::fs::File {
        self.inner
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("File").field(&self.inner).finish()
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut file = &self.inner;
        unblock(|| file.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let mut file = &self.inner;
        unblock(|| file.read_vectored(bufs))
    }

    /// One hand-off for the whole rest of the file.
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let mut file = &self.inner;
        unblock(|| file.read_to_end(buf))
    }

    /// One hand-off for the whole rest of the file.
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        let mut file = &self.inner;
        unblock(|| file.read_to_string(buf))
    }

    /// One hand-off, however many reads it takes.
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut file = &self.inner;
        unblock(|| file.read_exact(buf))
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut file = &self.inner;
        unblock(|| file.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut file = &self.inner;
        unblock(|| file.write_vectored(bufs))
    }

    /// One hand-off, however many writes it takes.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut file = &self.inner;
        unblock(|| file.write_all(buf))
    }

    /// A no-op, as for std's `File` (it has no buffer); runs inline.
    fn flush(&mut self) -> io::Result<()> {
        (&self.inner).flush()
    }
}

impl Seek for &File {
    /// On the pool too: on FUSE and network file systems `SEEK_END` asks
    /// the server for the file's size.
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let mut file = &self.inner;
        unblock(|| file.seek(pos))
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&*self).read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        (&*self).read_to_string(buf)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        (&*self).read_exact(buf)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (&*self).write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

/// Positioned I/O (`pread` / `pwrite`) that leaves the cursor alone, as
/// std's `FileExt` for `std::fs::File`: several green threads can read one
/// shared `File` at their own offsets.
impl FileExt for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let file = &self.inner;
        unblock(|| file.read_at(buf, offset))
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let file = &self.inner;
        unblock(|| file.write_at(buf, offset))
    }

    /// One hand-off, however many reads it takes.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let file = &self.inner;
        unblock(|| file.read_exact_at(buf, offset))
    }

    /// One hand-off, however many writes it takes.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let file = &self.inner;
        unblock(|| file.write_all_at(buf, offset))
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl FromRawFd for File {
    /// As [`std::fs::File::from_raw_fd`]: `fd` must be an open file
    /// descriptor that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> File {
        // SAFETY: the caller upholds from_raw_fd's contract (an open fd
        // owned by nobody else), which is exactly std's.
        File { inner: unsafe { std::fs::File::from_raw_fd(fd) } }
    }
}

impl IntoRawFd for File {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_raw_fd()
    }
}

impl From<std::fs::File> for File {
    fn from(inner: std::fs::File) -> File {
        File { inner }
    }
}

impl From<File> for std::fs::File {
    fn from(file: File) -> std::fs::File {
        file.inner
    }
}

impl From<OwnedFd> for File {
    fn from(fd: OwnedFd) -> File {
        File { inner: std::fs::File::from(fd) }
    }
}

impl From<File> for OwnedFd {
    fn from(file: File) -> OwnedFd {
        file.inner.into()
    }
}

/// Options for opening a file; the builder of [`std::fs::OpenOptions`],
/// with `open` run on the blocking pool. Unix permission bits and extra
/// `open` flags come from [`std::os::unix::fs::OpenOptionsExt`], as for
/// std's builder.
///
/// ```
/// use std::os::unix::fs::OpenOptionsExt;
///
/// let path = std::env::temp_dir().join(format!("weft-doc-open-options-{}", std::process::id()));
/// let file = weft::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).unwrap();
/// drop(file);
/// weft::fs::remove_file(&path).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    inner: std::fs::OpenOptions,
}

impl OpenOptions {
    /// All options off, as [`std::fs::OpenOptions::new`].
    #[allow(clippy::new_without_default)] // as std's, which has no Default
    pub fn new() -> OpenOptions {
        OpenOptions { inner: std::fs::OpenOptions::new() }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.inner.read(read);
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.inner.write(write);
        self
    }

    /// Writes go to the end of the file.
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.inner.append(append);
        self
    }

    /// Truncate an existing file to length 0.
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.inner.truncate(truncate);
        self
    }

    /// Create the file if it does not exist.
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.inner.create(create);
        self
    }

    /// Create the file, failing if it exists (`O_EXCL`).
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.inner.create_new(create_new);
        self
    }

    /// Opens `path` with these options, as [`std::fs::OpenOptions::open`].
    pub fn open<P: AsRef<Path>>(&self, path: P) -> io::Result<File> {
        let (options, path) = (&self.inner, path.as_ref());
        unblock(|| options.open(path)).map(File::from)
    }
}

impl OpenOptionsExt for OpenOptions {
    /// Permission bits of a created file (before the umask); default 0o666.
    fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.inner.mode(mode);
        self
    }

    /// Extra `open(2)` flags, as std's `custom_flags`.
    fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        self.inner.custom_flags(flags);
        self
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn fs_types_are_send_and_sync_like_std() {
        assert_send_sync::<File>();
        assert_send_sync::<OpenOptions>();
        assert_send_sync::<ReadDir>();
    }

    #[test]
    fn fs_outside_green_threads_runs_inline_with_std_errors() {
        let missing = std::env::temp_dir().join(format!("weft-fs-unit-missing-{}", std::process::id()));
        assert_eq!(read(&missing).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(File::open(&missing).unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
