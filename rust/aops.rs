// SPDX-License-Identifier: GPL-2.0

//! The address space of a regular file and its writeback, as
//! `fs/xfs/xfs_aops.c` does.
//!
//! Reading goes through [`ReadIomap`]. Writeback maps each dirty range with
//! [`Writeback::map_blocks`], which reuses the cached mapping while it
//! covers the offset and its validity cookie still matches the data fork,
//! and otherwise asks for a new one: delalloc becomes unwritten blocks there
//! (iomap may never be handed delalloc for writeback). Ioends over
//! unwritten blocks complete in process context ([`Writeback::complete`]),
//! where exactly the range written is converted to written. A folio whose
//! writeback fails before submission loses its data, and its delalloc
//! reservation with it ([`Writeback::discard_folio`]).
//!
//! Copy-on-write: over shared blocks `map_blocks` maps the CoW fork
//! (allocating its delalloc unwritten, `IOMAP_F_SHARED`); `prepare_ioend`
//! converts exactly the ioend's range to real; the completion remaps
//! only real CoW extents of that range into the data fork, or drops them
//! if the I/O failed.

use crate::data;
use crate::iomap::{cookie, mapping, DelallocPunch, ReadIomap};
use crate::vfs::aops::{AddressSpaceOps, Bmap, IoendQueue, Readahead, Swapon, Wbc};
use crate::vfs::file::File;
use crate::vfs::inode::{Inode, NoFsScope};
use crate::vfs::iomap::{self, Folio, Ioend, MapKind, Punch, WritebackOps, WritepageCtx};
use crate::vfs::Knob;
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// The address space operations of regular files.
pub struct Aops;

#[vtable]
impl AddressSpaceOps for Aops {
    fn read_folio(_file: Option<&File>, folio: &Folio) -> Result {
        iomap::read_folio::<ReadIomap>(folio)
    }

    fn readahead(_inode: &Inode, rac: Readahead<'_>) {
        rac.iomap::<ReadIomap>()
    }

    fn writepages(inode: &Inode, wbc: Wbc<'_>) -> Result {
        if inode.sb().is_shutdown() {
            return Err(EIO);
        }
        wbc.iomap::<Writeback>()
    }

    /// `swapon`: as `xfs_iomap_swapfile_activate`. iomap first syncs the
    /// file (delalloc gets blocks) and then refuses holes, inline data and
    /// shared blocks (reporting mappings say which are shared). While the
    /// file is swap the VFS refuses writes, truncation, fallocate, clones
    /// and dedupe of it (`S_SWAPFILE`: `ETXTBSY`), so its blocks stay put.
    fn swap_activate(req: Swapon<'_>) -> Result<i32> {
        if req.file().inode().sb().is_shutdown() {
            return Err(EIO);
        }
        req.iomap::<ReadIomap>()
    }

    /// `FIBMAP`, as `xfs_vm_bmap`: nothing (0) on a reflink filesystem,
    /// where the block may be shared now or later and whoever asks
    /// (a boot loader) writes it behind the filesystem's back; otherwise
    /// iomap's answer, after writing the file back.
    fn bmap(inode: &Inode, req: Bmap<'_>) -> u64 {
        let info = inode.sb().info();
        if info.refcount_ino != 0 || info.shut.load(Ordering::Acquire) {
            return 0;
        }
        req.iomap::<ReadIomap>()
    }
}

/// Writeback of regular files.
pub struct Writeback;

fn delay(inode: &Inode, k: Knob) {
    let ms = inode.sb().knob(k).load(Ordering::Relaxed);
    if ms > 0 {
        crate::vfs::msleep(ms.min(60_000) as u32);
    }
}

#[vtable]
impl WritebackOps for Writeback {
    fn map_blocks(wpc: &mut WritepageCtx, inode: &Inode, offset: i64, len: u32) -> Result {
        if wpc.iomap().covers(offset) && wpc.iomap().cookie() == cookie(inode) {
            return Ok(());
        }
        // Delalloc below EOF is all under dirty folios about to be written,
        // so convert up to EOF in one go; never past it (post-EOF delalloc
        // has no data and would become blocks nothing frees).
        let len = (len as i64).max(inode.size() - offset);
        let m = mapping(&data::map_writeback(inode, offset as u64, len as u64)?);
        if m.kind() == MapKind::Delalloc {
            pr_warn!("writeback was handed delalloc\n");
            return Err(EIO);
        }
        wpc.set(inode, &m);
        Ok(())
    }

    fn prepare_ioend(ioend: &mut Ioend, status: i32) -> i32 {
        let inode = ioend.inode();
        // Knob (b): widen the window before submission.
        delay(inode, Knob::WbSubmitDelayMs);
        let slow = inode.sb().knob(Knob::WbCompleteDelayMs).load(Ordering::Relaxed) > 0;
        let mut status = status;
        if status == 0 && ioend.is_shared() {
            // Exactly the range written becomes real in the CoW fork: its
            // completion remaps it, and nothing else.
            let _nofs = NoFsScope::enter();
            if let Err(e) = data::convert_cow(inode, ioend.offset() as u64, ioend.size()) {
                status = e.to_errno();
            }
        }
        if status == 0 && (ioend.is_unwritten() || ioend.is_shared() || slow) {
            ioend.defer_completion();
        }
        status
    }

    fn discard_folio(folio: &Folio, pos: i64) {
        // The folio's data is lost: so is its delalloc reservation. Said
        // once per folio, as XFS's xfs_discard_folio does.
        let inode = folio.inode();
        // (The largest file's last folio ends at 2^63: i64::MAX is its end.)
        let end = folio.pos().saturating_add(folio.size() as i64);
        if !inode.sb().is_shutdown() {
            pr_warn!("rxfs ({}): writeback of inode {} failed at offset {}: data discarded\n", inode.sb().id(), inode.ino(), pos);
        }
        DelallocPunch::punch(inode, pos, end - pos);
    }

    fn complete(inode: &Inode, queue: &mut IoendQueue<'_>) {
        // Knob (b): widen the window before completion.
        delay(inode, Knob::WbCompleteDelayMs);
        let all = inode.sb().knob(Knob::CowRemapAll).load(Ordering::Relaxed) != 0;
        while let Some(mut io) = queue.pop() {
            let _nofs = NoFsScope::enter();
            let (pos, len) = (io.offset() as u64, io.size());
            if io.is_shared() {
                // CoW: the written blocks replace the shared ones; after an
                // error the CoW blocks are dropped (and the data is lost,
                // as for any failed writeback).
                let r = if io.status() != 0 { data::cancel_cow(inode, pos, len) } else { data::end_cow(inode, pos, len, all) };
                if let Err(e) = r {
                    pr_warn!("rxfs ({}): inode {}: CoW completion at {} failed: error {}\n", inode.sb().id(), inode.ino(), pos, e.to_errno());
                    inode.set_mapping_error(e);
                    io.fail(e.to_errno());
                }
                continue;
            }
            if io.status() != 0 || !io.is_unwritten() {
                continue;
            }
            if let Err(e) = data::convert_unwritten(inode, pos, len) {
                pr_warn!("rxfs ({}): inode {}: unwritten conversion at {} failed: error {}\n", inode.sb().id(), inode.ino(), io.offset(), e.to_errno());
                inode.set_mapping_error(e);
                io.fail(e.to_errno());
            }
        }
    }
}
