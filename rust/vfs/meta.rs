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

use super::bdev::{self, FolioRef};
use super::bindings as b;
use crate::librxfs::error::Error as CoreError;
use crate::librxfs::meta::Store;
use core::cell::RefCell;
use core::ops::{Deref, DerefMut};
use kernel::prelude::*;
use kernel::rbtree::RBTree;

/// The block device of a mounted (or mounting) rxfs superblock.
///
/// It holds the superblock by pointer, without a lifetime, because it
/// lives in the per-mount data, which the VFS reaches from the superblock
/// itself. What keeps it sound: only [`NewSuperBlock::dev`] makes one, in
/// `fill_super`; it is kept only in that per-mount data; and the layer
/// frees the per-mount data in `kill_sb` while the superblock and its
/// device are still there (`kill_block_super` has run, the superblock is
/// freed after `kill_sb` returns), and nothing there does I/O through it.
///
/// [`NewSuperBlock::dev`]: super::NewSuperBlock::dev
#[derive(Clone, Copy)]
pub struct Dev {
    raw: *mut b::super_block,
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
    pub(crate) unsafe fn new(raw: *mut b::super_block, block_log: u32, block_count: u64, fsid: u64) -> Self {
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
        self.flush_upto(set, u64::MAX, flush_cache, false)
    }

    /// [`Dev::flush`] of the blocks of `set` up to block `upto` only. A
    /// batch that fails to write stays in the set (its folios held), so a
    /// later commit logs and writes it again, and the first error is
    /// returned; the other batches are still written. `fail`: fault
    /// injection, every batch fails with `ENOSPC` unwritten.
    pub fn flush_upto(&self, set: &mut DirtySet, upto: u64, flush_cache: bool, fail: bool) -> Result {
        const BATCH: usize = 64;
        let mut res = Ok(());
        let mut next = 0u64;
        loop {
            // References of their own, held until the batch is written.
            let mut batch: [Option<(u64, FolioRef)>; BATCH] = [const { None }; BATCH];
            let mut n = 0;
            let mut cur = set.tree.cursor_lower_bound(&next);
            while n < BATCH {
                let Some(c) = cur else { break };
                let (&blk, folio) = c.current();
                if blk > upto {
                    break;
                }
                batch[n] = Some((blk << self.block_log, folio.clone_ref()));
                n += 1;
                next = blk.saturating_add(1);
                cur = c.move_next();
            }
            if n == 0 {
                break;
            }
            let r = if fail {
                Err(ENOSPC)
            } else {
                // SAFETY: each folio is held by `batch` and contains its
                // block; positions are inside the device.
                unsafe { bdev::write_blocks(self.raw, &batch[..n], self.block_size() as u32) }
            };
            match r {
                Ok(()) => {
                    for (pos, _) in batch.iter().flatten() {
                        if set.tree.remove(&(pos >> self.block_log)).is_some() {
                            set.count = set.count.saturating_sub(1);
                        }
                    }
                }
                Err(e) => {
                    if res.is_ok() {
                        res = Err(e);
                    }
                }
            }
            if next == u64::MAX {
                break;
            }
        }
        if flush_cache && res.is_ok() {
            // SAFETY: `self.raw` is a live superblock with a block device.
            res = unsafe { bdev::flush(self.raw) };
        }
        res
    }
}

/// A one-block buffer in the kernel's direct map, for blocks that are
/// written from memory rxfs owns (the journal's descriptor, commit and
/// header blocks): kmalloc'd, so a bio can take it.
pub struct BlockBuf(KVec<u8>);

impl BlockBuf {
    /// A zeroed buffer of `len` bytes: a power of two no larger than a
    /// page, so that kmalloc's alignment keeps it inside one page.
    pub fn new(len: usize) -> Result<Self> {
        if !len.is_power_of_two() || len > (1 << b::PAGE_SHIFT) {
            return Err(EINVAL);
        }
        Ok(BlockBuf(KVec::from_elem(0u8, len, GFP_KERNEL)?))
    }
}

impl Deref for BlockBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl DerefMut for BlockBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// How a block of rxfs's own memory is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// A plain write.
    Plain,
    /// `PREFLUSH|FUA`: everything completed before it is durable first, and
    /// it is durable when it completes (a commit or header block).
    Durable,
}

impl Dev {
    /// True if the device cannot be written.
    pub fn read_only(&self) -> bool {
        // SAFETY: `self.raw` is a live superblock with a block device.
        unsafe { bdev::read_only(self.raw) }
    }

    /// Calls `f(block, bytes)` for the blocks of `set` from block `from` on,
    /// in block order, while it returns true.
    pub fn each_dirty(&self, set: &DirtySet, from: u64, mut f: impl FnMut(u64, &[u8]) -> bool) -> Result {
        let bs = self.block_size();
        for (&blk, folio) in set.tree.iter() {
            if blk < from {
                continue;
            }
            let bytes = bdev::block_bytes(folio, blk << self.block_log, bs).ok_or(EIO)?;
            if !f(blk, bytes) {
                break;
            }
        }
        Ok(())
    }

    /// Writes `lead` (one block) to block `at`, and the current bytes of
    /// each block `homes[i]` of `set` to block `at + 1 + i` (their images
    /// in the log), and waits.
    pub fn write_log(&self, set: &DirtySet, at: u64, lead: &BlockBuf, homes: &[u64]) -> Result {
        let end = at.checked_add(1 + homes.len() as u64).ok_or(EINVAL)?;
        if end > self.block_count || lead.len() != self.block_size() {
            return Err(EINVAL);
        }
        let log = self.block_log;
        let mut bad = false;
        let images = homes.iter().enumerate().filter_map(|(i, &h)| match set.tree.get(&h) {
            Some(f) => Some(((at + 1 + i as u64) << log, bdev::Src::Folio(f, h << log))),
            None => {
                bad = true;
                None
            }
        });
        let it = Iterator::chain(core::iter::once((at << log, bdev::Src::Buf(lead))), images);
        // SAFETY: each folio is held by `set` and holds its home block;
        // `lead` is a one-block `BlockBuf`; every destination is inside the
        // filesystem (checked above), which fits the device.
        let r = unsafe { bdev::write(self.raw, it, self.block_size() as u32, b::RXFS_CONST_REQ_META_WRITE) };
        if bad {
            return Err(EINVAL);
        }
        r
    }

    /// Writes `buf` (one block) to block `blk`, and waits.
    pub fn write_buf(&self, blk: u64, buf: &BlockBuf, kind: WriteKind) -> Result {
        if blk >= self.block_count || buf.len() != self.block_size() {
            return Err(EINVAL);
        }
        let opf = match kind {
            WriteKind::Plain => b::RXFS_CONST_REQ_META_WRITE,
            WriteKind::Durable => b::RXFS_CONST_REQ_META_FUA,
        };
        let it = core::iter::once((blk << self.block_log, bdev::Src::Buf(buf)));
        // SAFETY: a `BlockBuf` of one block is direct-map memory inside one
        // page; the block is inside the device.
        unsafe { bdev::write(self.raw, it, self.block_size() as u32, opf) }
    }

    /// The device's discard granularity in bytes, if it takes discards.
    pub fn discard_granularity(&self) -> Option<u32> {
        // SAFETY: `self.raw` is a live superblock with a block device.
        unsafe { bdev::discard_granularity(self.raw) }
    }

    /// Discards blocks `blk..blk + len` (FITRIM), and waits.
    pub fn discard(&self, blk: u64, len: u64) -> Result {
        let end = blk.checked_add(len).ok_or(EINVAL)?;
        if end > self.block_count {
            return Err(EINVAL);
        }
        let shift = self.block_log.saturating_sub(9);
        // SAFETY: `self.raw` is a live superblock with a block device; the
        // range is inside the filesystem, which fits the device.
        unsafe { bdev::discard(self.raw, blk << shift, len << shift) }
    }

    /// Flushes the device's volatile cache.
    pub fn flush_cache(&self) -> Result {
        // SAFETY: `self.raw` is a live superblock with a block device.
        unsafe { bdev::flush(self.raw) }
    }
}

/// Blocks changed since they were last written, each with a reference on
/// its folio; and the blocks whose checksum was verified this mount.
pub struct DirtySet {
    tree: RBTree<u64, FolioRef>,
    count: usize,
    /// Block -> identity of the folio it was verified in. Valid while that
    /// folio has `PG_checked` (a folio read anew from the device starts
    /// without it, and the first verification in it drops every entry for
    /// its blocks): then the bytes are those verified, or changed by rxfs
    /// and sealed since.
    verified: RBTree<u64, usize>,
    nverified: usize,
}

/// The most verified blocks remembered; past it the set starts over.
const MAX_VERIFIED: usize = 1 << 16;

impl DirtySet {
    /// An empty set.
    pub fn new() -> Self {
        DirtySet { tree: RBTree::new(), count: 0, verified: RBTree::new(), nverified: 0 }
    }

    /// Number of blocks in the set.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if nothing is waiting to be written.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The lowest block in the set.
    pub fn first(&self) -> Option<u64> {
        self.tree.iter().next().map(|(&b, _)| b)
    }
}

/// The store for one operation: the device plus the dirty set it adds to.
pub struct BdevStore<'a> {
    dev: Dev,
    dirty: RefCell<&'a mut DirtySet>,
    held: RefCell<Held>,
}

/// The blocks that have a live [`MetaBuf`]: a second handle to one of them
/// would alias the first's `&mut [u8]`, so it is refused. Code over sound
/// metadata never asks for one; a cycle in corrupt metadata (a tree node
/// whose child is its own ancestor) does, and gets a corruption error.
struct Held {
    blocks: [u64; MAX_HELD],
    n: usize,
}

/// The most handles held at once: a B+tree path, a sibling, an inode and
/// the allocator's blocks fit several times over.
const MAX_HELD: usize = 64;

impl Held {
    fn take(&mut self, blk: u64) -> core::result::Result<(), CoreError> {
        if self.blocks[..self.n].contains(&blk) {
            return Err(CoreError::Corrupt { what: "metadata block", blkno: blk, why: "reached twice on one path (a cycle)" });
        }
        let slot = self.blocks.get_mut(self.n).ok_or(CoreError::Io(12))?;
        *slot = blk;
        self.n += 1;
        Ok(())
    }

    fn put(&mut self, blk: u64) {
        if let Some(i) = self.blocks[..self.n].iter().position(|&b| b == blk) {
            self.blocks.swap(i, self.n - 1);
            self.n -= 1;
        }
    }
}

impl<'a> BdevStore<'a> {
    /// A store over `dev` that records changed blocks in `dirty`.
    pub fn new(dev: Dev, dirty: &'a mut DirtySet) -> Self {
        BdevStore { dev, dirty: RefCell::new(dirty), held: RefCell::new(Held { blocks: [0; MAX_HELD], n: 0 }) }
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
    held: &'a RefCell<Held>,
}

impl Deref for MetaBuf<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` bytes inside the folio, which our
        // reference keeps alive. No other handle to the block exists: the
        // store refuses a second while this one lives (`Held`), and every
        // store of a mount is made under the metadata lock, one at a time.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl DerefMut for MetaBuf<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`; `&mut self` makes this the only view.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for MetaBuf<'_> {
    fn drop(&mut self) {
        if let Ok(mut h) = self.held.try_borrow_mut() {
            h.put(self.blk);
        }
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

    fn readahead(&self, start: u64, len: u64) {
        let end = start.saturating_add(len).min(self.dev.block_count);
        if start < end {
            // SAFETY: the superblock is live and the range is inside the
            // filesystem, which was checked at mount to fit the device.
            unsafe { bdev::readahead(self.dev.raw, start << self.dev.block_log, (end - start) << self.dev.block_log) };
        }
    }

    fn read(&self, blk: u64) -> core::result::Result<MetaBuf<'_>, CoreError> {
        if blk >= self.dev.block_count {
            return Err(CoreError::Corrupt { what: "block number", blkno: blk, why: "beyond the filesystem" });
        }
        // SAFETY: the superblock is live; the position is inside the
        // filesystem, which was checked at mount to fit the device.
        let (folio, p) = unsafe { bdev::get(self.dev.raw, blk << self.dev.block_log) }.map_err(|e| CoreError::Io(-e.to_errno()))?;
        self.held.try_borrow_mut().map_err(|_| CoreError::Io(16))?.take(blk)?;
        Ok(MetaBuf { folio, ptr: p, len: self.dev.block_size(), blk, held: &self.held })
    }

    fn forget(&self, start: u64, len: u64) {
        self.forget_range(start, len);
    }

    fn checksum_known(&self, buf: &MetaBuf<'_>) -> bool {
        let Ok(d) = self.dirty.try_borrow() else { return false };
        buf.folio.checked() && d.verified.get(&buf.blk) == Some(&buf.folio.id())
    }

    fn checksum_verified(&self, buf: &MetaBuf<'_>) {
        let Ok(mut d) = self.dirty.try_borrow_mut() else { return };
        if !buf.folio.checked() {
            // Read anew: nothing verified at this place in an earlier
            // folio (maybe at the same address) holds for this one.
            let (pos, size) = buf.folio.span();
            let log = self.dev.block_log;
            for blk in (pos >> log)..((pos + size) >> log) {
                if d.verified.remove(&blk).is_some() {
                    d.nverified = d.nverified.saturating_sub(1);
                }
            }
            buf.folio.set_checked();
        }
        let id = buf.folio.id();
        if let Some(v) = d.verified.get_mut(&buf.blk) {
            *v = id;
            return;
        }
        if d.nverified >= MAX_VERIFIED {
            d.verified = RBTree::new();
            d.nverified = 0;
        }
        // Without memory the block is simply verified again next time.
        if d.verified.try_create_and_insert(buf.blk, id, GFP_KERNEL).is_ok() {
            d.nverified += 1;
        }
    }

    fn dirty(&self, buf: &mut MetaBuf<'_>) {
        // The set is only borrowed inside this store's own methods, never
        // across a call back into it.
        let Ok(mut d) = self.dirty.try_borrow_mut() else {
            // Cannot happen (the set is borrowed only inside this store's
            // own methods); should it, the block is written now rather
            // than forgotten.
            self.write_now(buf);
            return;
        };
        if d.tree.get(&buf.blk).is_some() {
            return;
        }
        // The set's own reference is dropped once the block is written (or
        // with the value, if it cannot be inserted).
        let folio = buf.folio.clone_ref();
        match d.tree.try_create_and_insert(buf.blk, folio, GFP_KERNEL) {
            Ok(_) => d.count += 1,
            Err(_) => {
                // No memory to remember it: write it now instead.
                drop(d);
                self.write_now(buf);
            }
        }
    }
}

impl BdevStore<'_> {
    fn write_now(&self, buf: &MetaBuf<'_>) {
        let pos = buf.blk << self.dev.block_log;
        let one = [Some((pos, buf.folio.clone_ref()))];
        // SAFETY: the folio holds the block; the position is inside the
        // device of the live superblock.
        let r = unsafe { bdev::write_blocks(self.dev.raw, &one, self.dev.block_size() as u32) };
        if let Err(e) = r {
            pr_err!("metadata block {} not written: error {}\n", buf.blk, e.to_errno());
        }
    }

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
pub use super::inode::NoFsScope as NoFs;
