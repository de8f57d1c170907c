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
use crate::vfs::inode::{Attrs, FileType, Iget, Inode, InodeLock, InodeTypes, Times};
use crate::vfs::namei::{Dentry, FileAttr, Fiemap, Iattr, Idmap, InodeOps, InodeOpsTable, Kstat};
use crate::fs::DInode;
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
        // Nothing to tell the VFS: a failure leaves an orphan (or delalloc
        // reservation) that mount recovery or fsck frees.
        let _ = call(&inode.sb(), |fs| fs::evict(fs, ino, unlinked));
    }
}

/// `getattr` of every rxfs inode: the VFS's fields, the birth time, and
/// O_DIRECT alignment for regular files.
pub(crate) fn getattr(idmap: &Idmap, inode: &Inode, stat: &Kstat, request_mask: u32) -> Result {
    stat.fill(idmap, request_mask, inode);
    let rx = inode.rx();
    stat.set_btime(rx.btime_sec.load(Relaxed), rx.btime_nsec.load(Relaxed));
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
        if size != inode.size() {
            if !inode.is_reg() {
                return Err(EINVAL);
            }
            crate::file::setsize(lock, size)?;
            inode.touch();
        }
    }
    inode.setattr_copy(idmap, attr);
    inode.mark_dirty();
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
        fi.iomap::<crate::iomap::ReadIomap>(inode, start, len)
    }

    fn fileattr_get(inode: &Inode, fa: &mut FileAttr<'_>) -> Result {
        let ext = inode.rx().cowextsize.load(Relaxed);
        let xflags = if ext != 0 { b::FS_XFLAG_COWEXTSIZE } else { 0 };
        fa.fill(xflags, ext.saturating_mul(inode.block_size()));
        Ok(())
    }

    fn fileattr_set(_idmap: &Idmap, lock: &InodeLock<'_>, fa: &FileAttr<'_>) -> Result {
        set_cowextsize(lock.inode(), fa)
    }
}

/// The largest CoW extent size hint, in blocks (as XFS's
/// `XFS_MAX_BMBT_EXTLEN / 2` bound, scaled to rxfs's extents).
const MAX_COWEXTSIZE: u32 = 1 << 20;

/// `FS_IOC_FSSETXATTR` on a regular file: only the CoW extent size hint
/// (`FS_XFLAG_COWEXTSIZE` with `fsx_cowextsize`, a multiple of the block
/// size; without the flag the hint goes back to the default) is
/// supported, as a subset of XFS's `xfs_fileattr_set`.
fn set_cowextsize(inode: &Inode, fa: &FileAttr<'_>) -> Result {
    if !fa.is_fsx() {
        // FS_IOC_SETFLAGS: rxfs has no chattr flags.
        return if fa.flags() == 0 { Ok(()) } else { Err(crate::vfs::code::eopnotsupp()) };
    }
    if fa.xflags() & !b::FS_XFLAG_COWEXTSIZE != 0 || fa.extsize() != 0 || fa.projid() != 0 {
        return Err(crate::vfs::code::eopnotsupp());
    }
    let bs = inode.block_size();
    let bytes = if fa.xflags() & b::FS_XFLAG_COWEXTSIZE != 0 { fa.cowextsize() } else { 0 };
    if bytes % bs != 0 || bytes / bs > MAX_COWEXTSIZE {
        return Err(EINVAL);
    }
    let blocks = bytes / bs;
    call(&inode.sb(), |fs| fs::set_cowextsize(fs, inode.ino(), blocks))?;
    inode.rx().cowextsize.store(blocks, Relaxed);
    inode.touch();
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
}
