// SPDX-License-Identifier: GPL-2.0

//! Extended attributes, as `fs/xfs/xfs_xattr.c` is XFS's: the VFS's
//! handlers ([`crate::vfs::xattr`]) come here, and each call is one
//! metadata change on the inode's xattr block ([`crate::librxfs::xattr`]:
//! all of an inode's attributes in one block, as ext2 keeps them).
//!
//! A set allocates the block with the first attribute and frees it with the
//! last, in the same change as the inode's pointer, so the block is never
//! without an owner; the whole change is checked for room first and fails
//! having changed nothing (`ENOSPC` when the block is full). A set changes
//! ctime; on a synchronous inode (`chattr +S`, a `sync` mount) it commits
//! before returning, as XFS's `wsync` transactions do. Filesystems made
//! without the `xattr` feature install no handlers: the VFS answers
//! `EOPNOTSUPP`. Inode eviction frees the block with the inode
//! ([`crate::fs`]'s `free_inode`). POSIX ACLs are names of the same block
//! ([`crate::acl`]).

use crate::fs::{call, Ctx, FsInfo};
use crate::librxfs::error::Error;
use crate::librxfs::inode;
use crate::librxfs::meta::{self, Store};
use crate::librxfs::xattr::{self as x, Mode};
use crate::vfs::inode::{Inode, InodeLock};
use crate::vfs::xattr::{Namespace, SetMode, XattrOps};
use kernel::prelude::*;

fn ns_of(ns: Namespace) -> u8 {
    match ns {
        Namespace::User => x::NS_USER,
        Namespace::Trusted => x::NS_TRUSTED,
        Namespace::Security => x::NS_SECURITY,
    }
}

fn ns_from(ns: u8) -> Option<Namespace> {
    match ns {
        x::NS_USER => Some(Namespace::User),
        x::NS_TRUSTED => Some(Namespace::Trusted),
        x::NS_SECURITY => Some(Namespace::Security),
        _ => None,
    }
}

/// The errnos of the xattr calls: a missing name is `ENODATA`, a buffer too
/// short `ERANGE`.
fn errno(e: kernel::error::Error) -> kernel::error::Error {
    if e == ENOENT {
        crate::vfs::code::enodata()
    } else if e == EFBIG {
        ERANGE
    } else {
        e
    }
}

/// Runs `f` on inode `ino`'s verified xattr block, if it has one.
fn read_block<R>(fs: &FsInfo, ino: u64, f: impl FnOnce(Option<&[u8]>) -> Result<R, Error>) -> Result<R, Error> {
    fs.with(|cx| {
        let i = inode::read(&cx.s, ino)?;
        if i.xattr == 0 {
            return f(None);
        }
        let buf = cx.s.read(i.xattr)?;
        x::verify_in(&cx.s, &buf, i.xattr, ino)?;
        f(Some(&buf))
    })
}

/// The inode's xattr block, or 0 (FIEMAP_FLAG_XATTR).
pub(crate) fn block_of(inode: &Inode) -> Result<u64> {
    let ino = inode.ino();
    call(&inode.sb(), |fs| fs.with(|cx| Ok(inode::read(&cx.s, ino)?.xattr)))
}

/// `listxattr`: the names the caller may see.
pub(crate) fn list(inode: &Inode, out: Option<&mut [u8]>) -> Result<usize> {
    let sb = inode.sb();
    // ACLs (`system.`) are listed to everyone, as by every filesystem.
    let show = |ns: u8| ns == x::NS_SYSTEM || ns_from(ns).is_some_and(Namespace::listed);
    call(&sb, |fs| {
        read_block(fs, inode.ino(), |b| match b {
            None => Ok(0),
            Some(b) => x::list(b, show, out),
        })
    })
    .map_err(errno)
}

/// A new xattr block for inode `ino` holding `entries` (namespace, name,
/// value), in the caller's metadata change: its number, for the inode's
/// pointer. Nothing is left allocated on an error.
pub(crate) fn new_block(cx: &mut Ctx<'_>, ino: u64, entries: &[(u8, &[u8], &[u8])]) -> Result<u64, Error> {
    if cx.a.user_available() == 0 {
        return Err(Error::NoSpace);
    }
    let blk = cx.a.alloc_meta(&cx.s, ino)?;
    let mut b = cx.s.read(blk)?;
    x::init_block(&mut b, blk, ino, cx.s.fsid());
    if let Some(e) = entries.iter().find_map(|&(ns, name, value)| x::set(&mut b, ns, name, Some(value), Mode::Create).err()) {
        drop(b);
        cx.a.free(&cx.s, blk, 1)?;
        return Err(e);
    }
    meta::commit(&cx.s, &mut b);
    Ok(blk)
}

/// Sets or removes a name in one metadata change (see the module's note),
/// and with `new_mode` the inode's mode in the same change (an access
/// ACL's).
pub(crate) fn set_on_disk(fs: &FsInfo, ino: u64, ns: u8, name: &[u8], value: Option<&[u8]>, mode: Mode, new_mode: Option<u32>) -> Result<(), Error> {
    fs.with(|cx| {
        let i = inode::read(&cx.s, ino)?;
        let set_mode = |cx: &mut Ctx<'_>| match new_mode {
            Some(m) => inode::modify(&cx.s, ino, |i| i.mode = m).map(|_| ()),
            None => Ok(()),
        };
        if i.xattr == 0 {
            match (value, mode) {
                // Removing what is not there: only the mode changes (an
                // access ACL the mode now says all of).
                (None, _) if new_mode.is_some() => return set_mode(cx),
                (None, _) | (_, Mode::Replace) => return Err(Error::NotFound),
                (Some(v), _) => {
                    let blk = new_block(cx, ino, &[(ns, name, v)])?;
                    inode::modify(&cx.s, ino, |i| i.xattr = blk)?;
                    return set_mode(cx);
                }
            }
        }
        let blk = i.xattr;
        let mut b = cx.s.read(blk)?;
        x::verify_in(&cx.s, &b, blk, ino)?;
        match x::set(&mut b, ns, name, value, mode) {
            Err(Error::NotFound) if value.is_none() && new_mode.is_some() => {
                drop(b);
                return set_mode(cx);
            }
            r => r?,
        }
        if x::is_empty(&b) {
            // The last name: the block goes with the pointer to it.
            drop(b);
            inode::modify(&cx.s, ino, |i| i.xattr = 0)?;
            cx.a.free(&cx.s, blk, 1)?;
        } else {
            meta::commit(&cx.s, &mut b);
            drop(b);
        }
        set_mode(cx)
    })
}

/// The value of `ns`/`name` of inode `ino`, copied out by `f`.
pub(crate) fn get_on_disk<R>(fs: &FsInfo, ino: u64, ns: u8, name: &[u8], f: impl FnOnce(Option<&[u8]>) -> Result<R, Error>) -> Result<R, Error> {
    read_block(fs, ino, |b| f(b.and_then(|b| x::get(b, ns, name))))
}

/// Extended attribute handlers.
pub struct RxfsXattr;

#[vtable]
impl XattrOps for RxfsXattr {
    fn get(inode: &Inode, ns: Namespace, name: &[u8], buf: Option<&mut [u8]>) -> Result<usize> {
        let sb = inode.sb();
        let ns = ns_of(ns);
        call(&sb, |fs| {
            get_on_disk(fs, inode.ino(), ns, name, |v| {
                let v = v.ok_or(Error::NotFound)?;
                if let Some(out) = buf {
                    out.get_mut(..v.len()).ok_or(Error::TooBig)?.copy_from_slice(v);
                }
                Ok(v.len())
            })
        })
        .map_err(errno)
    }

    fn set(lock: &InodeLock<'_>, ns: Namespace, name: &[u8], value: Option<&[u8]>, mode: SetMode) -> Result {
        let inode = lock.inode();
        let sb = inode.sb();
        let mode = match mode {
            SetMode::Any => Mode::Any,
            SetMode::Create => Mode::Create,
            SetMode::Replace => Mode::Replace,
        };
        call(&sb, |fs| set_on_disk(fs, inode.ino(), ns_of(ns), name, value, mode, None)).map_err(|e| {
            // A name too long for the format (the VFS allows 255 bytes with
            // the prefix, so this cannot happen) is ERANGE, as the VFS's.
            if e == crate::vfs::code::enametoolong() {
                ERANGE
            } else {
                errno(e)
            }
        })?;
        inode.set_ctime_now();
        inode.mark_dirty();
        if inode.is_sync() {
            crate::file::sync_inode(inode)?;
        }
        Ok(())
    }
}
