// SPDX-License-Identifier: GPL-2.0

//! Regular files: read and write (buffered and O_DIRECT), mmap and write
//! faults, SEEK_HOLE/SEEK_DATA, fsync, fallocate and truncate, as
//! `fs/xfs/xfs_file.c` does.
//!
//! Locking, outermost first (the types of [`crate::vfs::inode`] enforce
//! it): i_rwsem (`InodeLock`), then the invalidate_lock (`InvalidateLock`,
//! exclusive for truncate, fallocate, EOF zeroing and the short-write
//! punch; shared for write faults), then the extent lock inside
//! [`crate::data`].
//!
//! EOF: a write or fallocate that starts past EOF, and truncate up, first
//! zero from the old EOF ([`crate::iomap::zero_eof`]), so no stale byte
//! past the old EOF becomes readable. O_DIRECT writes convert their
//! unwritten blocks at completion, before i_size grows, so a racing read
//! never sees unwritten blocks below EOF as data.

use crate::data;
use crate::iomap::{round_up, zero_eof, BufferedWriteIomap, DirectWriteIomap, MkwriteIomap, ReadIomap};
use crate::vfs::file::{self as vf, File, FileOps, IovIter, Kiocb, Vma, VmFault, VmFaultT, VmOps};
use crate::vfs::inode::{Inode, InodeLock, InvalidateLock, NoFsScope};
use crate::vfs::iomap::{self, DioOps, IOMAP_DIO_COW, IOMAP_DIO_FORCE_WAIT, IOMAP_DIO_UNWRITTEN};
use crate::vfs::Knob;
use core::sync::atomic::Ordering;
use crate::vfs::file::{
    FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_ZERO_RANGE,
    SEEK_DATA, SEEK_HOLE,
};
use kernel::prelude::*;

/// The file operations of regular files.
pub struct RegularFile;

/// O_DIRECT needs the I/O aligned to the device's logical sector, as XFS.
fn dio_aligned(inode: &Inode, pos: i64, count: usize) -> bool {
    let mask = inode.sector_size() as u64 - 1;
    (pos as u64 | count as u64) & mask == 0
}

/// True if the file may share blocks (the reflink flag).
fn is_reflink(inode: &Inode) -> bool {
    inode.rx().flags.load(Ordering::Relaxed) & crate::librxfs::inode::FLAG_REFLINK != 0
}

/// A write that starts past EOF: zero from the old EOF to its start first.
fn write_zero_eof(lock: &InodeLock<'_>, iocb: &Kiocb) -> Result {
    let inode = lock.inode();
    if iocb.pos() <= inode.size() {
        return Ok(());
    }
    // Negative control: the old EOF's block and folio are left as they are.
    if inode.sb().knob(Knob::NoZeroEof).load(Ordering::Relaxed) != 0 {
        return Ok(());
    }
    if iocb.is_nowait() {
        return Err(EAGAIN);
    }
    // An O_DIRECT completion still in flight may move EOF.
    inode.dio_wait();
    let il = lock.invalidate_lock();
    zero_eof(&il, inode, iocb.pos())
}

fn buffered_write(lock: &mut InodeLock<'_>, iocb: &Kiocb, from: &IovIter) -> Result<usize> {
    let inode = lock.inode();
    let mut flushed = false;
    loop {
        match iomap::file_buffered_write::<BufferedWriteIomap>(iocb, from) {
            // Out of space for a reservation: write back what is dirty
            // (converting delalloc frees its over-reservation) and try
            // once more, as XFS does.
            Err(e) if e == ENOSPC && !flushed => {
                flushed = true;
                lock.unlocked(|| inode.sb().try_sync_inodes());
                // EOF may have moved while the lock was dropped: an append
                // follows it, and a truncate down must be zeroed over again.
                if iocb.is_append() {
                    iocb.set_pos(inode.size());
                }
                write_zero_eof(lock, iocb)?;
            }
            r => return r,
        }
    }
}

fn write_locked(lock: &mut InodeLock<'_>, iocb: &Kiocb, from: &IovIter) -> Result<usize> {
    let inode = lock.inode();
    if iocb.write_checks(from)? == 0 {
        return Ok(0);
    }
    iocb.file().remove_privs()?;
    iocb.file().update_time()?;
    write_zero_eof(lock, iocb)?;
    if !iocb.is_direct() {
        let r = buffered_write(lock, iocb, from);
        // iomap grew i_size; the inode must reach the disk with it.
        inode.mark_dirty();
        return r;
    }
    if !dio_aligned(inode, iocb.pos(), from.count()) {
        return Err(EINVAL);
    }
    if is_reflink(inode) && (iocb.pos() as u64 | from.count() as u64) & (inode.block_size() as u64 - 1) != 0 {
        // A sub-block write to a shared block would need the rest of the
        // block copied: go through the page cache, as XFS does.
        let (pos, n) = (iocb.pos(), from.count() as i64);
        let r = buffered_write(lock, iocb, from);
        inode.mark_dirty();
        let done = r?;
        inode.write_and_wait_range(pos, pos + n - 1)?;
        return Ok(done);
    }
    // Sub-block writes zero the rest of a new block: no other O_DIRECT
    // write may be in flight on it (i_rwsem is held exclusively here).
    let mut dio_flags = 0;
    if (iocb.pos() as u64 | from.count() as u64) & (inode.block_size() as u64 - 1) != 0 {
        inode.dio_wait();
        dio_flags |= IOMAP_DIO_FORCE_WAIT;
    }
    // Knob (f) holds this write's completion: its bios go out only after
    // iomap returns, so that the hold never runs inside the submitting
    // call, with i_rwsem held (the race tests need the lock free).
    let held = crate::iomap::knob_covers(inode.sb().knob(Knob::DioCowEndDelayPos), iocb.pos(), from.count() as i64);
    let r = if held {
        iomap::dio_rw_submit_after_return::<DirectWriteIomap, DioWrite>(iocb, from, dio_flags)
    } else {
        iomap::dio_rw::<DirectWriteIomap, DioWrite>(iocb, from, dio_flags)
    };
    match r {
        // The page cache could not be invalidated: fall back to buffered.
        Err(e) if e == ENOTBLK => {
            let r = buffered_write(lock, iocb, from);
            inode.mark_dirty();
            r
        }
        r => r,
    }
}

/// Unmaps the whole blocks of `offset..offset+len` and zeroes the partial
/// ones through the page cache.
fn free_range(lock: &InvalidateLock<'_>, inode: &Inode, offset: i64, len: i64) -> Result {
    let _ = lock;
    let bs = inode.block_size() as i64;
    let first = crate::iomap::round_up_start(offset, bs);
    let last = ((offset + len) / bs * bs) as u64;
    let size = inode.size();
    inode.write_and_wait_range(offset, offset + len - 1)?;
    inode.truncate_pagecache_range(offset, offset + len - 1);
    if last > first {
        data::remove(inode, first, last - first)?;
    }
    if offset < size {
        iomap::zero_range::<BufferedWriteIomap>(inode, offset, len.min(size - offset))?;
    }
    Ok(())
}

/// Collapse and insert move blocks: flush and drop the cache from `offset`.
fn prepare_shift(inode: &Inode, offset: i64, len: i64) -> Result {
    let bs = inode.block_size() as i64;
    if (offset | len) & (bs - 1) != 0 {
        return Err(EINVAL);
    }
    let from = offset & !(kernel::page::PAGE_SIZE as i64 - 1);
    inode.write_and_wait_range(from, i64::MAX)?;
    inode.truncate_pagecache_range(from, i64::MAX);
    Ok(())
}

const FALLOC_MODES: u32 =
    FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE;

fn fallocate_locked(il: &InvalidateLock<'_>, lock: &InodeLock<'_>, file: &File, mode: u32, offset: i64, len: i64) -> Result {
    let inode = lock.inode();
    file.modified()?;
    let size = inode.size();
    let bs = inode.block_size() as i64;
    if mode & FALLOC_FL_PUNCH_HOLE != 0 {
        free_range(il, inode, offset, len)
    } else if mode & FALLOC_FL_COLLAPSE_RANGE != 0 {
        if offset.saturating_add(len) >= size {
            return Err(EINVAL);
        }
        prepare_shift(inode, offset, len)?;
        data::collapse(inode, offset as u64, len as u64)?;
        inode.set_size(lock, size - len);
        Ok(())
    } else if mode & FALLOC_FL_INSERT_RANGE != 0 {
        if offset >= size {
            return Err(EINVAL);
        }
        if len > inode.max_bytes() - size {
            return Err(EFBIG);
        }
        prepare_shift(inode, offset, len)?;
        data::insert(inode, offset as u64, len as u64)?;
        inode.set_size(lock, size + len);
        Ok(())
    } else {
        let end = offset.checked_add(len).ok_or(EFBIG)?;
        let new_size = if mode & FALLOC_FL_KEEP_SIZE == 0 && end > size {
            inode.newsize_ok(end)?;
            Some(end)
        } else {
            None
        };
        if mode & FALLOC_FL_ZERO_RANGE != 0 {
            free_range(il, inode, offset, len)?;
        }
        let start = offset / bs * bs;
        data::prealloc(inode, start as u64, (round_up(end, bs) - start) as u64)?;
        if let Some(n) = new_size {
            zero_eof(il, inode, n)?;
            inode.truncate_setsize(il, n);
        }
        if mode & FALLOC_FL_UNSHARE_RANGE != 0 && is_reflink(inode) {
            // Dirty the cache over the shared blocks below EOF, and write
            // it back: the file gets blocks of its own there.
            let to = end.min(inode.size());
            if to > offset {
                iomap::file_unshare::<BufferedWriteIomap>(inode, offset, to - offset)?;
                inode.write_and_wait_range(offset, to - 1)?;
            }
        }
        Ok(())
    }
}

#[vtable]
impl FileOps for RegularFile {
    const PAGE_CACHE: bool = true;

    fn open(inode: &Inode, file: &File) -> Result {
        if inode.sb().is_shutdown() {
            return Err(EIO);
        }
        file.set_can_odirect();
        file.generic_open(inode)
    }

    fn llseek(file: &File, offset: i64, whence: i32) -> Result<i64> {
        let hole = match whence as u32 {
            SEEK_HOLE => true,
            SEEK_DATA => false,
            _ => return file.generic_llseek(offset, whence),
        };
        let inode = file.inode();
        if inode.sb().is_shutdown() {
            return Err(EIO);
        }
        let found = {
            let _l = inode.lock_shared();
            iomap::seek::<ReadIomap>(inode, offset, hole)?
        };
        file.set_pos(found, inode.max_bytes())
    }

    fn read_iter(iocb: &Kiocb, to: &IovIter) -> Result<usize> {
        let inode = iocb.inode();
        if inode.sb().is_shutdown() {
            return Err(EIO);
        }
        if !iocb.is_direct() {
            return iocb.generic_read(to);
        }
        if to.count() == 0 {
            return Ok(0);
        }
        if !dio_aligned(inode, iocb.pos(), to.count()) {
            return Err(EINVAL);
        }
        let r = {
            let _l = if iocb.is_nowait() { inode.try_lock_shared().ok_or(EAGAIN)? } else { inode.lock_shared() };
            iomap::dio_read::<ReadIomap>(iocb, to)
        };
        iocb.file().accessed();
        r
    }

    fn write_iter(iocb: &Kiocb, from: &IovIter) -> Result<usize> {
        let inode = iocb.inode();
        if inode.sb().is_shutdown() {
            return Err(EIO);
        }
        let r = {
            let mut lock = if iocb.is_nowait() { inode.try_lock().ok_or(EAGAIN)? } else { inode.lock() };
            write_locked(&mut lock, iocb, from)
        };
        match r {
            Ok(n) if n > 0 => iocb.write_sync(n),
            r => r,
        }
    }

    fn mmap(file: &File, vma: &Vma) -> Result {
        file.accessed();
        vma.set_ops::<RxfsVm>();
        Ok(())
    }

    fn fsync(file: &File, start: i64, end: i64, _datasync: bool) -> Result {
        fsync(file, start, end)
    }

    fn fallocate(file: &File, mode: i32, offset: i64, len: i64) -> Result {
        let inode = file.inode();
        let mode = mode as u32;
        if !inode.is_reg() {
            return Err(EINVAL);
        }
        if mode & !FALLOC_MODES != 0 {
            return Err(crate::vfs::code::eopnotsupp());
        }
        if inode.sb().is_shutdown() {
            return Err(EIO);
        }
        {
            let lock = inode.lock();
            let il = lock.invalidate_lock();
            inode.dio_wait();
            fallocate_locked(&il, &lock, file, mode, offset, len)?;
            inode.touch();
            inode.mark_dirty();
        }
        // Durable before it returns on a synchronous file, as
        // xfs_file_fallocate forces the log.
        if file.sync_writes() {
            sync_inode(inode)?;
        }
        Ok(())
    }

    fn ioctl(file: &File, cmd: u32, arg: usize) -> Result<i32> {
        crate::ioctl::ioctl(file, cmd, arg)
    }

    fn remap_file_range(fin: &File, pos_in: i64, fout: &File, pos_out: i64, len: i64, flags: u32) -> Result<i64> {
        crate::reflink::remap_range(fin, pos_in, fout, pos_out, len, flags)
    }
}

/// `fsync` of files and directories: data, the inode, then every changed
/// metadata block and a device cache flush.
pub(crate) fn fsync(file: &File, start: i64, end: i64) -> Result {
    let inode = file.inode();
    let sb = inode.sb();
    if sb.is_shutdown() {
        return Err(EIO);
    }
    file.write_and_wait_range(start, end)?;
    sync_inode(inode)
}

/// Makes `inode`'s metadata and every change committed before it durable:
/// the inode, then the log and a device cache flush.
pub(crate) fn sync_inode(inode: &Inode) -> Result {
    inode.sync_metadata()?;
    inode.sb().info().sync(true).map_err(|e| crate::vfs::errno(e.errno()))
}

/// O_DIRECT write completion.
pub struct DioWrite;

#[vtable]
impl DioOps for DioWrite {
    /// With the iocb's position still at the write's start: converts
    /// exactly the completed range, then grows i_size (conversion first, so
    /// a racing read never sees unwritten blocks below EOF as data).
    fn end_io(iocb: &Kiocb, size: isize, error: i32, flags: u32) -> Result {
        if error != 0 {
            return Err(Error::from_errno(error));
        }
        if size <= 0 {
            return Ok(());
        }
        let inode = iocb.inode();
        if flags & IOMAP_DIO_COW != 0 {
            let sb = inode.sb();
            // Knob (f): hold the completion before the remap, for as long
            // as dio_cow_end_delay_ms says (at most a minute); setting it
            // to 0 releases the hold.
            if crate::iomap::knob_hit(sb.knob(Knob::DioCowEndDelayPos), iocb.pos(), size as i64).is_some() {
                let mut held = 0;
                while held < sb.knob(Knob::DioCowEndDelayMs).load(Ordering::Relaxed).clamp(0, 60_000) {
                    crate::vfs::msleep(10);
                    held += 10;
                }
            }
            let all = sb.knob(Knob::CowRemapAll).load(Ordering::Relaxed) != 0;
            let _nofs = NoFsScope::enter();
            data::end_cow(inode, iocb.pos() as u64, size as u64, all)?;
        }
        if flags & IOMAP_DIO_UNWRITTEN != 0 {
            let _nofs = NoFsScope::enter();
            data::convert_unwritten(inode, iocb.pos() as u64, size as u64)?;
        }
        inode.extend_size(iocb.pos() + size as i64);
        Ok(())
    }
}

/// File mappings.
pub struct RxfsVm;

#[vtable]
impl VmOps for RxfsVm {
    /// A write fault reserves delalloc under the folio's holes (sub-page
    /// blocks included) before the folio is dirtied, under the shared
    /// invalidate_lock so truncate and the short-write punch cannot race.
    fn page_mkwrite(vmf: &VmFault) -> VmFaultT {
        let file = vmf.file();
        let inode = file.inode();
        let sb = inode.sb();
        if sb.is_shutdown() {
            return vf::VM_FAULT_SIGBUS;
        }
        // Negative control: dirty the folio without reserving its holes.
        if sb.knob(Knob::MkwriteNaive).load(Ordering::Relaxed) != 0 {
            return vmf.filemap_page_mkwrite();
        }
        let _pf = sb.start_pagefault();
        let _ = file.update_time();
        let _il = inode.invalidate_lock_shared();
        iomap::page_mkwrite::<MkwriteIomap>(vmf)
    }
}

/// Changes the size of a regular file (setattr), i_rwsem held; to the same
/// size, only frees the blocks past EOF.
pub(crate) fn setsize(lock: &InodeLock<'_>, newsize: i64) -> Result {
    let inode = lock.inode();
    let oldsize = inode.size();
    inode.dio_wait();
    // Zero what lies between the new EOF and the end of its block (when
    // shrinking), or from the old EOF on (when growing), so no stale bytes
    // past EOF come back into view. The invalidate_lock keeps write faults
    // out from the zeroing until the new size is set.
    let il = lock.invalidate_lock();
    if newsize < oldsize {
        iomap::truncate_page::<BufferedWriteIomap>(inode, newsize)?;
    } else if newsize > oldsize {
        zero_eof(&il, inode, newsize)?;
    }
    inode.truncate_setsize(&il, newsize);
    if newsize <= oldsize {
        let bs = inode.block_size() as i64;
        data::remove(inode, crate::iomap::round_up_start(newsize, bs), u64::MAX)?;
    }
    Ok(())
}
