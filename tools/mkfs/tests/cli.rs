// SPDX-License-Identifier: GPL-2.0

//! mkfs.rxfs as a user runs it: exit codes, messages, what lands on disk.

use librxfs::format::{Superblock, SB_SIZE};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const MKFS: &str = env!("CARGO_BIN_EXE_mkfs-rxfs");

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, bytes: u64) -> Scratch {
        let dir = std::env::temp_dir().join(format!("rxfs-mkfs-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let img = dir.join("img");
        let f = fs::File::create(&img).unwrap();
        f.set_len(bytes).unwrap();
        Scratch(img)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn sb(&self) -> Result<Superblock, librxfs::Error> {
        let b = fs::read(&self.0).unwrap();
        Superblock::decode(&b[..SB_SIZE.min(b.len())])
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(self.0.parent().unwrap());
    }
}

fn mkfs(args: &[&str]) -> Output {
    Command::new(MKFS).args(args).stdin(Stdio::null()).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn makes_a_filesystem_of_each_block_size() {
    for bs in ["1024", "2048", "4096"] {
        let s = Scratch::new(&format!("bs{bs}"), 16 << 20);
        let o = mkfs(&["-b", bs, s.path().to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(&format!("block size {bs}")), "geometry not printed: {out}");
        let sb = s.sb().unwrap();
        assert_eq!(sb.block_size().to_string(), bs);
        assert_eq!(sb.block_count, (16 << 20) / sb.block_size() as u64);
    }
}

#[test]
fn block_count_argument_and_quiet() {
    let s = Scratch::new("count", 16 << 20);
    let o = mkfs(&["-q", s.path().to_str().unwrap(), "1000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty() && o.stderr.is_empty());
    assert_eq!(s.sb().unwrap().block_count, 1000);
}

#[test]
fn refuses_existing_signatures_without_force() {
    let s = Scratch::new("sig", 16 << 20);
    let p = s.path().to_str().unwrap();
    assert!(mkfs(&["-q", p]).status.success());
    let uuid = s.sb().unwrap().uuid;
    let o = mkfs(&["-q", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("existing rxfs filesystem"), "{}", stderr(&o));
    assert_eq!(s.sb().unwrap().uuid, uuid, "refused mkfs still wrote");

    // Another filesystem's signature: XFS.
    let mut b = fs::read(p).unwrap();
    b[..SB_SIZE].fill(0);
    b[..4].copy_from_slice(b"XFSB");
    fs::write(p, &b).unwrap();
    let o = mkfs(&[p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("xfs"), "{}", stderr(&o));

    let o = mkfs(&["-f", "-q", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(s.sb().is_ok());
}

#[test]
fn bad_sizes_fail_clearly() {
    let s = Scratch::new("sizes", 16 << 20);
    let p = s.path().to_str().unwrap();
    for (args, msg) in [
        (vec!["-b", "512", p], "invalid block size"),
        (vec!["-b", "8192", p], "invalid block size"),
        (vec!["-b", "banana", p], "invalid block size"),
        (vec![p, "0"], "too small"),
        (vec![p, "xyz"], "invalid block count"),
        (vec![p, "999999999"], "cannot make a filesystem"),
    ] {
        let o = mkfs(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
    }
    assert!(s.sb().is_err(), "a failed mkfs wrote a superblock");
}

#[test]
fn too_small_device() {
    let s = Scratch::new("small", 512 << 10);
    let o = mkfs(&[s.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("too small"), "{}", stderr(&o));
}

#[test]
fn unwritable_targets() {
    let s = Scratch::new("unwritable", 1 << 20);
    let dir = s.path().parent().unwrap().to_str().unwrap().to_string();
    for t in [format!("{dir}/does-not-exist"), dir.clone(), "/proc/version".to_string()] {
        let o = mkfs(&[&t]);
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(!stderr(&o).is_empty());
    }
    let o = mkfs(&[]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn never_reads_standard_input() {
    // fstests pipes `yes` into mkfs: it must neither read nor wait for it.
    let s = Scratch::new("stdin", 16 << 20);
    let p = s.path().to_str().unwrap();
    assert!(mkfs(&["-q", p]).status.success());
    for args in [vec!["-q", p], vec!["-q", "-f", p]] {
        let mut c = Command::new(MKFS)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Keep the pipe open and full of "y": a reader would block or consume it.
        let mut stdin = c.stdin.take().unwrap();
        let _ = stdin.write_all(b"y\ny\ny\n");
        let start = Instant::now();
        loop {
            if c.try_wait().unwrap().is_some() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "mkfs waits on stdin");
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(stdin);
    }
}
