// SPDX-License-Identifier: GPL-2.0

//! Metadata I/O: the shared core's [`Store`] over the block device's page
//! cache, with rxfs's own write-back.
//!
//! A block is read with `read_mapping_folio` and changed in place in that
//! cached copy. Changed blocks are remembered, with a folio reference that
//! keeps them in memory, in a [`DirtySet`]; [`Dev::flush`] writes exactly
//! those blocks with bios. Folios are never marked dirty: with 1 KiB blocks a
//! 4 KiB folio can hold file data written by iomap's bios since the folio was
//! read, and the page cache's write-back of the whole folio would overwrite
//! it with stale bytes.

use super::ffi::{self, RawFolio, RawSuperBlock};
use crate::librxfs::error::Error as CoreError;
use crate::librxfs::meta::Store;
use core::cell::RefCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use kernel::prelude::*;
use kernel::rbtree::RBTree;

/// The block device of a mounted (or mounting) rxfs superblock.
#[derive(Clone, Copy)]
pub struct Dev {
    raw: *mut RawSuperBlock,
    block_log: u32,
    block_count: u64,
    fsid: u64,
    data_start: u64,
}

// SAFETY: `Dev` is a handle to the superblock; every function it calls is
// safe to call from any thread while the superblock is live.
unsafe impl Send for Dev {}
// SAFETY: as above; `Dev` has no interior state.
unsafe impl Sync for Dev {}

impl Dev {
    /// # Safety
    ///
    /// `raw` must be a superblock with a block device that stays live while
    /// the returned value is used.
    pub(crate) unsafe fn new(raw: *mut RawSuperBlock, block_log: u32, block_count: u64, fsid: u64) -> Self {
        Dev { raw, block_log, block_count, fsid, data_start: 1 }
    }

    /// Sets the first block after the fixed metadata.
    pub fn with_data_start(self, data_start: u64) -> Self {
        Dev { data_start, ..self }
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> usize {
        1usize << self.block_log
    }

    /// Writes every block in `set` and empties it; with `flush_cache` also
    /// flushes the device's volatile cache.
    pub fn flush(&self, set: &mut DirtySet, flush_cache: bool) -> Result {
        const BATCH: usize = 64;
        let mut res = Ok(());
        loop {
            let mut pos = [0u64; BATCH];
            let mut folios = [core::ptr::null_mut::<RawFolio>(); BATCH];
            // The references stay held until the batch is written.
            let mut held: [Option<FolioRef>; BATCH] = [const { None }; BATCH];
            let mut n = 0;
            while n < BATCH {
                let Some(cursor) = set.tree.cursor_front() else { break };
                let (_, node) = cursor.remove_current();
                let (blk, folio) = node.to_key_value();
                pos[n] = blk << self.block_log;
                folios[n] = folio.0;
                held[n] = Some(folio);
                n += 1;
            }
            if n == 0 {
                break;
            }
            set.count = set.count.saturating_sub(n);
            // SAFETY: each folio is held by `held` and contains its block;
            // positions are inside the device.
            let r = unsafe {
                ffi::rxfs_shim_meta_write(self.raw, pos.as_ptr(), folios.as_ptr(), n, self.block_size() as u32)
            };
            drop(held);
            if r != 0 && res.is_ok() {
                res = Err(Error::from_errno(r));
            }
        }
        if flush_cache && res.is_ok() {
            // SAFETY: `self.raw` is a live superblock with a block device.
            res = kernel::error::to_result(unsafe { ffi::rxfs_shim_bdev_flush(self.raw) });
        }
        res
    }
}

/// A reference on a folio, dropped with the value.
struct FolioRef(*mut RawFolio);

impl FolioRef {
    /// Takes a new reference on `folio`.
    ///
    /// # Safety
    ///
    /// `folio` must be a folio the caller holds a reference on.
    unsafe fn get(folio: *mut RawFolio) -> Self {
        // SAFETY: the caller's reference keeps the folio alive while this
        // takes another.
        unsafe { ffi::rxfs_shim_folio_get(folio) };
        FolioRef(folio)
    }
}

impl Drop for FolioRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference `get` took.
        unsafe { ffi::rxfs_shim_folio_put(self.0) };
    }
}

// SAFETY: a folio reference can be dropped from any thread.
unsafe impl Send for FolioRef {}

/// Blocks changed since they were last written, each with a reference on
/// its folio.
pub struct DirtySet {
    tree: RBTree<u64, FolioRef>,
    count: usize,
}

impl DirtySet {
    /// An empty set.
    pub fn new() -> Self {
        DirtySet { tree: RBTree::new(), count: 0 }
    }

    /// Number of blocks in the set.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if nothing is waiting to be written.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The store for one operation: the device plus the dirty set it adds to.
pub struct BdevStore<'a> {
    dev: Dev,
    dirty: RefCell<&'a mut DirtySet>,
}

impl<'a> BdevStore<'a> {
    /// A store over `dev` that records changed blocks in `dirty`.
    pub fn new(dev: Dev, dirty: &'a mut DirtySet) -> Self {
        BdevStore { dev, dirty: RefCell::new(dirty) }
    }

    /// Writes out the changed blocks.
    pub fn flush(&self, flush_cache: bool) -> Result {
        let mut d = self.dirty.try_borrow_mut().map_err(|_| EBUSY)?;
        self.dev.flush(&mut d, flush_cache)
    }

    /// Blocks waiting to be written.
    pub fn pending(&self) -> usize {
        self.dirty.try_borrow().map_or(0, |d| d.len())
    }
}

/// One block of the device's page cache, held by a folio reference.
pub struct MetaBuf<'a> {
    folio: FolioRef,
    ptr: *mut u8,
    len: usize,
    blk: u64,
    _p: PhantomData<&'a ()>,
}

impl Deref for MetaBuf<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` bytes inside the folio, which our
        // reference keeps alive; the store's users hold one handle per
        // block, under the filesystem's metadata lock.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl DerefMut for MetaBuf<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`; `&mut self` makes this the only view.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Store for BdevStore<'_> {
    type Buf<'b>
        = MetaBuf<'b>
    where
        Self: 'b;

    fn block_size(&self) -> usize {
        self.dev.block_size()
    }

    fn block_count(&self) -> u64 {
        self.dev.block_count
    }

    fn fsid(&self) -> u64 {
        self.dev.fsid
    }

    fn data_start(&self) -> u64 {
        self.dev.data_start
    }

    fn read(&self, blk: u64) -> core::result::Result<MetaBuf<'_>, CoreError> {
        if blk >= self.dev.block_count {
            return Err(CoreError::Corrupt { what: "block number", blkno: blk, why: "beyond the filesystem" });
        }
        let mut folio = core::ptr::null_mut();
        // SAFETY: the superblock is live; the position is inside the
        // filesystem, which was checked at mount to fit the device.
        let p = unsafe { ffi::rxfs_shim_meta_get(self.dev.raw, blk << self.dev.block_log, &mut folio) };
        let p = kernel::error::from_err_ptr(p).map_err(|e| CoreError::Io(-e.to_errno()))?;
        // The reference `rxfs_shim_meta_get` took passes to the handle.
        Ok(MetaBuf { folio: FolioRef(folio), ptr: p.cast(), len: self.dev.block_size(), blk, _p: PhantomData })
    }

    fn forget(&self, start: u64, len: u64) {
        self.forget_range(start, len);
    }

    fn dirty(&self, buf: &mut MetaBuf<'_>) {
        // The set is only borrowed inside this store's own methods, never
        // across a call back into it.
        let Ok(mut d) = self.dirty.try_borrow_mut() else { return };
        if d.tree.get(&buf.blk).is_some() {
            return;
        }
        // SAFETY: `buf` holds a reference on `buf.folio`; the set's own
        // reference is dropped once the block is written (or with the
        // value, if it cannot be inserted).
        let folio = unsafe { FolioRef::get(buf.folio.0) };
        match d.tree.try_create_and_insert(buf.blk, folio, GFP_KERNEL) {
            Ok(_) => d.count += 1,
            Err(_) => {
                // No memory to remember it: write it now instead.
                let pos = buf.blk << self.dev.block_log;
                // SAFETY: `buf` holds a reference on its folio, which
                // contains the block; the position is inside the device.
                let r = unsafe {
                    ffi::rxfs_shim_meta_write(self.dev.raw, &pos, &buf.folio.0, 1, self.dev.block_size() as u32)
                };
                if r != 0 {
                    pr_err!("rxfs: metadata block {} not written: error {}\n", buf.blk, r);
                }
            }
        }
    }
}

impl BdevStore<'_> {
    fn forget_range(&self, start: u64, len: u64) {
        let end = start.saturating_add(len);
        let Ok(mut d) = self.dirty.try_borrow_mut() else { return };
        loop {
            let Some(c) = d.tree.cursor_lower_bound(&start) else { break };
            if *c.current().0 >= end {
                break;
            }
            // Dropping the node drops its folio reference.
            drop(c.remove_current());
            d.count = d.count.saturating_sub(1);
        }
    }
}

/// Allocations that cannot recurse into filesystem reclaim while held
/// (`memalloc_nofs_save`), for code that holds the metadata lock.
pub struct NoFs(u32);

impl NoFs {
    /// Enters a no-fs-reclaim section.
    pub fn enter() -> Self {
        // SAFETY: no preconditions; paired with the restore in `drop`.
        NoFs(unsafe { ffi::rxfs_shim_nofs_save() })
    }
}

impl Drop for NoFs {
    fn drop(&mut self) {
        // SAFETY: restores the flags saved by `enter`, in LIFO order since
        // the guard is a local.
        unsafe { ffi::rxfs_shim_nofs_restore(self.0) };
    }
}
