// SPDX-License-Identifier: GPL-2.0

//! Mounting rxfs: read and verify the on-disk superblock, set up the VFS
//! superblock, report statfs. Safe Rust over [`crate::vfs`].

use crate::fs::{self, FsInfo};
use crate::librxfs::format::{self, Superblock};
use crate::vfs::{self, FileSystem, NewSuperBlock, StatFs, SuperBlock};
use crate::vfs::inode::Inode;
use kernel::prelude::*;
use kernel::types::ARef;

/// The rxfs filesystem type.
pub struct Rxfs;

impl FileSystem for Rxfs {
    type Info = FsInfo;
    type Writeback = crate::aops::Writeback;

    fn fill_super(sb: &NewSuperBlock<'_, Self>, silent: bool) -> Result<FsInfo> {
        let mut raw = [0u8; format::SB_SIZE];
        let dev = sb.device_bytes();
        if dev < format::SB_SIZE as u64 {
            if !silent {
                pr_err!("{}: device of {} bytes is too small to hold an rxfs superblock\n", sb.id(), dev);
            }
            return Err(EINVAL);
        }
        sb.read(0, &mut raw)?;
        let verified = Superblock::decode(&raw).and_then(|s| s.check_device(dev).map(|()| s));
        let dsb = match verified {
            Ok(s) => s,
            Err(e) => {
                // A foreign or blank device is not worth a line while the
                // kernel probes filesystem types; corruption always is.
                if !(silent && matches!(e, crate::librxfs::Error::BadMagic { .. })) {
                    pr_err!("{}: superblock: {}; not mounting\n", sb.id(), e);
                }
                return Err(vfs::errno(e.errno()));
            }
        };
        if dsb.needs_readonly() && !sb.is_rdonly() {
            pr_err!(
                "{}: unknown read-only compatible features 0x{:x}; mount read-only\n",
                sb.id(),
                dsb.ro_compat
            );
            return Err(EINVAL);
        }
        if dsb.block_size() < sb.sector_size() {
            pr_err!(
                "{}: block size {} is smaller than the device's sector size {}\n",
                sb.id(),
                dsb.block_size(),
                sb.sector_size()
            );
            return Err(EINVAL);
        }
        sb.setup(dsb.block_size(), format::STATFS_MAGIC, &dsb.uuid)?;
        if dsb.has_xattr() {
            sb.set_xattr_handlers::<crate::xattr::RxfsXattr>();
        }
        if dsb.has_acl() {
            sb.set_posix_acl();
        }
        let dev = sb.dev(dsb.block_log as u32, dsb.block_count, dsb.fsid()).with_data_start(dsb.meta_blocks);
        let (dsb, journal) = match dsb.log_geometry() {
            None => (dsb, None),
            Some(g) => {
                let norecovery = sb.norecovery();
                if norecovery && !sb.is_rdonly() {
                    pr_err!("{}: norecovery needs a read-only mount\n", sb.id());
                    return Err(EINVAL);
                }
                let r = match crate::journal::recover(&dev, g, !dev.read_only(), norecovery) {
                    Ok(r) => r,
                    Err(crate::librxfs::Error::Io(30)) => {
                        pr_err!("{}: the log needs recovery and the device is read-only; mount with norecovery to skip it\n", sb.id());
                        return Err(EROFS);
                    }
                    Err(e) => {
                        pr_err!("{}: log recovery: {}; not mounting\n", sb.id(), e);
                        return Err(vfs::errno(e.errno()));
                    }
                };
                if r.replayed == 0 {
                    (dsb, Some(r.journal))
                } else {
                    pr_info!("{}: log recovery: replayed transaction {}, {} blocks\n", sb.id(), r.seq, r.replayed);
                    // The superblock may have been in it.
                    sb.read(0, &mut raw)?;
                    match Superblock::decode(&raw).and_then(|s| s.check_device(sb.device_bytes()).map(|()| s)) {
                        Ok(s) if s.log_geometry() == Some(g) => (s, Some(r.journal)),
                        Ok(_) => {
                            pr_err!("{}: log recovery moved the log; not mounting\n", sb.id());
                            return Err(vfs::errno(117));
                        }
                        Err(e) => {
                            pr_err!("{}: superblock after log recovery: {}; not mounting\n", sb.id(), e);
                            return Err(vfs::errno(e.errno()));
                        }
                    }
                }
            }
        };
        pr_info!(
            "{}: mounting: block size {}, {} blocks, {} free\n",
            sb.id(),
            dsb.block_size(),
            dsb.block_count,
            dsb.free_blocks
        );
        FsInfo::new(dev, dsb, journal)
    }

    fn fill_root(sb: &SuperBlock<'_, Self>) -> Result<ARef<Inode>> {
        let fs = sb.info();
        if !sb.is_rdonly() {
            match fs::recover_orphans(fs) {
                Ok(0) => {}
                Ok(n) => pr_info!("{}: freed {} orphaned inodes\n", sb.id(), n),
                Err(e) => {
                    pr_err!("{}: orphan recovery: {}; not mounting\n", sb.id(), e);
                    return Err(vfs::errno(e.errno()));
                }
            }
            match fs::recover_staging(fs).and_then(|n| if n > 0 { fs.sync(true).map(|()| n) } else { Ok(0) }) {
                Ok(0) => {}
                Ok(n) => pr_info!("{}: freed {} leftover CoW staging blocks\n", sb.id(), n),
                Err(e) => {
                    pr_err!("{}: CoW staging recovery: {}; not mounting\n", sb.id(), e);
                    return Err(vfs::errno(e.errno()));
                }
            }
        }
        crate::inode::iget(sb, fs.root_ino)
    }

    fn statfs(sb: &SuperBlock<'_, Self>) -> Result<StatFs> {
        let m = sb.info().meta.lock();
        let s = &m.sb;
        // Free counts what is not allocated or promised to delalloc;
        // available leaves out the conversion pool as well.
        let free = m.alloc.free.saturating_sub(m.alloc.reserved);
        let avail = m.alloc.user_available();
        let uuid = s.uuid;
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&uuid[..8]);
        hi.copy_from_slice(&uuid[8..]);
        Ok(StatFs {
            fs_type: format::SB_MAGIC,
            bsize: s.block_size(),
            blocks: s.block_count,
            bfree: free,
            bavail: avail,
            // Inodes are allocated dynamically, at most one per free block.
            files: s.inode_count.saturating_add(avail),
            ffree: avail,
            fsid: u64::from_le_bytes(lo) ^ u64::from_le_bytes(hi),
            namelen: format::NAME_MAX,
        })
    }

    fn sync_fs(sb: &SuperBlock<'_, Self>, wait: bool) -> Result {
        sb.info().sync(wait).map_err(|e| vfs::errno(e.errno()))
    }

    /// Idmapped mounts: every owner rxfs stores comes through the VFS's
    /// idmap (new inodes, setattr, whiteouts; getattr maps back), and the
    /// VFS maps what else carries ids (POSIX ACLs in `vfs_set_acl` and
    /// `vfs_get_acl`, file capabilities in `vfs_setxattr`) before rxfs
    /// stores it in the initial namespace, as XFS's `FS_ALLOW_IDMAP`.
    const ALLOW_IDMAP: bool = true;

    /// XFS's log worker period (`xfs_syncd_centisecs`).
    const PERIODIC_MS: u32 = 30_000;

    fn periodic(sb: &SuperBlock<'_, Self>) {
        if sb.info().shut.load(core::sync::atomic::Ordering::Acquire) {
            return;
        }
        // The running transaction, if anything changed.
        if let Err(e) = sb.info().sync(false) {
            if !sb.is_shutdown() {
                pr_err!("{}: periodic commit: {}\n", sb.id(), e);
            }
        }
    }

    fn remount_ro(sb: &SuperBlock<'_, Self>) -> Result {
        quiesce(sb)
    }

    fn freeze_fs(sb: &SuperBlock<'_, Self>) -> Result {
        // A frozen device is what snapshots and backups copy: it must
        // mount with nothing to replay, and stay as it is until the thaw.
        match sb.info().freeze() {
            Err(_) if sb.is_shutdown() => Ok(()),
            r => r.map_err(|e| vfs::errno(e.errno())),
        }
    }

    fn unfreeze_fs(sb: &SuperBlock<'_, Self>) -> Result {
        sb.info().thaw();
        Ok(())
    }

    fn remount_rw(sb: &SuperBlock<'_, Self>) -> Result {
        if sb.norecovery() {
            // The log was not replayed: writing now would lose what it holds.
            pr_err!("{}: a norecovery mount cannot become read-write\n", sb.id());
            return Err(EINVAL);
        }
        Ok(())
    }

    fn put_super(sb: &SuperBlock<'_, Self>) {
        if let Err(e) = sb.info().unmount() {
            if !sb.is_shutdown() {
                pr_err!("{}: unmount: {}; the log is left to recover\n", sb.id(), e);
            }
        }
    }

    fn write_inode(inode: &Inode) -> Result {
        crate::inode::write_inode(inode)
    }

    fn evict_inode(inode: &Inode) {
        crate::inode::evict(inode)
    }

    fn stats(sb: &SuperBlock<'_, Self>, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        let st = crate::data::stats(sb.info());
        write!(
            out,
            "free {}\nreserved {}\npool {}\ndelalloc_ranges {}\ncow_extents {}\nlog_commits {}\nlog_split {}\nlog_home_retries {}\ndirty {}\n",
            st.free,
            st.reserved,
            st.pool,
            st.delalloc_ranges,
            st.cow_extents,
            st.log_commits,
            st.log_split,
            st.log_home_retries,
            st.dirty
        )
    }
}

/// Remount read-only: as unmount, the last commit, home writes durable,
/// the log clean; the next commit (read-write again) restarts the chain.
/// Shut down, nothing is written and there is nothing left to quiesce.
fn quiesce(sb: &SuperBlock<'_, Rxfs>) -> Result {
    match sb.info().unmount() {
        Err(_) if sb.is_shutdown() => Ok(()),
        r => r.map_err(|e| vfs::errno(e.errno())),
    }
}
