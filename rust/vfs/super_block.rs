// SPDX-License-Identifier: GPL-2.0

//! Superblocks: the filesystem type's registration, mounting through
//! `fs_context` (`get_tree_bdev`), the `super_operations` table, per-mount
//! data, statfs, unmount.
//!
//! A superblock is seen through one of two types. [`NewSuperBlock`] exists
//! only during `fill_super`: it can read the device and set the superblock
//! up, and has no filesystem data yet. [`SuperBlock`] is a mounted
//! superblock whose data is always there. `s_fs_info` points to the
//! layer's [`SbInfo`] from the start of `fill_super` to the end of
//! `kill_sb`; the filesystem's data in it is set only when `fill_super`
//! succeeds, so it outlives every callback that can reach it.

use super::bindings as b;
use super::inode::{FileType, Iget, Inode};
use core::marker::PhantomData;
use core::sync::atomic::{AtomicI64, AtomicPtr, AtomicUsize, Ordering};
use kernel::error::{from_result, to_result, Result};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::{ARef, Opaque};

/// What a filesystem implements.
pub trait FileSystem: Sized + 'static {
    /// Per-mount data, kept from mount to unmount.
    type Info: Send + Sync;

    /// The writeback operations, whose process-context completion each
    /// inode's ioend work runs.
    type Writeback: super::iomap::WritebackOps;

    /// Reads and verifies the on-disk superblock and sets up `sb`.
    /// `silent` is set when the kernel is probing filesystem types.
    fn fill_super(sb: &NewSuperBlock<'_, Self>, silent: bool) -> Result<Self::Info>;

    /// Finishes mounting once the data is in place (recovery); returns the
    /// root directory.
    fn fill_root(sb: &SuperBlock<'_, Self>) -> Result<ARef<Inode>>;

    /// Reports the filesystem's space and inode figures.
    fn statfs(sb: &SuperBlock<'_, Self>) -> Result<StatFs>;

    /// Writes every change; with `wait`, to stable storage.
    fn sync_fs(sb: &SuperBlock<'_, Self>, wait: bool) -> Result;

    /// Writes an inode's VFS fields back.
    fn write_inode(inode: &Inode) -> Result;

    /// An inode leaves memory (after its page cache is gone).
    fn evict_inode(inode: &Inode);

    /// The text of the debugfs `stats` file.
    fn stats(sb: &SuperBlock<'_, Self>, out: &mut dyn core::fmt::Write) -> core::fmt::Result;

    /// Unmount, after the VFS synced and evicted every inode (and after
    /// the periodic work stopped).
    fn put_super(sb: &SuperBlock<'_, Self>) {
        let _ = Self::sync_fs(sb, true);
    }

    /// Idmapped mounts allowed (`FS_ALLOW_IDMAP`): set only by a
    /// filesystem whose every inode operation passes the layer's [`Idmap`]
    /// on (new inodes' owners, setattr, getattr, whiteouts) and that keeps
    /// ids in xattrs only through the VFS's ACL and file-capability calls,
    /// which map them first.
    ///
    /// [`Idmap`]: super::namei::Idmap
    const ALLOW_IDMAP: bool = false;

    /// Milliseconds between runs of [`FileSystem::periodic`] on a
    /// read-write mount; 0: never.
    const PERIODIC_MS: u32 = 0;

    /// Runs every [`FileSystem::PERIODIC_MS`] while mounted read-write (as
    /// XFS's log worker commits every 30 s).
    fn periodic(sb: &SuperBlock<'_, Self>) {
        let _ = sb;
    }

    /// A read-write mount becomes read-only (after the VFS synced it):
    /// leave nothing for a later mount to recover (XFS: `xfs_log_clean`).
    /// An error keeps the mount read-write.
    fn remount_ro(sb: &SuperBlock<'_, Self>) -> Result {
        let _ = sb;
        Ok(())
    }

    /// A read-only mount asks to become read-write; an error refuses.
    fn remount_rw(sb: &SuperBlock<'_, Self>) -> Result {
        let _ = sb;
        Ok(())
    }

    /// The filesystem is being frozen (`FIFREEZE`, or a device snapshot):
    /// the VFS has synced it and holds off writers and write faults; the
    /// periodic work is stopped. Changes that need no write permission
    /// (evictions) can still come until the thaw, unless they hold
    /// [`SuperBlock::start_intwrite`]. Leave the device as a clean unmount would (XFS:
    /// `xfs_log_quiesce`). An error leaves the filesystem thawed.
    fn freeze_fs(sb: &SuperBlock<'_, Self>) -> Result {
        let _ = sb;
        Ok(())
    }

    /// Thawed; the periodic work runs again after this.
    fn unfreeze_fs(sb: &SuperBlock<'_, Self>) -> Result {
        let _ = sb;
        Ok(())
    }
}

/// What `statfs` reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct StatFs {
    /// `f_type`: the filesystem's magic number.
    pub fs_type: u32,
    /// Block size in bytes.
    pub bsize: u32,
    /// Total data blocks.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks available to unprivileged users.
    pub bavail: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Filesystem id.
    pub fsid: u64,
    /// Longest file name.
    pub namelen: u32,
}

/// The fault-injection knobs (debugfs, like XFS's errortags).
#[derive(Clone, Copy, Debug)]
pub enum Knob {
    /// (a) sleep after iomap_begin hands out a write mapping...
    BeginDelayMs,
    /// ... covering this offset (one shot).
    BeginDelayPos,
    /// (b) sleep in writeback before ioend submission...
    WbSubmitDelayMs,
    /// ... and before ioend completion.
    WbCompleteDelayMs,
    /// (c) a buffered write's copy stops here (one shot).
    ShortWriteAt,
    /// (c) a buffered write fails at the folio here (one shot).
    FailWriteAt,
    /// (d) dangerous: iomap_valid always says yes.
    NoIomapValid,
    /// (e) dangerous: 0 correct, 1 naive punch and truncate, 2 none.
    PunchMode,
    /// Dangerous: page_mkwrite dirties without reserving.
    MkwriteNaive,
    /// Dangerous: metadata changes do not check for room first.
    NoMetaReserve,
    /// Dangerous: writes past EOF do not zero from the old EOF.
    NoZeroEof,
    /// Dangerous: the ioend completion work, this many ms after handing
    /// its ioends to the filesystem, finishes whatever ioends have
    /// completed since without handing them over (a drain of the live
    /// list: their unwritten blocks stay unwritten).
    IoendDrainNaiveMs,
    /// (f) sleep in an O_DIRECT write's completion before the CoW remap...
    DioCowEndDelayMs,
    /// ... of a write covering this offset (one shot).
    DioCowEndDelayPos,
    /// Dangerous: CoW completion remaps the whole run of CoW fork extents
    /// around the I/O, unwritten preallocation included.
    CowRemapAll,
    /// (g) a commit writes its blocks home one at a time, sleeping this
    /// long after each (widens the window a power cut tears).
    MetaWriteDelayMs,
    /// Dangerous: a clone, collapse or insert range is one metadata change
    /// however many extents it meets (larger than a journal transaction,
    /// it is committed in pieces that are not atomic).
    OnePiece,
    /// (h) sleep in create/mkdir/mknod/symlink after the metadata change,
    /// before the VFS inodes are updated.
    NsDelayMs,
    /// Dangerous: `write_inode` writes the VFS inode's link count over the
    /// one the namespace operations keep on disk.
    NlinkFromVfs,
    /// (i) the home writes of this many commits fail (ENOSPC, unwritten).
    FailHomeWrites,
}

/// How many knobs there are.
pub(crate) const NKNOBS: usize = 20;

/// Every knob: its debugfs name, whether it is a dangerous negative
/// control, and its value at mount (-1 disarms an offset).
pub(crate) const KNOBS: [(Knob, &CStr, bool, i64); NKNOBS] = [
    (Knob::BeginDelayMs, kernel::c_str!("begin_delay_ms"), false, 0),
    (Knob::BeginDelayPos, kernel::c_str!("begin_delay_pos"), false, -1),
    (Knob::WbSubmitDelayMs, kernel::c_str!("wb_submit_delay_ms"), false, 0),
    (Knob::WbCompleteDelayMs, kernel::c_str!("wb_complete_delay_ms"), false, 0),
    (Knob::ShortWriteAt, kernel::c_str!("short_write_at"), false, -1),
    (Knob::FailWriteAt, kernel::c_str!("fail_write_at"), false, -1),
    (Knob::NoIomapValid, kernel::c_str!("no_iomap_valid"), true, 0),
    (Knob::PunchMode, kernel::c_str!("punch_mode"), true, 0),
    (Knob::MkwriteNaive, kernel::c_str!("mkwrite_naive"), true, 0),
    (Knob::NoMetaReserve, kernel::c_str!("no_meta_reserve"), true, 0),
    (Knob::NoZeroEof, kernel::c_str!("no_zero_eof"), true, 0),
    (Knob::IoendDrainNaiveMs, kernel::c_str!("ioend_drain_naive_ms"), true, 0),
    (Knob::DioCowEndDelayMs, kernel::c_str!("dio_cow_end_delay_ms"), false, 0),
    (Knob::DioCowEndDelayPos, kernel::c_str!("dio_cow_end_delay_pos"), false, -1),
    (Knob::CowRemapAll, kernel::c_str!("cow_remap_all"), true, 0),
    (Knob::MetaWriteDelayMs, kernel::c_str!("meta_write_delay_ms"), false, 0),
    (Knob::OnePiece, kernel::c_str!("one_piece"), true, 0),
    (Knob::NsDelayMs, kernel::c_str!("ns_delay_ms"), false, 0),
    (Knob::NlinkFromVfs, kernel::c_str!("nlink_from_vfs"), true, 0),
    (Knob::FailHomeWrites, kernel::c_str!("fail_home_writes"), false, 0),
];

/// The layer's per-mount state, in `s_fs_info`.
pub(crate) struct SbInfo<T: FileSystem> {
    /// The filesystem's data: set when `fill_super` succeeds.
    fs: AtomicPtr<T::Info>,
    /// Knob values, in [`KNOBS`] order.
    pub(crate) knobs: [AtomicI64; NKNOBS],
    /// Bit 0 ([`SHUTDOWN`]): shut down; bit 1 ([`NORECOVERY`]): mounted
    /// with `norecovery`.
    flags: AtomicUsize,
    /// Completions of writeback ioends that need process context.
    ioend_wq: AtomicPtr<b::workqueue_struct>,
    /// This mount's debugfs directory.
    pub(crate) debugfs: AtomicPtr<b::dentry>,
    /// The superblock, for the periodic work.
    raw: AtomicPtr<b::super_block>,
    /// The periodic work ([`FileSystem::periodic`]): initialised in
    /// `fill_super` once this value has its final address, queued when
    /// the mount succeeded, cancelled in `put_super`.
    periodic: Opaque<b::delayed_work>,
}

impl<T: FileSystem> SbInfo<T> {
    fn new() -> Self {
        SbInfo {
            fs: AtomicPtr::new(core::ptr::null_mut()),
            knobs: KNOBS.map(|(_, _, _, v)| AtomicI64::new(v)),
            flags: AtomicUsize::new(0),
            ioend_wq: AtomicPtr::new(core::ptr::null_mut()),
            debugfs: AtomicPtr::new(core::ptr::null_mut()),
            raw: AtomicPtr::new(core::ptr::null_mut()),
            periodic: Opaque::uninit(),
        }
    }

    /// Queues the periodic work (again).
    fn queue_periodic(&self) {
        let wq = self.ioend_wq.load(Ordering::Relaxed);
        if T::PERIODIC_MS != 0 && !wq.is_null() {
            // SAFETY: the work was initialised in `fill_super` and lives
            // (at this address) until `kill_sb`, after `put_super`
            // cancelled it; the workqueue lives as long.
            unsafe { b::rxfs_helper_queue_delayed_work(wq, self.periodic.get(), T::PERIODIC_MS) };
        }
    }
}

/// The periodic work: runs [`FileSystem::periodic`] and queues itself again.
///
/// # Safety
///
/// Called by the workqueue with the `periodic` work of a live `SbInfo<T>`
/// of a mounted superblock (`put_super` cancels it before the unmount).
unsafe extern "C" fn periodic_work<T: FileSystem>(work: *mut b::work_struct) {
    // SAFETY: per the contract: the delayed work inside an `SbInfo<T>`.
    let sbi = unsafe {
        let dw = b::rxfs_helper_to_delayed_work(work);
        &*kernel::container_of!(dw.cast::<Opaque<b::delayed_work>>(), SbInfo<T>, periodic)
    };
    let raw = sbi.raw.load(Ordering::Acquire);
    if raw.is_null() {
        return;
    }
    // SAFETY: queued only once `fill_super` set the filesystem's data, and
    // cancelled before `put_super` tears it down.
    let sb = unsafe { SuperBlock::<T>::from_raw(raw) };
    // Frozen (`freeze_fs` cancels it, but a remount or a freeze still
    // syncing may see it run): skip this run, not the next.
    if !sb.is_shutdown() && !sb.is_rdonly() && !sb.is_frozen() {
        T::periodic(&sb);
    }
    sbi.queue_periodic();
}

impl<T: FileSystem> Drop for SbInfo<T> {
    fn drop(&mut self) {
        super::debugfs::remove(self.debugfs.load(Ordering::Relaxed));
        let wq = self.ioend_wq.load(Ordering::Relaxed);
        if !wq.is_null() {
            // SAFETY: created in `fill_super`; every inode (and so every
            // queued completion) is gone after `kill_block_super`.
            unsafe { b::destroy_workqueue(wq) };
        }
        let fs = self.fs.load(Ordering::Relaxed);
        if !fs.is_null() {
            // SAFETY: set from `KBox::into_raw` in `fill_super`; the
            // superblock is gone, so nothing else refers to it.
            drop(unsafe { KBox::from_raw(fs) });
        }
    }
}

/// [`SbInfo::flags`]: shut down.
const SHUTDOWN: usize = 1;
/// [`SbInfo::flags`], and the mount options kept in `fs_context::fs_private`
/// (an integer, not a pointer: nothing to free): `norecovery`.
const NORECOVERY: usize = 2;

/// A superblock being set up by `fill_super`.
pub struct NewSuperBlock<'a, T: FileSystem> {
    raw: *mut b::super_block,
    _p: PhantomData<(&'a (), T)>,
}

/// A mounted superblock and its filesystem data.
pub struct SuperBlock<'a, T: FileSystem> {
    raw: *mut b::super_block,
    info: &'a T::Info,
}

fn sb_id<'a>(raw: *mut b::super_block) -> &'a CStr {
    // SAFETY: `raw` is a live superblock (the callers' invariant) and
    // `s_id` is a NUL-terminated array inside it that lives as long.
    unsafe { CStr::from_char_ptr((*raw).s_id.as_ptr()) }
}

fn sbi<'a, T: FileSystem>(raw: *mut b::super_block) -> &'a SbInfo<T> {
    // SAFETY: `s_fs_info` is the layer's `SbInfo` from the start of
    // `fill_super` to the end of `kill_sb`, which bound every caller.
    unsafe { &*(*raw).s_fs_info.cast::<SbInfo<T>>() }
}

impl<'a, T: FileSystem> NewSuperBlock<'a, T> {
    /// The device name (`s_id`), for log lines.
    pub fn id(&self) -> &CStr {
        sb_id(self.raw)
    }

    /// Size of the block device in bytes.
    pub fn device_bytes(&self) -> u64 {
        // SAFETY: `self.raw` is a live superblock with a block device.
        unsafe { super::bdev::bytes(self.raw) }
    }

    /// The device's logical sector size.
    pub fn sector_size(&self) -> u32 {
        // SAFETY: as for `device_bytes`.
        unsafe { b::rxfs_helper_bdev_logical_block_size((*self.raw).s_bdev) }
    }

    /// True if the mount is read-only.
    pub fn is_rdonly(&self) -> bool {
        // SAFETY: `self.raw` is a live superblock.
        unsafe { b::rxfs_helper_sb_rdonly(self.raw) != 0 }
    }

    /// True if mounted with `norecovery`: the log is not replayed.
    pub fn norecovery(&self) -> bool {
        sbi::<T>(self.raw).flags.load(Ordering::Relaxed) & NORECOVERY != 0
    }

    /// Reads `buf.len()` bytes at byte `pos` of the device, through the
    /// device's page cache. A range beyond the device is `EINVAL`.
    pub fn read(&self, pos: u64, buf: &mut [u8]) -> Result {
        let end = pos.checked_add(buf.len() as u64).ok_or(EINVAL)?;
        if end > self.device_bytes() {
            return Err(EINVAL);
        }
        // SAFETY: the range lies inside the device of a live superblock.
        unsafe { super::bdev::read(self.raw, pos, buf) }
    }

    /// Sets the block size, magic, operations, time range and UUID.
    /// `EINVAL` if the block size is smaller than the device's sectors.
    pub fn setup(&self, block_size: u32, magic: u64, uuid: &[u8; 16]) -> Result {
        let raw = self.raw;
        // SAFETY: a superblock in fill_super, owned by this call; the
        // operation table is static.
        unsafe {
            if b::sb_set_blocksize(raw, block_size as i32) == 0 {
                return Err(EINVAL);
            }
            (*raw).s_magic = magic as _;
            (*raw).s_op = SuperOpsTable::<T>::get();
            (*raw).s_maxbytes = b::RXFS_CONST_MAX_LFS_FILESIZE;
            (*raw).s_time_gran = 1;
            (*raw).s_time_min = i64::MIN;
            (*raw).s_time_max = i64::MAX;
            (*raw).s_max_links = 65000;
            b::rxfs_helper_super_set_uuid(raw, uuid.as_ptr(), 16);
        }
        Ok(())
    }

    /// Extended attributes through `X` (`s_xattr`); without this call the
    /// VFS answers every xattr call with `EOPNOTSUPP`.
    pub fn set_xattr_handlers<X: super::xattr::XattrOps>(&self) {
        // SAFETY: a superblock in fill_super, owned by this call; the
        // handler table is static.
        unsafe { (*self.raw).s_xattr = super::xattr::XattrTable::<X>::get_table().as_ptr().cast() };
    }

    /// POSIX ACLs (`SB_POSIXACL`): the VFS asks the inodes'
    /// `get_inode_acl` in permission checks, sends the ACL names to
    /// `set_acl`, and leaves the umask to the filesystem's creations
    /// ([`super::acl::create`]).
    pub fn set_posix_acl(&self) {
        // SAFETY: a superblock in fill_super, owned by this call.
        unsafe { (*self.raw).s_flags |= b::RXFS_CONST_SB_POSIXACL as kernel::ffi::c_ulong };
    }

    /// The device, for metadata I/O. `block_log` is the block size set up
    /// by [`NewSuperBlock::setup`]; the filesystem must fit the device.
    pub fn dev(&self, block_log: u32, block_count: u64, fsid: u64) -> super::meta::Dev {
        // SAFETY: the superblock and its device live until `kill_sb`, after
        // the last use of the filesystem's data, which holds the `Dev`.
        unsafe { super::meta::Dev::new(self.raw, block_log, block_count, fsid) }
    }
}

impl<'a, T: FileSystem> SuperBlock<'a, T> {
    /// # Safety
    ///
    /// `raw` must be a mounted superblock of `T` whose filesystem data is
    /// set, and must stay so for `'a`.
    pub(crate) unsafe fn from_raw(raw: *mut b::super_block) -> Self {
        // SAFETY: per the contract, the data is a live `T::Info` for `'a`,
        // and only shared references are made from it.
        let info = unsafe { &*sbi::<T>(raw).fs.load(Ordering::Acquire) };
        SuperBlock { raw, info }
    }

    fn raw_sb(&self) -> *mut b::super_block {
        self.raw
    }

    pub(crate) fn raw_ptr(&self) -> *mut b::super_block {
        self.raw
    }

    fn sbi(&self) -> &SbInfo<T> {
        sbi::<T>(self.raw)
    }

    /// The filesystem's per-mount data.
    pub fn info(&self) -> &'a T::Info {
        self.info
    }

    /// The device name (`s_id`), for log lines.
    pub fn id(&self) -> &CStr {
        sb_id(self.raw)
    }

    /// True if the mount is read-only.
    pub fn is_rdonly(&self) -> bool {
        // SAFETY: `self.raw` is a live superblock.
        unsafe { b::rxfs_helper_sb_rdonly(self.raw) != 0 }
    }

    /// True if mounted with `norecovery`: the log was not replayed.
    pub fn norecovery(&self) -> bool {
        self.sbi().flags.load(Ordering::Relaxed) & NORECOVERY != 0
    }

    /// True after the shutdown ioctl: nothing more reaches the disk.
    pub fn is_shutdown(&self) -> bool {
        self.sbi().flags.load(Ordering::Acquire) & SHUTDOWN != 0
    }

    /// Shuts the filesystem down; false if it already was.
    pub fn set_shutdown(&self) -> bool {
        self.sbi().flags.fetch_or(SHUTDOWN, Ordering::AcqRel) & SHUTDOWN == 0
    }

    /// The fault-injection knob `k`.
    pub fn knob(&self, k: Knob) -> &AtomicI64 {
        &self.sbi().knobs[k as usize]
    }

    /// The workqueue of ioend completions.
    pub(crate) fn ioend_wq(&self) -> *mut b::workqueue_struct {
        self.sbi().ioend_wq.load(Ordering::Relaxed)
    }

    /// `sync_filesystem` under `s_umount`.
    pub fn sync_filesystem(&self) {
        // SAFETY: a mounted superblock; `s_umount` is taken shared, as the
        // VFS requires for sync_filesystem.
        unsafe {
            b::down_read(&raw mut (*self.raw).s_umount);
            b::sync_filesystem(self.raw);
            b::up_read(&raw mut (*self.raw).s_umount);
        }
    }

    /// Writes back every dirty inode, if `s_umount` can be had without
    /// waiting (unmount may hold it): the ENOSPC flush of buffered writes.
    pub fn try_sync_inodes(&self) {
        // SAFETY: as for `sync_filesystem`.
        unsafe {
            if b::down_read_trylock(&raw mut (*self.raw).s_umount) != 0 {
                b::sync_inodes_sb(self.raw);
                b::up_read(&raw mut (*self.raw).s_umount);
            }
        }
    }

    /// Write faults in progress block freezing (`sb_start_pagefault`).
    pub fn start_pagefault(&self) -> PagefaultGuard<'_, 'a, T> {
        // SAFETY: a mounted superblock; the guard ends it.
        unsafe { b::rxfs_helper_sb_start_pagefault(self.raw) };
        PagefaultGuard(self)
    }

    /// Freeing an unlinked inode's blocks at its last close waits while
    /// the filesystem is frozen (`sb_start_intwrite`, as ext4's eviction).
    pub fn start_intwrite(&self) -> IntwriteGuard<'_, 'a, T> {
        // SAFETY: a mounted superblock; the guard ends it.
        unsafe { b::rxfs_helper_sb_start_intwrite(self.raw) };
        IntwriteGuard(self)
    }

    /// Frozen, or being frozen past the point where writers are held off.
    pub fn is_frozen(&self) -> bool {
        // SAFETY: a mounted superblock; `frozen` is a short the freezer
        // writes under `s_umount`: a racy read sees an old or a new level.
        let level = unsafe { core::ptr::read_volatile(&raw const (*self.raw).s_writers.frozen) };
        u32::from(level) != b::SB_UNFROZEN
    }

    /// The cached inode `ino`, or a new one to read (`iget_locked`).
    pub fn iget_locked(&self, ino: u64) -> Result<Iget> {
        // SAFETY: a mounted superblock.
        unsafe { super::inode::iget_locked(self.raw_sb(), ino) }
    }

    /// Makes `root` the root dentry; it must be a directory.
    fn make_root(&self, root: ARef<Inode>) -> Result {
        if FileType::of(root.mode()) != FileType::Directory {
            return Err(super::code::euclean());
        }
        let p = ARef::into_raw(root);
        // SAFETY: the superblock in fill_super; the inode reference passes
        // to the root dentry (or is put by d_make_root on failure).
        unsafe {
            let d = b::d_make_root(p.as_ptr().cast());
            (*self.raw).s_root = d;
            if d.is_null() {
                return Err(ENOMEM);
            }
        }
        Ok(())
    }
}

/// A write fault's hold on the superblock (`sb_start_pagefault`).
pub struct PagefaultGuard<'b, 'a, T: FileSystem>(&'b SuperBlock<'a, T>);

impl<T: FileSystem> Drop for PagefaultGuard<'_, '_, T> {
    fn drop(&mut self) {
        // SAFETY: `start_pagefault` began it.
        unsafe { b::rxfs_helper_sb_end_pagefault(self.0.raw) }
    }
}

/// An internal writer's hold on the superblock (`sb_start_intwrite`).
pub struct IntwriteGuard<'b, 'a, T: FileSystem>(&'b SuperBlock<'a, T>);

impl<T: FileSystem> Drop for IntwriteGuard<'_, '_, T> {
    fn drop(&mut self) {
        // SAFETY: `start_intwrite` began it.
        unsafe { b::rxfs_helper_sb_end_intwrite(self.0.raw) }
    }
}

/// The const `super_operations` of a filesystem.
pub(crate) struct SuperOpsTable<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> SuperOpsTable<T> {
    const OPS: b::super_operations = {
        // SAFETY: all-zero is a table without operations.
        let mut ops: b::super_operations = unsafe { core::mem::zeroed() };
        ops.alloc_inode = Some(super::inode::alloc_inode::<T::Writeback>);
        ops.free_inode = Some(super::inode::free_inode);
        ops.write_inode = Some(Self::write_inode);
        ops.evict_inode = Some(Self::evict_inode);
        ops.put_super = Some(Self::put_super);
        ops.sync_fs = Some(Self::sync_fs);
        ops.statfs = Some(Self::statfs);
        ops.freeze_fs = Some(Self::freeze_fs);
        ops.unfreeze_fs = Some(Self::unfreeze_fs);
        ops
    };

    const fn get() -> &'static b::super_operations {
        &Self::OPS
    }

    unsafe extern "C" fn write_inode(inode: *mut b::inode, _wbc: *mut b::writeback_control) -> kernel::ffi::c_int {
        // SAFETY: the VFS writes back a live inode of a mounted superblock.
        from_result(|| T::write_inode(unsafe { Inode::from_raw(inode) }).map(|()| 0))
    }

    unsafe extern "C" fn evict_inode(inode: *mut b::inode) {
        // SAFETY: the VFS evicts an inode of a mounted superblock, once;
        // its completion work is flushed before the inode goes.
        unsafe {
            b::truncate_inode_pages_final(&raw mut (*inode).i_data);
            let i = Inode::from_raw(inode);
            // The last ioend completion may still be finishing with it.
            b::flush_work(i.rx().ioend_work.get());
            T::evict_inode(i);
            b::clear_inode(inode);
        }
    }

    unsafe extern "C" fn put_super(sb: *mut b::super_block) {
        // SAFETY: the periodic work was initialised in `fill_super`; this
        // waits for a run in progress and stops it requeueing.
        unsafe { b::cancel_delayed_work_sync(sbi::<T>(sb).periodic.get()) };
        // SAFETY: unmount of a mounted superblock.
        let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
        // Evicting the last inodes may have changed metadata since sync_fs.
        T::put_super(&sb);
    }

    unsafe extern "C" fn sync_fs(sb: *mut b::super_block, wait: kernel::ffi::c_int) -> kernel::ffi::c_int {
        // SAFETY: sync of a mounted superblock.
        let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
        from_result(|| T::sync_fs(&sb, wait != 0).map(|()| 0))
    }

    unsafe extern "C" fn freeze_fs(raw: *mut b::super_block) -> kernel::ffi::c_int {
        let sbi = sbi::<T>(raw);
        // SAFETY: the periodic work was initialised in `fill_super`; this
        // waits for a run in progress. A failed freeze or the thaw queues
        // it again.
        unsafe { b::cancel_delayed_work_sync(sbi.periodic.get()) };
        // SAFETY: the VFS freezes a mounted (read-write) superblock.
        let sb = unsafe { SuperBlock::<T>::from_raw(raw) };
        let r = from_result(|| T::freeze_fs(&sb).map(|()| 0));
        if r != 0 {
            sbi.queue_periodic();
        }
        r
    }

    unsafe extern "C" fn unfreeze_fs(raw: *mut b::super_block) -> kernel::ffi::c_int {
        // SAFETY: the VFS thaws a mounted superblock it froze.
        let sb = unsafe { SuperBlock::<T>::from_raw(raw) };
        let r = from_result(|| T::unfreeze_fs(&sb).map(|()| 0));
        sbi::<T>(raw).queue_periodic();
        r
    }

    unsafe extern "C" fn statfs(dentry: *mut b::dentry, buf: *mut kernel::bindings::kstatfs) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: statfs runs on a mounted superblock (it has a dentry).
            let sb = unsafe { SuperBlock::<T>::from_raw((*dentry).d_sb) };
            let s = T::statfs(&sb)?;
            // SAFETY: the kernel crate declares `kstatfs` opaque; it is the
            // C type generated here, which the caller owns for the call.
            let buf = unsafe { &mut *buf.cast::<b::kstatfs>() };
            buf.f_type = s.fs_type as _;
            buf.f_bsize = s.bsize as _;
            buf.f_frsize = s.bsize as _;
            buf.f_blocks = s.blocks;
            buf.f_bfree = s.bfree;
            buf.f_bavail = s.bavail;
            buf.f_files = s.files;
            buf.f_ffree = s.ffree;
            buf.f_fsid.val = [s.fsid as u32 as i32, (s.fsid >> 32) as u32 as i32];
            buf.f_namelen = s.namelen as _;
            Ok(0)
        })
    }
}

/// The const `fs_context_operations` and mount option table.
struct ContextOps<T: FileSystem>(PhantomData<T>);

/// The mount option table: `discard`/`nodiscard` are accepted, as on XFS
/// and ext4, so that tools and tests that pass them can mount rxfs; rxfs
/// issues no discards as it frees blocks (FITRIM does). `norecovery`
/// (read-only mounts) skips the replay of a dirty log, as XFS's.
#[repr(transparent)]
struct Params([b::fs_parameter_spec; 3]);

/// Index of `norecovery` in [`PARAMS`].
const OPT_NORECOVERY: i32 = 1;

// SAFETY: a constant table of pointers to static strings.
unsafe impl Sync for Params {}

static PARAMS: Params = Params([
    b::fs_parameter_spec {
        name: kernel::c_str!("discard").as_char_ptr(),
        type_: None,
        opt: 0,
        flags: b::fs_param_neg_with_no as u16,
        data: core::ptr::null(),
    },
    b::fs_parameter_spec {
        name: kernel::c_str!("norecovery").as_char_ptr(),
        type_: None,
        opt: OPT_NORECOVERY as u8,
        flags: 0,
        data: core::ptr::null(),
    },
    // SAFETY: all-zero ends the table.
    unsafe { core::mem::zeroed() },
]);

impl<T: FileSystem> ContextOps<T> {
    const OPS: b::fs_context_operations = b::fs_context_operations {
        free: None,
        dup: None,
        parse_param: Some(Self::parse_param),
        parse_monolithic: None,
        get_tree: Some(Self::get_tree),
        reconfigure: Some(Self::reconfigure),
    };

    unsafe extern "C" fn init_fs_context(fc: *mut kernel::bindings::fs_context) -> kernel::ffi::c_int {
        // SAFETY: the kernel crate declares `fs_context` opaque; it is the C
        // type generated here, being set up by the VFS for this call.
        unsafe { (*fc.cast::<b::fs_context>()).ops = &Self::OPS };
        0
    }

    unsafe extern "C" fn parse_param(fc: *mut b::fs_context, param: *mut b::fs_parameter) -> kernel::ffi::c_int {
        // SAFETY: all-zero is an empty result.
        let mut result: b::fs_parse_result = unsafe { core::mem::zeroed() };
        // SAFETY: the VFS's context and parameter for this call; the table
        // is static.
        let opt = unsafe { b::rxfs_helper_fs_parse(fc, PARAMS.0.as_ptr(), param, &mut result) };
        if opt == OPT_NORECOVERY {
            // SAFETY: the VFS's context for this call; `fs_private` holds
            // option bits, never a pointer (there is no `free`).
            unsafe { (*fc).fs_private = (((*fc).fs_private as usize) | NORECOVERY) as *mut _ };
        }
        opt.min(0)
    }

    unsafe extern "C" fn get_tree(fc: *mut b::fs_context) -> kernel::ffi::c_int {
        // SAFETY: the VFS's context for this call.
        unsafe { b::get_tree_bdev(fc, Some(Self::fill_super)) }
    }

    unsafe extern "C" fn reconfigure(fc: *mut b::fs_context) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: a remount of a mounted superblock: `root` is its root,
            // and the superblock's data is set until `kill_sb`.
            let (raw, sb, to_ro) = unsafe {
                let raw = (*(*fc).root).d_sb;
                let to_ro = (*fc).sb_flags & b::RXFS_CONST_SB_RDONLY != 0;
                b::sync_filesystem(raw);
                (raw, SuperBlock::<T>::from_raw(raw), to_ro)
            };
            match (sb.is_rdonly(), to_ro) {
                (false, true) => T::remount_ro(&sb)?,
                (true, false) => T::remount_rw(&sb)?,
                _ => {}
            }
            // Read-write again: the periodic work (a no-op if queued; it
            // skips its run while read-only).
            sbi::<T>(raw).queue_periodic();
            Ok(0)
        })
    }

    unsafe extern "C" fn fill_super(raw: *mut b::super_block, fc: *mut b::fs_context) -> kernel::ffi::c_int {
        from_result(|| {
            let info = KBox::new(SbInfo::<T>::new(), GFP_KERNEL)?;
            // SAFETY: the superblock being filled; `kill_sb` frees this
            // `SbInfo`, also when the rest of mounting fails.
            unsafe { (*raw).s_fs_info = KBox::into_raw(info).cast() };
            let sbi = sbi::<T>(raw);
            // SAFETY: `sbi` has its final address (boxed, kept until
            // `kill_sb`); the work is queued only when mounting succeeded.
            unsafe { b::rxfs_helper_init_delayed_work(sbi.periodic.get(), Some(periodic_work::<T>)) };
            // SAFETY: the context of this mount: option bits (see
            // `parse_param`).
            let opts = unsafe { (*fc).fs_private } as usize;
            sbi.flags.fetch_or(opts & NORECOVERY, Ordering::Relaxed);
            // SAFETY: the format string takes one string, the device name,
            // which lives as long as the superblock.
            let wq = unsafe {
                b::alloc_workqueue(
                    kernel::c_str!("rxfs-ioend/%s").as_char_ptr(),
                    b::RXFS_CONST_WQ_IOEND_FLAGS,
                    0,
                    (*raw).s_id.as_ptr(),
                )
            };
            if wq.is_null() {
                return Err(ENOMEM);
            }
            sbi.ioend_wq.store(wq, Ordering::Relaxed);
            // SAFETY: the context of this mount.
            let silent = unsafe { (*fc).sb_flags } & b::RXFS_CONST_SB_SILENT != 0;
            let new = NewSuperBlock { raw, _p: PhantomData };
            let data = KBox::new(T::fill_super(&new, silent)?, GFP_KERNEL)?;
            sbi.fs.store(KBox::into_raw(data), Ordering::Release);
            // SAFETY: the data was just set and stays until `kill_sb`.
            let sb = unsafe { SuperBlock::<T>::from_raw(raw) };
            let root = T::fill_root(&sb)?;
            sb.make_root(root)?;
            super::debugfs::mount::<T>(&sb, sbi);
            sbi.raw.store(raw, Ordering::Release);
            sbi.queue_periodic();
            Ok(0)
        })
    }

    unsafe extern "C" fn kill_sb(raw: *mut kernel::bindings::super_block) {
        // SAFETY: the VFS kills a superblock of this type, once.
        unsafe {
            let info = (*raw).s_fs_info.cast::<SbInfo<T>>();
            b::kill_block_super(raw);
            if !info.is_null() {
                drop(KBox::from_raw(info));
            }
        }
    }
}

/// The `file_system_type`. A static, not an allocation: the VFS links it
/// into its list, and lockdep requires the lock class keys inside it
/// (`s_umount_key`, `i_mutex_key`, `invalidate_lock_key`, ...) to be in
/// static memory.
struct FsType(Opaque<b::file_system_type>);

// SAFETY: written once, in `Registration::new` before it is registered;
// afterwards the VFS owns it until `unregister_filesystem`.
unsafe impl Sync for FsType {}

static FS_TYPE: FsType = FsType(Opaque::uninit());

/// Registration of the filesystem type: registered on creation,
/// unregistered (and its inode cache destroyed) on drop. There is one per
/// module.
pub struct Registration(());

impl Registration {
    /// Registers filesystem `T` as `name`.
    pub fn new<T: FileSystem>(name: &'static CStr, module: &'static kernel::ThisModule) -> Result<Self> {
        super::inode::cache_create()?;
        super::debugfs::init();
        let p = FS_TYPE.0.get();
        // SAFETY: module init runs once; the type is not registered yet, so
        // nothing else reads it; the VFS keeps it until
        // `unregister_filesystem` in drop.
        let r = unsafe {
            p.write(core::mem::zeroed());
            (*p).owner = module.as_ptr();
            (*p).name = name.as_char_ptr();
            (*p).init_fs_context = Some(ContextOps::<T>::init_fs_context);
            (*p).parameters = PARAMS.0.as_ptr().cast();
            (*p).kill_sb = Some(ContextOps::<T>::kill_sb);
            let idmap = if T::ALLOW_IDMAP { b::FS_ALLOW_IDMAP } else { 0 };
            (*p).fs_flags = (b::FS_REQUIRES_DEV | idmap) as i32;
            to_result(b::register_filesystem(p))
        };
        if let Err(e) = r {
            super::debugfs::exit();
            super::inode::cache_destroy();
            return Err(e);
        }
        Ok(Registration(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered by `new`, the only way to build one.
        unsafe { b::unregister_filesystem(FS_TYPE.0.get()) };
        super::debugfs::exit();
        super::inode::cache_destroy();
    }
}
