// SPDX-License-Identifier: GPL-2.0

//! In-memory inodes and the locks around them.
//!
//! [`Inode`] is a shared view of a VFS inode of a mounted rxfs (the
//! `struct inode` embedded in rxfs's in-memory inode). Its locks are RAII
//! guards, and the lock order is in their types: the invalidate_lock is
//! taken exclusively only from an [`InodeLock`] (i_rwsem held
//! exclusively), as XFS orders IOLOCK before MMAPLOCK; the shared
//! invalidate_lock (page faults) needs no i_rwsem. The delalloc punch
//! ([`super::iomap::write_delalloc_release`]) takes an
//! [`InvalidateLock`], so it cannot be called without the lock 6.12
//! requires.

use super::bindings as b;
use super::super_block::SuperBlock;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicI64, AtomicPtr, AtomicU32, AtomicU64, Ordering::Relaxed};
use kernel::init::PinInit;
use kernel::prelude::*;
use kernel::types::{ARef, Opaque};

/// The filesystem whose inodes these are: the one place the layer names
/// rxfs. Every table, trampoline and work item is generic over its
/// implementation (`FileSystem`, `WritebackOps`, ...); [`Inode`] and
/// [`RxInode`] are not yet (`Inode<T>` with `T::InodeInfo` beside the VFS
/// inode would be the generic form), so [`Inode::sb`] needs to know.
type Fs = crate::mount::Rxfs;

/// A VFS inode of a mounted rxfs.
#[repr(transparent)]
pub struct Inode(Opaque<b::inode>);

// SAFETY: the VFS shares inodes between threads; every method either reads
// fields stable for the inode's life or goes through the kernel's locking.
unsafe impl Sync for Inode {}
// SAFETY: as above.
unsafe impl Send for Inode {}

impl Inode {
    /// # Safety
    ///
    /// `ptr` must be an inode of a mounted rxfs, allocated by rxfs's
    /// `alloc_inode` (so embedded in a `struct rxfs_inode`), that stays
    /// live for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut b::inode) -> &'a Inode {
        // SAFETY: `Inode` is a transparent wrapper of `struct inode`; the
        // pointer is live for `'a` by the contract.
        unsafe { &*ptr.cast::<Inode>() }
    }

    /// The raw inode.
    pub(crate) fn as_raw(&self) -> *mut b::inode {
        self.0.get()
    }

    pub(crate) fn rx_raw(&self) -> *mut RxInode {
        // SAFETY: by `from_raw`'s contract the inode is the `vfs` field of
        // an `RxInode`.
        unsafe { kernel::container_of!(self.as_raw(), RxInode, vfs) as *mut RxInode }
    }

    /// What rxfs keeps beside the VFS inode.
    pub fn rx(&self) -> &RxInode {
        // SAFETY: as for `rx_raw`; shared access only.
        unsafe { &*self.rx_raw() }
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        // SAFETY: `i_ino` is set before the inode is hashed or handed to
        // any operation, and never changes afterwards.
        unsafe { (*self.as_raw()).i_ino as u64 }
    }

    /// File mode.
    pub fn mode(&self) -> u32 {
        // SAFETY: the file type bits never change; permission bits change
        // under i_rwsem and are read here as a plain 16-bit value.
        unsafe { (*self.as_raw()).i_mode as u32 }
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.mode() & b::S_IFMT == b::S_IFDIR
    }

    /// True for a regular file.
    pub fn is_reg(&self) -> bool {
        self.mode() & b::S_IFMT == b::S_IFREG
    }

    /// The file size (`i_size_read`).
    pub fn size(&self) -> i64 {
        // SAFETY: the inode is live.
        unsafe { b::rxfs_helper_i_size_read(self.as_raw()) }
    }

    /// Sets the file size (`i_size_write`); the caller holds i_rwsem
    /// exclusively, as the VFS requires.
    pub fn set_size(&self, _lock: &InodeLock<'_>, size: i64) {
        // SAFETY: the inode is live and i_rwsem is held (the guard).
        unsafe { b::rxfs_helper_i_size_write(self.as_raw(), size) }
    }

    /// Grows the size to `end` if it is smaller, under `i_lock` (for I/O
    /// completions, which run without i_rwsem); marks the inode dirty if it
    /// grew.
    pub fn extend_size(&self, end: i64) {
        let raw = self.as_raw();
        // SAFETY: the inode is live; `i_lock` serialises size updates made
        // without i_rwsem, as in XFS's end_io.
        let grew = unsafe {
            b::spin_lock(&raw mut (*raw).i_lock);
            let grew = end > b::rxfs_helper_i_size_read(raw);
            if grew {
                b::rxfs_helper_i_size_write(raw, end);
            }
            b::spin_unlock(&raw mut (*raw).i_lock);
            grew
        };
        if grew {
            self.mark_dirty();
        }
    }

    /// The block size.
    pub fn block_size(&self) -> u32 {
        // SAFETY: the inode is live.
        unsafe { b::rxfs_helper_i_blocksize(self.as_raw()) }
    }

    /// Marks the inode dirty, for `write_inode`.
    pub fn mark_dirty(&self) {
        // SAFETY: the inode is live.
        unsafe { b::rxfs_helper_mark_inode_dirty(self.as_raw()) }
    }

    /// Sets mtime and ctime to now.
    pub fn touch(&self) {
        // SAFETY: the inode is live; the VFS helpers take what they need.
        unsafe {
            let now = b::inode_set_ctime_current(self.as_raw());
            b::rxfs_helper_inode_set_mtime_to_ts(self.as_raw(), now);
        }
    }

    /// Sets ctime to now (an attribute change).
    pub fn touch_ctime(&self) {
        // SAFETY: the inode is live.
        unsafe { b::inode_set_ctime_current(self.as_raw()) };
    }

    /// Sets the VFS inode flags of `mask` (`S_IMMUTABLE`, `S_APPEND`,
    /// `S_SYNC`, `S_NOATIME`) to `flags` (`inode_set_flags`, atomic against
    /// other flag updates). The VFS enforces them.
    pub fn set_vfs_flags(&self, flags: u32, mask: u32) {
        // SAFETY: the inode is live; `inode_set_flags` updates `i_flags`
        // with a compare-and-exchange.
        unsafe { b::inode_set_flags(self.as_raw(), flags, mask) }
    }

    /// Waits for O_DIRECT I/O in flight.
    pub fn dio_wait(&self) {
        // SAFETY: the inode is live.
        unsafe { b::inode_dio_wait(self.as_raw()) }
    }

    /// The superblock.
    pub fn sb(&self) -> SuperBlock<'_, Fs> {
        // SAFETY: the inode belongs to a mounted rxfs (the contract of
        // `from_raw`), whose `s_fs_info` lives as long as its inodes.
        unsafe { SuperBlock::from_raw((*self.as_raw()).i_sb.cast()) }
    }

    /// The raw superblock.
    pub(crate) fn raw_sb(&self) -> *mut b::super_block {
        // SAFETY: `i_sb` never changes.
        unsafe { (*self.as_raw()).i_sb }
    }

    /// The page cache.
    pub(crate) fn mapping(&self) -> *mut b::address_space {
        // SAFETY: `i_mapping` never changes for a regular file.
        unsafe { (*self.as_raw()).i_mapping }
    }

    /// The data fork sequence: bumped under the extent lock on every
    /// extent change; the low half of the iomap validity cookie.
    pub fn data_seq(&self) -> &AtomicU64 {
        &self.rx().data_seq
    }

    /// The CoW fork sequence, as [`Inode::data_seq`].
    pub fn cow_seq(&self) -> &AtomicU64 {
        &self.rx().cow_seq
    }

    /// Records what an extent operation changed: the inode's on-disk block
    /// count (`nblocks`, if known) and its delalloc blocks (`delayed`, a
    /// change), and sets `i_blocks` from them.
    pub fn account(&self, nblocks: Option<u64>, delayed: i64) {
        if nblocks.is_none() && delayed == 0 {
            return;
        }
        let raw = self.as_raw();
        let rx = self.rx();
        // SAFETY: `dblocks`, `delayed` and `i_blocks` change together
        // under `i_lock`, which is held for the update.
        unsafe {
            b::spin_lock(&raw mut (*raw).i_lock);
            if let Some(n) = nblocks {
                rx.dblocks.store(n, Relaxed);
            }
            let d = rx.delayed.load(Relaxed).wrapping_add(delayed);
            rx.delayed.store(d, Relaxed);
            let total = rx.dblocks.load(Relaxed).wrapping_add(d as u64);
            (*raw).i_blocks = total << ((*raw).i_blkbits.saturating_sub(9) & 63);
            b::spin_unlock(&raw mut (*raw).i_lock);
        }
    }

    /// Takes i_rwsem exclusively.
    pub fn lock(&self) -> InodeLock<'_> {
        // SAFETY: the inode is live; the guard unlocks.
        unsafe { b::rxfs_helper_inode_lock(self.as_raw()) };
        InodeLock(self)
    }

    /// Takes i_rwsem exclusively if it is free (IOCB_NOWAIT).
    pub fn try_lock(&self) -> Option<InodeLock<'_>> {
        // SAFETY: the inode is live; the guard unlocks.
        (unsafe { b::rxfs_helper_inode_trylock(self.as_raw()) } != 0).then_some(InodeLock(self))
    }

    /// Takes i_rwsem shared.
    pub fn lock_shared(&self) -> InodeLockShared<'_> {
        // SAFETY: the inode is live; the guard unlocks.
        unsafe { b::rxfs_helper_inode_lock_shared(self.as_raw()) };
        InodeLockShared(self)
    }

    /// Takes i_rwsem shared if it is free (IOCB_NOWAIT).
    pub fn try_lock_shared(&self) -> Option<InodeLockShared<'_>> {
        // SAFETY: the inode is live; the guard unlocks.
        (unsafe { b::rxfs_helper_inode_trylock_shared(self.as_raw()) } != 0).then_some(InodeLockShared(self))
    }

    /// Takes the invalidate_lock shared (page faults: no i_rwsem).
    pub fn invalidate_lock_shared(&self) -> InvalidateLockShared<'_> {
        // SAFETY: the inode is live; the guard unlocks.
        unsafe { b::rxfs_helper_filemap_invalidate_lock_shared(self.mapping()) };
        InvalidateLockShared(self)
    }

    /// Takes the invalidate_lock exclusively from a context where the VFS
    /// holds i_rwsem exclusively for us but gives us no guard for it: an
    /// iomap_end called inside a buffered write or a zeroing that an
    /// [`InodeLock`] holder started.
    pub fn invalidate_lock_in_write(&self) -> InvalidateLock<'_> {
        // SAFETY: the inode is live; the guard unlocks.
        unsafe { b::rxfs_helper_filemap_invalidate_lock(self.mapping()) };
        InvalidateLock(self)
    }

    /// Changes to this inode must be durable when they return (`IS_SYNC`:
    /// `chattr +S`, a `sync` mount).
    pub fn is_sync(&self) -> bool {
        // SAFETY: the inode is live.
        unsafe { b::rxfs_helper_is_sync(self.as_raw()) }
    }

    /// Namespace changes in this directory must be durable when they
    /// return (`IS_DIRSYNC`: a `dirsync` or `sync` mount, `chattr +S`).
    pub fn is_dirsync(&self) -> bool {
        // SAFETY: the inode is live.
        unsafe { b::rxfs_helper_is_dirsync(self.as_raw()) }
    }

    /// Writes the inode itself and waits (`sync_inode_metadata`).
    pub fn sync_metadata(&self) -> kernel::error::Result {
        // SAFETY: the inode is live.
        kernel::error::to_result(unsafe { b::sync_inode_metadata(self.as_raw(), 1) })
    }

    /// Records a write-back error for fsync to report (`mapping_set_error`).
    pub fn set_mapping_error(&self, e: kernel::error::Error) {
        // SAFETY: the inode is live.
        unsafe { b::rxfs_helper_mapping_set_error(self.mapping(), e.to_errno()) }
    }

    /// Drops the page cache of bytes `start..=end`.
    pub fn truncate_pagecache_range(&self, start: i64, end: i64) {
        // SAFETY: the inode is live.
        unsafe { b::truncate_pagecache_range(self.as_raw(), start, end) }
    }

    /// Writes back and waits on the page cache of bytes `start..=end`.
    pub fn write_and_wait_range(&self, start: i64, end: i64) -> kernel::error::Result {
        // SAFETY: the inode is live.
        kernel::error::to_result(unsafe { b::filemap_write_and_wait_range(self.mapping(), start, end) })
    }

    /// Sets the size and drops the page cache past it (`truncate_setsize`).
    pub fn truncate_setsize(&self, _lock: &InvalidateLock<'_>, size: i64) {
        // SAFETY: the inode is live; i_rwsem and the invalidate_lock are
        // held (the guard's lock order).
        unsafe { b::truncate_setsize(self.as_raw(), size) }
    }

    /// The logical sector size of the device: O_DIRECT alignment.
    pub fn sector_size(&self) -> u32 {
        // SAFETY: a mounted rxfs has a block device for its life.
        unsafe { b::rxfs_helper_bdev_logical_block_size((*self.raw_sb()).s_bdev) }
    }

    /// The largest file size.
    pub fn max_bytes(&self) -> i64 {
        // SAFETY: `s_maxbytes` is set at mount and never changes.
        unsafe { (*self.raw_sb()).s_maxbytes }
    }

    /// Checks that the size may become `size` (limits, `RLIMIT_FSIZE`).
    pub fn newsize_ok(&self, size: i64) -> kernel::error::Result {
        // SAFETY: the inode is live.
        kernel::error::to_result(unsafe { b::inode_newsize_ok(self.as_raw(), size) })
    }
}

/// i_rwsem held exclusively.
pub struct InodeLock<'a>(&'a Inode);

impl<'a> InodeLock<'a> {
    /// A guard for i_rwsem that the VFS took for this callback (setattr):
    /// the caller's, so it is not released here.
    ///
    /// # Safety
    ///
    /// i_rwsem of `inode` must be held exclusively for `'a`.
    pub(crate) unsafe fn held_by_vfs(inode: &'a Inode) -> core::mem::ManuallyDrop<InodeLock<'a>> {
        core::mem::ManuallyDrop::new(InodeLock(inode))
    }

    /// The locked inode.
    pub fn inode(&self) -> &'a Inode {
        self.0
    }

    /// Sets the mode's permission bits (and S_ISUID, S_ISGID, S_ISVTX);
    /// the file type stays.
    pub fn set_mode(&self, mode: u32) {
        let raw = self.0.as_raw();
        // SAFETY: i_rwsem is held (the guard), under which the VFS changes
        // the mode too.
        unsafe { (*raw).i_mode = (((*raw).i_mode as u32 & b::S_IFMT) | (mode & !b::S_IFMT)) as u16 };
    }

    /// Takes the invalidate_lock exclusively, after i_rwsem (XFS: IOLOCK
    /// before MMAPLOCK).
    pub fn invalidate_lock(&self) -> InvalidateLock<'a> {
        self.0.invalidate_lock_in_write()
    }

    /// Drops i_rwsem for `f` (which must not use the guard's inode state),
    /// then takes it again.
    pub fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        // SAFETY: this guard holds i_rwsem; it is dropped and taken back
        // before the guard is used again.
        unsafe { b::rxfs_helper_inode_unlock(self.0.as_raw()) };
        let r = f();
        // SAFETY: as above.
        unsafe { b::rxfs_helper_inode_lock(self.0.as_raw()) };
        r
    }
}

impl Drop for InodeLock<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard holds i_rwsem exclusively.
        unsafe { b::rxfs_helper_inode_unlock(self.0.as_raw()) }
    }
}

/// Both inodes of a remap, i_rwsem then the invalidate_lock of each held
/// exclusively, each pair taken in the VFS's address order
/// (`lock_two_nondirectories`, `filemap_invalidate_lock_two`): the inode
/// lock of the destination, for the code that needs one, is
/// [`RemapLocks::dst`].
pub struct RemapLocks<'a> {
    src: &'a Inode,
    dst: &'a Inode,
}

impl<'a> RemapLocks<'a> {
    /// Locks `src` and `dst` (maybe the same inode).
    pub fn new(src: &'a Inode, dst: &'a Inode) -> Self {
        // SAFETY: two live regular-file inodes; the guard unlocks.
        unsafe {
            b::lock_two_nondirectories(src.as_raw(), dst.as_raw());
            b::filemap_invalidate_lock_two(src.mapping(), dst.mapping());
        }
        RemapLocks { src, dst }
    }

    /// The destination's i_rwsem, held by this guard.
    pub fn dst(&self) -> core::mem::ManuallyDrop<InodeLock<'a>> {
        core::mem::ManuallyDrop::new(InodeLock(self.dst))
    }

    /// The destination's invalidate_lock, held by this guard.
    pub fn dst_invalidate(&self) -> core::mem::ManuallyDrop<InvalidateLock<'a>> {
        core::mem::ManuallyDrop::new(InvalidateLock(self.dst))
    }
}

impl Drop for RemapLocks<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard holds both pairs of locks.
        unsafe {
            b::filemap_invalidate_unlock_two(self.src.mapping(), self.dst.mapping());
            b::unlock_two_nondirectories(self.src.as_raw(), self.dst.as_raw());
        }
    }
}

/// i_rwsem held shared.
pub struct InodeLockShared<'a>(&'a Inode);

impl Drop for InodeLockShared<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard holds i_rwsem shared.
        unsafe { b::rxfs_helper_inode_unlock_shared(self.0.as_raw()) }
    }
}

/// The invalidate_lock held exclusively: no page fault or other page cache
/// fill can run on the file; what iomap_write_delalloc_release() requires.
pub struct InvalidateLock<'a>(&'a Inode);

impl Drop for InvalidateLock<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the invalidate_lock exclusively.
        unsafe { b::rxfs_helper_filemap_invalidate_unlock(self.0.mapping()) }
    }
}

/// The invalidate_lock held shared.
pub struct InvalidateLockShared<'a>(&'a Inode);

impl Drop for InvalidateLockShared<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the invalidate_lock shared.
        unsafe { b::rxfs_helper_filemap_invalidate_unlock_shared(self.0.mapping()) }
    }
}

/// Allocations in scope may not recurse into filesystem reclaim
/// (`memalloc_nofs_save`), for I/O completion work.
pub struct NoFsScope(u32);

impl NoFsScope {
    /// Enters the scope.
    pub fn enter() -> Self {
        // SAFETY: always safe; the scope is left on drop, in LIFO order.
        NoFsScope(unsafe { b::rxfs_helper_memalloc_nofs_save() })
    }
}

impl Drop for NoFsScope {
    fn drop(&mut self) {
        // SAFETY: restores what `enter` saved.
        unsafe { b::rxfs_helper_memalloc_nofs_restore(self.0) }
    }
}

// ---- rxfs's in-memory inode ------------------------------------------

/// rxfs's in-memory inode: the VFS inode and what rxfs keeps beside it,
/// allocated from the module's slab cache ([`alloc_inode`]). The VFS inode
/// is set up by the slab constructor (`inode_init_once`) and the VFS; the
/// rest is pin-initialised here on every allocation.
#[repr(C)]
#[pin_data]
pub struct RxInode {
    #[pin]
    vfs: Opaque<b::inode>,
    /// Birth time, seconds.
    pub btime_sec: AtomicI64,
    /// Birth time, nanoseconds.
    pub btime_nsec: AtomicU32,
    /// On-disk inode flags.
    pub flags: AtomicU32,
    /// Copy-on-write extent size hint, in blocks (0: the default).
    pub cowextsize: AtomicU32,
    /// Data fork sequence: bumped under the extent lock on every extent
    /// change; the iomap validity cookie.
    pub(crate) data_seq: AtomicU64,
    /// CoW fork sequence: the same, for the CoW fork; the cookie's high 32
    /// bits.
    pub(crate) cow_seq: AtomicU64,
    /// On-disk blocks (changed with `delayed` and `i_blocks` under `i_lock`).
    dblocks: AtomicU64,
    /// Delalloc blocks.
    pub(crate) delayed: AtomicI64,
    /// Symlink target, NUL-terminated: set before the inode is unlocked or
    /// instantiated, never changed afterwards.
    link: UnsafeCell<Option<KVec<u8>>>,
    /// Completed writeback ioends that need process-context completion,
    /// under `ioend_lock` (taken from interrupt context).
    #[pin]
    pub(crate) ioend_lock: Opaque<b::spinlock_t>,
    #[pin]
    pub(crate) ioend_list: Opaque<b::list_head>,
    #[pin]
    pub(crate) ioend_work: Opaque<b::work_struct>,
}

impl RxInode {
    fn new<W: super::iomap::WritebackOps>() -> impl PinInit<Self> {
        pin_init!(RxInode {
            // SAFETY: the VFS inode is initialised by the slab constructor
            // and by the VFS around `alloc_inode`; it is left as it is.
            vfs <- unsafe { kernel::init::pin_init_from_closure(|_| Ok::<(), core::convert::Infallible>(())) },
            btime_sec: AtomicI64::new(0),
            btime_nsec: AtomicU32::new(0),
            flags: AtomicU32::new(0),
            cowextsize: AtomicU32::new(0),
            data_seq: AtomicU64::new(0),
            cow_seq: AtomicU64::new(0),
            dblocks: AtomicU64::new(0),
            delayed: AtomicI64::new(0),
            link: UnsafeCell::new(None),
            // SAFETY: each initialiser sets up the C object in place.
            ioend_lock <- Opaque::ffi_init(|p| unsafe { b::rxfs_helper_spin_lock_init(p) }),
            // SAFETY: as above.
            ioend_list <- Opaque::ffi_init(|p| unsafe { b::rxfs_helper_init_list_head(p) }),
            // SAFETY: as above.
            ioend_work <- Opaque::ffi_init(|p| unsafe { b::rxfs_helper_init_work(p, Some(super::aops::end_io_work::<W>)) }),
        })
    }

    /// The VFS inode whose completion work `work` is.
    ///
    /// # Safety
    ///
    /// `work` must be the `ioend_work` of a live `RxInode`.
    pub(crate) unsafe fn vfs_of_work(work: *mut b::work_struct) -> *mut b::inode {
        // SAFETY: per the contract.
        unsafe {
            let ri = kernel::container_of!(work.cast::<Opaque<b::work_struct>>(), RxInode, ioend_work) as *mut RxInode;
            Opaque::raw_get(&raw const (*ri).vfs)
        }
    }

    /// The symlink target, without its NUL.
    pub fn link(&self) -> Option<&[u8]> {
        // SAFETY: `link` is written only through `&mut`-like access before
        // the inode is visible (`set_link`), read-only afterwards.
        unsafe { (*self.link.get()).as_deref().map(|l| &l[..l.len().saturating_sub(1)]) }
    }
}

// SAFETY: the fields are atomics, C objects with their own locking, and a
// link target written once before the inode is shared.
unsafe impl Sync for RxInode {}
// SAFETY: as above.
unsafe impl Send for RxInode {}

/// The slab cache of rxfs inodes.
static INODE_CACHE: AtomicPtr<b::kmem_cache> = AtomicPtr::new(core::ptr::null_mut());

/// # Safety
///
/// Called by the slab allocator once per new object of the cache.
unsafe extern "C" fn init_once(p: *mut kernel::ffi::c_void) {
    let ri = p.cast::<RxInode>();
    // SAFETY: `p` is an object of the inode cache.
    unsafe { b::inode_init_once(Opaque::raw_get(&raw const (*ri).vfs)) }
}

/// Creates the inode cache (module init).
pub(crate) fn cache_create() -> Result {
    // SAFETY: all-zero arguments are the defaults; only the constructor is
    // set.
    let mut args: b::kmem_cache_args = unsafe { core::mem::zeroed() };
    args.ctor = Some(init_once);
    // SAFETY: the name is static; the size is the object's.
    let c = unsafe {
        b::__kmem_cache_create_args(
            kernel::c_str!("rxfs_inode").as_char_ptr(),
            core::mem::size_of::<RxInode>() as u32,
            &mut args,
            b::RXFS_CONST_SLAB_INODE_FLAGS,
        )
    };
    if c.is_null() {
        return Err(ENOMEM);
    }
    INODE_CACHE.store(c, Relaxed);
    Ok(())
}

/// Destroys the inode cache (module exit), after the RCU frees of the last
/// inodes ran.
pub(crate) fn cache_destroy() {
    // SAFETY: inodes are freed by RCU callbacks: let them finish first.
    unsafe { b::rcu_barrier() };
    let c = INODE_CACHE.swap(core::ptr::null_mut(), Relaxed);
    // SAFETY: every object was freed; nothing allocates any more.
    unsafe { b::kmem_cache_destroy(c) };
}

/// `super_operations.alloc_inode`.
///
/// # Safety
///
/// Called by the VFS for a mounted rxfs superblock, whose ioends `W`
/// completes.
pub(crate) unsafe extern "C" fn alloc_inode<W: super::iomap::WritebackOps>(sb: *mut b::super_block) -> *mut b::inode {
    let cache = INODE_CACHE.load(Relaxed);
    // SAFETY: the cache exists while the filesystem type is registered.
    let p = unsafe { b::rxfs_helper_alloc_inode_sb(sb, cache, b::GFP_KERNEL) }.cast::<RxInode>();
    if p.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: `p` is a fresh object of the cache, initialised in place;
    // the initialiser cannot fail.
    match unsafe { RxInode::new::<W>().__pinned_init(p) } {
        // SAFETY: `vfs` is the first field of a live object.
        Ok(()) => unsafe { Opaque::raw_get(&raw const (*p).vfs) },
        Err(_) => core::ptr::null_mut(),
    }
}

/// `super_operations.free_inode` (after an RCU grace period).
///
/// # Safety
///
/// Called by the VFS with an inode from [`alloc_inode`], once.
pub(crate) unsafe extern "C" fn free_inode(inode: *mut b::inode) {
    // SAFETY: the inode is an `RxInode` nobody uses any more.
    unsafe {
        let ri = kernel::container_of!(inode, RxInode, vfs) as *mut RxInode;
        core::ptr::drop_in_place(&raw mut (*ri).link);
        b::kmem_cache_free(INODE_CACHE.load(Relaxed), ri.cast());
    }
}

// SAFETY: the VFS reference count (`ihold`/`iput`) keeps an inode live.
unsafe impl kernel::types::AlwaysRefCounted for Inode {
    fn inc_ref(&self) {
        // SAFETY: the caller holds a reference.
        unsafe { b::ihold(self.as_raw()) }
    }

    unsafe fn dec_ref(obj: core::ptr::NonNull<Self>) {
        // SAFETY: the caller gives up a reference it held.
        unsafe { b::iput(obj.as_ptr().cast()) }
    }
}

/// An inode's file type, which fixes its operations.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileType {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A device node, FIFO or socket.
    Special,
}

impl FileType {
    /// The type of mode `mode`.
    pub fn of(mode: u32) -> Self {
        match mode & b::S_IFMT {
            b::S_IFREG => FileType::Regular,
            b::S_IFDIR => FileType::Directory,
            b::S_IFLNK => FileType::Symlink,
            _ => FileType::Special,
        }
    }
}

/// Timestamps, seconds and nanoseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Times {
    /// Access.
    pub atime: (i64, u32),
    /// Modification.
    pub mtime: (i64, u32),
    /// Change.
    pub ctime: (i64, u32),
}

/// The inode fields the VFS inode and the on-disk inode share.
#[derive(Clone, Copy, Debug, Default)]
pub struct Attrs {
    /// Mode.
    pub mode: u32,
    /// Owner (in the initial user namespace).
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Link count.
    pub nlink: u32,
    /// Size in bytes.
    pub size: i64,
    /// Device number, `new_encode_dev`.
    pub rdev: u32,
    /// Generation.
    pub generation: u32,
    /// Timestamps.
    pub times: Times,
}

fn ts(t: b::timespec64) -> (i64, u32) {
    (t.tv_sec, t.tv_nsec.clamp(0, 999_999_999) as u32)
}

impl Inode {
    /// The shared fields, for writing the inode to disk.
    pub fn attrs(&self) -> Attrs {
        let raw = self.as_raw();
        // SAFETY: the inode is live; each field is read the way the VFS
        // reads it (the helpers), or is a plain integer read.
        unsafe {
            Attrs {
                mode: self.mode(),
                uid: b::rxfs_helper_i_uid_read(raw),
                gid: b::rxfs_helper_i_gid_read(raw),
                nlink: b::rxfs_helper_inode_nlink(raw),
                size: self.size(),
                rdev: b::rxfs_helper_new_encode_dev((*raw).i_rdev),
                generation: (*raw).i_generation,
                times: Times {
                    atime: ts(b::rxfs_helper_inode_get_atime(raw)),
                    mtime: ts(b::rxfs_helper_inode_get_mtime(raw)),
                    ctime: ts(b::rxfs_helper_inode_get_ctime(raw)),
                },
            }
        }
    }

    /// The link count.
    pub fn nlink(&self) -> u32 {
        // SAFETY: the inode is live.
        unsafe { b::rxfs_helper_inode_nlink(self.as_raw()) }
    }

    /// True if the superblock is read-only.
    pub fn sb_rdonly(&self) -> bool {
        // SAFETY: the superblock lives as long as the inode.
        unsafe { b::rxfs_helper_sb_rdonly(self.raw_sb()) != 0 }
    }

    /// True for an inode marked bad.
    pub fn is_bad(&self) -> bool {
        // SAFETY: the inode is live.
        unsafe { b::is_bad_inode(self.as_raw()) }
    }

    /// Raises the link count.
    pub fn inc_nlink(&self) {
        // SAFETY: the inode is live; the caller holds the locks the VFS
        // requires for link count changes.
        unsafe { b::inc_nlink(self.as_raw()) }
    }

    /// Lowers the link count.
    pub fn drop_nlink(&self) {
        // SAFETY: as for `inc_nlink`.
        unsafe { b::drop_nlink(self.as_raw()) }
    }

    /// Sets the link count to zero.
    pub fn clear_nlink(&self) {
        // SAFETY: as for `inc_nlink`.
        unsafe { b::clear_nlink(self.as_raw()) }
    }

    /// Sets ctime to now.
    pub fn set_ctime_now(&self) {
        // SAFETY: the inode is live.
        unsafe { b::inode_set_ctime_current(self.as_raw()) };
    }

    /// Sets ctime to `other`'s ctime.
    pub fn set_ctime_from(&self, other: &Inode) {
        // SAFETY: both inodes are live.
        unsafe { b::rxfs_helper_inode_set_ctime_to_ts(self.as_raw(), b::rxfs_helper_inode_get_ctime(other.as_raw())) };
    }

    /// The current time in this filesystem's granularity.
    pub fn now(&self) -> (i64, u32) {
        // SAFETY: the inode is live.
        ts(unsafe { b::current_time(self.as_raw()) })
    }

    /// Sets the fields read from disk (a new inode, before it is unlocked
    /// or instantiated).
    fn set_attrs(&self, a: &Attrs) {
        let raw = self.as_raw();
        // SAFETY: the inode is new (I_NEW or not yet hashed): nobody else
        // looks at these fields yet.
        unsafe {
            (*raw).i_mode = a.mode as u16;
            b::rxfs_helper_i_uid_write(raw, a.uid);
            b::rxfs_helper_i_gid_write(raw, a.gid);
            b::set_nlink(raw, a.nlink);
            b::rxfs_helper_i_size_write(raw, a.size);
            (*raw).i_rdev = b::rxfs_helper_new_decode_dev(a.rdev);
            (*raw).i_generation = a.generation;
            b::rxfs_helper_inode_set_atime(raw, a.times.atime.0, a.times.atime.1 as isize);
            b::rxfs_helper_inode_set_mtime(raw, a.times.mtime.0, a.times.mtime.1 as isize);
            b::rxfs_helper_inode_set_ctime(raw, a.times.ctime.0, a.times.ctime.1 as isize);
        }
    }

    /// Sets the operations of the inode's file type: `I` for inodes,
    /// `F`/`A` for a regular file's file and address space operations, `D`
    /// for a directory's file operations.
    fn set_ops<T: InodeTypes>(&self) {
        let raw = self.as_raw();
        // SAFETY: a new inode being set up; the tables are static.
        unsafe {
            match FileType::of(self.mode()) {
                FileType::Regular => {
                    (*raw).i_op = T::file_iops();
                    b::rxfs_helper_inode_set_fop(raw, T::file_fops());
                    (*(*raw).i_mapping).a_ops = T::aops();
                    b::rxfs_helper_mapping_set_large_folios((*raw).i_mapping);
                }
                FileType::Directory => {
                    (*raw).i_op = T::dir_iops();
                    b::rxfs_helper_inode_set_fop(raw, T::dir_fops());
                }
                FileType::Symlink => {
                    (*raw).i_op = T::symlink_iops();
                    b::rxfs_helper_inode_set_link(raw, self.rx().link_ptr());
                    b::inode_nohighmem(raw);
                }
                FileType::Special => {
                    (*raw).i_op = T::special_iops();
                    b::init_special_inode(raw, (*raw).i_mode, (*raw).i_rdev);
                }
            }
        }
    }
}

impl RxInode {
    fn link_ptr(&self) -> *mut kernel::ffi::c_char {
        // SAFETY: read-only after `set_link`, as for `link`.
        unsafe { (*self.link.get()).as_mut().map_or(core::ptr::null_mut(), |l| l.as_mut_ptr().cast()) }
    }

    /// Sets the symlink target (`target` without NUL) of a new inode.
    fn set_link(&self, target: &[u8]) -> Result {
        let mut v = KVec::with_capacity(target.len() + 1, GFP_KERNEL)?;
        v.extend_from_slice(target, GFP_KERNEL)?;
        v.push(0, GFP_KERNEL)?;
        // SAFETY: the inode is new: nobody reads `link` yet.
        unsafe { *self.link.get() = Some(v) };
        Ok(())
    }
}

/// The operation tables of a filesystem's inodes, by file type.
pub trait InodeTypes {
    /// Regular files' inode operations.
    fn file_iops() -> &'static b::inode_operations;
    /// Regular files' file operations.
    fn file_fops() -> &'static b::file_operations;
    /// Regular files' address space operations.
    fn aops() -> &'static b::address_space_operations;
    /// Directories' inode operations.
    fn dir_iops() -> &'static b::inode_operations;
    /// Directories' file operations.
    fn dir_fops() -> &'static b::file_operations;
    /// Symlinks' inode operations.
    fn symlink_iops() -> &'static b::inode_operations;
    /// Special files' inode operations.
    fn special_iops() -> &'static b::inode_operations;
}

/// A new inode (`I_NEW`, or not yet hashed), being set up: visible to no
/// one until [`NewInode::finish`]; dropped unfinished, it is failed
/// (`iget_failed`) or, for a created inode, released.
pub struct NewInode {
    inode: core::ptr::NonNull<b::inode>,
    hashed: bool,
}

impl NewInode {
    /// The inode.
    pub fn inode(&self) -> &Inode {
        // SAFETY: we hold the new inode's only reference.
        unsafe { Inode::from_raw(self.inode.as_ptr()) }
    }

    /// Sets the fields read from disk, the symlink target and the
    /// operations, and the on-disk block count.
    pub fn fill<T: InodeTypes>(&self, a: &Attrs, btime: (i64, u32), flags: u32, dblocks: u64, link: Option<&[u8]>) -> Result {
        let inode = self.inode();
        inode.set_attrs(a);
        let rx = inode.rx();
        rx.btime_sec.store(btime.0, Relaxed);
        rx.btime_nsec.store(btime.1, Relaxed);
        rx.flags.store(flags, Relaxed);
        inode.account(Some(dblocks), 0);
        if let Some(l) = link {
            rx.set_link(l)?;
        }
        inode.set_ops::<T>();
        Ok(())
    }

    pub(crate) fn unhashed(inode: core::ptr::NonNull<b::inode>) -> Self {
        NewInode { inode, hashed: false }
    }

    pub(crate) fn into_raw(self) -> *mut b::inode {
        let p = self.inode.as_ptr();
        core::mem::forget(self);
        p
    }

    /// Sets the link count.
    pub fn set_nlink(&self, n: u32) {
        // SAFETY: a new inode nobody else sees.
        unsafe { b::set_nlink(self.inode.as_ptr(), n) }
    }

    /// Sets the size (a symlink's target length).
    pub fn set_size(&self, size: i64) {
        // SAFETY: as above.
        unsafe { b::rxfs_helper_i_size_write(self.inode.as_ptr(), size) }
    }

    /// Sets a new symlink's target.
    pub fn set_link(&self, target: &[u8]) -> Result {
        self.inode().rx().set_link(target)
    }

    /// Sets the operations of the inode's type.
    pub fn set_ops<T: InodeTypes>(&self) {
        self.inode().set_ops::<T>()
    }

    /// Numbers a created inode and hashes it, locked (`insert_inode_locked`).
    pub fn hash(&mut self, ino: u64, generation: u32) -> Result {
        let raw = self.inode.as_ptr();
        // SAFETY: a new inode nobody else sees.
        unsafe {
            (*raw).i_ino = ino as _;
            (*raw).i_generation = generation;
            if b::insert_inode_locked(raw) != 0 {
                // Cannot happen: the inode's block was free. Evict must
                // not free it again.
                b::make_bad_inode(raw);
                return Err(super::code::euclean());
            }
        }
        self.hashed = true;
        Ok(())
    }

    /// Finishes a tmpfile: the dentry, the unlock and the open.
    pub fn tmpfile(self, file: &super::file::File) -> Result {
        let raw = self.into_raw();
        // SAFETY: a new hashed inode; its reference passes to the dentry.
        unsafe {
            b::d_tmpfile(file.as_raw(), raw);
            b::unlock_new_inode(raw);
            kernel::error::to_result(b::rxfs_helper_finish_open_simple(file.as_raw(), 0))
        }
    }

    /// Makes a read inode visible (`unlock_new_inode`).
    pub fn finish(self) -> ARef<Inode> {
        let p = self.inode;
        core::mem::forget(self);
        // SAFETY: a new inode from `iget_locked`, fully set up.
        unsafe { b::unlock_new_inode(p.as_ptr()) };
        // SAFETY: we hand over the reference `iget_locked` gave.
        unsafe { ARef::from_raw(p.cast()) }
    }
}

impl Drop for NewInode {
    fn drop(&mut self) {
        // SAFETY: an unfinished new inode: failed, and our reference put.
        // An unhashed one has no number yet (or a bad one): eviction frees
        // nothing on disk.
        unsafe {
            if self.hashed {
                b::iget_failed(self.inode.as_ptr());
            } else {
                b::clear_nlink(self.inode.as_ptr());
                b::iput(self.inode.as_ptr());
            }
        }
    }
}

/// What [`iget_locked`] found.
pub enum Iget {
    /// An inode already in the cache.
    Cached(ARef<Inode>),
    /// A new inode to fill from disk.
    New(NewInode),
}

/// `iget_locked`.
///
/// # Safety
///
/// `sb` must be a mounted rxfs superblock.
pub(crate) unsafe fn iget_locked(sb: *mut b::super_block, ino: u64) -> Result<Iget> {
    // SAFETY: per the contract.
    let p = core::ptr::NonNull::new(unsafe { b::iget_locked(sb, ino as _) }).ok_or(ENOMEM)?;
    // SAFETY: a referenced inode; `i_state` is read as the VFS does after
    // iget_locked.
    let new = unsafe { (*p.as_ptr()).i_state } & b::I_NEW != 0;
    Ok(if new {
        Iget::New(NewInode { inode: p, hashed: true })
    } else {
        // SAFETY: we own the reference iget_locked gave.
        Iget::Cached(unsafe { ARef::from_raw(p.cast()) })
    })
}
