//! `weft::fs`: std::fs's calls and errors, run on the blocking pool from
//! green threads.

mod support;

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use support::{run_green, runtime, with_each_runtime, TempDir};
use weft::fs::{self, File, OpenOptions};

#[test]
fn fs_write_then_read_back_bytes_and_string() {
    let dir = TempDir::new("fs-write-read");
    with_each_runtime("fs-write-read", |rt| {
        let path = dir.join("hello.txt");
        let (bytes, text) = run_green(rt, move || {
            fs::write(&path, "hello, green world\n").unwrap();
            (fs::read(&path).unwrap(), fs::read_to_string(&path).unwrap())
        });
        assert_eq!(bytes, b"hello, green world\n");
        assert_eq!(text, "hello, green world\n");
    });
}

#[test]
fn fs_file_write_seek_read_round_trip() {
    let dir = TempDir::new("fs-file-round-trip");
    with_each_runtime("fs-file", |rt| {
        let path = dir.join("data.bin");
        run_green(rt, move || {
            let mut file = File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
            file.write_all(b"0123456789").unwrap();
            assert_eq!(file.write(b"abc").unwrap(), 3);
            file.flush().unwrap();
            assert_eq!(file.stream_position().unwrap(), 13);
            assert_eq!(file.metadata().unwrap().len(), 13);

            file.seek(SeekFrom::Start(0)).unwrap();
            let mut all = Vec::new();
            assert_eq!(file.read_to_end(&mut all).unwrap(), 13);
            assert_eq!(all, b"0123456789abc");

            assert_eq!(file.seek(SeekFrom::End(-3)).unwrap(), 10);
            let mut three = [0u8; 3];
            file.read_exact(&mut three).unwrap();
            assert_eq!(&three, b"abc");
            let mut rest = [0u8; 8];
            assert_eq!(file.read(&mut rest).unwrap(), 0, "end of file");

            // `&File` reads and writes too; clones share the cursor.
            let clone = file.try_clone().unwrap();
            (&clone).seek(SeekFrom::Start(2)).unwrap();
            let mut two = [0u8; 2];
            (&file).read_exact(&mut two).unwrap();
            assert_eq!(&two, b"23");

            // Positioned I/O leaves the cursor alone.
            file.write_all_at(b"XY", 0).unwrap();
            let mut at = [0u8; 4];
            file.read_exact_at(&mut at, 0).unwrap();
            assert_eq!(&at, b"XY23");
            assert_eq!(file.stream_position().unwrap(), 4);

            file.set_len(4).unwrap();
            file.sync_all().unwrap();
            file.sync_data().unwrap();
            let mut text = String::new();
            File::open(&path).unwrap().read_to_string(&mut text).unwrap();
            assert_eq!(text, "XY23");
        });
    });
}

#[test]
fn fs_read_dir_lists_created_files() {
    let dir = TempDir::new("fs-read-dir");
    let root = dir.path().to_path_buf();
    let rt = runtime(2, "fs-read-dir");
    let names = run_green(&rt, move || {
        for name in ["a.txt", "b.txt", "c.txt"] {
            fs::write(root.join(name), name).unwrap();
        }
        fs::create_dir(root.join("sub")).unwrap();
        let entries = fs::read_dir(&root).unwrap();
        assert_eq!(entries.len(), 4);
        let mut names: Vec<(String, bool)> = entries
            .map(|entry| {
                let entry = entry.unwrap();
                (entry.file_name().into_string().unwrap(), entry.file_type().unwrap().is_dir())
            })
            .collect();
        names.sort();
        names
    });
    let expected = [("a.txt", false), ("b.txt", false), ("c.txt", false), ("sub", true)];
    assert_eq!(names, expected.map(|(n, d)| (n.to_owned(), d)));
}

#[test]
fn fs_metadata_reports_len_and_kind() {
    let dir = TempDir::new("fs-metadata");
    let (file, link) = (dir.join("f"), dir.join("link"));
    let rt = runtime(1, "fs-metadata");
    run_green(&rt, move || {
        fs::write(&file, vec![7u8; 1234]).unwrap();
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let meta = fs::metadata(&link).unwrap();
        assert_eq!(meta.len(), 1234);
        assert!(meta.is_file());
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::canonicalize(&link).unwrap(), std::fs::canonicalize(&file).unwrap());
    });
}

#[test]
fn fs_errors_are_stds() {
    let dir = TempDir::new("fs-errors");
    let (missing, existing) = (dir.join("missing"), dir.join("existing"));
    std::fs::write(&existing, b"x").unwrap();
    with_each_runtime("fs-errors", |rt| {
        let (missing, existing) = (missing.clone(), existing.clone());
        run_green(rt, move || {
            let not_found = |e: io::Error| {
                let std_error = std::fs::read(&missing).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::NotFound);
                assert_eq!(e.raw_os_error(), std_error.raw_os_error());
            };
            not_found(fs::read(&missing).unwrap_err());
            not_found(fs::read_to_string(&missing).unwrap_err());
            not_found(File::open(&missing).unwrap_err());
            not_found(fs::metadata(&missing).unwrap_err());
            not_found(fs::remove_file(&missing).unwrap_err());
            not_found(fs::read_dir(&missing).unwrap_err());
            let exists = File::create_new(&existing).unwrap_err();
            assert_eq!(exists.kind(), io::ErrorKind::AlreadyExists);
            assert_eq!(fs::create_dir(&existing).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        });
    });
}

#[test]
fn fs_directories_rename_copy_and_remove() {
    let dir = TempDir::new("fs-tree");
    let root = dir.path().to_path_buf();
    let rt = runtime(2, "fs-tree");
    run_green(&rt, move || {
        let nested = root.join("a/b/c");
        fs::create_dir_all(&nested).unwrap();
        fs::write(nested.join("one"), b"12345").unwrap();
        fs::rename(nested.join("one"), nested.join("two")).unwrap();
        assert_eq!(fs::copy(nested.join("two"), root.join("three")).unwrap(), 5);
        assert_eq!(fs::read(root.join("three")).unwrap(), b"12345");
        fs::remove_file(root.join("three")).unwrap();
        fs::create_dir(root.join("empty")).unwrap();
        fs::remove_dir(root.join("empty")).unwrap();
        fs::remove_dir_all(root.join("a")).unwrap();
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
    });
}

#[test]
fn fs_open_options_append_mode_and_permissions() {
    let dir = TempDir::new("fs-options");
    let path = dir.join("log");
    let rt = runtime(1, "fs-options");
    run_green(&rt, move || {
        let mut options = OpenOptions::new();
        options.append(true).create(true).mode(0o600);
        options.open(&path).unwrap().write_all(b"one\n").unwrap();
        options.open(&path).unwrap().write_all(b"two\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        let file = File::open(&path).unwrap();
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        file.set_permissions(std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    });
}

#[test]
fn fs_file_conversions_keep_the_descriptor() {
    let dir = TempDir::new("fs-conversions");
    let path = dir.join("f");
    std::fs::write(&path, b"kept").unwrap();
    let file = File::open(&path).unwrap();
    let fd = file.as_raw_fd();
    let std_file: std::fs::File = file.into();
    assert_eq!(std_file.as_raw_fd(), fd);
    let file = File::from(std_file);
    let owned: OwnedFd = file.into();
    let file = File::from(owned);
    let raw = file.into_raw_fd();
    assert_eq!(raw, fd);
    // SAFETY: `raw` came from `into_raw_fd` just above; nothing else owns it.
    let mut file = unsafe { File::from_raw_fd(raw) };
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    assert_eq!(text, "kept");
    assert_eq!(file.into_std().as_raw_fd(), fd);
}

/// A `weft::fs::File` read that blocks until another green thread on the
/// same single worker writes: the reader's worker must stay free. A socket
/// stands in for a slow disk (a read that waits until something else
/// happens); the call path is the same as for a regular file.
#[test]
fn fs_blocked_read_parks_only_its_green_thread() {
    let rt = runtime(1, "fs-progress");
    let (reader_end, writer_end) = std::os::unix::net::UnixStream::pair().unwrap();
    // Breaks the deadlock of a broken runtime with a different message,
    // so the failure is an assertion, not a hang.
    let mut breaker_end = writer_end.try_clone().unwrap();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let breaker = std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(10)).is_err() {
            breaker_end.write_all(b"late").unwrap();
        }
    });
    let got = run_green(&rt, move || {
        let mut file = File::from(OwnedFd::from(reader_end));
        // Queued on this worker; it runs only while the read is parked.
        let writer = weft::spawn(move || (&writer_end).write_all(b"ping").unwrap());
        let mut buf = [0u8; 4];
        file.read_exact(&mut buf).unwrap();
        writer.join().unwrap();
        buf
    });
    let _ = done_tx.send(());
    breaker.join().unwrap();
    assert_eq!(&got, b"ping", "the writer ran while the reader waited in weft::fs");
}

#[test]
fn fs_works_from_os_threads() {
    let dir = TempDir::new("fs-os-thread");
    let path: &Path = &dir.join("f");
    fs::write(path, b"main").unwrap();
    assert_eq!(fs::read(path).unwrap(), b"main");
}
