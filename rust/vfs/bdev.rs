// SPDX-License-Identifier: GPL-2.0

//! The block device under a mounted rxfs: reads through the device's page
//! cache, metadata writes with bios, cache flushes.
//!
//! Metadata blocks are read with `read_mapping_folio` and changed in that
//! cached copy; [`write_blocks`] writes exactly the given blocks with bios
//! and waits. The folios are never marked dirty: with 1 KiB blocks a 4 KiB
//! folio can hold file data written by iomap's bios since it was read, and
//! the page cache's write-back of the whole folio would overwrite it.

use super::bindings as b;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use kernel::error::{to_result, Error, Result};
use kernel::prelude::*;
use kernel::types::Opaque;

/// A reference on a folio of the device's page cache, dropped with the
/// value.
pub(crate) struct FolioRef(core::ptr::NonNull<b::folio>);

// SAFETY: a folio reference can be dropped from any thread.
unsafe impl Send for FolioRef {}

impl FolioRef {
    /// Another reference on the same folio.
    pub(crate) fn clone_ref(&self) -> FolioRef {
        // SAFETY: our reference keeps the folio alive while this takes
        // another.
        unsafe { b::rxfs_helper_folio_get(self.0.as_ptr()) };
        FolioRef(self.0)
    }

    fn as_raw(&self) -> *mut b::folio {
        self.0.as_ptr()
    }

    /// The folio's identity while this reference lives.
    pub(crate) fn id(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// `PG_checked`: rxfs verified checksums of blocks in this folio since
    /// it was read (set by [`FolioRef::set_checked`]; a folio read anew
    /// from the device starts clear).
    pub(crate) fn checked(&self) -> bool {
        // SAFETY: our reference keeps the folio alive.
        unsafe { b::rxfs_helper_folio_test_checked(self.as_raw()) }
    }

    /// Sets `PG_checked` (nothing else uses it on the device's cache).
    pub(crate) fn set_checked(&self) {
        // SAFETY: our reference keeps the folio alive; the flag is atomic.
        unsafe { b::rxfs_helper_folio_set_checked(self.as_raw()) }
    }

    /// Device byte position and size of the folio.
    pub(crate) fn span(&self) -> (u64, u64) {
        // SAFETY: our reference keeps the folio alive and in its mapping.
        unsafe { (b::rxfs_helper_folio_pos(self.as_raw()) as u64, b::rxfs_helper_folio_size(self.as_raw()) as u64) }
    }
}

impl Drop for FolioRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference this value holds.
        unsafe { b::rxfs_helper_folio_put(self.0.as_ptr()) }
    }
}

fn device_mapping(sb: *mut b::super_block) -> *mut b::address_space {
    // SAFETY: a mounted (or mounting) superblock has a block device for
    // its whole life.
    unsafe { (*(*sb).s_bdev).bd_mapping }
}

/// The cached folio holding device byte `pos`, and the address of that
/// byte in it.
///
/// # Safety
///
/// `sb` must be a live superblock with a block device, `pos` inside it.
pub(crate) unsafe fn get(sb: *mut b::super_block, pos: u64) -> Result<(FolioRef, *mut u8)> {
    // SAFETY: per the contract.
    let folio = unsafe { uptodate_folio(device_mapping(sb), (pos >> b::PAGE_SHIFT) as _)? };
    // SAFETY: we hold a reference on the folio; a device folio on a 64-bit
    // machine is in the kernel's direct map (`folio_address`).
    let addr = unsafe { b::rxfs_helper_folio_address(folio.as_raw()) }.cast::<u8>();
    if addr.is_null() {
        return Err(EIO);
    }
    // SAFETY: as above.
    let size = unsafe { b::rxfs_helper_folio_size(folio.as_raw()) } as u64;
    // SAFETY: the offset is inside the folio, which holds `pos`.
    let p = unsafe { addr.add((pos & (size - 1)) as usize) };
    Ok((folio, p))
}

/// The device's folio at `index`, read in if it is not up to date.
///
/// Unlike `read_mapping_folio`, whose wait for the read is killable, this
/// waits for the read uninterruptibly: metadata is read in the middle of
/// changing it (a clone's extent insert after its refcount increment), and
/// a fatal signal there must not turn into an error that leaves half a
/// change behind (fstests generic/297 and 298 interrupt a long clone).
/// XFS's buffer reads do not stop for signals either; operations stop for
/// them between changes instead.
///
/// # Safety
///
/// `mapping` must be a live block device's mapping.
unsafe fn uptodate_folio(mapping: *mut b::address_space, index: kernel::ffi::c_ulong) -> Result<FolioRef> {
    // SAFETY: the mapping is live (the contract). A cached, up-to-date
    // folio needs no lock.
    if let Ok(f) = super::ptr_result(unsafe { b::rxfs_helper_filemap_get_folio(mapping, index) }) {
        let folio = FolioRef(f);
        // SAFETY: we hold a reference on the folio.
        if unsafe { b::rxfs_helper_folio_test_uptodate(folio.as_raw()) } {
            return Ok(folio);
        }
    }
    // SAFETY: as above; the folio comes back locked and referenced.
    let folio = FolioRef(super::ptr_result(unsafe { b::rxfs_helper_filemap_grab_folio(mapping, index) })?);
    let f = folio.as_raw();
    // SAFETY: we hold the folio's lock and a reference.
    if unsafe { b::rxfs_helper_folio_test_uptodate(f) } {
        // SAFETY: we locked it.
        unsafe { b::folio_unlock(f) };
        return Ok(folio);
    }
    // SAFETY: a live mapping has its operations.
    let read = unsafe { (*(*mapping).a_ops).read_folio }.ok_or(EIO)?;
    // SAFETY: `read_folio` takes a locked folio of the mapping and unlocks
    // it when the read is done (or failed).
    kernel::error::to_result(unsafe { read(core::ptr::null_mut(), f) })?;
    // SAFETY: we hold a reference; the wait is uninterruptible.
    unsafe { b::rxfs_helper_folio_wait_locked(f) };
    // SAFETY: as above.
    if unsafe { b::rxfs_helper_folio_test_uptodate(f) } {
        Ok(folio)
    } else {
        Err(EIO)
    }
}

/// Starts reading device bytes `pos..pos + len` into the page cache, in
/// readahead-sized I/Os, without waiting: [`get`] then waits for each
/// folio instead of reading it alone.
///
/// # Safety
///
/// `sb` must be a live superblock whose device holds the range.
pub(crate) unsafe fn readahead(sb: *mut b::super_block, pos: u64, len: u64) {
    let mapping = device_mapping(sb);
    // SAFETY: a zeroed readahead state is what `file_ra_state_init` fills.
    let mut ra: b::file_ra_state = unsafe { core::mem::zeroed() };
    // SAFETY: the mapping is live (the contract).
    unsafe { b::file_ra_state_init(&mut ra, mapping) };
    let first = pos >> b::PAGE_SHIFT;
    let end = pos.saturating_add(len).div_ceil(1 << b::PAGE_SHIFT);
    let step = u64::from(ra.ra_pages).max(1);
    let mut at = first;
    while at < end {
        let n = step.min(end - at);
        // SAFETY: the mapping is live; `ra` is this call's own state.
        unsafe { b::rxfs_helper_page_cache_sync_readahead(mapping, &mut ra, at as _, n as _) };
        at += n;
    }
}

/// Copies device bytes `pos..pos+buf.len()` into `buf` through the page
/// cache.
///
/// # Safety
///
/// `sb` must be a live superblock whose device holds the range.
pub(crate) unsafe fn read(sb: *mut b::super_block, mut pos: u64, buf: &mut [u8]) -> Result {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: per the contract.
        let (folio, p) = unsafe { get(sb, pos)? };
        // SAFETY: we hold the folio.
        let size = unsafe { b::rxfs_helper_folio_size(folio.as_raw()) } as u64;
        let n = ((size - (pos & (size - 1))) as usize).min(buf.len() - done);
        // SAFETY: `n` bytes from `p` lie inside the folio.
        buf[done..done + n].copy_from_slice(unsafe { core::slice::from_raw_parts(p, n) });
        done += n;
        pos += n as u64;
    }
    Ok(())
}

/// The bios of one [`write_blocks`] call.
#[repr(C)]
struct Wait {
    pending: AtomicUsize,
    error: AtomicI32,
    done: Opaque<b::completion>,
}

/// # Safety
///
/// Called by the block layer for a bio of [`write_blocks`], whose
/// `bi_private` is its `Wait`, live until every bio completed.
unsafe extern "C" fn end_io(bio: *mut b::bio) {
    // SAFETY: per the contract.
    unsafe {
        let w = &*(*bio).bi_private.cast::<Wait>();
        if (*bio).bi_status != 0 {
            w.error.store(b::blk_status_to_errno((*bio).bi_status), Ordering::Relaxed);
        }
        b::bio_put(bio);
        if w.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            b::complete(w.done.get());
        }
    }
}

/// Where the bytes of one write come from.
pub(crate) enum Src<'a> {
    /// The block at device byte `pos` of a folio of the device's cache
    /// (its home; it may be written elsewhere, to the log).
    Folio(&'a FolioRef, u64),
    /// A buffer from the kernel's direct map (kmalloc), not crossing a page.
    Buf(&'a [u8]),
}

/// Writes `len` bytes at each device position of `blocks` from the folio
/// holding it (`None`s are skipped), and waits.
///
/// # Safety
///
/// `sb` must be a live superblock with a block device; each folio must
/// hold its block, inside the device.
pub(crate) unsafe fn write_blocks(sb: *mut b::super_block, blocks: &[Option<(u64, FolioRef)>], len: u32) -> Result {
    let it = blocks.iter().flatten().map(|(pos, f)| (*pos, Src::Folio(f, *pos)));
    // SAFETY: per the contract.
    unsafe { write(sb, it, len, b::RXFS_CONST_REQ_META_WRITE) }
}

/// Writes `len` bytes at each device position of `items` from its source,
/// with operation flags `opf`, and waits.
///
/// # Safety
///
/// `sb` must be a live superblock with a block device; each folio source
/// must hold its block, each buffer source be `len` bytes of the direct
/// map inside one page; every position inside the device.
pub(crate) unsafe fn write<'a>(sb: *mut b::super_block, items: impl Iterator<Item = (u64, Src<'a>)>, len: u32, opf: b::blk_opf_t) -> Result {
    let w = Wait { pending: AtomicUsize::new(1), error: AtomicI32::new(0), done: Opaque::uninit() };
    // SAFETY: `w` stays on this stack until every bio completed (the wait
    // below); each bio references memory the caller keeps alive.
    unsafe {
        b::rxfs_helper_init_completion(w.done.get());
        let mut plug: b::blk_plug = core::mem::zeroed();
        b::blk_start_plug(&mut plug);
        for (pos, src) in items {
            let bio = b::rxfs_helper_bio_alloc((*sb).s_bdev, 1, opf, b::RXFS_CONST_GFP_NOFS);
            (*bio).bi_iter.bi_sector = pos >> 9;
            match src {
                Src::Folio(folio, home) => {
                    let size = b::rxfs_helper_folio_size(folio.as_raw()) as u64;
                    b::bio_add_folio_nofail(bio, folio.as_raw(), len as usize, (home & (size - 1)) as usize);
                }
                Src::Buf(buf) => {
                    b::rxfs_helper_bio_add_virt(bio, buf.as_ptr().cast_mut().cast(), len);
                }
            }
            (*bio).bi_private = (&raw const w).cast_mut().cast();
            (*bio).bi_end_io = Some(end_io);
            w.pending.fetch_add(1, Ordering::AcqRel);
            b::submit_bio(bio);
        }
        b::blk_finish_plug(&mut plug);
        if w.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
            b::wait_for_completion_io(w.done.get());
        }
    }
    match w.error.load(Ordering::Relaxed) {
        0 => Ok(()),
        e => Err(Error::from_errno(e)),
    }
}

/// The bytes of the block at device byte `pos` in `folio`, which holds it.
pub(crate) fn block_bytes(folio: &FolioRef, pos: u64, len: usize) -> Option<&[u8]> {
    // SAFETY: our reference keeps the folio alive; a device folio on a
    // 64-bit machine is in the kernel's direct map.
    let addr = unsafe { b::rxfs_helper_folio_address(folio.as_raw()) }.cast::<u8>();
    let (fpos, size) = folio.span();
    if addr.is_null() || pos < fpos || pos + len as u64 > fpos + size {
        return None;
    }
    // SAFETY: the range is inside the folio (checked above). Writers of
    // these bytes hold the metadata lock, as the caller does.
    Some(unsafe { core::slice::from_raw_parts(addr.add((pos - fpos) as usize), len) })
}

/// True if the device is read-only.
///
/// # Safety
///
/// `sb` must be a live superblock with a block device.
pub(crate) unsafe fn read_only(sb: *mut b::super_block) -> bool {
    // SAFETY: per the contract.
    unsafe { b::rxfs_helper_bdev_read_only((*sb).s_bdev) != 0 }
}

/// Flushes the device's volatile cache.
///
/// # Safety
///
/// `sb` must be a live superblock with a block device.
pub(crate) unsafe fn flush(sb: *mut b::super_block) -> Result {
    // SAFETY: per the contract.
    to_result(unsafe { b::blkdev_issue_flush((*sb).s_bdev) })
}

/// The device's discard granularity in bytes, if it takes discards.
///
/// # Safety
///
/// As for [`flush`].
pub(crate) unsafe fn discard_granularity(sb: *mut b::super_block) -> Option<u32> {
    // SAFETY: per the contract.
    unsafe {
        let bdev = (*sb).s_bdev;
        if b::rxfs_helper_bdev_max_discard_sectors(bdev) == 0 {
            return None;
        }
        Some(b::rxfs_helper_bdev_discard_granularity(bdev).max(512))
    }
}

/// Discards `nr` 512-byte sectors from `sector`, and waits.
///
/// # Safety
///
/// As for [`flush`]; the range must be inside the device.
pub(crate) unsafe fn discard(sb: *mut b::super_block, sector: u64, nr: u64) -> Result {
    // SAFETY: per the contract.
    to_result(unsafe { b::blkdev_issue_discard((*sb).s_bdev, sector, nr, b::RXFS_CONST_GFP_NOFS) })
}

/// Size of the device in bytes.
///
/// # Safety
///
/// As for [`flush`].
pub(crate) unsafe fn bytes(sb: *mut b::super_block) -> u64 {
    // SAFETY: per the contract.
    unsafe { b::rxfs_helper_bdev_nr_bytes((*sb).s_bdev) }
}
