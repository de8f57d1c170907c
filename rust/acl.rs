// SPDX-License-Identifier: GPL-2.0

//! POSIX ACLs, as `fs/xfs/xfs_acl.c` is XFS's: a filesystem made with the
//! `acl` feature mounts with `SB_POSIXACL`, and an inode's access and
//! default ACLs are the names `system.posix_acl_access` and
//! `system.posix_acl_default` of its xattr block ([`crate::xattr`]), in the
//! VFS's xattr form with ids as the inode's own are stored.
//!
//! - Reading ([`get`]) is on demand: the VFS caches what it returns
//!   (`i_acl`, `i_default_acl`) and checks permissions against it.
//! - Setting ([`set`], `setfacl`, and chmod's `posix_acl_chmod`) changes
//!   the ACL and the mode it gives in one metadata change; an access ACL
//!   that the mode says all of is removed, not stored, as every
//!   filesystem does. A default ACL is only for directories.
//! - A new inode ([`inherit`]) gets the directory's default ACL, masked by
//!   the mode asked for, as its access ACL, and a directory gets it as its
//!   default ACL too; they are written in the same metadata change as the
//!   inode (XFS writes them in transactions after the create's, so a crash
//!   between can leave a file without its inherited ACL; rxfs cannot). With
//!   `SB_POSIXACL` the VFS leaves the umask to the filesystem: where the
//!   directory has no default ACL, [`inherit`] applies it.

use crate::fs::call;
use crate::librxfs::error::Error;
use crate::librxfs::xattr::{self as x, Mode};
use crate::vfs::acl::{self, AclRef, AclType, PosixAcl};
use crate::vfs::inode::{Inode, InodeLock};
use crate::vfs::namei::{Dentry, Idmap};
use kernel::prelude::*;

fn name(t: AclType) -> &'static [u8] {
    match t {
        AclType::Access => x::ACL_ACCESS,
        AclType::Default => x::ACL_DEFAULT,
    }
}

/// `get_inode_acl`.
pub(crate) fn get(inode: &Inode, t: AclType) -> Result<Option<PosixAcl>> {
    let sb = inode.sb();
    let ino = inode.ino();
    call(&sb, |fs| {
        crate::xattr::get_on_disk(fs, ino, x::NS_SYSTEM, name(t), |v| {
            let Some(v) = v else { return Ok(None) };
            // The block's verifier checked the form; an ACL the kernel
            // still refuses (named entries out of order, an id with no
            // mapping) is corrupt metadata all the same.
            PosixAcl::from_xattr(v)
                .map(Some)
                .map_err(|_| Error::Corrupt { what: "ACL", blkno: ino, why: "the kernel refuses the stored ACL" })
        })
    })
}

/// `set_acl`: the VFS holds i_rwsem.
pub(crate) fn set(idmap: &Idmap, lock: &InodeLock<'_>, acl: Option<&AclRef>, t: AclType) -> Result {
    let inode = lock.inode();
    let mut acl = acl;
    let mut new_mode = None;
    match t {
        AclType::Access => {
            if let Some(a) = acl {
                let (m, keep) = acl::update_mode(idmap, inode, a)?;
                new_mode = Some(m);
                acl = keep;
            }
        }
        AclType::Default if !inode.is_dir() => return if acl.is_some() { Err(EACCES) } else { Ok(()) },
        AclType::Default => {}
    }
    let value = acl.map(AclRef::to_xattr).transpose()?;
    let sb = inode.sb();
    if value.as_ref().is_some_and(|v| v.len().saturating_sub(4) / 8 > x::acl_max_entries(sb.info().dev.block_size())) {
        // More entries than any xattr block holds (XFS_ACL_MAX_ENTRIES).
        return Err(E2BIG);
    }
    call(&sb, |fs| {
        crate::xattr::set_on_disk(fs, inode.ino(), x::NS_SYSTEM, name(t), value.as_deref(), Mode::Any, new_mode).or_else(|e| match e {
            // Removing an ACL that is not there.
            Error::NotFound if value.is_none() => Ok(()),
            e => Err(e),
        })
    })?;
    if let Some(m) = new_mode {
        lock.set_mode(m);
    }
    acl::set_cached(inode, t, acl);
    inode.set_ctime_now();
    inode.mark_dirty();
    if inode.is_sync() {
        crate::file::sync_inode(inode)?;
    }
    Ok(())
}

/// `setattr`'s part: after a chmod, the access ACL follows the mode.
pub(crate) fn chmod(idmap: &Idmap, dentry: &Dentry) -> Result {
    // Without SB_POSIXACL, posix_acl_chmod does nothing.
    let Some(inode) = dentry.inode() else { return Ok(()) };
    acl::chmod(idmap, dentry, inode.mode())
}

/// What a new inode of `mode` in `dir` inherits: its mode, and its ACLs
/// in their on-disk form (namespace, name, value), for [`crate::fs::create`].
pub(crate) struct Inherit {
    pub(crate) mode: u32,
    access: Option<KVec<u8>>,
    default: Option<KVec<u8>>,
    acls: (Option<PosixAcl>, Option<PosixAcl>),
}

impl Inherit {
    /// The xattrs to create the inode with.
    pub(crate) fn xattrs(&self) -> ([(u8, &[u8], &[u8]); 2], usize) {
        let mut out: [(u8, &[u8], &[u8]); 2] = [(0, &[], &[]); 2];
        let mut n = 0;
        // Sorted as the block keeps them: access before default.
        for (nm, v) in [(x::ACL_ACCESS, &self.access), (x::ACL_DEFAULT, &self.default)] {
            if let Some(v) = v {
                out[n] = (x::NS_SYSTEM, nm, v.as_slice());
                n += 1;
            }
        }
        (out, n)
    }

    /// Primes the new inode's ACL cache with what it was created with.
    pub(crate) fn cache(&self, inode: &Inode) {
        acl::set_cached(inode, AclType::Access, self.acls.1.as_deref());
        acl::set_cached(inode, AclType::Default, self.acls.0.as_deref());
    }
}

/// `posix_acl_create` for a new inode of `mode` in `dir` (symlinks and
/// filesystems without ACLs: the umask only).
pub(crate) fn inherit(dir: &Inode, mode: u32) -> Result<Inherit> {
    let i = acl::create(dir, mode)?;
    let enc = |a: &Option<PosixAcl>| a.as_deref().map(AclRef::to_xattr).transpose();
    Ok(Inherit { mode: i.mode, access: enc(&i.access)?, default: enc(&i.default)?, acls: (i.default, i.access) })
}
