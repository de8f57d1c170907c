// SPDX-License-Identifier: GPL-2.0

//! Open files, I/O requests and memory faults, and the `file_operations`
//! and `vm_operations_struct` tables as `#[vtable]` traits.

use super::bindings as b;
use super::inode::Inode;
use core::marker::PhantomData;
use kernel::error::{from_result, to_result, Result};
use kernel::macros::vtable;
use kernel::types::Opaque;

pub use b::{FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_ZERO_RANGE, SEEK_DATA, SEEK_HOLE};

/// An open file.
#[repr(transparent)]
pub struct File(Opaque<b::file>);

/// Write access to a file's mount ([`File::want_write`]).
pub struct WriteAccess<'a>(&'a File);

impl Drop for WriteAccess<'_> {
    fn drop(&mut self) {
        // SAFETY: `want_write` took it on this file.
        unsafe { b::mnt_drop_write_file(self.0.as_raw()) }
    }
}

impl File {
    /// # Safety
    ///
    /// `ptr` must be an open file of an rxfs inode, live for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut b::file) -> &'a File {
        // SAFETY: transparent wrapper.
        unsafe { &*ptr.cast::<File>() }
    }

    pub(crate) fn as_raw(&self) -> *mut b::file {
        self.0.get()
    }

    /// The file's inode.
    pub fn inode(&self) -> &Inode {
        // SAFETY: an open rxfs file's inode lives as long as the file.
        unsafe { Inode::from_raw(b::rxfs_helper_file_inode(self.as_raw())) }
    }

    /// Whether writes through this file must be durable when they return:
    /// opened `O_SYNC` or `O_DSYNC`, or the inode `IS_SYNC` (`chattr +S`,
    /// a `sync` mount), as XFS's `xfs_file_sync_writes`.
    pub fn sync_writes(&self) -> bool {
        // SAFETY: an open file's f_flags is set at open.
        let flags = unsafe { (*self.as_raw()).f_flags } as u32;
        // SAFETY: the inode is live.
        flags & (b::__O_SYNC | b::O_DSYNC) != 0 || unsafe { b::rxfs_helper_is_sync(self.inode().as_raw()) }
    }

    /// Write access to the mount for an ioctl that changes the filesystem
    /// (`mnt_want_write_file`): `EROFS` on a read-only mount; waits while
    /// the filesystem is frozen.
    pub fn want_write(&self) -> Result<WriteAccess<'_>> {
        // SAFETY: an open file; the guard drops the access it took.
        kernel::error::to_result(unsafe { b::mnt_want_write_file(self.as_raw()) })?;
        Ok(WriteAccess(self))
    }

    /// Lets the file be opened with O_DIRECT (`FMODE_CAN_ODIRECT`).
    pub fn set_can_odirect(&self) {
        // SAFETY: `open` owns the new file's mode.
        unsafe { (*self.as_raw()).f_mode |= b::RXFS_CONST_FMODE_CAN_ODIRECT };
    }

    /// `generic_file_open`: large-file checks.
    pub fn generic_open(&self, inode: &Inode) -> Result {
        // SAFETY: the file being opened, on `inode`.
        to_result(unsafe { b::generic_file_open(inode.as_raw(), self.as_raw()) })
    }

    /// Updates the access time (`file_accessed`).
    pub fn accessed(&self) {
        // SAFETY: a live file.
        unsafe { b::rxfs_helper_file_accessed(self.as_raw()) }
    }

    /// Drops setuid/setgid and updates mtime/ctime before a change
    /// (`file_modified`).
    pub fn modified(&self) -> Result {
        // SAFETY: a live file; the caller holds i_rwsem.
        to_result(unsafe { b::file_modified(self.as_raw()) })
    }

    /// `generic_remap_file_range_prep`: checks a clone or dedupe request
    /// (alignment, EOF rules, the dedupe compare), flushes both ranges and
    /// updates the destination's times. `len` may shrink (to 0: nothing
    /// to do). Both inodes' i_rwsem and invalidate_lock must be held
    /// (the guards).
    pub fn remap_prep(&self, pos_in: i64, out: &File, pos_out: i64, len: &mut i64, flags: u32, _locks: &super::inode::RemapLocks<'_>) -> Result {
        // SAFETY: two live files; both inodes are locked (the guard).
        to_result(unsafe { b::generic_remap_file_range_prep(self.as_raw(), pos_in, out.as_raw(), pos_out, len, flags) })
    }

    /// Drops setuid/setgid (`file_remove_privs`).
    pub fn remove_privs(&self) -> Result {
        // SAFETY: as above.
        to_result(unsafe { b::file_remove_privs(self.as_raw()) })
    }

    /// Updates mtime/ctime (`file_update_time`).
    pub fn update_time(&self) -> Result {
        // SAFETY: a live file.
        to_result(unsafe { b::file_update_time(self.as_raw()) })
    }

    /// Writes back and waits on `start..=end` and reports earlier
    /// write-back errors (`file_write_and_wait_range`).
    pub fn write_and_wait_range(&self, start: i64, end: i64) -> Result {
        // SAFETY: a live file.
        to_result(unsafe { b::file_write_and_wait_range(self.as_raw(), start, end) })
    }

    /// Sets the file position after a seek (`vfs_setpos`).
    pub fn set_pos(&self, offset: i64, max: i64) -> Result<i64> {
        // SAFETY: a live file; the VFS serialises seeks.
        let r = unsafe { b::vfs_setpos(self.as_raw(), offset, max) };
        super::loff(r)
    }

    /// `generic_file_llseek`.
    pub fn generic_llseek(&self, offset: i64, whence: i32) -> Result<i64> {
        // SAFETY: a live file.
        let r = unsafe { b::generic_file_llseek(self.as_raw(), offset, whence) };
        super::loff(r)
    }
}

/// A read or write request (`struct kiocb`).
#[repr(transparent)]
pub struct Kiocb(Opaque<b::kiocb>);

impl Kiocb {
    /// # Safety
    ///
    /// `ptr` must be the live iocb of an I/O on an rxfs file, for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut b::kiocb) -> &'a Kiocb {
        // SAFETY: transparent wrapper.
        unsafe { &*ptr.cast::<Kiocb>() }
    }

    pub(crate) fn as_raw(&self) -> *mut b::kiocb {
        self.0.get()
    }

    /// The file.
    pub fn file(&self) -> &File {
        // SAFETY: the iocb's file lives for the I/O.
        unsafe { File::from_raw((*self.as_raw()).ki_filp) }
    }

    /// The file's inode.
    pub fn inode(&self) -> &Inode {
        self.file().inode()
    }

    /// The file position of the I/O.
    pub fn pos(&self) -> i64 {
        // SAFETY: the submitter owns the iocb for the I/O's duration.
        unsafe { (*self.as_raw()).ki_pos }
    }

    /// Moves the I/O's position (O_APPEND after i_rwsem was dropped).
    pub fn set_pos(&self, pos: i64) {
        // SAFETY: as above.
        unsafe { (*self.as_raw()).ki_pos = pos }
    }

    fn flags(&self) -> u32 {
        // SAFETY: as above.
        unsafe { (*self.as_raw()).ki_flags as u32 }
    }

    /// O_DIRECT.
    pub fn is_direct(&self) -> bool {
        self.flags() & b::IOCB_DIRECT != 0
    }

    /// IOCB_NOWAIT: must not block.
    pub fn is_nowait(&self) -> bool {
        self.flags() & b::RXFS_CONST_IOCB_NOWAIT as u32 != 0
    }

    /// An asynchronous iocb (AIO, io_uring): its completion may come after
    /// the call that submitted it returns (`!is_sync_kiocb`).
    pub fn is_async(&self) -> bool {
        // SAFETY: as above.
        unsafe { (*self.as_raw()).ki_complete.is_some() }
    }

    /// IOCB_HIPRI: polled completion.
    pub fn is_polled(&self) -> bool {
        self.flags() & b::RXFS_CONST_IOCB_HIPRI as u32 != 0
    }

    /// O_APPEND.
    pub fn is_append(&self) -> bool {
        self.flags() & b::RXFS_CONST_IOCB_APPEND as u32 != 0
    }

    /// `generic_write_checks`: limits, O_APPEND; the count that may be
    /// written (0: nothing to do).
    pub fn write_checks(&self, from: &IovIter) -> Result<usize> {
        // SAFETY: a live write, i_rwsem held by the caller.
        let r = unsafe { b::generic_write_checks(self.as_raw(), from.as_raw()) };
        super::ssize(r as isize)
    }

    /// `generic_write_sync`: O_SYNC/O_DSYNC after `count` bytes written.
    pub fn write_sync(&self, count: usize) -> Result<usize> {
        // SAFETY: a live write.
        let r = unsafe { b::rxfs_helper_generic_write_sync(self.as_raw(), count as isize) };
        super::ssize(r as isize)
    }

    /// `generic_file_read_iter`: a buffered read.
    pub fn generic_read(&self, to: &IovIter) -> Result<usize> {
        // SAFETY: a live read.
        let r = unsafe { b::generic_file_read_iter(self.as_raw(), to.as_raw()) };
        super::ssize(r as isize)
    }
}

/// The user memory of a read or write (`struct iov_iter`).
#[repr(transparent)]
pub struct IovIter(Opaque<b::iov_iter>);

impl IovIter {
    /// # Safety
    ///
    /// `ptr` must be a live iterator for `'a`, used by one thread.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut b::iov_iter) -> &'a IovIter {
        // SAFETY: transparent wrapper.
        unsafe { &*ptr.cast::<IovIter>() }
    }

    pub(crate) fn as_raw(&self) -> *mut b::iov_iter {
        self.0.get()
    }

    /// Bytes left.
    pub fn count(&self) -> usize {
        // SAFETY: a live iterator.
        unsafe { b::rxfs_helper_iov_iter_count(self.as_raw()) }
    }

    /// Limits what is left to `count` bytes.
    pub fn truncate(&self, count: u64) {
        // SAFETY: a live iterator, used only by the I/O's thread.
        unsafe { b::rxfs_helper_iov_iter_truncate(self.as_raw(), count) }
    }
}

/// A page fault (`struct vm_fault`).
#[repr(transparent)]
pub struct VmFault(Opaque<b::vm_fault>);

impl VmFault {
    pub(crate) fn as_raw(&self) -> *mut b::vm_fault {
        self.0.get()
    }

    /// The mapped file.
    pub fn file(&self) -> &File {
        // SAFETY: a fault on a file mapping holds the file.
        unsafe { File::from_raw(b::rxfs_helper_vmf_file(self.as_raw())) }
    }

    /// `filemap_page_mkwrite`: dirties the folio, nothing else.
    pub fn filemap_page_mkwrite(&self) -> b::vm_fault_t {
        // SAFETY: the fault being handled.
        unsafe { b::filemap_page_mkwrite(self.as_raw()) }
    }
}

/// A file mapping being set up.
#[repr(transparent)]
pub struct Vma(Opaque<b::vm_area_struct>);

impl Vma {
    /// Makes `T` the mapping's operations.
    pub fn set_ops<T: VmOps>(&self) {
        // SAFETY: `mmap` owns the new mapping's setup.
        unsafe { (*self.0.get()).vm_ops = &VmOpsTable::<T>::OPS };
    }
}

/// The result of a fault handler (`vm_fault_t`).
pub type VmFaultT = b::vm_fault_t;

/// `VM_FAULT_SIGBUS`.
pub const VM_FAULT_SIGBUS: VmFaultT = b::vm_fault_reason_VM_FAULT_SIGBUS as VmFaultT;

/// `vm_operations_struct` of a file mapping: faults and readahead through
/// the page cache; the filesystem says what a write fault does.
#[vtable]
pub trait VmOps {
    /// A write fault on a shared mapping.
    fn page_mkwrite(vmf: &VmFault) -> VmFaultT;
}

/// The const `vm_operations_struct` of a [`VmOps`] implementation.
pub struct VmOpsTable<T: VmOps>(PhantomData<T>);

impl<T: VmOps> VmOpsTable<T> {
    const OPS: b::vm_operations_struct = {
        // SAFETY: all-zero is a table without operations.
        let mut ops: b::vm_operations_struct = unsafe { core::mem::zeroed() };
        ops.fault = Some(b::filemap_fault);
        ops.map_pages = Some(b::filemap_map_pages);
        ops.page_mkwrite = Some(Self::page_mkwrite);
        ops
    };

    /// # Safety
    ///
    /// Called by the MM for a write fault on an rxfs file mapping.
    unsafe extern "C" fn page_mkwrite(vmf: *mut b::vm_fault) -> b::vm_fault_t {
        // SAFETY: as documented.
        T::page_mkwrite(unsafe { &*vmf.cast::<VmFault>() })
    }
}

/// `file_operations`.
#[vtable]
pub trait FileOps {
    /// `open`.
    fn open(_inode: &Inode, _file: &File) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `llseek`.
    fn llseek(_file: &File, _offset: i64, _whence: i32) -> Result<i64> {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `read_iter`.
    fn read_iter(_iocb: &Kiocb, _to: &IovIter) -> Result<usize> {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `write_iter`.
    fn write_iter(_iocb: &Kiocb, _from: &IovIter) -> Result<usize> {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `mmap`.
    fn mmap(_file: &File, _vma: &Vma) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `fsync`.
    fn fsync(_file: &File, _start: i64, _end: i64, _datasync: bool) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `fallocate`.
    fn fallocate(_file: &File, _mode: i32, _offset: i64, _len: i64) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `unlocked_ioctl`.
    fn ioctl(_file: &File, _cmd: u32, _arg: usize) -> Result<i32> {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `remap_file_range`: share (or, with `REMAP_FILE_DEDUP`, dedupe)
    /// `len` bytes of `file_in` at `pos_in` into `file_out` at `pos_out`;
    /// returns the bytes remapped.
    fn remap_file_range(_file_in: &File, _pos_in: i64, _file_out: &File, _pos_out: i64, _len: i64, _flags: u32) -> Result<i64> {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// Splice, `get_unmapped_area` and friends through the page cache.
    const PAGE_CACHE: bool = false;
}

/// The const `file_operations` of a [`FileOps`] implementation.
pub struct FileOpsTable<T: FileOps>(PhantomData<T>);

impl<T: FileOps> FileOpsTable<T> {
    const OPS: b::file_operations = {
        // SAFETY: all-zero is a table without operations.
        let mut ops: b::file_operations = unsafe { core::mem::zeroed() };
        if T::HAS_OPEN {
            ops.open = Some(Self::open);
        }
        if T::HAS_LLSEEK {
            ops.llseek = Some(Self::llseek);
        }
        if T::HAS_READ_ITER {
            ops.read_iter = Some(Self::read_iter);
        }
        if T::HAS_WRITE_ITER {
            ops.write_iter = Some(Self::write_iter);
        }
        if T::HAS_MMAP {
            ops.mmap = Some(Self::mmap);
        }
        if T::HAS_FSYNC {
            ops.fsync = Some(Self::fsync);
        }
        if T::HAS_FALLOCATE {
            ops.fallocate = Some(Self::fallocate);
        }
        if T::HAS_IOCTL {
            ops.unlocked_ioctl = Some(Self::ioctl);
        }
        if T::HAS_REMAP_FILE_RANGE {
            ops.remap_file_range = Some(Self::remap_file_range);
        }
        if T::PAGE_CACHE {
            ops.splice_read = Some(b::filemap_splice_read);
            ops.splice_write = Some(b::iter_file_splice_write);
            ops.get_unmapped_area = Some(b::thp_get_unmapped_area);
        }
        ops
    };

    /// The table.
    pub const fn get() -> &'static b::file_operations {
        &Self::OPS
    }

    unsafe extern "C" fn open(inode: *mut b::inode, file: *mut b::file) -> kernel::ffi::c_int {
        // SAFETY: the VFS opens a live rxfs inode.
        from_result(|| T::open(unsafe { Inode::from_raw(inode) }, unsafe { File::from_raw(file) }).map(|()| 0))
    }

    unsafe extern "C" fn llseek(file: *mut b::file, offset: b::loff_t, whence: kernel::ffi::c_int) -> b::loff_t {
        // SAFETY: an open rxfs file.
        match T::llseek(unsafe { File::from_raw(file) }, offset, whence) {
            Ok(v) => v,
            Err(e) => e.to_errno() as b::loff_t,
        }
    }

    unsafe extern "C" fn read_iter(iocb: *mut b::kiocb, to: *mut b::iov_iter) -> isize {
        // SAFETY: a live read on an rxfs file.
        let (iocb, to) = unsafe { (Kiocb::from_raw(iocb), IovIter::from_raw(to)) };
        match T::read_iter(iocb, to) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    unsafe extern "C" fn write_iter(iocb: *mut b::kiocb, from: *mut b::iov_iter) -> isize {
        // SAFETY: a live write on an rxfs file.
        let (iocb, from) = unsafe { (Kiocb::from_raw(iocb), IovIter::from_raw(from)) };
        match T::write_iter(iocb, from) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    unsafe extern "C" fn mmap(file: *mut b::file, vma: *mut b::vm_area_struct) -> kernel::ffi::c_int {
        // SAFETY: a mapping of an open rxfs file being set up.
        from_result(|| T::mmap(unsafe { File::from_raw(file) }, unsafe { &*vma.cast::<Vma>() }).map(|()| 0))
    }

    unsafe extern "C" fn fsync(file: *mut b::file, start: b::loff_t, end: b::loff_t, datasync: kernel::ffi::c_int) -> kernel::ffi::c_int {
        // SAFETY: an open rxfs file.
        from_result(|| T::fsync(unsafe { File::from_raw(file) }, start, end, datasync != 0).map(|()| 0))
    }

    unsafe extern "C" fn fallocate(file: *mut b::file, mode: kernel::ffi::c_int, offset: b::loff_t, len: b::loff_t) -> kernel::ffi::c_long {
        // SAFETY: an open rxfs file.
        from_result(|| T::fallocate(unsafe { File::from_raw(file) }, mode, offset, len).map(|()| 0)) as kernel::ffi::c_long
    }

    unsafe extern "C" fn remap_file_range(
        file_in: *mut b::file,
        pos_in: b::loff_t,
        file_out: *mut b::file,
        pos_out: b::loff_t,
        len: b::loff_t,
        flags: kernel::ffi::c_uint,
    ) -> b::loff_t {
        // SAFETY: two open files of the same rxfs mount (the VFS checks).
        let (fin, fout) = unsafe { (File::from_raw(file_in), File::from_raw(file_out)) };
        match T::remap_file_range(fin, pos_in, fout, pos_out, len, flags) {
            Ok(n) => n,
            Err(e) => e.to_errno() as b::loff_t,
        }
    }

    unsafe extern "C" fn ioctl(file: *mut b::file, cmd: kernel::ffi::c_uint, arg: kernel::ffi::c_ulong) -> kernel::ffi::c_long {
        // SAFETY: an open rxfs file.
        from_result(|| T::ioctl(unsafe { File::from_raw(file) }, cmd, arg)) as kernel::ffi::c_long
    }
}

/// Reads a `u32` from user address `arg` (an ioctl's argument).
pub fn read_user_u32(arg: usize) -> Result<u32> {
    let mut v: u32 = 0;
    // SAFETY: copies 4 bytes into `v`; the user address is checked by
    // `copy_from_user`.
    let left = unsafe { b::copy_from_user((&raw mut v).cast(), arg as *const kernel::ffi::c_void, 4) };
    if left != 0 {
        return Err(kernel::error::code::EFAULT);
    }
    Ok(v)
}

/// Reads `buf.len()` bytes from user address `arg`.
pub fn read_user_bytes(arg: usize, buf: &mut [u8]) -> Result {
    // SAFETY: copies into `buf`, which is that long; the user address is
    // checked by `copy_from_user`.
    let left = unsafe { b::copy_from_user(buf.as_mut_ptr().cast(), arg as *const kernel::ffi::c_void, buf.len() as _) };
    if left != 0 {
        return Err(kernel::error::code::EFAULT);
    }
    Ok(())
}

/// Writes `buf` to user address `arg`.
pub fn write_user_bytes(arg: usize, buf: &[u8]) -> Result {
    // SAFETY: copies from `buf`, which is that long; the user address is
    // checked by `copy_to_user`.
    let left = unsafe { b::copy_to_user(arg as *mut kernel::ffi::c_void, buf.as_ptr().cast(), buf.len() as _) };
    if left != 0 {
        return Err(kernel::error::code::EFAULT);
    }
    Ok(())
}

/// True if the caller has `CAP_SYS_ADMIN`.
pub fn capable_sys_admin() -> bool {
    // SAFETY: always safe to call.
    unsafe { b::capable(b::CAP_SYS_ADMIN as i32) }
}
