// SPDX-License-Identifier: GPL-2.0

//! Reflink: `FICLONE`, `FICLONERANGE` and `FIDEDUPERANGE` through
//! `remap_file_range`, as `fs/xfs/xfs_reflink.c`'s
//! `xfs_reflink_remap_prep` and `xfs_reflink_remap_blocks`.
//!
//! Both files' i_rwsem and invalidate_lock are held (in the VFS's address
//! order, [`RemapLocks`]) and in-flight O_DIRECT drained; the VFS's
//! `generic_remap_file_range_prep` checks alignment, EOF and overlap
//! rules, compares for dedupe, and flushes both ranges. The destination is
//! then zeroed from its EOF up to the range (no stale bytes come into
//! view), its page cache over the range flushed and dropped, and the
//! range remapped ([`data::remap`]) in pieces of a few extents, each one
//! atomic metadata change (so each fits in a journal transaction): both
//! files get the reflink flag, the destination's old blocks lose a
//! mapping, the source's gain one. Nothing is copied: writes to shared
//! blocks later go through the CoW fork ([`crate::data`]). Refused with
//! `EOPNOTSUPP` on a filesystem made with `-m reflink=0`.

use crate::data;
use crate::iomap::{round_up, zero_eof};
use crate::vfs::file::File;
use crate::vfs::inode::RemapLocks;
use kernel::prelude::*;

/// `REMAP_FILE_DEDUP`.
const REMAP_FILE_DEDUP: u32 = kernel::bindings::REMAP_FILE_DEDUP;
/// `REMAP_FILE_ADVISORY`.
const REMAP_FILE_ADVISORY: u32 = kernel::bindings::REMAP_FILE_ADVISORY;

/// `remap_file_range` of regular files: returns the bytes remapped.
pub(crate) fn remap_range(fin: &File, pos_in: i64, fout: &File, pos_out: i64, len: i64, flags: u32) -> Result<i64> {
    if flags & !(REMAP_FILE_DEDUP | REMAP_FILE_ADVISORY) != 0 {
        return Err(EINVAL);
    }
    let (src, dst) = (fin.inode(), fout.inode());
    let sb = dst.sb();
    if sb.is_shutdown() {
        return Err(EIO);
    }
    if sb.info().refcount_ino == 0 {
        return Err(crate::vfs::code::eopnotsupp());
    }
    if !src.is_reg() || !dst.is_reg() {
        return Err(EINVAL);
    }
    let locks = RemapLocks::new(src, dst);
    src.dio_wait();
    dst.dio_wait();
    let mut len = len;
    fin.remap_prep(pos_in, fout, pos_out, &mut len, flags, &locks)?;
    if len == 0 {
        return Ok(0);
    }
    let bs = dst.block_size() as i64;
    // Nothing past the destination's EOF may come into view unzeroed.
    zero_eof(&locks.dst_invalidate(), dst, pos_out)?;
    // The destination's cached pages over the range would hide the
    // remapped blocks: write back and drop whole pages (whole blocks).
    let round = bs.max(kernel::page::PAGE_SIZE as i64);
    // (The last byte of the largest file's last page is i64::MAX.)
    let last = (crate::iomap::round_up_start(pos_out + len, round) - 1) as i64;
    let first = pos_out / round * round;
    dst.write_and_wait_range(first, last)?;
    dst.truncate_pagecache_range(first, last);
    // At the source's EOF the length may end inside a block: the whole
    // block is shared (the VFS allowed it only there).
    let c = data::Clone { src_pos: pos_in as u64, dst_pos: pos_out as u64, len: round_up(len, bs) as u64 };
    // All of it, or (an error part-way) the whole blocks done, as XFS
    // returns the length it remapped.
    let done = data::remap(src, dst, &c)?;
    // (All of the largest file is 2^63 bytes of blocks: more than len.)
    let len = len.min((done << bs.trailing_zeros()).min(i64::MAX as u64) as i64);
    if pos_out + len > dst.size() {
        dst.set_size(&locks.dst(), pos_out + len);
    }
    dst.mark_dirty();
    drop(locks);
    // Synchronous writes on either side make the remap durable before it
    // returns, as xfs_file_remap_range forces the log (fstests
    // generic/628: O_SYNC and chattr +S, then a crash).
    if fin.sync_writes() || fout.sync_writes() {
        crate::file::sync_inode(dst)?;
    }
    Ok(len)
}
