// SPDX-License-Identifier: GPL-2.0

//! In-memory inodes: reading one from disk (`iget`), writing it back,
//! eviction, attributes, and the inode operations of regular files,
//! symlinks and special files, as `fs/xfs/xfs_iops.c` and `xfs_icache.c`.
//!
//! The VFS inode is the cache of the on-disk inode's VFS fields (mode,
//! owner, size, times, link count): they are written back by
//! `write_inode`, never read again while the inode is cached. The block
//! count and the delalloc count are rxfs's: kept in [`RxInode`] beside the
//! VFS inode and turned into `i_blocks` by each extent operation.
//!
//! [`RxInode`]: crate::vfs::inode::RxInode

use crate::fs::{self, call};
use crate::mount::Rxfs;
use crate::vfs::acl::{AclRef, AclType, PosixAcl};
use crate::vfs::inode::{Attrs, FileType, Iget, Inode, InodeLock, InodeTypes, Times};
use crate::vfs::namei::{Dentry, FileAttr, Fiemap, Iattr, Idmap, InodeOps, InodeOpsTable, Kstat};
use crate::fs::DInode;
use crate::librxfs::inode as di;
use crate::vfs::{bindings as b, SuperBlock};
use core::sync::atomic::Ordering::Relaxed;
use kernel::prelude::*;
use kernel::types::ARef;

/// The operation tables of rxfs inodes.
pub struct Tables;

impl InodeTypes for Tables {
    fn file_iops() -> &'static b::inode_operations {
        InodeOpsTable::<FileInode>::get()
    }
    fn file_fops() -> &'static b::file_operations {
        crate::vfs::file::FileOpsTable::<crate::file::RegularFile>::get()
    }
    fn aops() -> &'static b::address_space_operations {
        crate::vfs::aops::AopsTable::<crate::aops::Aops>::get()
    }
    fn dir_iops() -> &'static b::inode_operations {
        InodeOpsTable::<crate::dir::DirInode>::get()
    }
    fn dir_fops() -> &'static b::file_operations {
        crate::vfs::namei::DirOpsTable::<crate::dir::DirFile>::get()
    }
    fn symlink_iops() -> &'static b::inode_operations {
        InodeOpsTable::<SymlinkInode>::get()
    }
    fn special_iops() -> &'static b::inode_operations {
        InodeOpsTable::<SpecialInode>::get()
    }
}

/// The on-disk fields of `inode`, for writing back.
pub(crate) fn to_dinode(inode: &Inode) -> DInode {
    let a = inode.attrs();
    let rx = inode.rx();
    DInode {
        ino: inode.ino(),
        size: a.size as u64,
        nblocks: 0,
        atime_sec: a.times.atime.0,
        mtime_sec: a.times.mtime.0,
        ctime_sec: a.times.ctime.0,
        btime_sec: rx.btime_sec.load(Relaxed),
        atime_nsec: a.times.atime.1,
        mtime_nsec: a.times.mtime.1,
        ctime_nsec: a.times.ctime.1,
        btime_nsec: rx.btime_nsec.load(Relaxed),
        mode: a.mode,
        uid: a.uid,
        gid: a.gid,
        nlink: a.nlink,
        rdev: a.rdev,
        generation: a.generation,
        flags: rx.flags.load(Relaxed),
        cowextsize: rx.cowextsize.load(Relaxed),
    }
}

fn attrs_of(d: &DInode) -> Attrs {
    Attrs {
        mode: d.mode,
        uid: d.uid,
        gid: d.gid,
        nlink: d.nlink,
        size: d.size.min(i64::MAX as u64) as i64,
        rdev: d.rdev,
        generation: d.generation,
        times: Times {
            atime: (d.atime_sec, d.atime_nsec),
            mtime: (d.mtime_sec, d.mtime_nsec),
            ctime: (d.ctime_sec, d.ctime_nsec),
        },
    }
}

/// The inode `ino`, from the cache or read from disk.
pub(crate) fn iget(sb: &SuperBlock<'_, Rxfs>, ino: u64) -> Result<ARef<Inode>> {
    let n = match sb.iget_locked(ino)? {
        Iget::Cached(i) => return Ok(i),
        Iget::New(n) => n,
    };
    let bs = sb.info().dev.block_size();
    let mut link = KVec::from_elem(0u8, bs, GFP_KERNEL)?;
    let d = call(sb, |fs| fs::read_inode(fs, ino, &mut link))?;
    let target = if FileType::of(d.mode) == FileType::Symlink {
        let len = (d.size as usize).min(bs);
        Some(&link[..len])
    } else {
        None
    };
    n.fill::<Tables>(&attrs_of(&d), (d.btime_sec, d.btime_nsec), d.flags, d.nblocks, target)?;
    n.inode().rx().cowextsize.store(d.cowextsize, Relaxed);
    set_vfs_flags(n.inode(), d.flags);
    Ok(n.finish())
}

/// `write_inode`.
pub(crate) fn write_inode(inode: &Inode) -> Result {
    let d = to_dinode(inode);
    let sb = inode.sb();
    let nlink = sb.knob(crate::vfs::Knob::NlinkFromVfs).load(Relaxed) != 0;
    call(&sb, |fs| fs::write_inode(fs, &d, nlink))
}

/// `evict_inode`: frees an unlinked inode; drops a linked one's delalloc,
/// which can be left only when its dirty pages were thrown away (after a
/// shutdown).
pub(crate) fn evict(inode: &Inode) {
    if inode.is_bad() || inode.ino() == 0 || inode.sb_rdonly() {
        return;
    }
    let unlinked = inode.nlink() == 0;
    // A file that shares blocks may hold CoW fork extents.
    let reflink = inode.rx().flags.load(Relaxed) & crate::librxfs::inode::FLAG_REFLINK != 0;
    if unlinked || reflink || inode.rx().delayed.load(Relaxed) != 0 {
        let ino = inode.ino();
        let sb = inode.sb();
        // Freeing a whole file can be many commits: an unlinked file's
        // last close waits for the thaw (as ext4's). Other evictions come
        // from reclaim too, which must not wait: their small changes stay
        // in memory until the thaw (`FsInfo::freeze`).
        let _frozen = unlinked.then(|| sb.start_intwrite());
        // Nothing to tell the VFS: a failure leaves an orphan (or delalloc
        // reservation) that mount recovery or fsck frees.
        let _ = call(&sb, |fs| fs::evict(fs, ino, unlinked));
    }
}

/// `getattr` of every rxfs inode: the VFS's fields, the birth time, the
/// chattr flags statx reports (as XFS: immutable, append, nodump), and
/// O_DIRECT alignment for regular files.
pub(crate) fn getattr(idmap: &Idmap, inode: &Inode, stat: &Kstat, request_mask: u32) -> Result {
    use crate::librxfs::inode::{FLAG_APPEND, FLAG_IMMUTABLE, FLAG_NODUMP};
    stat.fill(idmap, request_mask, inode);
    let rx = inode.rx();
    stat.set_btime(rx.btime_sec.load(Relaxed), rx.btime_nsec.load(Relaxed));
    let flags = rx.flags.load(Relaxed);
    let attrs = [(FLAG_IMMUTABLE, b::STATX_ATTR_IMMUTABLE), (FLAG_APPEND, b::STATX_ATTR_APPEND), (FLAG_NODUMP, b::STATX_ATTR_NODUMP)];
    let (mask, set) = attrs.iter().fold((0u64, 0u64), |(m, s), &(f, a)| (m | a as u64, if flags & f != 0 { s | a as u64 } else { s }));
    stat.set_attributes(mask, set);
    if request_mask & b::STATX_DIOALIGN != 0 && inode.is_reg() {
        stat.set_dio_align(inode.dma_alignment() + 1, inode.sector_size());
    }
    Ok(())
}

/// `setattr` of every rxfs inode; only regular files change size.
pub(crate) fn setattr(idmap: &Idmap, dentry: &Dentry, lock: &InodeLock<'_>, attr: &Iattr) -> Result {
    let inode = lock.inode();
    inode.setattr_prepare(idmap, dentry, attr)?;
    if let Some(size) = attr.size() {
        let changed = size != inode.size();
        if changed && !inode.is_reg() {
            return Err(EINVAL);
        }
        // A truncate to the same size still runs: it frees what is
        // allocated past EOF (fallocate KEEP_SIZE), as XFS's does.
        if inode.is_reg() {
            crate::file::setsize(lock, size)?;
        }
        if changed {
            inode.touch();
        }
    }
    inode.setattr_copy(idmap, attr);
    inode.mark_dirty();
    if attr.changes_mode() {
        crate::acl::chmod(idmap, dentry)?;
    }
    Ok(())
}

/// Regular files.
pub struct FileInode;

#[vtable]
impl InodeOps for FileInode {
    fn getattr(idmap: &Idmap, inode: &Inode, stat: &Kstat, request_mask: u32) -> Result {
        getattr(idmap, inode, stat, request_mask)
    }

    fn setattr(idmap: &Idmap, dentry: &Dentry, lock: &InodeLock<'_>, attr: &Iattr) -> Result {
        setattr(idmap, dentry, lock, attr)
    }

    fn fiemap(inode: &Inode, fi: Fiemap<'_>, start: u64, len: u64) -> Result {
        let _l = inode.lock_shared();
        if fi.wants_xattr() {
            let blk = crate::xattr::block_of(inode)?;
            let bs = inode.sb().info().dev.block_size() as u64;
            return fi.xattr(inode, start, len, (blk != 0).then(|| (blk * bs, bs)));
        }
        fi.iomap::<crate::iomap::ReadIomap>(inode, start, len)
    }

    fn fileattr_get(inode: &Inode, fa: &mut FileAttr<'_>) -> Result {
        fileattr_get(inode, fa)
    }

    fn fileattr_set(_idmap: &Idmap, lock: &InodeLock<'_>, fa: &FileAttr<'_>) -> Result {
        fileattr_set(lock, fa)
    }

    fn listxattr(inode: &Inode, buf: Option<&mut [u8]>) -> Result<usize> {
        crate::xattr::list(inode, buf)
    }

    fn get_acl(inode: &Inode, t: AclType) -> Result<Option<PosixAcl>> {
        crate::acl::get(inode, t)
    }

    fn set_acl(idmap: &Idmap, _dentry: &Dentry, lock: &InodeLock<'_>, acl: Option<&AclRef>, t: AclType) -> Result {
        crate::acl::set(idmap, lock, acl, t)
    }
}

/// The largest CoW extent size hint, in blocks (as XFS's
/// `XFS_MAX_BMBT_EXTLEN / 2` bound, scaled to rxfs's extents).
const MAX_COWEXTSIZE: u32 = 1 << 20;

/// Each user flag on disk, as `fsx_xflags` has it and as the VFS inode
/// has it (`S_*`, which the VFS enforces: EPERM for writes, truncation,
/// links, renames and removals of an immutable file, anything but appends
/// to an append-only one, removals from an append-only directory).
const USER_FLAGS: [(u32, u32, u32); 5] = [
    (di::FLAG_IMMUTABLE, b::FS_XFLAG_IMMUTABLE, b::S_IMMUTABLE),
    (di::FLAG_APPEND, b::FS_XFLAG_APPEND, b::S_APPEND),
    (di::FLAG_SYNC, b::FS_XFLAG_SYNC, b::S_SYNC),
    (di::FLAG_NOATIME, b::FS_XFLAG_NOATIME, b::S_NOATIME),
    (di::FLAG_NODUMP, b::FS_XFLAG_NODUMP, 0),
];

/// The `S_*` flags the VFS inode has for on-disk `flags`.
const VFS_FLAGS_MASK: u32 = b::S_IMMUTABLE | b::S_APPEND | b::S_SYNC | b::S_NOATIME;

/// Sets the VFS inode's `S_*` flags from on-disk `flags` (at load, where
/// `fill` keeps the flags themselves).
fn set_vfs_flags(inode: &Inode, flags: u32) {
    let s = USER_FLAGS.iter().filter(|f| flags & f.0 != 0).fold(0, |a, f| a | f.2);
    inode.set_vfs_flags(s, VFS_FLAGS_MASK);
}

/// Keeps an inode's new on-disk `flags` in memory and mirrors them into
/// the VFS inode's `S_*` flags (at creation and after a change).
pub(crate) fn set_flags(inode: &Inode, flags: u32) {
    inode.rx().flags.store(flags, Relaxed);
    set_vfs_flags(inode, flags);
}

/// `FS_IOC_GETFLAGS` and `FS_IOC_FSGETXATTR` (files and directories).
pub(crate) fn fileattr_get(inode: &Inode, fa: &mut FileAttr<'_>) -> Result {
    let flags = inode.rx().flags.load(Relaxed);
    let ext = inode.rx().cowextsize.load(Relaxed);
    let mut xflags = USER_FLAGS.iter().filter(|f| flags & f.0 != 0).fold(0, |a, f| a | f.1);
    if ext != 0 {
        xflags |= b::FS_XFLAG_COWEXTSIZE;
    }
    fa.fill(xflags, ext.saturating_mul(inode.block_size()));
    Ok(())
}

/// `FS_IOC_SETFLAGS` and `FS_IOC_FSSETXATTR` (files and directories), a
/// subset of XFS's `xfs_fileattr_set`: the flags immutable, append-only,
/// sync, noatime and nodump (the VFS checked `CAP_LINUX_IMMUTABLE` for the
/// first two), and on a regular file the CoW extent size hint
/// (`FS_XFLAG_COWEXTSIZE` with `fsx_cowextsize`, a multiple of the block
/// size; without the flag the hint goes back to the default). Anything
/// else is `EOPNOTSUPP`. The VFS filled in what the ioctl did not say
/// from [`fileattr_get`], so both ioctls come here as `fsx_xflags`.
pub(crate) fn fileattr_set(lock: &InodeLock<'_>, fa: &FileAttr<'_>) -> Result {
    let inode = lock.inode();
    let common = b::FS_IMMUTABLE_FL | b::FS_APPEND_FL | b::FS_NOATIME_FL | b::FS_NODUMP_FL | b::FS_SYNC_FL;
    if !fa.is_fsx() && fa.flags() & !common != 0 {
        return Err(crate::vfs::code::eopnotsupp());
    }
    let user_x = USER_FLAGS.iter().fold(0, |a, f| a | f.1);
    let cow_x = if inode.is_reg() { b::FS_XFLAG_COWEXTSIZE } else { 0 };
    let x = fa.xflags();
    if x & !(user_x | cow_x) != 0 || fa.extsize() != 0 || fa.projid() != 0 {
        return Err(crate::vfs::code::eopnotsupp());
    }
    let user = USER_FLAGS.iter().filter(|f| x & f.1 != 0).fold(0, |a, f| a | f.0);
    let cow = if inode.is_reg() {
        // Never zero; `max` tells the compiler so (no division panic).
        let bs = inode.block_size().max(1);
        let bytes = if x & b::FS_XFLAG_COWEXTSIZE != 0 { fa.cowextsize() } else { 0 };
        if bytes % bs != 0 || bytes / bs > MAX_COWEXTSIZE {
            return Err(EINVAL);
        }
        Some(bytes / bs)
    } else {
        None
    };
    let flags = call(&inode.sb(), |fs| fs::set_fileattr(fs, inode.ino(), user, cow))?;
    // The disk's flags; FLAG_REFLINK is only ever added (by a remap, which
    // holds i_rwsem as this does), so keeping the in-memory bit is exact.
    let reflink = inode.rx().flags.load(Relaxed) & di::FLAG_REFLINK;
    set_flags(inode, flags | reflink);
    if let Some(c) = cow {
        inode.rx().cowextsize.store(c, Relaxed);
    }
    inode.touch_ctime();
    inode.mark_dirty();
    Ok(())
}

/// Symbolic links: the target is read with the inode and kept with it.
pub struct SymlinkInode;

#[vtable]
impl InodeOps for SymlinkInode {
    const SYMLINK: bool = true;

    fn getattr(idmap: &Idmap, inode: &Inode, stat: &Kstat, request_mask: u32) -> Result {
        getattr(idmap, inode, stat, request_mask)
    }

    fn setattr(idmap: &Idmap, dentry: &Dentry, lock: &InodeLock<'_>, attr: &Iattr) -> Result {
        setattr(idmap, dentry, lock, attr)
    }

    fn listxattr(inode: &Inode, buf: Option<&mut [u8]>) -> Result<usize> {
        crate::xattr::list(inode, buf)
    }
}

/// Device nodes, FIFOs and sockets.
pub struct SpecialInode;

#[vtable]
impl InodeOps for SpecialInode {
    fn getattr(idmap: &Idmap, inode: &Inode, stat: &Kstat, request_mask: u32) -> Result {
        getattr(idmap, inode, stat, request_mask)
    }

    fn setattr(idmap: &Idmap, dentry: &Dentry, lock: &InodeLock<'_>, attr: &Iattr) -> Result {
        setattr(idmap, dentry, lock, attr)
    }

    fn listxattr(inode: &Inode, buf: Option<&mut [u8]>) -> Result<usize> {
        crate::xattr::list(inode, buf)
    }

    fn get_acl(inode: &Inode, t: AclType) -> Result<Option<PosixAcl>> {
        crate::acl::get(inode, t)
    }

    fn set_acl(idmap: &Idmap, _dentry: &Dentry, lock: &InodeLock<'_>, acl: Option<&AclRef>, t: AclType) -> Result {
        crate::acl::set(idmap, lock, acl, t)
    }
}
