// SPDX-License-Identifier: GPL-2.0

//! Directories: lookup, creation of every kind of inode, links, unlink,
//! rename in all its flavours, and readdir, as `fs/xfs/xfs_iops.c` and
//! `xfs_dir2_readdir.c`.
//!
//! Each operation changes the disk first ([`crate::fs`], atomically under
//! the metadata lock: it fails having changed nothing, see the ENOSPC
//! budget in `Documentation/filesystems/rxfs/design.rst`), then the VFS
//! inodes (link counts, times), which cannot fail. A new inode is visible
//! to no one until it is on disk and numbered (`NewInode`).

use crate::fs::{self, call, Links, Rename};
use crate::inode::{getattr, setattr, to_dinode, Tables};
use crate::vfs::acl::{AclRef, AclType, PosixAcl};
use crate::vfs::bindings as b;
use crate::vfs::file::File;
use crate::vfs::inode::{FileType, Inode, InodeLock, NewInode};
use crate::vfs::namei::{new_inode, Dentry, DirContext, DirOps, FileAttr, Iattr, Idmap, InodeOps, Kstat};
use kernel::prelude::*;
use kernel::types::ARef;

/// Longest name.
const NAME_MAX: usize = 255;
/// Most links to one inode (`s_max_links`).
const MAX_LINKS: u32 = 65000;
/// `RENAME_NOREPLACE`, `RENAME_EXCHANGE`, `RENAME_WHITEOUT`.
const RENAME_FLAGS: u32 = b::RENAME_NOREPLACE | b::RENAME_EXCHANGE | b::RENAME_WHITEOUT;

fn is_dir(mode: u32) -> bool {
    FileType::of(mode) == FileType::Directory
}

/// mtime and ctime to now, and the inode to disk.
fn touch(inode: &Inode) {
    inode.touch();
    inode.mark_dirty();
}

/// Makes a new inode of `mode` in `dir`: on disk first (the block, the
/// inode, the entry `name`, or for a tmpfile the orphan list), then the VFS
/// inode, numbered and hashed but still locked.
fn create(idmap: &Idmap, dir: &Inode, name: &[u8], mode: u32, rdev: u32, link: Option<&[u8]>, tmpfile: bool) -> Result<NewInode> {
    let sb = dir.sb();
    let bs = sb.info().dev.block_size();
    if link.is_some_and(|l| l.len() > bs.saturating_sub(192)) {
        return Err(crate::vfs::code::enametoolong());
    }
    // The directory's default ACL, or the umask (crate::acl).
    let inherit = crate::acl::inherit(dir, mode)?;
    let mut n = new_inode(idmap, dir, inherit.mode, rdev)?;
    n.set_nlink(if is_dir(mode) { 2 } else { 1 });
    if let Some(l) = link {
        n.set_link(l)?;
        n.set_size(l.len() as i64);
    }
    let mut d = to_dinode(n.inode());
    d.ino = 0;
    if tmpfile {
        d.nlink = 0;
    }
    let mut links = Links::new();
    if is_dir(mode) {
        links.set(dir.ino(), dir.nlink().saturating_add(1));
    }
    let (xattrs, nx) = inherit.xattrs();
    call(&sb, |fs| fs::create(fs, dir.ino(), name, &mut d, link.unwrap_or(&[]), &xattrs[..nx], tmpfile, links))?;
    inherit.cache(n.inode());
    ns_delay(dir);
    n.set_ops::<Tables>();
    crate::inode::set_flags(n.inode(), d.flags);
    n.hash(d.ino, d.generation)?;
    if is_dir(mode) {
        dir.inc_nlink();
    }
    touch(dir);
    n.inode().mark_dirty();
    Ok(n)
}

/// A `dirsync` or `sync` mount, or a `chattr +S` directory (`IS_DIRSYNC`):
/// the namespace operation is durable when it returns, as ext4 makes its
/// handle synchronous and XFS its transaction (`wsync`, `dirsync`). The
/// change itself is committed with the journal; the VFS times of `dirs`
/// and `others` (set after it) are written first.
fn dirsync(dirs: &[&Inode], others: &[&Inode]) -> Result {
    if !dirs.iter().any(|d| d.is_dirsync()) {
        return Ok(());
    }
    let Some((first, rest)) = dirs.split_first() else { return Ok(()) };
    for i in Iterator::chain(rest.iter(), others) {
        i.sync_metadata()?;
    }
    // The first directory's own write, then the commit.
    crate::file::sync_inode(first)
}

/// Knob (h): after a namespace operation's metadata change, before its VFS
/// inodes are updated (the disk has the new link counts, the VFS not yet).
fn ns_delay(dir: &Inode) {
    let delay = dir.sb().knob(crate::vfs::Knob::NsDelayMs).load(core::sync::atomic::Ordering::Relaxed);
    if delay > 0 {
        crate::vfs::msleep(delay.clamp(0, 60_000) as u32);
    }
}

/// Directories.
pub struct DirInode;

#[vtable]
impl InodeOps for DirInode {
    fn lookup(dir: &Inode, dentry: &Dentry) -> Result<Option<ARef<Inode>>> {
        let name = dentry.name();
        if name.len() > NAME_MAX {
            return Err(crate::vfs::code::enametoolong());
        }
        let sb = dir.sb();
        let ino = call(&sb, |fs| fs::lookup(fs, dir.ino(), name))?;
        if ino == 0 {
            return Ok(None);
        }
        crate::inode::iget(&sb, ino).map(Some)
    }

    fn mknod(idmap: &Idmap, dir: &Inode, dentry: &Dentry, mode: u32, rdev: u32, link: Option<&[u8]>) -> Result {
        let n = create(idmap, dir, dentry.name(), mode, rdev, link, false)?;
        dentry.instantiate_new(n);
        dirsync(&[dir], &[])
    }

    fn tmpfile(idmap: &Idmap, dir: &Inode, file: &File, mode: u32) -> Result {
        // d_tmpfile drops the link count to zero: the inode is an orphan.
        create(idmap, dir, &[], mode, 0, None, true)?.tmpfile(file)
    }

    fn link(old: &Dentry, dir: &Inode, dentry: &Dentry) -> Result {
        let inode = old.inode().ok_or(ENOENT)?;
        if inode.nlink() >= MAX_LINKS {
            return Err(EMLINK);
        }
        let sb = dir.sb();
        let (ino, mode) = (inode.ino(), inode.mode());
        let mut links = Links::new();
        links.set(ino, inode.nlink().saturating_add(1));
        // A tmpfile being linked in (no link yet) leaves the orphan list.
        let tmpfile = inode.nlink() == 0;
        call(&sb, |fs| fs::link(fs, dir.ino(), dentry.name(), ino, mode, links, tmpfile))?;
        ns_delay(dir);
        inode.set_ctime_now();
        inode.inc_nlink();
        inode.mark_dirty();
        touch(dir);
        dentry.instantiate(ARef::from(inode));
        dirsync(&[dir], &[inode])
    }

    fn unlink(dir: &Inode, dentry: &Dentry) -> Result {
        let inode = dentry.inode().ok_or(ENOENT)?;
        let dirent = is_dir(inode.mode());
        let last = dirent || inode.nlink() <= 1;
        let ino = inode.ino();
        let mut links = Links::new();
        if dirent {
            links.set(dir.ino(), dir.nlink().saturating_sub(1));
        } else if !last {
            links.set(ino, inode.nlink().saturating_sub(1));
        }
        call(&dir.sb(), |fs| fs::unlink(fs, dir.ino(), dentry.name(), ino, last, links))?;
        ns_delay(dir);
        touch(dir);
        inode.set_ctime_from(dir);
        if dirent {
            inode.clear_nlink();
            dir.drop_nlink();
        } else {
            inode.drop_nlink();
        }
        inode.mark_dirty();
        dirsync(&[dir], &[])
    }

    fn rmdir(dir: &Inode, dentry: &Dentry) -> Result {
        let inode = dentry.inode().ok_or(ENOENT)?;
        let ino = inode.ino();
        if !call(&dir.sb(), |fs| fs::dir_empty(fs, ino))? {
            return Err(crate::vfs::code::enotempty());
        }
        Self::unlink(dir, dentry)
    }

    fn rename(idmap: &Idmap, old_dir: &Inode, old_dentry: &Dentry, new_dir: &Inode, new_dentry: &Dentry, flags: u32) -> Result {
        rename(idmap, old_dir, old_dentry, new_dir, new_dentry, flags)?;
        dirsync(&[old_dir, new_dir], old_dentry.inode().as_slice())
    }

    fn getattr(idmap: &Idmap, inode: &Inode, stat: &Kstat, request_mask: u32) -> Result {
        getattr(idmap, inode, stat, request_mask)
    }

    fn setattr(idmap: &Idmap, dentry: &Dentry, lock: &InodeLock<'_>, attr: &Iattr) -> Result {
        setattr(idmap, dentry, lock, attr)
    }

    fn fileattr_get(inode: &Inode, fa: &mut FileAttr<'_>) -> Result {
        crate::inode::fileattr_get(inode, fa)
    }

    fn fileattr_set(_idmap: &Idmap, lock: &InodeLock<'_>, fa: &FileAttr<'_>) -> Result {
        crate::inode::fileattr_set(lock, fa)
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

fn rename(idmap: &Idmap, old_dir: &Inode, old_dentry: &Dentry, new_dir: &Inode, new_dentry: &Dentry, flags: u32) -> Result {
    if flags & !RENAME_FLAGS != 0 {
        return Err(EINVAL);
    }
    let old = old_dentry.inode().ok_or(ENOENT)?;
    let new = new_dentry.inode();
    let exchange = flags & b::RENAME_EXCHANGE != 0;
    let sb = old_dir.sb();
    if let Some(n) = new {
        if is_dir(n.mode()) && !exchange {
            let ino = n.ino();
            if !call(&sb, |fs| fs::dir_empty(fs, ino))? {
                return Err(crate::vfs::code::enotempty());
            }
        }
    }
    let mut whiteout = crate::fs::DInode::default();
    if flags & b::RENAME_WHITEOUT != 0 {
        let (uid, gid) = idmap.fs_ids();
        let (sec, nsec) = old_dir.now();
        whiteout.mode = b::S_IFCHR | b::WHITEOUT_MODE;
        whiteout.rdev = b::WHITEOUT_DEV;
        whiteout.uid = uid;
        whiteout.gid = gid;
        whiteout.nlink = 1;
        whiteout.atime_sec = sec;
        whiteout.mtime_sec = sec;
        whiteout.ctime_sec = sec;
        whiteout.btime_sec = sec;
        whiteout.atime_nsec = nsec;
        whiteout.mtime_nsec = nsec;
        whiteout.ctime_nsec = nsec;
        whiteout.btime_nsec = nsec;
    }
    // The link counts the VFS inodes get below, on disk in the same change.
    let same = old_dir.ino() == new_dir.ino();
    let mut links = Links::new();
    let bump = |l: &mut Links, d: &Inode, delta: i32| {
        let cur = l.get(d.ino(), d.nlink());
        l.set(d.ino(), if delta < 0 { cur.saturating_sub(1) } else { cur.saturating_add(1) });
    };
    if exchange {
        if let Some(n) = new {
            if is_dir(old.mode()) != is_dir(n.mode()) && !same {
                if is_dir(old.mode()) {
                    bump(&mut links, old_dir, -1);
                    bump(&mut links, new_dir, 1);
                } else {
                    bump(&mut links, new_dir, -1);
                    bump(&mut links, old_dir, 1);
                }
            }
        }
    } else {
        if let Some(n) = new {
            if is_dir(n.mode()) {
                bump(&mut links, new_dir, -1);
            } else if n.nlink() > 1 {
                links.set(n.ino(), n.nlink() - 1);
            }
        }
        if is_dir(old.mode()) && !same {
            bump(&mut links, old_dir, -1);
            bump(&mut links, new_dir, 1);
        }
    }
    let req = Rename {
        old_dir: old_dir.ino(),
        new_dir: new_dir.ino(),
        old_ino: old.ino(),
        new_ino: new.map_or(0, |n| n.ino()),
        old_name: old_dentry.name(),
        new_name: new_dentry.name(),
        flags,
        old_mode: old.mode(),
        new_mode: new.map_or(0, |n| n.mode()),
        target_last_link: new.is_some_and(|n| !exchange && (is_dir(n.mode()) || n.nlink() <= 1)),
        whiteout: &mut whiteout,
        links,
    };
    call(&sb, |fs| fs::rename(fs, req))?;
    ns_delay(new_dir);

    touch(old_dir);
    let same_dir = core::ptr::eq(old_dir, new_dir);
    if !same_dir {
        touch(new_dir);
    }
    old.set_ctime_now();
    old.mark_dirty();
    if exchange {
        if let Some(n) = new {
            n.set_ctime_now();
            n.mark_dirty();
            if is_dir(old.mode()) != is_dir(n.mode()) && !same_dir {
                if is_dir(old.mode()) {
                    old_dir.drop_nlink();
                    new_dir.inc_nlink();
                } else {
                    new_dir.drop_nlink();
                    old_dir.inc_nlink();
                }
            }
        }
        return Ok(());
    }
    if let Some(n) = new {
        n.set_ctime_now();
        if is_dir(n.mode()) {
            n.clear_nlink();
            new_dir.drop_nlink();
        } else {
            n.drop_nlink();
        }
        n.mark_dirty();
    }
    if is_dir(old.mode()) && !same_dir {
        old_dir.drop_nlink();
        new_dir.inc_nlink();
    }
    Ok(())
}

/// Directory files: readdir, fsync, ioctls.
pub struct DirFile;

#[vtable]
impl DirOps for DirFile {
    fn readdir(file: &File, ctx: &mut DirContext<'_>) -> Result {
        if !ctx.emit_dots() {
            return Ok(());
        }
        let dir = file.inode();
        let sb = dir.sb();
        let mut name = [0u8; NAME_MAX + 1];
        loop {
            let pos = ctx.pos();
            let Some((next, ino, dtype, len)) = call(&sb, |fs| fs::readdir(fs, dir.ino(), pos, &mut name))? else {
                return Ok(());
            };
            if !ctx.emit(name.get(..len).unwrap_or(&[]), ino, dtype as u32) {
                return Ok(());
            }
            ctx.set_pos(next);
        }
    }

    fn fsync(file: &File, start: i64, end: i64) -> Result {
        crate::file::fsync(file, start, end)
    }

    fn ioctl(file: &File, cmd: u32, arg: usize) -> Result<i32> {
        crate::ioctl::ioctl(file, cmd, arg)
    }
}
