// SPDX-License-Identifier: GPL-2.0

//! Names and the `inode_operations` table: dentries, id-mapped mounts,
//! attributes, and the `#[vtable]` trait a filesystem implements for each
//! kind of inode.

use super::acl::{AclRef, AclType, PosixAcl};
use super::bindings as b;
use super::file::File;
use super::inode::{Inode, InodeLock, NewInode};
use core::marker::PhantomData;
use core::sync::atomic::Ordering::Relaxed;
use kernel::error::{from_result, to_result, Result};
use kernel::macros::vtable;
use kernel::prelude::*;
use kernel::types::{ARef, Opaque};

/// A directory entry.
#[repr(transparent)]
pub struct Dentry(Opaque<b::dentry>);

impl Dentry {
    /// # Safety
    ///
    /// `ptr` must be a live dentry of an rxfs mount for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut b::dentry) -> &'a Dentry {
        // SAFETY: transparent wrapper.
        unsafe { &*ptr.cast::<Dentry>() }
    }

    pub(crate) fn as_raw(&self) -> *mut b::dentry {
        self.0.get()
    }

    /// The name. Stable while the VFS holds the parent locked, which it
    /// does for every operation given a dentry.
    pub fn name(&self) -> &[u8] {
        // SAFETY: as documented; the name is `len` bytes.
        unsafe {
            let p = b::rxfs_helper_d_name(self.as_raw());
            let len = b::rxfs_helper_d_name_len(self.as_raw());
            if p.is_null() || len == 0 {
                return &[];
            }
            core::slice::from_raw_parts(p, len as usize)
        }
    }

    /// The inode, if the dentry is positive.
    pub fn inode(&self) -> Option<&Inode> {
        // SAFETY: a positive dentry's inode lives as long as the dentry.
        unsafe { b::rxfs_helper_d_inode(self.as_raw()).as_mut().map(|i| Inode::from_raw(i)) }
    }

    /// Makes the dentry point at `inode`, taking over a reference.
    pub fn instantiate(&self, inode: ARef<Inode>) {
        let p = ARef::into_raw(inode);
        // SAFETY: a negative dentry being filled; the reference passes to
        // it.
        unsafe { b::d_instantiate(self.as_raw(), p.as_ptr().cast()) }
    }

    /// Makes the dentry point at a created inode and unlocks it
    /// (`d_instantiate_new`).
    pub fn instantiate_new(&self, inode: NewInode) {
        let p = inode.into_raw();
        // SAFETY: a new hashed inode, fully set up; its reference passes
        // to the dentry.
        unsafe { b::d_instantiate_new(self.as_raw(), p) }
    }
}

/// The id mapping of the mount an operation came through.
pub struct Idmap(*mut b::mnt_idmap);

impl Idmap {
    pub(crate) fn as_raw(&self) -> *mut b::mnt_idmap {
        self.0
    }

    /// The caller's fsuid and fsgid as seen on disk (whiteouts).
    pub fn fs_ids(&self) -> (u32, u32) {
        // SAFETY: the idmap lives for the operation; the helpers map the
        // caller's credentials.
        unsafe { (b::rxfs_helper_mapped_fsuid(self.0), b::rxfs_helper_mapped_fsgid(self.0)) }
    }
}

/// What `getattr` fills.
pub struct Kstat(*mut b::kstat);

impl Kstat {
    /// Fills the generic fields from `inode` (`generic_fillattr`).
    pub fn fill(&self, idmap: &Idmap, request_mask: u32, inode: &Inode) {
        // SAFETY: the stat being filled, for a live inode.
        unsafe { b::generic_fillattr(idmap.0, request_mask, inode.as_raw(), self.0) }
    }

    /// Reports the birth time.
    pub fn set_btime(&self, sec: i64, nsec: u32) {
        // SAFETY: `getattr` owns the stat.
        unsafe {
            (*self.0).btime.tv_sec = sec;
            (*self.0).btime.tv_nsec = nsec as _;
            (*self.0).result_mask |= b::STATX_BTIME;
        }
    }

    /// Reports which of the `STATX_ATTR_*` bits in `mask` (those the
    /// filesystem knows) are set: `attributes`.
    pub fn set_attributes(&self, mask: u64, attributes: u64) {
        // SAFETY: `getattr` owns the stat.
        unsafe {
            (*self.0).attributes |= attributes & mask;
            (*self.0).attributes_mask |= mask;
        }
    }

    /// Reports O_DIRECT alignment.
    pub fn set_dio_align(&self, mem: u32, offset: u32) {
        // SAFETY: as above.
        unsafe {
            (*self.0).dio_mem_align = mem;
            (*self.0).dio_offset_align = offset;
            (*self.0).result_mask |= b::STATX_DIOALIGN;
        }
    }
}

/// What `setattr` changes.
pub struct Iattr(*mut b::iattr);

impl Iattr {
    /// The new size, if the size changes.
    pub fn size(&self) -> Option<i64> {
        // SAFETY: the request of the current `setattr`.
        unsafe { ((*self.0).ia_valid & b::ATTR_SIZE != 0).then(|| (*self.0).ia_size) }
    }

    /// Whether the mode changes (a chmod).
    pub fn changes_mode(&self) -> bool {
        // SAFETY: as above.
        unsafe { (*self.0).ia_valid & b::ATTR_MODE != 0 }
    }
}

impl Inode {
    /// `setattr_prepare`: permission and limit checks.
    pub fn setattr_prepare(&self, idmap: &Idmap, dentry: &Dentry, attr: &Iattr) -> Result {
        let _ = self;
        // SAFETY: the current `setattr`'s arguments.
        to_result(unsafe { b::setattr_prepare(idmap.0, dentry.as_raw(), attr.0) })
    }

    /// `setattr_copy`: copies the changed attributes into the inode.
    pub fn setattr_copy(&self, idmap: &Idmap, attr: &Iattr) {
        // SAFETY: as above; i_rwsem is held by the VFS.
        unsafe { b::setattr_copy(idmap.0, self.as_raw(), attr.0) }
    }

    /// The device's O_DIRECT memory alignment.
    pub fn dma_alignment(&self) -> u32 {
        // SAFETY: a mounted rxfs has a block device.
        unsafe { b::rxfs_helper_bdev_dma_alignment((*self.raw_sb()).s_bdev) as u32 }
    }
}

/// A `readdir` in progress.
pub struct DirContext<'a>(*mut b::dir_context, &'a File);

impl DirContext<'_> {
    /// Emits `.` and `..` if the position is before them; false if the
    /// buffer is full.
    pub fn emit_dots(&mut self) -> bool {
        // SAFETY: the current `iterate_shared` call's file and context.
        unsafe { b::rxfs_helper_dir_emit_dots(self.1.as_raw(), self.0) }
    }

    /// Emits an entry; false if the buffer is full.
    pub fn emit(&mut self, name: &[u8], ino: u64, dtype: u32) -> bool {
        // SAFETY: as above; the name is copied out.
        unsafe { b::rxfs_helper_dir_emit(self.0, name.as_ptr().cast(), name.len() as i32, ino, dtype) }
    }

    /// The position.
    pub fn pos(&self) -> i64 {
        // SAFETY: as above.
        unsafe { (*self.0).pos }
    }

    /// Moves the position.
    pub fn set_pos(&mut self, pos: i64) {
        // SAFETY: as above.
        unsafe { (*self.0).pos = pos }
    }
}

/// `inode_operations`.
#[vtable]
pub trait InodeOps {
    /// `lookup`: the inode `name` in `dir` names, if any.
    fn lookup(_dir: &Inode, _dentry: &Dentry) -> Result<Option<ARef<Inode>>> {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `create`, `mkdir`, `mknod` (the mode says which) and `symlink`
    /// (with a target).
    fn mknod(_idmap: &Idmap, _dir: &Inode, _dentry: &Dentry, _mode: u32, _rdev: u32, _link: Option<&[u8]>) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `tmpfile`.
    fn tmpfile(_idmap: &Idmap, _dir: &Inode, _file: &File, _mode: u32) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `link`.
    fn link(_old: &Dentry, _dir: &Inode, _dentry: &Dentry) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `unlink`.
    fn unlink(_dir: &Inode, _dentry: &Dentry) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `rmdir`.
    fn rmdir(_dir: &Inode, _dentry: &Dentry) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `rename`.
    fn rename(_idmap: &Idmap, _old_dir: &Inode, _old: &Dentry, _new_dir: &Inode, _new: &Dentry, _flags: u32) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `getattr`.
    fn getattr(_idmap: &Idmap, _inode: &Inode, _stat: &Kstat, _request_mask: u32) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `setattr`, with i_rwsem held by the VFS (`lock`).
    fn setattr(_idmap: &Idmap, _dentry: &Dentry, _lock: &InodeLock<'_>, _attr: &Iattr) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `fiemap`.
    fn fiemap(_inode: &Inode, _fi: Fiemap<'_>, _start: u64, _len: u64) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `fileattr_get` (`FS_IOC_GETFLAGS`, `FS_IOC_FSGETXATTR`).
    fn fileattr_get(_inode: &Inode, _fa: &mut FileAttr<'_>) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `fileattr_set` (`FS_IOC_SETFLAGS`, `FS_IOC_FSSETXATTR`), with
    /// i_rwsem held by the VFS (`lock`).
    fn fileattr_set(_idmap: &Idmap, _lock: &InodeLock<'_>, _fa: &FileAttr<'_>) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `listxattr`: the names (prefix, name, NUL each), copied into `buf`
    /// if given (`ERANGE` if it is too short); returns their length.
    fn listxattr(_inode: &Inode, _buf: Option<&mut [u8]>) -> Result<usize> {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `get_inode_acl`: the inode's ACL of type `t`, `None` if it has none.
    /// (The VFS caches the answer; an RCU walk gets `ECHILD` here.)
    fn get_acl(_inode: &Inode, _t: AclType) -> Result<Option<PosixAcl>> {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// `set_acl`: sets (or with `None` removes) the ACL of type `t`, with
    /// i_rwsem held by the VFS (`lock`).
    fn set_acl(_idmap: &Idmap, _dentry: &Dentry, _lock: &InodeLock<'_>, _acl: Option<&AclRef>, _t: AclType) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// Symlinks: `get_link` returns the target kept in the inode.
    const SYMLINK: bool = false;
}

/// A file attribute request (`struct fileattr`): the `FS_IOC_*FLAGS` flags
/// or the `fsxattr` fields, whichever the ioctl used.
pub struct FileAttr<'a>(&'a mut super::bindings::fileattr);

impl FileAttr<'_> {
    /// True for the `fsxattr` ioctls, false for the `FS_IOC_*FLAGS` ones.
    pub fn is_fsx(&self) -> bool {
        self.0.fsx_valid()
    }

    /// `FS_IOC_SETFLAGS`'s flags.
    pub fn flags(&self) -> u32 {
        self.0.flags
    }

    /// `fsx_xflags`.
    pub fn xflags(&self) -> u32 {
        self.0.fsx_xflags
    }

    /// `fsx_extsize`.
    pub fn extsize(&self) -> u32 {
        self.0.fsx_extsize
    }

    /// `fsx_projid`.
    pub fn projid(&self) -> u32 {
        self.0.fsx_projid
    }

    /// `fsx_cowextsize`, in bytes.
    pub fn cowextsize(&self) -> u32 {
        self.0.fsx_cowextsize
    }

    /// Reports `xflags` (and the matching `FS_IOC_GETFLAGS` flags) and
    /// the CoW extent size hint in bytes.
    pub fn fill(&mut self, xflags: u32, cowextsize: u32) {
        // SAFETY: a live request, ours for the call.
        unsafe { super::bindings::fileattr_fill_xflags(&mut *self.0, xflags) };
        self.0.fsx_cowextsize = cowextsize;
    }
}

/// A FIEMAP request, to hand to [`super::iomap::fiemap`].
pub struct Fiemap<'a>(*mut b::fiemap_extent_info, PhantomData<&'a ()>);

impl Fiemap<'_> {
    /// `FIEMAP_FLAG_XATTR`: the request asks where the extended attributes
    /// are, not the data.
    pub fn wants_xattr(&self) -> bool {
        // SAFETY: the request of the current `fiemap` call.
        unsafe { (*self.0).fi_flags & b::FIEMAP_FLAG_XATTR != 0 }
    }

    /// Answers an xattr request (as ext4's `ext4_xattr_fiemap`): the one
    /// block at `physical` (a byte address) of `len` bytes as the last
    /// extent at offset 0, or nothing.
    pub fn xattr(self, inode: &Inode, start: u64, len: u64, block: Option<(u64, u64)>) -> Result {
        let mut len = len;
        // SAFETY: the current request, for a live inode; fiemap_prep
        // checks the flags and the range.
        to_result(unsafe { b::fiemap_prep(inode.as_raw(), self.0, start, &mut len, b::FIEMAP_FLAG_XATTR) })?;
        if let Some((physical, n)) = block {
            // SAFETY: as above.
            let r = unsafe { b::fiemap_fill_next_extent(self.0, 0, physical, n, b::FIEMAP_EXTENT_LAST) };
            if r < 0 {
                return to_result(r);
            }
        }
        Ok(())
    }

    /// Answers through iomap with `T`.
    pub fn iomap<T: super::iomap::IomapOps>(self, inode: &Inode, start: u64, len: u64) -> Result {
        // SAFETY: the request of the current `fiemap` call.
        unsafe { super::iomap::fiemap::<T>(inode, self.0, start, len) }
    }
}

/// The const `inode_operations` of an [`InodeOps`] implementation.
pub struct InodeOpsTable<T: InodeOps>(PhantomData<T>);

fn neg<T>(r: Result<T>) -> kernel::ffi::c_int {
    match r {
        Ok(_) => 0,
        Err(e) => e.to_errno(),
    }
}

impl<T: InodeOps> InodeOpsTable<T> {
    const OPS: b::inode_operations = {
        // SAFETY: all-zero is a table without operations.
        let mut ops: b::inode_operations = unsafe { core::mem::zeroed() };
        if T::HAS_LOOKUP {
            ops.lookup = Some(Self::lookup);
        }
        if T::HAS_MKNOD {
            ops.create = Some(Self::create);
            ops.mkdir = Some(Self::mkdir);
            ops.mknod = Some(Self::mknod);
            ops.symlink = Some(Self::symlink);
        }
        if T::HAS_TMPFILE {
            ops.tmpfile = Some(Self::tmpfile);
        }
        if T::HAS_LINK {
            ops.link = Some(Self::link);
        }
        if T::HAS_UNLINK {
            ops.unlink = Some(Self::unlink);
        }
        if T::HAS_RMDIR {
            ops.rmdir = Some(Self::rmdir);
        }
        if T::HAS_RENAME {
            ops.rename = Some(Self::rename);
        }
        if T::HAS_GETATTR {
            ops.getattr = Some(Self::getattr);
        }
        if T::HAS_SETATTR {
            ops.setattr = Some(Self::setattr);
        }
        if T::HAS_FILEATTR_GET {
            ops.fileattr_get = Some(Self::fileattr_get);
        }
        if T::HAS_FILEATTR_SET {
            ops.fileattr_set = Some(Self::fileattr_set);
        }
        if T::HAS_FIEMAP {
            ops.fiemap = Some(Self::fiemap);
        }
        if T::HAS_LISTXATTR {
            ops.listxattr = Some(Self::listxattr);
        }
        if T::HAS_GET_ACL {
            ops.get_inode_acl = Some(Self::get_inode_acl);
        }
        if T::HAS_SET_ACL {
            ops.set_acl = Some(Self::set_acl);
        }
        if T::SYMLINK {
            ops.get_link = Some(b::simple_get_link);
        }
        ops
    };

    /// The table.
    pub const fn get() -> &'static b::inode_operations {
        &Self::OPS
    }

    unsafe extern "C" fn lookup(dir: *mut b::inode, dentry: *mut b::dentry, _flags: kernel::ffi::c_uint) -> *mut b::dentry {
        // SAFETY: the VFS looks up in a live, locked rxfs directory.
        let (dir, d) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
        let inode = match T::lookup(dir, d) {
            Ok(Some(i)) => ARef::into_raw(i).as_ptr().cast(),
            Ok(None) => core::ptr::null_mut(),
            // SAFETY: ERR_PTR only encodes the errno.
            Err(e) => return unsafe { b::ERR_PTR(e.to_errno() as _) }.cast(),
        };
        // SAFETY: the dentry being looked up; the inode reference, if
        // any, passes to it.
        unsafe { b::d_splice_alias(inode, dentry) }
    }

    unsafe fn mk(idmap: *mut b::mnt_idmap, dir: *mut b::inode, dentry: *mut b::dentry, mode: u32, rdev: u32, link: Option<&[u8]>) -> kernel::ffi::c_int {
        // SAFETY: a creation in a live, locked rxfs directory.
        let (dir, d) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
        neg(T::mknod(&Idmap(idmap), dir, d, mode, rdev, link))
    }

    unsafe extern "C" fn create(idmap: *mut b::mnt_idmap, dir: *mut b::inode, dentry: *mut b::dentry, mode: b::umode_t, _excl: bool) -> kernel::ffi::c_int {
        // SAFETY: as for `mk`.
        unsafe { Self::mk(idmap, dir, dentry, mode as u32 | b::S_IFREG, 0, None) }
    }

    unsafe extern "C" fn mkdir(idmap: *mut b::mnt_idmap, dir: *mut b::inode, dentry: *mut b::dentry, mode: b::umode_t) -> kernel::ffi::c_int {
        // SAFETY: as for `mk`.
        unsafe { Self::mk(idmap, dir, dentry, mode as u32 | b::S_IFDIR, 0, None) }
    }

    unsafe extern "C" fn mknod(idmap: *mut b::mnt_idmap, dir: *mut b::inode, dentry: *mut b::dentry, mode: b::umode_t, rdev: b::dev_t) -> kernel::ffi::c_int {
        // SAFETY: as for `mk`.
        unsafe { Self::mk(idmap, dir, dentry, mode as u32, rdev, None) }
    }

    unsafe extern "C" fn symlink(idmap: *mut b::mnt_idmap, dir: *mut b::inode, dentry: *mut b::dentry, target: *const kernel::ffi::c_char) -> kernel::ffi::c_int {
        // SAFETY: the target is a NUL-terminated string for the call.
        let t = unsafe { kernel::str::CStr::from_char_ptr(target) };
        // SAFETY: as for `mk`.
        unsafe { Self::mk(idmap, dir, dentry, b::S_IFLNK | 0o777, 0, Some(t.as_bytes())) }
    }

    unsafe extern "C" fn tmpfile(idmap: *mut b::mnt_idmap, dir: *mut b::inode, file: *mut b::file, mode: b::umode_t) -> kernel::ffi::c_int {
        // SAFETY: a tmpfile in a live rxfs directory, with its new file.
        let (dir, f) = unsafe { (Inode::from_raw(dir), File::from_raw(file)) };
        neg(T::tmpfile(&Idmap(idmap), dir, f, mode as u32))
    }

    unsafe extern "C" fn link(old: *mut b::dentry, dir: *mut b::inode, dentry: *mut b::dentry) -> kernel::ffi::c_int {
        // SAFETY: a link in a live, locked rxfs directory.
        let (old, dir, d) = unsafe { (Dentry::from_raw(old), Inode::from_raw(dir), Dentry::from_raw(dentry)) };
        neg(T::link(old, dir, d))
    }

    unsafe extern "C" fn unlink(dir: *mut b::inode, dentry: *mut b::dentry) -> kernel::ffi::c_int {
        // SAFETY: as above.
        let (dir, d) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
        neg(T::unlink(dir, d))
    }

    unsafe extern "C" fn rmdir(dir: *mut b::inode, dentry: *mut b::dentry) -> kernel::ffi::c_int {
        // SAFETY: as above.
        let (dir, d) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
        neg(T::rmdir(dir, d))
    }

    unsafe extern "C" fn rename(
        idmap: *mut b::mnt_idmap,
        old_dir: *mut b::inode,
        old: *mut b::dentry,
        new_dir: *mut b::inode,
        new: *mut b::dentry,
        flags: kernel::ffi::c_uint,
    ) -> kernel::ffi::c_int {
        // SAFETY: a rename under the VFS's rename locks.
        let (od, o, nd, n) = unsafe { (Inode::from_raw(old_dir), Dentry::from_raw(old), Inode::from_raw(new_dir), Dentry::from_raw(new)) };
        neg(T::rename(&Idmap(idmap), od, o, nd, n, flags))
    }

    unsafe extern "C" fn getattr(
        idmap: *mut b::mnt_idmap,
        path: *const b::path,
        stat: *mut b::kstat,
        request_mask: u32,
        _query_flags: kernel::ffi::c_uint,
    ) -> kernel::ffi::c_int {
        // SAFETY: the path's dentry is a positive rxfs dentry.
        let inode = unsafe { Inode::from_raw(b::rxfs_helper_d_inode((*path).dentry)) };
        neg(T::getattr(&Idmap(idmap), inode, &Kstat(stat), request_mask))
    }

    unsafe extern "C" fn setattr(idmap: *mut b::mnt_idmap, dentry: *mut b::dentry, attr: *mut b::iattr) -> kernel::ffi::c_int {
        // SAFETY: the dentry of the change, positive, with its inode's
        // i_rwsem held by the VFS for the call.
        let d = unsafe { Dentry::from_raw(dentry) };
        let Some(inode) = d.inode() else { return ENOENT.to_errno() };
        // SAFETY: as above.
        let lock = unsafe { InodeLock::held_by_vfs(inode) };
        neg(T::setattr(&Idmap(idmap), d, &lock, &Iattr(attr)))
    }

    unsafe extern "C" fn fileattr_get(dentry: *mut b::dentry, fa: *mut kernel::bindings::fileattr) -> kernel::ffi::c_int {
        // SAFETY: the VFS passes a live dentry of an rxfs inode and its
        // request; the kernel crate declares `fileattr` opaque, the same C
        // type as the one generated here.
        let d = unsafe { Dentry::from_raw(dentry) };
        let Some(inode) = d.inode() else { return ENOENT.to_errno() };
        // SAFETY: see above.
        let fa = unsafe { &mut *fa.cast::<super::bindings::fileattr>() };
        neg(T::fileattr_get(inode, &mut FileAttr(fa)))
    }

    unsafe extern "C" fn fileattr_set(idmap: *mut b::mnt_idmap, dentry: *mut b::dentry, fa: *mut kernel::bindings::fileattr) -> kernel::ffi::c_int {
        // SAFETY: as for `fileattr_get`; `vfs_fileattr_set` holds i_rwsem
        // of the dentry's inode for the call.
        let d = unsafe { Dentry::from_raw(dentry) };
        let Some(inode) = d.inode() else { return ENOENT.to_errno() };
        // SAFETY: see above.
        let fa = unsafe { &mut *fa.cast::<super::bindings::fileattr>() };
        // SAFETY: as above.
        let lock = unsafe { InodeLock::held_by_vfs(inode) };
        neg(T::fileattr_set(&Idmap(idmap), &lock, &FileAttr(fa)))
    }

    unsafe extern "C" fn fiemap(inode: *mut b::inode, fi: *mut kernel::bindings::fiemap_extent_info, start: u64, len: u64) -> kernel::ffi::c_int {
        // SAFETY: the request of a live rxfs file.
        let inode = unsafe { Inode::from_raw(inode) };
        // The kernel crate declares `fiemap_extent_info` opaque; it is
        // the same C type as the one generated here.
        neg(T::fiemap(inode, Fiemap(fi.cast(), PhantomData), start, len))
    }

    unsafe extern "C" fn get_inode_acl(inode: *mut b::inode, t: kernel::ffi::c_int, rcu: bool) -> *mut b::posix_acl {
        if rcu {
            // Reading the disk may sleep: the VFS retries outside RCU.
            // SAFETY: ERR_PTR only encodes the errno.
            return unsafe { b::ERR_PTR(ECHILD.to_errno() as _) }.cast();
        }
        // SAFETY: the VFS asks about a live rxfs inode.
        let inode = unsafe { Inode::from_raw(inode) };
        match AclType::from_raw(t).ok_or(EINVAL).and_then(|t| T::get_acl(inode, t)) {
            Ok(Some(acl)) => acl.into_raw(),
            Ok(None) => core::ptr::null_mut(),
            // SAFETY: ERR_PTR only encodes the errno.
            Err(e) => unsafe { b::ERR_PTR(e.to_errno() as _) }.cast(),
        }
    }

    unsafe extern "C" fn set_acl(idmap: *mut b::mnt_idmap, dentry: *mut b::dentry, acl: *mut b::posix_acl, t: kernel::ffi::c_int) -> kernel::ffi::c_int {
        // SAFETY: `vfs_set_acl` (or `posix_acl_chmod` from our setattr)
        // passes a live positive dentry whose inode's i_rwsem is held, and
        // an ACL (or NULL) it keeps a reference to for the call.
        let d = unsafe { Dentry::from_raw(dentry) };
        let Some(inode) = d.inode() else { return ENOENT.to_errno() };
        let Some(t) = AclType::from_raw(t) else { return EINVAL.to_errno() };
        // SAFETY: as above.
        let (lock, acl) = unsafe { (InodeLock::held_by_vfs(inode), (!acl.is_null()).then(|| AclRef::from_raw(acl))) };
        neg(T::set_acl(&Idmap(idmap), d, &lock, acl, t))
    }

    unsafe extern "C" fn listxattr(dentry: *mut b::dentry, list: *mut kernel::ffi::c_char, size: usize) -> isize {
        // SAFETY: the VFS passes a live dentry of an rxfs inode.
        let d = unsafe { Dentry::from_raw(dentry) };
        let Some(inode) = d.inode() else { return ENOENT.to_errno() as isize };
        let buf = if size == 0 || list.is_null() {
            None
        } else {
            // SAFETY: the VFS's buffer of `size` bytes, ours for the call.
            Some(unsafe { core::slice::from_raw_parts_mut(list.cast::<u8>(), size) })
        };
        match T::listxattr(inode, buf) {
            Ok(n) => isize::try_from(n).unwrap_or(isize::MAX),
            Err(e) => e.to_errno() as isize,
        }
    }
}

/// `file_operations` of a directory: `llseek`, `read` and `fsync` are the
/// generic ones or the filesystem's; `iterate_shared` lists it.
#[vtable]
pub trait DirOps {
    /// `iterate_shared`.
    fn readdir(file: &File, ctx: &mut DirContext<'_>) -> Result;
    /// `fsync`.
    fn fsync(file: &File, start: i64, end: i64) -> Result;
    /// `unlocked_ioctl`.
    fn ioctl(file: &File, cmd: u32, arg: usize) -> Result<i32>;
}

/// The const `file_operations` of a [`DirOps`] implementation.
pub struct DirOpsTable<T: DirOps>(PhantomData<T>);

impl<T: DirOps> DirOpsTable<T> {
    const OPS: b::file_operations = {
        // SAFETY: all-zero is a table without operations.
        let mut ops: b::file_operations = unsafe { core::mem::zeroed() };
        ops.llseek = Some(b::generic_file_llseek);
        ops.read = Some(b::generic_read_dir);
        ops.iterate_shared = Some(Self::readdir);
        ops.fsync = Some(Self::fsync);
        ops.unlocked_ioctl = Some(Self::ioctl);
        ops
    };

    /// The table.
    pub const fn get() -> &'static b::file_operations {
        &Self::OPS
    }

    unsafe extern "C" fn readdir(file: *mut b::file, ctx: *mut b::dir_context) -> kernel::ffi::c_int {
        // SAFETY: a readdir of an open rxfs directory.
        let file = unsafe { File::from_raw(file) };
        let mut c = DirContext(ctx, file);
        neg(T::readdir(file, &mut c))
    }

    unsafe extern "C" fn fsync(file: *mut b::file, start: b::loff_t, end: b::loff_t, _datasync: kernel::ffi::c_int) -> kernel::ffi::c_int {
        // SAFETY: an open rxfs directory.
        neg(T::fsync(unsafe { File::from_raw(file) }, start, end))
    }

    unsafe extern "C" fn ioctl(file: *mut b::file, cmd: kernel::ffi::c_uint, arg: kernel::ffi::c_ulong) -> kernel::ffi::c_long {
        // SAFETY: an open rxfs directory.
        from_result(|| T::ioctl(unsafe { File::from_raw(file) }, cmd, arg)) as kernel::ffi::c_long
    }
}

/// Creates a new inode of `mode` in `dir` for the caller (`new_inode`,
/// owner from `inode_init_owner`, times now), not yet numbered or visible.
pub fn new_inode(idmap: &Idmap, dir: &Inode, mode: u32, rdev: u32) -> Result<NewInode> {
    // SAFETY: the directory's superblock is a mounted rxfs.
    let p = core::ptr::NonNull::new(unsafe { b::new_inode(dir.raw_sb()) }).ok_or(ENOMEM)?;
    let n = NewInode::unhashed(p);
    let raw = p.as_ptr();
    // SAFETY: a fresh inode nobody else sees.
    unsafe {
        b::inode_init_owner(idmap.0, raw, dir.as_raw(), mode as b::umode_t);
        (*raw).i_rdev = rdev;
        b::simple_inode_init_ts(raw);
        let c = b::rxfs_helper_inode_get_ctime(raw);
        n.inode().rx().btime_sec.store(c.tv_sec, Relaxed);
        n.inode().rx().btime_nsec.store(c.tv_nsec as u32, Relaxed);
    }
    Ok(n)
}
