// SPDX-License-Identifier: GPL-2.0

//! rxfs's iomap callbacks: how each kind of I/O maps a file, as
//! `fs/xfs/xfs_iomap.c` does.
//!
//! - [`ReadIomap`]: reads, readahead, SEEK_HOLE/SEEK_DATA, FIEMAP and
//!   O_DIRECT reads. Delalloc shows as delalloc, except to O_DIRECT, for
//!   which it has no data on disk: a hole.
//! - [`BufferedWriteIomap`]: buffered writes and zeroing. Holes become
//!   delalloc reservations (`IOMAP_F_NEW`: this call made them); zeroing
//!   (`IOMAP_ZERO`) gets holes as holes. On a short write `end` punches the
//!   reservation the write made and did not use, except where the page
//!   cache is dirty (another writer or a write fault put data there), with
//!   `iomap_write_delalloc_release` under the invalidate_lock held
//!   exclusively: XFS's `xfs_buffered_write_iomap_end`.
//! - [`MkwriteIomap`]: write faults, the same reservation, never revoked.
//! - [`DirectWriteIomap`]: O_DIRECT writes, holes and delalloc become
//!   unwritten blocks, converted at completion ([`crate::file`]).
//!
//! On a file that shares blocks (reflink), writes over shared blocks go to
//! the CoW fork ([`crate::data`], `cow_write`): a buffered write gets a CoW
//! delalloc reservation, `IOMAP_F_SHARED`, with the data fork's mapping as
//! iomap's `srcmap` (read for partial blocks); an O_DIRECT write gets CoW
//! blocks converted to real over exactly its range; the short-write punch
//! removes CoW delalloc as well.
//!
//! Every mapping carries the validity cookie sampled with it under the
//! extent lock (the data and CoW fork sequences, [`crate::data::cookie`]); iomap
//! asks [`RxfsFolioOps::iomap_valid`] with the folio locked, and a stale
//! mapping is looked up again: a racing writeback conversion or punch
//! cannot make a buffered write copy into a folio over blocks it no longer
//! describes.

use crate::data;
use crate::vfs::inode::{Inode, InvalidateLock};
use crate::vfs::iomap::{self, FolioOps, FolioOpsTable, Iomap, IomapIter, IomapOps, LockedFolio, MapKind, Mapping, Punch};
use crate::data::{Map, IOMAP_DELALLOC, IOMAP_F_NEW, IOMAP_MAPPED, IOMAP_UNWRITTEN};
use crate::vfs::Knob;
use core::sync::atomic::{AtomicI64, Ordering};
use crate::vfs::iomap::{FolioOpsVtable, IOMAP_DIRECT, IOMAP_UNSHARE, IOMAP_ZERO};
use kernel::prelude::*;

/// The iomap mapping of an extent operation's result.
pub(crate) fn mapping(m: &Map) -> Mapping {
    let kind = kind_of(m.kind, m.addr);
    let mut mapping = Mapping::new(kind, m.offset, m.length, m.cookie);
    if m.flags & IOMAP_F_NEW != 0 {
        mapping = mapping.new_blocks();
    }
    if m.shared {
        mapping = mapping.cow(m.src.map(|(k, a)| kind_of(k, a)));
    }
    mapping
}

fn kind_of(kind: u16, addr: u64) -> MapKind {
    match kind {
        IOMAP_DELALLOC => MapKind::Delalloc,
        IOMAP_MAPPED => MapKind::Mapped(addr),
        IOMAP_UNWRITTEN => MapKind::Unwritten(addr),
        _ => MapKind::Hole,
    }
}

/// The cookie a mapping made now would carry: both forks' sequences.
pub(crate) fn cookie(inode: &Inode) -> u64 {
    data::cookie(inode.data_seq(), inode.cow_seq())
}

/// Whether position knob `k` is armed inside `pos..pos+len` (without
/// disarming it, as [`knob_hit`] does).
pub(crate) fn knob_covers(k: &AtomicI64, pos: i64, len: i64) -> bool {
    covers(k.load(Ordering::Relaxed), pos, len)
}

/// Whether offset `at` (a position knob's value; negative: disarmed) lies
/// inside `pos..pos+len`.
fn covers(at: i64, pos: i64, len: i64) -> bool {
    at >= 0 && at >= pos && at - pos < len
}

/// Fires the one-shot offset knob `k` if `pos..pos+len` covers it: returns
/// the offset and disarms the knob.
pub(crate) fn knob_hit(k: &AtomicI64, pos: i64, len: i64) -> Option<i64> {
    let at = k.load(Ordering::Relaxed);
    if !covers(at, pos, len) {
        return None;
    }
    k.compare_exchange(at, -1, Ordering::AcqRel, Ordering::Relaxed).ok()
}

type MapFn = fn(&Inode, u64, u64, u32) -> Result<Map>;

fn begin(inode: &Inode, op: MapFn, pos: i64, length: i64, flags: u32) -> Result<Mapping> {
    let m = op(inode, pos as u64, length as u64, flags)?;
    Ok(mapping(&m))
}

/// Reads and reports.
pub struct ReadIomap;

#[vtable]
impl IomapOps for ReadIomap {
    fn begin(inode: &Inode, pos: i64, length: i64, flags: u32) -> Result<Mapping> {
        let m = begin(inode, data::map_read, pos, length, flags)?;
        // O_DIRECT reads flushed the cache: delalloc there has no disk data.
        Ok(if flags & IOMAP_DIRECT != 0 { m.delalloc_as_hole() } else { m })
    }
}

/// Buffered writes and zeroing.
pub struct BufferedWriteIomap;

fn buffered_begin(inode: &Inode, pos: i64, length: i64, flags: u32) -> Result<Mapping> {
    let m = begin(inode, data::reserve_delalloc, pos, length, flags)?;
    // Knob (a): widen the window between mapping and folio lock.
    let sb = inode.sb();
    if flags & IOMAP_ZERO == 0 && knob_hit(sb.knob(Knob::BeginDelayPos), pos, length).is_some() {
        crate::vfs::msleep(sb.knob(Knob::BeginDelayMs).load(Ordering::Relaxed).clamp(0, 60_000) as u32);
    }
    Ok(m)
}

#[vtable]
impl IomapOps for BufferedWriteIomap {
    const FOLIO_OPS: Option<&'static FolioOpsVtable> = Some(FolioOpsTable::<RxfsFolioOps>::get());

    fn begin(inode: &Inode, pos: i64, length: i64, flags: u32) -> Result<Mapping> {
        buffered_begin(inode, pos, length, flags)
    }

    fn end(inode: &Inode, pos: i64, length: i64, written: isize, flags: u32, iomap: &Iomap) -> Result {
        if iomap.kind() != MapKind::Delalloc || !iomap.is_new() {
            return Ok(());
        }
        let bs = inode.block_size() as i64;
        // iomap_last_written_block: the first block the write did not fill.
        let start = if written == 0 { pos - pos.rem_euclid(bs) } else { round_up(pos + written as i64, bs) };
        let end = round_up(pos + length, bs);
        if start >= end {
            return Ok(());
        }
        // Zeroing never gets a fresh reservation, so the lock is ours to
        // take: the write holds i_rwsem, never the invalidate_lock.
        if flags & (IOMAP_ZERO | IOMAP_UNSHARE) != 0 {
            pr_warn!("delalloc punch inside a zeroing or unshare\n");
            return Ok(());
        }
        let mode = inode.sb().knob(Knob::PunchMode).load(Ordering::Relaxed);
        if mode == 2 {
            // Negative control: no punch, the reservation leaks.
            return Ok(());
        }
        let lock = inode.invalidate_lock_in_write();
        if mode == 1 {
            // Negative control: punch it all and drop the cache.
            inode.truncate_pagecache_range(start, end - 1);
            DelallocPunch::punch(inode, start, end - start);
        } else {
            release(&lock, inode, start, end, flags, iomap);
        }
        Ok(())
    }
}

fn release(lock: &InvalidateLock<'_>, inode: &Inode, start: i64, end: i64, flags: u32, iomap: &Iomap) {
    iomap::write_delalloc_release::<DelallocPunch>(lock, inode, start, end, flags, iomap);
}

/// `v` rounded up to a multiple of `bs`, as the *end* of a byte range:
/// inside the largest file's last block that is 2^63, which `i64` cannot
/// hold, so it saturates to `i64::MAX` (the end of the largest file;
/// rounded up to blocks, the same end). Not for a range's start: use
/// [`round_up_start`].
pub(crate) fn round_up(v: i64, bs: i64) -> i64 {
    v.checked_add(bs - 1).map_or(i64::MAX, |x| x / bs * bs)
}

/// `v` (not negative) rounded up to a multiple of `bs`, as the *start* of
/// a range of whole blocks: up to 2^63 (past every block), in `u64`.
pub(crate) fn round_up_start(v: i64, bs: i64) -> u64 {
    (v.max(0) as u64).next_multiple_of(bs as u64)
}

/// Write faults: the buffered write mapping, with no `end`.
pub struct MkwriteIomap;

#[vtable]
impl IomapOps for MkwriteIomap {
    const FOLIO_OPS: Option<&'static FolioOpsVtable> = Some(FolioOpsTable::<RxfsFolioOps>::get());

    fn begin(inode: &Inode, pos: i64, length: i64, flags: u32) -> Result<Mapping> {
        buffered_begin(inode, pos, length, flags)
    }
}

/// O_DIRECT writes.
pub struct DirectWriteIomap;

#[vtable]
impl IomapOps for DirectWriteIomap {
    fn begin(inode: &Inode, pos: i64, length: i64, flags: u32) -> Result<Mapping> {
        begin(inode, data::alloc_direct, pos, length, flags)
    }
}

/// The punch of `iomap_write_delalloc_release` and of discarded folios:
/// removes only delalloc, atomically under the extent lock. It may run
/// with a folio locked, so it takes no folio lock itself.
pub struct DelallocPunch;

impl Punch for DelallocPunch {
    fn punch(inode: &Inode, offset: i64, length: i64) {
        // A failure leaves the reservation, which eviction gives back.
        let _ = data::punch_delalloc(inode, offset as u64, length as u64);
    }
}

/// The folio hooks of buffered writes: the validity check, and knob (c).
pub struct RxfsFolioOps;

#[vtable]
impl FolioOps for RxfsFolioOps {
    fn get_folio(iter: &IomapIter, pos: i64, len: u32) -> Result<LockedFolio> {
        if let Some(from) = iter.write_source() {
            let sb = iter.inode().sb();
            // Knob (c): the user copy for this folio stops at the offset.
            if let Some(at) = knob_hit(sb.knob(Knob::ShortWriteAt), pos, len as i64) {
                from.truncate((at - pos) as u64);
            }
            if knob_hit(sb.knob(Knob::FailWriteAt), pos, len as i64).is_some() {
                return Err(EIO);
            }
        }
        iter.get_folio(pos, len)
    }

    fn iomap_valid(inode: &Inode, iomap: &Iomap) -> bool {
        // Knob (d), a negative control: every mapping is valid.
        if inode.sb().knob(Knob::NoIomapValid).load(Ordering::Relaxed) != 0 {
            return true;
        }
        iomap.cookie() == cookie(inode)
    }
}

/// EOF is about to move up to `pos` (a write or fallocate past EOF,
/// truncate up): zeroes the file from the old EOF to `pos` through the page
/// cache first, as XFS's `xfs_file_write_zero_eof()` does, so that nothing
/// that lay past the old EOF becomes readable: neither the rest of the EOF
/// block on disk nor bytes left past EOF in its folio by a short copy or a
/// write fault. `iomap_zero_range` writes zeroes over written and delalloc
/// blocks and flushes dirty folios over holes and unwritten blocks, whose
/// writeback zeroes a folio's tail past EOF. Called with i_rwsem and the
/// invalidate_lock held exclusively (the guard); O_DIRECT completions that
/// move EOF have been waited for.
pub(crate) fn zero_eof(_lock: &InvalidateLock<'_>, inode: &Inode, pos: i64) -> Result {
    let size = inode.size();
    if pos <= size {
        return Ok(());
    }
    iomap::zero_range::<BufferedWriteIomap>(inode, size, pos - size)
}
