// SPDX-License-Identifier: GPL-2.0

//! mkfs.rxfs: make an rxfs filesystem. The binary is `src/main.rs`.
//!
//! ```text
//! mkfs.rxfs [-b SIZE] [-L LABEL] [-m reflink=0|1,xattr=0|1,acl=0|1] [-l size=SIZE] [-K] [-f] [-q] DEVICE|FILE [BLOCKS]
//! ```
//!
//! Reflink (the refcount tree) is on by default, as mkfs.xfs does;
//! `-m reflink=0` makes a filesystem without it. Extended attributes are
//! on by default; `-m xattr=0` makes a filesystem without them, which
//! older modules (before the feature) can still mount. POSIX ACLs (kept
//! with the xattrs) are on by default with them; `-m acl=0` makes a
//! filesystem without them, which modules from before ACLs still mount. The metadata journal is
//! on by default, sized with the filesystem (1/64, 1 MiB to 64 MiB);
//! `-l size=SIZE` sets its size, `-l size=0` makes a filesystem without one
//! (metadata then consistent only at sync points, as format v1 was).
//!
//! A block device is discarded first (`-K`: not), as mkfs.xfs does; the
//! journal region is zeroed.
//!
//! Never reads standard input (fstests pipes `yes` into mkfs), never asks:
//! an existing filesystem signature is refused unless `-f` is given.

use librxfs::format::{self, Superblock};
use librxfs::inode::Ts;
use librxfs::meta::{mem::MemStore, Store};
use librxfs::mkfs;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileTypeExt;

pub mod signature;

pub const USAGE: &str = "usage: mkfs.rxfs [-b SIZE] [-L LABEL] [-m reflink=0|1,xattr=0|1,acl=0|1] [-l size=SIZE] [-K] [-f] [-q] DEVICE|FILE [BLOCKS]";

pub struct Opts {
    block_size: u32,
    label: Option<String>,
    force: bool,
    quiet: bool,
    /// `-K`: do not discard the device first.
    nodiscard: bool,
    reflink: bool,
    xattr: bool,
    /// POSIX ACLs; unset: with the xattrs.
    acl: Option<bool>,
    /// Journal size in bytes; `None`: the default; `Some(0)`: none.
    log_bytes: Option<u64>,
    target: String,
    blocks: Option<u64>,
}

fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

pub fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        block_size: format::DEFAULT_BLOCK_SIZE,
        label: None,
        force: false,
        quiet: false,
        nodiscard: false,
        reflink: true,
        xattr: true,
        acl: None,
        log_bytes: None,
        target: String::new(),
        blocks: None,
    };
    let mut pos = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-f" => o.force = true,
            "-q" => o.quiet = true,
            "-K" => o.nodiscard = true,
            "-b" => {
                let v = it.next().ok_or("-b needs a block size")?;
                let v = v.strip_prefix("size=").unwrap_or(v);
                let bs = parse_size(v)
                    .and_then(|b| u32::try_from(b).ok())
                    .ok_or_else(|| format!("invalid block size '{v}'"))?;
                format::block_log_of(bs)
                    .map_err(|_| format!("invalid block size {bs}: must be 1024, 2048 or 4096"))?;
                o.block_size = bs;
            }
            "-L" => {
                let v = it.next().ok_or("-L needs a label")?;
                if v.len() >= format::LABEL_LEN {
                    return Err(format!("label '{v}' is longer than {} bytes", format::LABEL_LEN - 1));
                }
                o.label = Some(v.clone());
            }
            "-m" => {
                let v = it.next().ok_or("-m needs an option")?;
                for opt in v.split(',') {
                    match opt {
                        "reflink=1" | "reflink" => o.reflink = true,
                        "reflink=0" => o.reflink = false,
                        "xattr=1" | "xattr" => o.xattr = true,
                        "xattr=0" => o.xattr = false,
                        "acl=1" | "acl" => o.acl = Some(true),
                        "acl=0" => o.acl = Some(false),
                        _ => return Err(format!("unknown -m option '{opt}'")),
                    }
                }
            }
            "-l" => {
                let v = it.next().ok_or("-l needs an option")?;
                for opt in v.split(',') {
                    match opt.split_once('=') {
                        Some(("size", n)) => {
                            o.log_bytes = Some(parse_size(n).ok_or_else(|| format!("invalid log size '{n}'"))?);
                        }
                        Some(("internal", "1")) => {}
                        _ => return Err(format!("unknown -l option '{opt}'")),
                    }
                }
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option '{s}'")),
            _ => pos.push(a.clone()),
        }
    }
    match pos.len() {
        1 | 2 => {}
        0 => return Err("no device given".into()),
        _ => return Err("too many arguments".into()),
    }
    o.target = pos[0].clone();
    if let Some(b) = pos.get(1) {
        let n = b
            .parse::<u64>()
            .map_err(|_| format!("invalid block count '{b}'"))?;
        o.blocks = Some(n);
    }
    Ok(o)
}

fn random_uuid() -> [u8; 16] {
    let mut u = [0u8; 16];
    if File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut u)).is_err() {
        // Fall back to time and pid: unique enough for a test image.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        u.copy_from_slice(&(t ^ ((std::process::id() as u128) << 64)).to_le_bytes());
    }
    u[6] = (u[6] & 0x0f) | 0x40; // version 4
    u[8] = (u[8] & 0x3f) | 0x80; // RFC 4122 variant
    u
}

fn fmt_uuid(u: &[u8; 16]) -> String {
    let h: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..].concat()
    )
}

pub fn run(o: &Opts) -> Result<(), String> {
    let t = &o.target;
    let meta = std::fs::metadata(t).map_err(|e| format!("cannot open {t}: {e}"))?;
    let is_blockdev = meta.file_type().is_block_device();
    if !is_blockdev && !meta.is_file() {
        return Err(format!("{t} is not a block device or a regular file"));
    }
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(t)
        .map_err(|e| format!("cannot open {t} for writing: {e}"))?;
    let dev_bytes = f
        .seek(SeekFrom::End(0))
        .map_err(|e| format!("cannot size {t}: {e}"))?;

    let bs = o.block_size as u64;
    let dev_blocks = dev_bytes / bs;
    let blocks = match o.blocks {
        Some(n) if n > dev_blocks => {
            return Err(format!(
                "{t} has {dev_blocks} blocks of {bs} bytes; cannot make a filesystem of {n} blocks"
            ))
        }
        Some(n) => n,
        None => dev_blocks,
    };
    let min = format::MIN_FS_BYTES / bs;
    if blocks < min {
        return Err(format!(
            "{t} is too small: {blocks} blocks of {bs} bytes, rxfs needs at least {min} ({} KiB)",
            format::MIN_FS_BYTES >> 10
        ));
    }

    if !o.force {
        let mut head = vec![0u8; signature::PROBE_BYTES];
        f.seek(SeekFrom::Start(0)).map_err(|e| format!("{t}: {e}"))?;
        let n = read_full(&mut f, &mut head).map_err(|e| format!("cannot read {t}: {e}"))?;
        head.truncate(n);
        if let Some(kind) = signature::probe(&head) {
            return Err(format!(
                "{t} contains an existing {kind} filesystem; use -f to overwrite it"
            ));
        }
    }

    let mut sb = Superblock::new(o.block_size, blocks, random_uuid())
        .map_err(|e| format!("cannot make a filesystem of {blocks} blocks: {e}"))?;
    if let Some(l) = &o.label {
        sb.label[..l.len()].copy_from_slice(l.as_bytes());
    }
    // ACLs live in xattr blocks: on with them unless asked otherwise.
    let acl = o.acl.unwrap_or(o.xattr);
    if acl && !o.xattr {
        return Err("-m acl=1 needs xattr=1 (ACLs are kept with the extended attributes)".into());
    }
    if o.xattr {
        sb = mkfs::with_xattr(sb);
    }
    if acl {
        sb = mkfs::with_acl(sb);
    }
    if o.reflink {
        sb = mkfs::with_reflink(sb).map_err(|e| format!("cannot make a filesystem of {blocks} blocks: {e}"))?;
    }
    let log_blocks = match o.log_bytes {
        None => librxfs::journal::default_blocks(o.block_size, blocks),
        Some(n) => n.div_ceil(bs),
    };
    if log_blocks != 0 {
        let (min, max) = (librxfs::journal::MIN_BLOCKS, librxfs::journal::MAX_BLOCKS);
        if !(min..=max).contains(&log_blocks) {
            return Err(format!("log size must be {} to {} KiB with {bs}-byte blocks", min * bs >> 10, max * bs >> 10));
        }
        sb = mkfs::with_log(sb, log_blocks)
            .map_err(|e| format!("cannot make a filesystem of {blocks} blocks with a {log_blocks}-block log: {e}"))?;
    }

    // Zero the start of the device (old signatures at 64 KiB, btrfs, or
    // 32 KiB, iso9660), then write the fixed metadata and the root directory.
    let wipe = (signature::PROBE_BYTES as u64).min(blocks * bs);
    // Discard the whole filesystem first, as mkfs.xfs and mke2fs do (unless
    // -K): tools that replay a recorded device (dm-log-writes) rely on the
    // recorded mkfs resetting it. A device that cannot discard is fine.
    if is_blockdev && !o.nodiscard {
        let _ = discard(&f, blocks * bs);
    }
    let log = (sb.log_start * bs, sb.log_blocks * bs);
    let io = |f: &mut File| -> std::io::Result<()> {
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&vec![0u8; wipe as usize])?;
        // The journal region zeroed (as mkfs.xfs clears its log): nothing
        // left there can pass for a transaction of this filesystem. A
        // block device zeroes it itself; a file, or a device that cannot,
        // gets written zeroes.
        let chunk = vec![0u8; 1 << 20];
        let mut done = if is_blockdev && zeroout(f, log.0, log.1).is_ok() { log.1 } else { 0 };
        while done < log.1 {
            let n = (log.1 - done).min(chunk.len() as u64);
            f.seek(SeekFrom::Start(log.0 + done))?;
            f.write_all(&chunk[..n as usize])?;
            done += n;
        }
        f.sync_all()
    };
    io(&mut f).map_err(|e| format!("cannot write {t}: {e}"))?;
    let store = MemStore::new(bs as usize, blocks, sb.fsid());
    for b in 0..=sb.root_ino.max(sb.refcount_ino).max(sb.log_start) {
        // Fresh blocks: nothing to read from the device.
        drop(store.read(b).map_err(|e| format!("internal error: {e}"))?);
    }
    let store = store.with_file(f);
    mkfs::format(&store, &sb, now()).map_err(|e| format!("internal error: {e}"))?;
    store.flush().map_err(|e| format!("cannot write {t}: {e}"))?;

    if !o.quiet {
        println!(
            "rxfs: {t}: format version {}, uuid {}",
            format::FORMAT_VERSION,
            fmt_uuid(&sb.uuid)
        );
        println!(
            "     block size {bs}, {blocks} blocks ({:.2} MiB), {} metadata, {} free, reflink={}, xattr={}, acl={}, log={} blocks",
            (blocks * bs) as f64 / (1u64 << 20) as f64,
            sb.meta_blocks,
            sb.free_blocks,
            o.reflink as u8,
            o.xattr as u8,
            sb.has_acl() as u8,
            sb.log_blocks
        );
    }
    Ok(())
}

/// `BLKDISCARD` of device bytes `0..len`.
fn discard(f: &File, len: u64) -> std::io::Result<()> {
    /// `_IO(0x12, 119)`.
    const BLKDISCARD: u64 = 0x1277;
    range_ioctl(f, BLKDISCARD, 0, len)
}

/// `BLKZEROOUT` of device bytes `start..start + len`: the device zeroes
/// them (write-zeroes, or the kernel writes zeroes) without the bytes
/// crossing from user space.
fn zeroout(f: &File, start: u64, len: u64) -> std::io::Result<()> {
    /// `_IO(0x12, 127)`.
    const BLKZEROOUT: u64 = 0x127f;
    range_ioctl(f, BLKZEROOUT, start, len)
}

fn range_ioctl(f: &File, req: u64, start: u64, len: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    extern "C" {
        fn ioctl(fd: i32, req: u64, ...) -> i32;
    }
    let range: [u64; 2] = [start, len];
    // SAFETY: BLKDISCARD and BLKZEROOUT read two u64s (start, length) from
    // the pointer, which points at `range` for the call.
    let r = unsafe { ioctl(f.as_raw_fd(), req, range.as_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn now() -> Ts {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ts { sec: d.as_secs() as i64, nsec: d.subsec_nanos() }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_options() {
        let o = parse_args(&args("-b 1024 -f -q dev 2048")).unwrap();
        assert_eq!((o.block_size, o.force, o.quiet), (1024, true, true));
        assert_eq!((o.target.as_str(), o.blocks), ("dev", Some(2048)));
        assert_eq!(parse_args(&args("-b 2k dev")).unwrap().block_size, 2048);
        assert_eq!(parse_args(&args("-b size=4096 dev")).unwrap().block_size, 4096);
        assert!(parse_args(&args("dev")).unwrap().reflink);
        assert!(!parse_args(&args("-m reflink=0 dev")).unwrap().reflink);
        assert!(parse_args(&args("-m reflink=1 dev")).unwrap().reflink);
        assert_eq!(parse_args(&args("-l size=4m dev")).unwrap().log_bytes, Some(4 << 20));
        assert_eq!(parse_args(&args("-l size=0 dev")).unwrap().log_bytes, Some(0));
        assert_eq!(parse_args(&args("dev")).unwrap().log_bytes, None);
    }

    #[test]
    fn rejects_bad_arguments() {
        for a in ["", "-b 512 dev", "-b 3000 dev", "-b", "-x dev", "dev 12x", "a b c", "-m crc=1 dev", "-m", "-l size=x dev", "-l sunit=8 dev", "-l"] {
            assert!(parse_args(&args(a)).is_err(), "accepted '{a}'");
        }
    }
}
