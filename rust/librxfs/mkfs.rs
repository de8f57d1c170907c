// SPDX-License-Identifier: GPL-2.0

//! Writing a new, empty filesystem: what mkfs.rxfs does, kept here so the
//! tests build filesystems exactly as mkfs does.

use super::alloc::Alloc;
use super::error::Error;
use super::format::Superblock;
use super::inode::{self, mode, Inode, Ts};
use super::meta::Store;

/// Writes the superblock, free-space summary and bitmaps, the root
/// directory (owned by root, mode 0755, times `now`) and, with reflink, the
/// refcount inode (its tree empty).
pub fn format<S: Store>(s: &S, sb: &Superblock, now: Ts) -> Result<Alloc, Error> {
    let mut a = Alloc::format(sb.geometry(), s)?;
    a.mark_used(s, sb.root_ino, 1)?;
    if sb.has_reflink() {
        a.mark_used(s, sb.refcount_ino, 1)?;
        let mut b = s.read(sb.refcount_ino)?;
        inode::init_block(&mut b, sb.refcount_ino, s.fsid());
        refcount_inode(now).encode(&mut b);
        s.dirty(&mut b);
    }
    {
        let mut b = s.read(sb.root_ino)?;
        inode::init_block(&mut b, sb.root_ino, s.fsid());
        let root = Inode {
            mode: mode::S_IFDIR | 0o755,
            nlink: 2,
            generation: 0,
            atime: now,
            mtime: now,
            ctime: now,
            btime: now,
            parent: sb.root_ino,
            ..Default::default()
        };
        root.encode(&mut b);
        s.dirty(&mut b);
    }
    if let Some(g) = sb.log_geometry() {
        a.mark_used(s, sb.log_start, sb.log_blocks)?;
        let mut b = s.read(sb.log_start)?;
        super::journal::encode_header(&g, &mut b, super::journal::Header { seq: 1, pos: 1 });
        s.dirty(&mut b);
    }
    if a.free != sb.free_blocks {
        return Err(Error::BadField { field: "free_blocks", value: sb.free_blocks });
    }
    let mut b = s.read(0)?;
    b.fill(0);
    sb.encode(&mut b)?;
    s.dirty(&mut b);
    Ok(a)
}

/// The refcount inode as mkfs makes it: a regular file, in no directory,
/// whose fork is the refcount tree's root (fsck knows it from the
/// superblock).
pub fn refcount_inode(now: Ts) -> Inode {
    Inode { mode: mode::S_IFREG, nlink: 1, atime: now, mtime: now, ctime: now, btime: now, ..Default::default() }
}

/// Gives a new superblock a journal of `blocks` blocks (after reflink, if
/// any: the region starts after the root directory's and the refcount
/// inode's blocks).
pub fn with_log(mut sb: Superblock, blocks: u64) -> Result<Superblock, Error> {
    if !(super::journal::MIN_BLOCKS..=super::journal::MAX_BLOCKS).contains(&blocks) {
        return Err(Error::BadField { field: "log size", value: blocks });
    }
    // Room for the log and still some for files.
    if sb.free_blocks < blocks.saturating_add(16) {
        return Err(Error::NoSpace);
    }
    sb.incompat |= super::format::features::INCOMPAT_LOG;
    sb.log_start = sb.root_ino + 1 + u64::from(sb.has_reflink());
    sb.log_blocks = blocks;
    sb.free_blocks -= blocks;
    Ok(sb)
}

/// Extended attributes (an on-disk feature: no blocks are set aside).
pub fn with_xattr(mut sb: Superblock) -> Superblock {
    sb.incompat |= super::format::features::INCOMPAT_XATTR;
    sb
}

/// POSIX ACLs (an on-disk feature, on top of [`with_xattr`]).
pub fn with_acl(mut sb: Superblock) -> Superblock {
    sb.incompat |= super::format::features::INCOMPAT_XATTR | super::format::features::INCOMPAT_ACL;
    sb
}

/// Turns reflink on in a new superblock: the refcount inode is the block
/// after the root directory's.
pub fn with_reflink(mut sb: Superblock) -> Result<Superblock, Error> {
    if sb.has_log() {
        // The log's region starts where the refcount inode would go.
        return Err(Error::BadField { field: "reflink after log", value: sb.log_start });
    }
    if sb.free_blocks < 2 {
        return Err(Error::NoSpace);
    }
    sb.ro_compat |= super::format::features::RO_COMPAT_REFLINK;
    sb.refcount_ino = sb.root_ino + 1;
    sb.free_blocks -= 1;
    sb.inode_count += 1;
    Ok(sb)
}
