// SPDX-License-Identifier: GPL-2.0

//! The address space of an iomap file (`address_space_operations`) and the
//! process-context completion of writeback ioends.
//!
//! A bio over unwritten blocks completes in interrupt context, where the
//! extent conversion cannot run: [`end_bio`] queues the ioend on its
//! inode's list and queues the inode's completion work, which takes the
//! whole list and hands those ioends to [`WritebackOps::complete`] one by
//! one ([`IoendQueue`]); each is finished (its folios' writeback ended)
//! when the filesystem is done with it.

use super::bindings as b;
use super::file::File;
use super::inode::Inode;
use super::iomap::{Folio, Ioend, WritebackOps};
use core::marker::PhantomData;
use kernel::error::{from_result, Result};
use kernel::macros::vtable;
use kernel::types::Opaque;

/// `address_space_operations` of a file whose I/O goes through iomap:
/// the filesystem gives reading and writeback; dirtying, release,
/// invalidation, migration and partial-uptodate checks are iomap's and the
/// page cache's own.
#[vtable]
pub trait AddressSpaceOps {
    /// `read_folio`.
    fn read_folio(file: Option<&File>, folio: &Folio) -> Result;

    /// `readahead`.
    fn readahead(inode: &Inode, rac: Readahead<'_>);

    /// `writepages`.
    fn writepages(inode: &Inode, wbc: Wbc<'_>) -> Result;

    /// `swap_activate` (`swapon` of the file): the number of swap extents.
    fn swap_activate(_req: Swapon<'_>) -> Result<i32> {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// `bmap` (the `FIBMAP` ioctl): the device block (in the
    /// filesystem's block size) of file block `req.block()`; 0 for a hole
    /// or when the filesystem will not say.
    fn bmap(_inode: &Inode, _req: Bmap<'_>) -> u64 {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// A `bmap` request, to hand to [`super::iomap::bmap`].
pub struct Bmap<'a>(*mut b::address_space, b::sector_t, PhantomData<&'a ()>);

impl Bmap<'_> {
    /// The file block asked about.
    pub fn block(&self) -> u64 {
        self.1
    }

    /// Answers through iomap with `T` (which writes back dirty data first
    /// and reports only written, mapped blocks).
    pub fn iomap<T: super::iomap::IomapOps>(self) -> u64 {
        // SAFETY: the mapping and block of the current `bmap` call.
        unsafe { super::iomap::bmap::<T>(self.0, self.1) }
    }
}

/// A `swapon` of a file, to hand to [`super::iomap::swapfile_activate`].
pub struct Swapon<'a>(*mut b::swap_info_struct, *mut b::file, *mut b::sector_t, PhantomData<&'a ()>);

impl Swapon<'_> {
    /// The file being activated.
    pub fn file(&self) -> &File {
        // SAFETY: the file of the current `swap_activate` call, open.
        unsafe { File::from_raw(self.1) }
    }

    /// Maps the swap extents through iomap with `T`.
    pub fn iomap<T: super::iomap::IomapOps>(self) -> Result<i32> {
        // SAFETY: the arguments of the current `swap_activate` call.
        unsafe { super::iomap::swapfile_activate::<T>(self.0, self.1, self.2) }
    }
}

/// A readahead request, to hand to [`super::iomap::readahead`].
pub struct Readahead<'a>(*mut b::readahead_control, PhantomData<&'a ()>);

impl Readahead<'_> {
    /// Reads ahead through iomap with `T`.
    pub fn iomap<T: super::iomap::IomapOps>(self) {
        // SAFETY: the request of the current `readahead` call.
        unsafe { super::iomap::readahead::<T>(self.0) }
    }
}

/// A writeback request, to hand to [`super::iomap::writepages`].
pub struct Wbc<'a>(*mut b::address_space, *mut b::writeback_control, PhantomData<&'a ()>);

impl Wbc<'_> {
    /// Writes back through iomap with `T`.
    pub fn iomap<T: WritebackOps>(self) -> Result {
        // SAFETY: the mapping and control of the current `writepages`.
        unsafe { super::iomap::writepages::<T>(self.0, self.1) }
    }
}

/// The const `address_space_operations` of an [`AddressSpaceOps`]
/// implementation.
pub struct AopsTable<T: AddressSpaceOps>(PhantomData<T>);

impl<T: AddressSpaceOps> AopsTable<T> {
    const OPS: b::address_space_operations = {
        // SAFETY: all-zero is a table without operations.
        let mut ops: b::address_space_operations = unsafe { core::mem::zeroed() };
        ops.read_folio = Some(Self::read_folio);
        ops.readahead = Some(Self::readahead);
        ops.writepages = Some(Self::writepages);
        ops.dirty_folio = Some(b::iomap_dirty_folio);
        ops.release_folio = Some(b::iomap_release_folio);
        ops.invalidate_folio = Some(b::iomap_invalidate_folio);
        ops.migrate_folio = Some(b::filemap_migrate_folio);
        ops.is_partially_uptodate = Some(b::iomap_is_partially_uptodate);
        ops.error_remove_folio = Some(b::generic_error_remove_folio);
        if T::HAS_SWAP_ACTIVATE {
            ops.swap_activate = Some(Self::swap_activate);
        }
        if T::HAS_BMAP {
            ops.bmap = Some(Self::bmap);
        }
        ops
    };

    /// The table.
    pub const fn get() -> &'static b::address_space_operations {
        &Self::OPS
    }

    unsafe extern "C" fn read_folio(file: *mut b::file, folio: *mut b::folio) -> kernel::ffi::c_int {
        // SAFETY: the page cache reads a locked folio of an rxfs file; the
        // file, if any, is open.
        let (file, folio) = unsafe { (file.as_ref().map(|f| File::from_raw(f as *const _ as *mut _)), Folio::from_raw(folio)) };
        from_result(|| T::read_folio(file, folio).map(|()| 0))
    }

    unsafe extern "C" fn readahead(rac: *mut b::readahead_control) {
        // SAFETY: the request's mapping is a live rxfs file's.
        let inode = unsafe { Inode::from_raw((*b::rxfs_helper_readahead_mapping(rac)).host) };
        T::readahead(inode, Readahead(rac, PhantomData))
    }

    unsafe extern "C" fn writepages(mapping: *mut b::address_space, wbc: *mut b::writeback_control) -> kernel::ffi::c_int {
        // SAFETY: writeback of a live rxfs file's mapping.
        let inode = unsafe { Inode::from_raw((*mapping).host) };
        from_result(|| T::writepages(inode, Wbc(mapping, wbc, PhantomData)).map(|()| 0))
    }

    unsafe extern "C" fn swap_activate(sis: *mut b::swap_info_struct, file: *mut b::file, span: *mut b::sector_t) -> kernel::ffi::c_int {
        // SAFETY: `swapon` of an open rxfs file, with its swap info and
        // span to fill in.
        from_result(|| T::swap_activate(Swapon(sis, file, span, PhantomData)))
    }

    unsafe extern "C" fn bmap(mapping: *mut b::address_space, block: b::sector_t) -> b::sector_t {
        // SAFETY: `FIBMAP` on an open rxfs file: its mapping is live.
        let inode = unsafe { Inode::from_raw((*mapping).host) };
        T::bmap(inode, Bmap(mapping, block, PhantomData))
    }
}

/// The bio completion of a deferred ioend (interrupt context): queue it for
/// the inode's completion work.
///
/// # Safety
///
/// Called by the block layer with the bio of an ioend whose completion
/// [`Ioend::defer_completion`] deferred.
pub(crate) unsafe extern "C" fn end_bio(bio: *mut b::bio) {
    // SAFETY: the bio is an ioend's (the contract); its inode is an rxfs
    // inode kept live by the folios under writeback; the list and work are
    // the inode's, under its ioend lock.
    unsafe {
        let ioend = b::rxfs_helper_iomap_ioend_from_bio(bio);
        let inode = Inode::from_raw((*ioend).io_inode);
        let rx = inode.rx_raw();
        let flags = b::rxfs_helper_spin_lock_irqsave((*rx).ioend_lock.get());
        if b::rxfs_helper_list_empty((*rx).ioend_list.get()) != 0 {
            b::rxfs_helper_queue_work(inode.sb().ioend_wq(), (*rx).ioend_work.get());
        }
        b::rxfs_helper_list_add_tail(&raw mut (*ioend).io_list, (*rx).ioend_list.get());
        b::rxfs_helper_spin_unlock_irqrestore((*rx).ioend_lock.get(), flags);
    }
}

/// The inode's completion work: hands its queued ioends to the filesystem.
///
/// It takes the whole list at once, as XFS's `xfs_end_io` does, and works
/// on that private list only. An ioend whose bio completes from then on
/// finds the inode's list empty and queues this work again, so every
/// ioend reaches [`WritebackOps::complete`]: none is finished behind the
/// filesystem's back with its unwritten blocks left unwritten.
///
/// # Safety
///
/// Called by the workqueue with the `ioend_work` of an rxfs inode, which
/// eviction flushes before freeing the inode.
pub(crate) unsafe extern "C" fn end_io_work<W: WritebackOps>(work: *mut b::work_struct) {
    // SAFETY: per the contract.
    let inode = unsafe { Inode::from_raw(super::inode::RxInode::vfs_of_work(work)) };
    // On this stack until the end of the function, never moved: the ioends
    // taken are linked into it.
    let taken = Opaque::<b::list_head>::uninit();
    let mut q = take_ioends(inode, &taken);
    W::complete(inode, &mut q);
    // What the filesystem left of what it was given is finished with its
    // I/O status when the queue drops.
    drop(q);
    naive_drain(inode);
}

/// The negative control of the above (knob `ioend_drain_naive_ms`):
/// finishes, after a while, the ioends completed since the work took its
/// list, without handing them to the filesystem.
fn naive_drain(inode: &Inode) {
    let ms = inode.sb().knob(super::Knob::IoendDrainNaiveMs).load(core::sync::atomic::Ordering::Relaxed);
    if ms <= 0 {
        return;
    }
    super::msleep(ms.min(60_000) as u32);
    let late = Opaque::<b::list_head>::uninit();
    // Finished, unconverted, as the queue drops.
    drop(take_ioends(inode, &late));
}

/// Moves every ioend on `inode`'s list onto `head` (initialised here), under
/// the list's lock, and returns them as a queue. `head` must stay where it
/// is while the queue lives (the borrow says so).
fn take_ioends<'a>(inode: &'a Inode, head: &'a Opaque<b::list_head>) -> IoendQueue<'a> {
    let rx = inode.rx_raw();
    // SAFETY: `head` is initialised before use and borrowed, so it cannot
    // move while ioends are linked into it; the inode's list is moved onto
    // it under the list's lock.
    unsafe {
        b::rxfs_helper_init_list_head(head.get());
        let flags = b::rxfs_helper_spin_lock_irqsave((*rx).ioend_lock.get());
        b::rxfs_helper_list_splice_init((*rx).ioend_list.get(), head.get());
        b::rxfs_helper_spin_unlock_irqrestore((*rx).ioend_lock.get(), flags);
    }
    IoendQueue { list: head.get(), _p: PhantomData }
}

/// The ioends one run of an inode's completion work took off the inode's
/// list, for the filesystem to complete. Those it leaves are finished with
/// their I/O status when the queue drops, so none stays in writeback.
pub struct IoendQueue<'a> {
    /// The work's private list (on its stack).
    list: *mut b::list_head,
    _p: PhantomData<&'a Inode>,
}

impl<'a> IoendQueue<'a> {
    /// Takes the next ioend.
    pub fn pop(&mut self) -> Option<CompletedIoend<'a>> {
        // SAFETY: the list is this work's own; an ioend taken off it is
        // ours until finished.
        let io = unsafe {
            let io = b::rxfs_helper_list_first_ioend(self.list);
            if !io.is_null() {
                b::rxfs_helper_list_del_init(&raw mut (*io).io_list);
            }
            io
        };
        // SAFETY: off the list, the ioend is ours until finished.
        (!io.is_null()).then(|| CompletedIoend { io: unsafe { Ioend::from_raw(io) }, error: None })
    }
}

impl Drop for IoendQueue<'_> {
    fn drop(&mut self) {
        while let Some(io) = self.pop() {
            drop(io);
        }
    }
}

/// An ioend whose I/O completed; finished (folio writeback ended, with
/// the error set by [`CompletedIoend::fail`] or the I/O's own) on drop.
pub struct CompletedIoend<'a> {
    io: &'a mut Ioend,
    error: Option<i32>,
}

impl CompletedIoend<'_> {
    /// Finishes the ioend with `errno` (negative) instead of its status.
    pub fn fail(&mut self, errno: i32) {
        self.error = Some(errno);
    }
}

impl core::ops::Deref for CompletedIoend<'_> {
    type Target = Ioend;
    fn deref(&self) -> &Ioend {
        self.io
    }
}

impl Drop for CompletedIoend<'_> {
    fn drop(&mut self) {
        let err = self.error.unwrap_or_else(|| self.io.status());
        // SAFETY: the ioend is ours (off the list) and is finished once.
        unsafe { b::iomap_finish_ioends(self.io.as_raw(), err) }
    }
}
