// SPDX-License-Identifier: GPL-2.0

//! rxfs-db: find rxfs metadata on a device, so that tests can damage one
//! chosen structure (as xfs_db does for fstests). Read-only: it never
//! writes. The binary is `src/main.rs`.
//!
//! ```text
//! rxfs-db DEVICE locate sb|summary|bitmap|orphan|refcount|refnode|log
//! rxfs-db DEVICE locate inode|dirnode|extnode|xattr PATH
//! rxfs-db DEVICE ls PATH
//! rxfs-db DEVICE stat PATH
//! rxfs-db DEVICE xattrs PATH
//! rxfs-db DEVICE logprint
//! ```
//!
//! `locate` prints `BLOCK BYTE_OFFSET`: the block number and the byte offset
//! of the block's start on the device. `inode` is the inode block of PATH
//! (relative to the filesystem root, e.g. `/d1/f`); `dirnode` a block node
//! (not the inline root) of directory PATH's tree; `extnode` a block node of
//! file PATH's extent tree; `xattr` PATH's extended attribute block;
//! `orphan` the first inode on the orphan list;
//! `refcount` the refcount inode (reflink) and `refnode` a block node of
//! its tree; `log` the journal's header block (the region follows it).
//! `logprint` prints the journal's header and the chain of whole
//! transactions after it (what mount would replay), as xfs_logprint.
//! `ls` prints one `NAME INO DTYPE` line per entry, in hash order; `stat`
//! the inode's fields; `xattrs` one `NAME LENGTH HEX-VALUE` line per
//! extended attribute (the name with its `user.`, `trusted.` or
//! `security.` prefix), in the block's order. Exit status: 0 found, 1 not
//! found or an error, 2 usage.

use fsck_rxfs::image::{self, Image};
use librxfs::btree::Tree;
use librxfs::dir;
use librxfs::extmap;
use librxfs::inode::{self, mode};
use librxfs::meta::Store;
use librxfs::xattr;
use std::io::Write;

/// Usage text.
pub const USAGE: &str = "usage: rxfs-db DEVICE locate sb|summary|bitmap|orphan|refcount|refnode|log
       rxfs-db DEVICE locate inode|dirnode|extnode|xattr PATH
       rxfs-db DEVICE ls PATH
       rxfs-db DEVICE stat PATH
       rxfs-db DEVICE xattrs PATH
       rxfs-db DEVICE logprint";

/// A parsed command.
#[derive(Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `locate KIND [PATH]`.
    Locate(String, Option<String>),
    /// `ls PATH`.
    Ls(String),
    /// `stat PATH`.
    Stat(String),
    /// `xattrs PATH`.
    Xattrs(String),
    /// `logprint`.
    LogPrint,
}

/// Parses the arguments (without the program name): (device, command).
pub fn parse_args(args: &[String]) -> Result<(String, Cmd), String> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let cmd = match a.as_slice() {
        [_, "locate", k @ ("sb" | "summary" | "bitmap" | "orphan" | "refcount" | "refnode" | "log")] => {
            Cmd::Locate(k.to_string(), None)
        }
        [_, "locate", k @ ("inode" | "dirnode" | "extnode" | "xattr"), p] => {
            Cmd::Locate(k.to_string(), Some(p.to_string()))
        }
        [_, "locate", k, ..] => {
            return Err(format!("cannot locate '{k}' (or wrong arguments for it)"))
        }
        [_, "ls", p] => Cmd::Ls(p.to_string()),
        [_, "stat", p] => Cmd::Stat(p.to_string()),
        [_, "xattrs", p] => Cmd::Xattrs(p.to_string()),
        [_, "logprint"] => Cmd::LogPrint,
        [] | [_] => return Err("no command given".into()),
        [_, c, ..] => return Err(format!("unknown command or arguments for '{c}'")),
    };
    Ok((a[0].to_string(), cmd))
}

/// The inode at `path`, from the root.
pub fn resolve(img: &Image, path: &str) -> Result<u64, String> {
    let s = &img.store;
    let mut ino = img.sb.root_ino;
    for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let i = inode::read(s, ino).map_err(|e| format!("inode {ino}: {e}"))?;
        if i.ftype() != mode::S_IFDIR {
            return Err(format!("{path}: inode {ino} is not a directory"));
        }
        let next = if comp == ".." {
            i.parent
        } else {
            match dir::lookup(s, ino, img.sb.hash_seed, comp.as_bytes()) {
                Ok(Some((_, n, _))) => n,
                Ok(None) => return Err(format!("{path}: '{comp}' not found")),
                Err(e) => return Err(format!("{path}: directory {ino}: {e}")),
            }
        };
        ino = next;
    }
    Ok(ino)
}

/// The first block node (not the inline root) of a tree.
fn first_node(img: &Image, t: Tree) -> Result<Option<u64>, String> {
    let mut first = None;
    t.walk(
        &img.store,
        &mut |b, _| {
            if first.is_none() {
                first = b;
            }
            Ok(())
        },
        &mut |_, _| Ok(()),
    )
    .map_err(|e| e.to_string())?;
    Ok(first)
}

/// The xattr block of the inode at `path`, if it has one.
fn xattr_block(img: &Image, path: &str) -> Result<(u64, u64), String> {
    let ino = resolve(img, path)?;
    let i = inode::read(&img.store, ino).map_err(|e| e.to_string())?;
    match i.xattr {
        0 => Err(format!("{path} has no extended attributes")),
        b => Ok((ino, b)),
    }
}

/// Runs a command; returns the exit status.
pub fn run(dev: &str, cmd: &Cmd, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let img = match image::open(dev, false) {
        Ok(i) => i,
        Err(e) => {
            let _ = writeln!(err, "rxfs-db: {e}");
            return 1;
        }
    };
    match exec(&img, cmd, out) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "rxfs-db: {e}");
            1
        }
    }
}

fn exec(img: &Image, cmd: &Cmd, out: &mut dyn Write) -> Result<(), String> {
    let bs = img.sb.block_size() as u64;
    let geo = img.sb.geometry();
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(|e| e.to_string());
    match cmd {
        Cmd::Locate(kind, path) => {
            let blk = match (kind.as_str(), path) {
                ("sb", _) => 0,
                ("summary", _) => geo.summary_start,
                ("bitmap", _) => geo.bitmap_start,
                ("orphan", _) => match img.sb.orphan_head {
                    0 => return Err("the orphan list is empty".into()),
                    h => h,
                },
                ("refcount" | "refnode", _) if !img.sb.has_reflink() => {
                    return Err("the filesystem has no refcount tree (made with -m reflink=0)".into())
                }
                ("refcount", _) => img.sb.refcount_ino,
                ("log", _) if !img.sb.has_log() => return Err("the filesystem has no journal (made with -l size=0)".into()),
                ("log", _) => img.sb.log_start,
                ("refnode", _) => first_node(img, librxfs::refcount::tree(img.sb.refcount_ino))?
                    .ok_or("the refcount tree has no block node")?,
                ("inode", Some(p)) => resolve(img, p)?,
                ("xattr", Some(p)) => xattr_block(img, p)?.1,
                ("dirnode", Some(p)) => {
                    let ino = resolve(img, p)?;
                    let i = inode::read(&img.store, ino).map_err(|e| e.to_string())?;
                    if i.ftype() != mode::S_IFDIR {
                        return Err(format!("{p} is not a directory"));
                    }
                    first_node(img, dir::tree(ino))?
                        .ok_or(format!("{p}: the directory tree has no block node"))?
                }
                ("extnode", Some(p)) => {
                    let ino = resolve(img, p)?;
                    let i = inode::read(&img.store, ino).map_err(|e| e.to_string())?;
                    if i.ftype() != mode::S_IFREG {
                        return Err(format!("{p} is not a regular file"));
                    }
                    first_node(img, extmap::tree(ino))?
                        .ok_or(format!("{p}: the extent tree has no block node"))?
                }
                _ => return Err(format!("cannot locate '{kind}'")),
            };
            w(out, format!("{blk} {}", blk * bs))
        }
        Cmd::LogPrint => {
            let g = img.sb.log_geometry().ok_or("the filesystem has no journal (made with -l size=0)")?;
            w(out, format!("log: blocks {}..{} ({} blocks)", g.start, g.start + g.blocks, g.blocks))?;
            if let Some(l) = &img.log {
                w(out, format!("open: {}", l.msg))?;
            }
            let (mut a, mut b) = (vec![0u8; g.block_size], vec![0u8; g.block_size]);
            let f = librxfs::journal::scan_store(&img.store, &g, &mut a, &mut b).map_err(|e| e.to_string())?;
            w(out, format!("header: seq {} pos {}", f.header.seq, f.header.pos))?;
            w(out, format!("chain: {} whole transaction(s)", f.txns))?;
            if let Some(t) = f.last {
                w(out, format!("last: seq {} pos {} len {} blocks {}", t.seq, t.pos, t.len, t.nblocks))?;
            }
            w(out, format!("next: seq {} pos {}", f.next.seq, f.next.pos))?;
            w(out, (if f.dirty() { "dirty" } else { "clean" }).to_string())
        }
        Cmd::Ls(p) => {
            let ino = resolve(img, p)?;
            let mut lines = Vec::new();
            let mut bad = None;
            dir::tree(ino)
                .walk(&img.store, &mut |_, _| Ok(()), &mut |_, v| {
                    match dir::decode(v, ino, img.sb.block_count) {
                        Ok(e) => lines.push(format!(
                            "{} {} {}",
                            String::from_utf8_lossy(e.name),
                            e.ino,
                            e.dtype
                        )),
                        Err(e) => bad = Some(e),
                    }
                    Ok(())
                })
                .map_err(|e| format!("{p}: {e}"))?;
            for l in lines {
                w(out, l)?;
            }
            match bad {
                Some(e) => Err(format!("{p}: {e}")),
                None => Ok(()),
            }
        }
        Cmd::Stat(p) => {
            let ino = resolve(img, p)?;
            let i = inode::read(&img.store, ino).map_err(|e| e.to_string())?;
            w(out, format!("ino {ino}"))?;
            w(out, format!("mode 0{:o}", i.mode))?;
            w(out, format!("nlink {}", i.nlink))?;
            w(out, format!("uid {} gid {}", i.uid, i.gid))?;
            w(out, format!("size {}", i.size))?;
            w(out, format!("nblocks {}", i.nblocks))?;
            w(out, format!("parent {}", i.parent))?;
            w(out, format!("next_orphan {}", i.next_orphan))?;
            w(out, format!("xattr {}", i.xattr))?;
            w(out, format!("generation {}", i.generation))?;
            w(out, format!("flags 0x{:x}", i.flags))
        }
        Cmd::Xattrs(p) => {
            let (ino, blk) = xattr_block(img, p)?;
            let buf = img.store.read(blk).map_err(|e| format!("{p}: xattr block {blk}: {e}"))?;
            xattr::verify(&buf, blk, ino, img.sb.fsid()).map_err(|e| format!("{p}: {e}"))?;
            for e in xattr::entries(&buf) {
                let hex: String = e.value.iter().map(|b| format!("{b:02x}")).collect();
                let name = [xattr::prefix(e.ns), e.name].concat();
                let line = format!("{} {} {hex}", String::from_utf8_lossy(&name), e.value.len());
                w(out, line.trim_end().to_string())?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_commands() {
        assert_eq!(
            parse_args(&args("d locate sb")).unwrap(),
            ("d".into(), Cmd::Locate("sb".into(), None))
        );
        assert_eq!(
            parse_args(&args("d locate refnode")).unwrap().1,
            Cmd::Locate("refnode".into(), None)
        );
        assert_eq!(
            parse_args(&args("d locate inode /a/b")).unwrap().1,
            Cmd::Locate("inode".into(), Some("/a/b".into()))
        );
        assert_eq!(parse_args(&args("d ls /")).unwrap().1, Cmd::Ls("/".into()));
        assert_eq!(
            parse_args(&args("d locate xattr /f")).unwrap().1,
            Cmd::Locate("xattr".into(), Some("/f".into()))
        );
        assert_eq!(parse_args(&args("d xattrs /f")).unwrap().1, Cmd::Xattrs("/f".into()));
        for bad in [
            "",
            "d",
            "d locate",
            "d locate inode",
            "d locate sb x",
            "d locate foo",
            "d frob",
            "d ls",
            "d locate xattr",
            "d xattrs",
        ] {
            assert!(parse_args(&args(bad)).is_err(), "accepted '{bad}'");
        }
    }
}
