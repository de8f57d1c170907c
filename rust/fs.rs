// SPDX-License-Identifier: GPL-2.0

//! The filesystem's operations, in safe Rust over [`crate::vfs`] and the
//! shared core [`crate::librxfs`].
//!
//! All metadata lives behind one per-mount lock, [`FsInfo::meta`]: the
//! in-memory superblock, the allocator and the set of changed blocks. Every
//! operation takes it once, does its whole metadata change, and drops it;
//! that makes each change atomic with respect to every other. Lock order
//! (Documentation/filesystems/rxfs/design.rst): i_rwsem, then
//! invalidate_lock, then folio locks, then the metadata lock. Nothing that
//! takes a VFS lock is called with the metadata lock held.

use crate::librxfs::alloc::{Alloc, Budget};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use crate::librxfs::dir::{self, Entry};
use crate::librxfs::error::Error;
use crate::data::{CowMap, DelallocMap};
use crate::librxfs::extmap;
use crate::librxfs::format::Superblock;
use crate::librxfs::inode::{self, mode, Inode, Ts};
use crate::librxfs::meta::Store;
use crate::librxfs::orphan;
use crate::journal::{Faults, Journal};
use crate::vfs::meta::{BdevStore, Dev, DirtySet, NoFs};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::rbtree::RBTree;
use kernel::sync::Mutex;

/// The inode fields the VFS inode and the on-disk inode share.
#[derive(Default, Clone, Copy, Debug)]
pub struct DInode {
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Blocks owned.
    pub nblocks: u64,
    /// Access time, seconds.
    pub atime_sec: i64,
    /// Modification time, seconds.
    pub mtime_sec: i64,
    /// Change time, seconds.
    pub ctime_sec: i64,
    /// Birth time, seconds.
    pub btime_sec: i64,
    /// Access time, nanoseconds.
    pub atime_nsec: u32,
    /// Modification time, nanoseconds.
    pub mtime_nsec: u32,
    /// Change time, nanoseconds.
    pub ctime_nsec: u32,
    /// Birth time, nanoseconds.
    pub btime_nsec: u32,
    /// Mode.
    pub mode: u32,
    /// Owner (in the initial user namespace).
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Link count.
    pub nlink: u32,
    /// Device number, `new_encode_dev`.
    pub rdev: u32,
    /// Generation.
    pub generation: u32,
    /// Inode flags.
    pub flags: u32,
    /// Copy-on-write extent size hint, in blocks.
    pub cowextsize: u32,
}

/// Each orphan's predecessor on the orphan list (0: the head), so that
/// taking an inode off the list does not walk it (see
/// [`orphan::PrevIndex`]). Empty at mount: recovery frees every orphan it
/// finds, taking the head each time.
pub type OrphanIndex = RBTree<u64, u64>;

impl orphan::PrevIndex for OrphanIndex {
    fn prev(&mut self, ino: u64) -> Option<u64> {
        self.get(&ino).copied()
    }

    fn set_prev(&mut self, ino: u64, prev: u64) {
        if let Some(v) = self.get_mut(&ino) {
            *v = prev;
        } else {
            // Without memory the entry is missing: that removal walks.
            let _ = self.try_create_and_insert(ino, prev, GFP_KERNEL);
        }
    }

    fn forget(&mut self, ino: u64) {
        self.remove(&ino);
    }
}

/// Changed blocks kept in memory before an operation writes them out.
const DIRTY_LIMIT: usize = 4096;

/// Metadata state, behind [`FsInfo::meta`].
pub struct Meta {
    /// The superblock as it will be written next.
    pub sb: Superblock,
    /// Free space.
    pub alloc: Alloc,
    /// Blocks changed and not yet written.
    pub dirty: DirtySet,
    /// Delalloc ranges of every file (see [`crate::data`]).
    pub delalloc: DelallocMap,
    /// CoW fork extents of every file (see [`crate::data`]).
    pub cow: CowMap,
    /// Predecessors on the orphan list.
    pub orphans: OrphanIndex,
    /// The journal, on a filesystem that has one (see [`crate::journal`]).
    pub journal: Option<Journal>,
}

/// Per-mount data.
pub struct FsInfo {
    /// The device.
    pub dev: Dev,
    /// Everything metadata; see the module documentation.
    pub meta: Pin<KBox<Mutex<Meta>>>,
    /// Superblock fields that never change while mounted.
    pub block_log: u32,
    /// Directory hash seed.
    pub seed: u32,
    /// Root directory.
    pub root_ino: u64,
    /// The refcount inode on a reflink filesystem, else 0.
    pub refcount_ino: u64,
    /// Whether metadata changes check for room first (the debugfs knob
    /// `no_meta_reserve` turns this off, as a negative control).
    pub check_meta: AtomicBool,
    /// Shut down: by the ioctl, or by a metadata write that failed. No
    /// commit writes anything after it.
    pub shut: AtomicBool,
    /// Changed blocks kept before an operation boundary commits them.
    dirty_limit: usize,
    /// Knob (g) `meta_write_delay_ms`, as [`call`] last saw it.
    pub write_delay_ms: AtomicU32,
    /// Knob (i) `fail_home_writes`: commits whose home writes are still
    /// to fail ([`call`] moves the knob's count here).
    pub fail_home: AtomicU32,
    /// Frozen ([`FsInfo::freeze`]): commits write nothing until the thaw.
    frozen: AtomicBool,
}

/// One operation's view: the store and the state, under the lock.
pub struct Ctx<'a> {
    /// Metadata blocks.
    pub s: BdevStore<'a>,
    /// Free space.
    pub a: &'a mut Alloc,
    /// The in-memory superblock.
    pub sb: &'a mut Superblock,
    /// Delalloc ranges.
    pub dl: &'a mut DelallocMap,
    /// CoW forks.
    pub cow: &'a mut CowMap,
    /// Predecessors on the orphan list.
    pub orphans: &'a mut OrphanIndex,
}

impl FsInfo {
    /// Builds the per-mount data for a verified superblock (and its
    /// journal, recovered, if it has one).
    pub fn new(dev: Dev, sb: Superblock, journal: Option<Journal>) -> Result<Self> {
        let mut alloc = Alloc::new(sb.geometry(), sb.free_blocks);
        // Kept back from ordinary allocations for the tree nodes that
        // converting delalloc and unwritten extents may need, as XFS keeps
        // m_resblks: 1/32 of the filesystem, at most 8192 blocks.
        alloc.pool = (sb.block_count / 32).min(8192);
        let block_log = sb.block_log as u32;
        let seed = sb.hash_seed;
        let root_ino = sb.root_ino;
        let refcount_ino = if sb.ro_compat & crate::librxfs::format::features::RO_COMPAT_REFLINK != 0 { sb.refcount_ino } else { 0 };
        // A quarter of the largest transaction, so that one operation's
        // changes on top still fit one.
        let dirty_limit = journal.as_ref().map_or(DIRTY_LIMIT, |j| (j.geometry().max_images() as usize / 4).clamp(16, DIRTY_LIMIT));
        let meta = KBox::pin_init(
            new_mutex!(Meta { sb, alloc, dirty: DirtySet::new(), delalloc: DelallocMap::new(), cow: CowMap::new(), orphans: OrphanIndex::new(), journal }),
            GFP_KERNEL,
        )?;
        Ok(FsInfo {
            dev,
            meta,
            block_log,
            seed,
            root_ino,
            refcount_ino,
            check_meta: AtomicBool::new(true),
            shut: AtomicBool::new(false),
            dirty_limit,
            write_delay_ms: AtomicU32::new(0),
            fail_home: AtomicU32::new(0),
            frozen: AtomicBool::new(false),
        })
    }

    /// Runs `f` with the metadata lock held and allocations kept out of
    /// filesystem reclaim (which could evict an inode and need this lock).
    /// Metadata allocations get the [`Budget::User`] budget unless `f`
    /// sets another.
    pub fn with<R>(&self, f: impl FnOnce(&mut Ctx<'_>) -> Result<R, Error>) -> Result<R, Error> {
        self.with_inner(false, f)
    }

    /// [`FsInfo::with`] for an operation that may allocate blocks that
    /// file data will be written to directly (writeback, O_DIRECT,
    /// preallocation): if blocks were freed since the last commit, that
    /// commit happens first, at this operation boundary. Until it is
    /// durable a freed block may still be in use in the committed state (a
    /// directory's inode, another file's data), and data written into it
    /// would corrupt what recovery restores (XFS keeps such extents busy
    /// until the log commits them).
    pub fn with_data<R>(&self, f: impl FnOnce(&mut Ctx<'_>) -> Result<R, Error>) -> Result<R, Error> {
        self.with_inner(true, f)
    }

    /// How many extents of a file one piece of a large operation (a
    /// clone) may meet: few enough that its changed blocks (tree paths,
    /// refcounts, bitmap blocks: at worst a handful per extent) fit in one
    /// journal transaction on top of what the dirty limit lets accumulate.
    pub fn piece_extents(&self) -> u64 {
        (self.dirty_limit as u64 / 8).max(1)
    }

    fn with_inner<R>(&self, data: bool, f: impl FnOnce(&mut Ctx<'_>) -> Result<R, Error>) -> Result<R, Error> {
        let _nofs = NoFs::enter();
        let mut g = self.meta.lock();
        let m = &mut *g;
        if data && m.alloc.freed {
            self.commit_boundary(m, false)?;
        }
        m.alloc.check_meta = self.check_meta.load(Ordering::Relaxed);
        m.alloc.budget(Budget::User);
        let r = f(&mut self.ctx(m));
        if m.dirty.len() > self.dirty_limit {
            // An operation boundary: commit what accumulated.
            if let Err(e) = self.commit_boundary(m, false) {
                pr_err!("metadata write-back failed: {:?}\n", e);
            }
        }
        r
    }

    fn ctx<'a>(&self, m: &'a mut Meta) -> Ctx<'a> {
        Ctx { s: BdevStore::new(self.dev, &mut m.dirty), a: &mut m.alloc, sb: &mut m.sb, dl: &mut m.delalloc, cow: &mut m.cow, orphans: &mut m.orphans }
    }

    /// At an operation boundary: the superblock, then the commit (with
    /// `wait`, durable).
    fn commit_boundary(&self, m: &mut Meta, wait: bool) -> Result<(), Error> {
        write_sb(&mut self.ctx(m))?;
        self.commit(m, wait)
    }

    /// Commits every changed block (the journal's transaction, or without
    /// one a plain write-back); with `wait`, durably. A failure shuts the
    /// filesystem down; after a shutdown nothing is written.
    fn commit(&self, m: &mut Meta, wait: bool) -> Result<(), Error> {
        if self.shut.load(Ordering::Acquire) {
            return Err(Error::Io(5));
        }
        if self.frozen.load(Ordering::Acquire) {
            // Kept in the dirty set for the first commit after the thaw.
            return Ok(());
        }
        let f = Faults {
            delay_ms: self.write_delay_ms.load(Ordering::Relaxed),
            // Counted by commits that write something home.
            fail_home: !m.dirty.is_empty() && self.fail_home.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok(),
        };
        let r = match &mut m.journal {
            Some(j) => j.commit(&self.dev, &mut m.dirty, wait, f),
            None => crate::journal::write_home(&self.dev, &mut m.dirty, f, wait),
        };
        match &r {
            Ok(()) => m.alloc.freed = false,
            Err(e) => {
                if !self.shut.swap(true, Ordering::AcqRel) {
                    pr_err!("metadata write failed ({}): shutting the filesystem down\n", e);
                }
            }
        }
        r
    }

    /// Writes the superblock and every changed block; with `wait`, durably
    /// (one journal commit, or the write-back and a cache flush).
    pub fn sync(&self, wait: bool) -> Result<(), Error> {
        let _nofs = NoFs::enter();
        let mut g = self.meta.lock();
        self.commit_boundary(&mut g, wait)
    }

    /// FITRIM: discards every run of at least `minlen` free blocks in
    /// `[start, end)`; returns how many blocks it discarded. A group at a
    /// time under the metadata lock, so nothing allocates a block while it
    /// is being discarded; blocks freed since the last commit are
    /// committed durably first, as the committed state may still use them
    /// (XFS discards only extents that are not busy).
    pub fn trim(&self, start: u64, end: u64, minlen: u64) -> Result<u64, Error> {
        let bpg = self.meta.lock().alloc.geo.bits_per_group.max(1);
        let mut trimmed = 0u64;
        let mut at = start;
        while at < end {
            let stop = (at / bpg).saturating_add(1).saturating_mul(bpg).min(end);
            let _nofs = NoFs::enter();
            let mut g = self.meta.lock();
            let m = &mut *g;
            if m.alloc.freed {
                self.commit_boundary(m, true)?;
            }
            let cx = self.ctx(m);
            let mut b = at;
            while let Some((s, n)) = cx.a.next_free_run(&cx.s, b, stop)? {
                if n >= minlen {
                    self.dev.discard(s, n).map_err(|e| Error::Io(-e.to_errno()))?;
                    trimmed += n;
                }
                b = s + n;
            }
            at = stop;
        }
        Ok(trimmed)
    }

    /// Sets the volume label (at most `LABEL_LEN - 1` bytes, checked by
    /// the caller) and commits the superblock durably.
    pub fn set_label(&self, label: &[u8]) -> Result<(), Error> {
        let _nofs = NoFs::enter();
        let mut new = [0u8; crate::librxfs::format::LABEL_LEN];
        let dst = new.get_mut(..label.len()).ok_or(Error::BadField { field: "label length", value: label.len() as u64 })?;
        dst.copy_from_slice(label);
        let mut g = self.meta.lock();
        g.sb.label = new;
        self.commit_boundary(&mut g, true)
    }

    /// Shuts the filesystem down: nothing more is committed.
    pub fn shutdown(&self) {
        self.shut.store(true, Ordering::Release);
    }

    /// Unmount and remount read-only: the last commit, then the journal
    /// made clean (nothing after a shutdown). Blocks whose home writes
    /// still fail leave the log dirty, for the next mount to replay.
    pub fn unmount(&self) -> Result<(), Error> {
        self.quiesce(false)
    }

    /// Freeze (`freeze_fs`, after the VFS synced and stopped writers and
    /// faults): as unmount, and then commits write nothing until
    /// [`FsInfo::thaw`], so the device stays a clean image. What still
    /// changes (the last close of an unlinked file frees its blocks; the
    /// VFS does not stop evictions) waits in the dirty set, as XFS stops
    /// inode inactivation and the log while frozen.
    pub fn freeze(&self) -> Result<(), Error> {
        self.quiesce(true)
    }

    /// Thawed: commits write again; the first restarts the journal.
    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::Release);
    }

    fn quiesce(&self, freeze: bool) -> Result<(), Error> {
        self.sync(true)?;
        let mut g = self.meta.lock();
        let m = &mut *g;
        if !m.dirty.is_empty() {
            return Err(Error::Io(5));
        }
        if let Some(j) = &mut m.journal {
            j.close(&self.dev)?;
        }
        // Under the lock: every later commit sees it.
        if freeze {
            self.frozen.store(true, Ordering::Release);
        }
        Ok(())
    }
}

/// Puts the in-memory superblock into block 0, dirtied only if it changed.
fn write_sb(cx: &mut Ctx<'_>) -> Result<(), Error> {
    cx.sb.free_blocks = cx.a.free;
    let mut new = [0u8; crate::librxfs::format::SB_SIZE];
    cx.sb.encode(&mut new)?;
    let mut b = cx.s.read(0)?;
    let cur = b.get_mut(..new.len()).ok_or(Error::ShortBuffer { need: new.len(), have: 0 })?;
    if *cur != new {
        cur.copy_from_slice(&new);
        cx.s.dirty(&mut b);
    }
    Ok(())
}

fn ts(sec: i64, nsec: u32) -> Ts {
    Ts { sec, nsec: nsec.min(999_999_999) }
}

/// The on-disk inode as the VFS sees it.
pub fn to_dinode(ino: u64, i: &Inode) -> DInode {
    DInode {
        ino,
        size: i.size,
        nblocks: i.nblocks,
        atime_sec: i.atime.sec,
        mtime_sec: i.mtime.sec,
        ctime_sec: i.ctime.sec,
        btime_sec: i.btime.sec,
        atime_nsec: i.atime.nsec,
        mtime_nsec: i.mtime.nsec,
        ctime_nsec: i.ctime.nsec,
        btime_nsec: i.btime.nsec,
        mode: i.mode,
        uid: i.uid,
        gid: i.gid,
        nlink: i.nlink,
        rdev: i.rdev,
        generation: i.generation,
        flags: i.flags,
        cowextsize: i.cowextsize,
    }
}

/// Copies what the VFS owns into an on-disk inode; the rest (block count,
/// parent, orphan link, inline length, flags) is the filesystem's own, and
/// so is the link count: every namespace operation writes it with its
/// entries ([`Links`]) and only then updates the VFS inode, so the VFS's
/// count can be a step behind the disk's while the operation finishes.
fn apply_vfs(i: &mut Inode, d: &DInode) {
    i.mode = (i.mode & mode::S_IFMT) | (d.mode & !mode::S_IFMT);
    i.uid = d.uid;
    i.gid = d.gid;
    if i.fork() != inode::Fork::Inline {
        i.size = d.size;
    }
    i.atime = ts(d.atime_sec, d.atime_nsec);
    i.mtime = ts(d.mtime_sec, d.mtime_nsec);
    i.ctime = ts(d.ctime_sec, d.ctime_nsec);
}

fn dtype(m: u32) -> u8 {
    ((m >> 12) & 15) as u8
}

pub(crate) fn add_nblocks(cx: &Ctx<'_>, ino: u64, delta: i64) -> Result<u64, Error> {
    let i = inode::modify(&cx.s, ino, |i| i.nblocks = i.nblocks.saturating_add_signed(delta))?;
    Ok(i.nblocks)
}

/// Charges a directory for the tree nodes an entry change added or freed.
fn charge_nodes(cx: &Ctx<'_>, dir: u64, delta: i64) -> Result<(), Error> {
    if delta != 0 {
        add_nblocks(cx, dir, delta)?;
    }
    Ok(())
}

/// Reads inode `ino`; a symlink's target goes to `link`.
pub fn read_inode(fs: &FsInfo, ino: u64, link: &mut [u8]) -> Result<DInode, Error> {
    fs.with(|cx| {
        let buf = cx.s.read(ino.min(cx.s.block_count()))?;
        let i = Inode::decode_in(&cx.s, &buf, ino)?;
        if i.fork() == inode::Fork::Inline {
            let data = inode::inline_data(&buf, &i);
            if let Some(d) = link.get_mut(..data.len()) {
                d.copy_from_slice(data);
            }
        }
        Ok(to_dinode(ino, &i))
    })
}

/// Writes the VFS's fields of an inode.
pub fn write_inode(fs: &FsInfo, d: &DInode, nlink_from_vfs: bool) -> Result<(), Error> {
    fs.with(|cx| {
        inode::modify(&cx.s, d.ino, |i| {
            apply_vfs(i, d);
            // Negative control (`nlink_from_vfs`): the stale count wins.
            if nlink_from_vfs {
                i.nlink = d.nlink;
            }
        })
        .map(|_| ())
    })
}

/// Sets the user flags ([`inode::FLAGS_USER`]) and, if `cowextsize` is
/// given, the CoW extent size hint; returns the inode's flags.
pub fn set_fileattr(fs: &FsInfo, ino: u64, user: u32, cowextsize: Option<u32>) -> Result<u32, Error> {
    fs.with(|cx| {
        let i = inode::modify(&cx.s, ino, |i| {
            i.flags = (i.flags & !inode::FLAGS_USER) | (user & inode::FLAGS_USER);
            if let Some(b) = cowextsize {
                i.cowextsize = b;
            }
        })?;
        Ok(i.flags)
    })
}

/// Looks `name` up in `dir`: the inode number, or 0.
pub fn lookup(fs: &FsInfo, dir: u64, name: &[u8]) -> Result<u64, Error> {
    fs.with(|cx| Ok(dir::lookup(&cx.s, dir, fs.seed, name)?.map_or(0, |(_, ino, _)| ino)))
}

/// The link counts a namespace operation leaves on other inodes (a parent
/// directory's `..` count, a hard link's target): written in the same
/// metadata change as the entries, so that every commit holds entries and
/// counts that agree (the VFS inode's fields otherwise reach the disk only
/// at `write_inode`).
#[derive(Default, Clone, Copy)]
pub struct Links {
    e: [(u64, u32); 4],
    n: usize,
}

impl Links {
    /// No changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// `ino`'s link count becomes `nlink` (a later call for the same inode
    /// replaces an earlier one).
    pub fn set(&mut self, ino: u64, nlink: u32) {
        if let Some(x) = self.e[..self.n].iter_mut().find(|x| x.0 == ino) {
            x.1 = nlink;
        } else if let Some(x) = self.e.get_mut(self.n) {
            *x = (ino, nlink);
            self.n += 1;
        }
    }

    /// The count `ino` will have, from `cur` if this names none.
    pub fn get(&self, ino: u64, cur: u32) -> u32 {
        self.e[..self.n].iter().find(|x| x.0 == ino).map_or(cur, |x| x.1)
    }

    fn apply(&self, cx: &mut Ctx<'_>) -> Result<(), Error> {
        for &(ino, n) in &self.e[..self.n] {
            inode::modify(&cx.s, ino, |i| i.nlink = n)?;
        }
        Ok(())
    }
}

/// Writes a fresh inode block for `d` near `goal`, with the flags it
/// inherits from directory `parent`; returns its number and sets `d.ino`,
/// `d.generation` and `d.flags`.
fn new_inode(cx: &mut Ctx<'_>, goal: u64, parent: u64, d: &mut DInode, link: &[u8]) -> Result<u64, Error> {
    if cx.a.user_available() == 0 {
        return Err(Error::NoSpace);
    }
    let flags = inode::inherited_flags(inode::read(&cx.s, parent)?.flags, d.mode);
    let ino = cx.a.alloc_meta(&cx.s, goal)?;
    let gen = cx.sb.generation;
    cx.sb.generation = gen.wrapping_add(1);
    let mut i = Inode {
        mode: d.mode,
        nlink: d.nlink,
        generation: gen,
        btime: ts(d.btime_sec, d.btime_nsec),
        rdev: d.rdev,
        parent: if d.mode & mode::S_IFMT == mode::S_IFDIR { parent } else { 0 },
        flags,
        ..Default::default()
    };
    apply_vfs(&mut i, d);
    i.mode = d.mode;
    let r = (|| {
        let mut b = cx.s.read(ino)?;
        inode::init_block(&mut b, ino, cx.s.fsid());
        if i.fork() == inode::Fork::Inline {
            inode::set_inline_data(&mut b, &mut i, link)?;
        } else {
            i.size = 0;
        }
        i.encode(&mut b);
        cx.s.dirty(&mut b);
        Ok(())
    })();
    if let Err(e) = r {
        let _ = cx.a.free(&cx.s, ino, 1);
        return Err(e);
    }
    cx.sb.inode_count += 1;
    d.ino = ino;
    d.generation = gen;
    d.flags = flags;
    Ok(ino)
}

/// Frees an inode block that has no other references.
fn drop_inode_block(cx: &mut Ctx<'_>, ino: u64) -> Result<(), Error> {
    cx.a.free(&cx.s, ino, 1)?;
    cx.sb.inode_count = cx.sb.inode_count.saturating_sub(1);
    Ok(())
}

/// Creates an inode and its entry `name` in `dir` (or, for a tmpfile, puts
/// it on the orphan list), with the extended attributes `xattrs`
/// (namespace, name, value: the ACLs it inherits) in the same change.
/// Fills in `d.ino` and `d.generation`.
pub fn create(fs: &FsInfo, dir: u64, name: &[u8], d: &mut DInode, link: &[u8], xattrs: &[(u8, &[u8], &[u8])], tmpfile: bool, links: Links) -> Result<(), Error> {
    fs.with(|cx| {
        // dir::add checks the name and that it is new; the VFS has already
        // looked it up, so failing after the inode block is written is rare.
        let ino = new_inode(cx, dir, dir, d, link)?;
        let mut xblk = 0;
        if !xattrs.is_empty() {
            match crate::xattr::new_block(cx, ino, xattrs) {
                Ok(b) => xblk = b,
                Err(e) => {
                    drop_inode_block(cx, ino)?;
                    return Err(e);
                }
            }
            if let Err(e) = inode::modify(&cx.s, ino, |i| i.xattr = xblk) {
                cx.a.free(&cx.s, xblk, 1)?;
                drop_inode_block(cx, ino)?;
                return Err(e);
            }
        }
        let r = if tmpfile {
            orphan::add(&cx.s, &mut cx.sb.orphan_head, cx.orphans, ino)
        } else {
            let mut delta = 0;
            let e = Entry { ino, dtype: dtype(d.mode), name };
            dir::add(&cx.s, cx.a, dir, fs.seed, &e, &mut delta).and_then(|_| charge_nodes(cx, dir, delta))
        };
        if let Err(e) = r {
            if xblk != 0 {
                cx.a.free(&cx.s, xblk, 1)?;
            }
            drop_inode_block(cx, ino)?;
            return Err(e);
        }
        links.apply(cx)
    })
}

/// Adds a hard link `name` in `dir` to `ino`.
/// `tmpfile`: the inode is a tmpfile being linked in, which leaves the
/// orphan list in the same change.
pub fn link(fs: &FsInfo, dir: u64, name: &[u8], ino: u64, m: u32, links: Links, tmpfile: bool) -> Result<(), Error> {
    fs.with(|cx| {
        let mut delta = 0;
        dir::add(&cx.s, cx.a, dir, fs.seed, &Entry { ino, dtype: dtype(m), name }, &mut delta)?;
        charge_nodes(cx, dir, delta)?;
        links.apply(cx)?;
        if tmpfile {
            orphan::remove(&cx.s, &mut cx.sb.orphan_head, cx.orphans, ino)?;
        }
        Ok(())
    })
}

/// Puts an inode whose last link went on the orphan list, with link count
/// zero on disk, so that a crash before it is freed leaves it for recovery.
fn orphan_last_link(cx: &mut Ctx<'_>, ino: u64) -> Result<(), Error> {
    inode::modify(&cx.s, ino, |i| i.nlink = 0)?;
    orphan::add(&cx.s, &mut cx.sb.orphan_head, cx.orphans, ino)
}

/// Removes `name` from `dir`; `last` if that was the inode's last link.
pub fn unlink(fs: &FsInfo, dir: u64, name: &[u8], ino: u64, last: bool, links: Links) -> Result<(), Error> {
    fs.with(|cx| {
        let mut delta = 0;
        dir::remove(&cx.s, cx.a, dir, fs.seed, name, ino, &mut delta)?;
        charge_nodes(cx, dir, delta)?;
        links.apply(cx)?;
        if last {
            orphan_last_link(cx, ino)?;
        }
        Ok(())
    })
}

/// Whether directory `ino` is empty.
pub fn dir_empty(fs: &FsInfo, ino: u64) -> Result<bool, Error> {
    fs.with(|cx| dir::is_empty(&cx.s, ino))
}

/// A rename request.
pub struct Rename<'a> {
    /// Source directory.
    pub old_dir: u64,
    /// Target directory.
    pub new_dir: u64,
    /// Source inode.
    pub old_ino: u64,
    /// Target inode, or 0.
    pub new_ino: u64,
    /// Source name.
    pub old_name: &'a [u8],
    /// Target name.
    pub new_name: &'a [u8],
    /// `RENAME_*` flags.
    pub flags: u32,
    /// Source mode.
    pub old_mode: u32,
    /// Target mode.
    pub new_mode: u32,
    /// The target loses its last link.
    pub target_last_link: bool,
    /// The whiteout to create (with `RENAME_WHITEOUT`); gets its number.
    pub whiteout: &'a mut DInode,
    /// The link counts it leaves on the directories and the target.
    pub links: Links,
}

fn is_dir(m: u32) -> bool {
    m & mode::S_IFMT == mode::S_IFDIR
}

/// Renames (or exchanges) directory entries.
pub fn rename(fs: &FsInfo, r: Rename<'_>) -> Result<(), Error> {
    use kernel::bindings::{RENAME_EXCHANGE, RENAME_WHITEOUT};
    fs.with(|cx| {
        let seed = fs.seed;
        if r.flags & RENAME_EXCHANGE != 0 {
            dir::replace(&cx.s, r.old_dir, seed, r.old_name, r.old_ino, r.new_ino, dtype(r.new_mode))?;
            dir::replace(&cx.s, r.new_dir, seed, r.new_name, r.new_ino, r.old_ino, dtype(r.old_mode))?;
            if r.old_dir != r.new_dir {
                if is_dir(r.old_mode) {
                    inode::modify(&cx.s, r.old_ino, |i| i.parent = r.new_dir)?;
                }
                if is_dir(r.new_mode) {
                    inode::modify(&cx.s, r.new_ino, |i| i.parent = r.old_dir)?;
                }
            }
            return r.links.apply(cx);
        }
        // The whiteout first: every later step either allocates nothing or
        // checks for room before it changes anything, so running out of
        // space after this point cannot leave the rename half done.
        let whiteout = if r.flags & RENAME_WHITEOUT != 0 {
            Some(new_inode(cx, r.old_dir, r.old_dir, r.whiteout, &[])?)
        } else {
            None
        };
        let r2 = rename_entries(cx, seed, &r, whiteout);
        if let (Err(_), Some(w)) = (&r2, whiteout) {
            drop_inode_block(cx, w)?;
        }
        r2
    })
}

/// The entry changes of a plain or whiteout rename; `whiteout` is the
/// whiteout inode, already made.
fn rename_entries(cx: &mut Ctx<'_>, seed: u32, r: &Rename<'_>, whiteout: Option<u64>) -> Result<(), Error> {
    let mut delta_new = 0;
    if r.new_ino != 0 {
        dir::replace(&cx.s, r.new_dir, seed, r.new_name, r.new_ino, r.old_ino, dtype(r.old_mode))?;
    } else {
        let e = Entry { ino: r.old_ino, dtype: dtype(r.old_mode), name: r.new_name };
        dir::add(&cx.s, cx.a, r.new_dir, seed, &e, &mut delta_new)?;
    }
    charge_nodes(cx, r.new_dir, delta_new)?;
    if let Some(w) = whiteout {
        dir::replace(&cx.s, r.old_dir, seed, r.old_name, r.old_ino, w, dtype(r.whiteout.mode))?;
    } else {
        let mut delta_old = 0;
        dir::remove(&cx.s, cx.a, r.old_dir, seed, r.old_name, r.old_ino, &mut delta_old)?;
        charge_nodes(cx, r.old_dir, delta_old)?;
    }
    if is_dir(r.old_mode) && r.old_dir != r.new_dir {
        inode::modify(&cx.s, r.old_ino, |i| i.parent = r.new_dir)?;
    }
    // Before the target's orphaning, which sets its count to zero.
    r.links.apply(cx)?;
    if r.new_ino != 0 && r.target_last_link {
        orphan_last_link(cx, r.new_ino)?;
    }
    Ok(())
}

/// The directory entry at or after readdir position `pos`: (next position,
/// inode, type, name length), the name copied into `name`.
pub fn readdir(fs: &FsInfo, dir: u64, pos: i64, name: &mut [u8]) -> Result<Option<(i64, u64, u8, usize)>, Error> {
    fs.with(|cx| {
        let mut v = [0u8; dir::VAL_SIZE];
        let Some(key) = dir::next_from(&cx.s, dir, pos.max(2), &mut v)? else { return Ok(None) };
        let e = dir::decode(&v, dir, cx.s.block_count())?;
        if let Some(d) = name.get_mut(..e.name.len()) {
            d.copy_from_slice(e.name);
        }
        Ok(Some((key as i64 + 3, e.ino, e.dtype, e.name.len())))
    })
}

/// Frees an unlinked inode: its fork, its orphan list entry, its block.
/// `rc`: the refcount inode, or 0.
fn free_inode(cx: &mut Ctx<'_>, rc: u64, ino: u64) -> Result<(), Error> {
    let i = inode::read(&cx.s, ino)?;
    let mut delta = 0;
    match i.ftype() {
        mode::S_IFREG if rc != 0 && i.flags & inode::FLAG_REFLINK != 0 => {
            // Shared blocks lose one mapping; the file's own are freed.
            // Extent by extent, each unmapped and released whole, so that
            // a failure part-way (the inode stays an orphan, freed again
            // at mount) never releases a block twice.
            let mut rcn = 0;
            let mut gone = 0;
            let mut rel = extmap::Release::Refcount { ino: rc, nodes: &mut rcn };
            let r = extmap::remove_counted(&cx.s, cx.a, ino, 0, u64::MAX, &mut rel, &mut delta, &mut gone);
            if rcn != 0 {
                add_nblocks(cx, rc, rcn)?;
            }
            r?;
            extmap::destroy(&cx.s, cx.a, ino, &mut extmap::Release::Free, &mut delta)?;
        }
        mode::S_IFREG => {
            extmap::destroy(&cx.s, cx.a, ino, &mut extmap::Release::Free, &mut delta)?;
        }
        mode::S_IFDIR => {
            dir::tree(ino).destroy(&cx.s, cx.a, &mut |_, _, _| Ok(()))?;
        }
        _ => {}
    }
    if i.xattr != 0 {
        // The pointer goes first: a failure after it leaks the block
        // (fsck finds it), never frees it twice.
        inode::modify(&cx.s, ino, |i| i.xattr = 0)?;
        cx.a.free(&cx.s, i.xattr, 1)?;
    }
    orphan::remove(&cx.s, &mut cx.sb.orphan_head, cx.orphans, ino)?;
    drop_inode_block(cx, ino)
}

/// An inode leaves memory: its delalloc ranges and CoW fork go (their page
/// cache is gone, no I/O is in flight), and with no links left, the inode
/// itself.
pub fn evict(fs: &FsInfo, ino: u64, unlinked: bool) -> Result<(), Error> {
    fs.with(|cx| {
        // Giving space back may need tree nodes (refcount splits): it may
        // use the pool, as a completion does, so a full filesystem can
        // still delete.
        cx.a.budget(Budget::Pool);
        crate::data::release_delalloc(cx, ino, 0, u64::MAX)?;
        if fs.refcount_ino != 0 {
            crate::data::drop_cow(cx, fs.refcount_ino, ino, 0, u64::MAX)?;
        }
        if unlinked {
            free_inode(cx, fs.refcount_ino, ino)?;
        }
        Ok(())
    })
}

/// Mount-time recovery of CoW staging: blocks a crash left allocated to a
/// CoW fork (recorded in the refcount tree) are freed.
pub fn recover_staging(fs: &FsInfo) -> Result<u64, Error> {
    let rc = fs.refcount_ino;
    if rc == 0 {
        return Ok(0);
    }
    fs.with(|cx| {
        cx.a.budget(Budget::Pool);
        let mut n = 0u64;
        let mut rcn = 0;
        let r = (|| {
            while let Some(r) = crate::librxfs::refcount::next_staged(&cx.s, rc, 0)? {
                crate::librxfs::refcount::unstage(&cx.s, cx.a, rc, r.pblk, r.len, &mut rcn)?;
                cx.a.free(&cx.s, r.pblk, r.len)?;
                n += r.len;
            }
            Ok(())
        })();
        if rcn != 0 {
            add_nblocks(cx, rc, rcn)?;
        }
        r.map(|()| n)
    })
}

/// Mount-time recovery: frees every inode left on the orphan list.
pub fn recover_orphans(fs: &FsInfo) -> Result<u64, Error> {
    let n = fs.with(|cx| {
        cx.a.budget(Budget::Pool);
        let mut n = 0u64;
        while cx.sb.orphan_head != 0 {
            let ino = cx.sb.orphan_head;
            if n > cx.s.block_count() {
                return Err(Error::Corrupt { what: "orphan list", blkno: ino, why: "cycle in the orphan list" });
            }
            let i = inode::read(&cx.s, ino)?;
            if i.nlink != 0 {
                return Err(Error::Corrupt { what: "orphan list", blkno: ino, why: "linked inode on the orphan list" });
            }
            free_inode(cx, fs.refcount_ino, ino)?;
            n += 1;
        }
        Ok(n)
    })?;
    if n > 0 {
        fs.sync(true)?;
    }
    Ok(n)
}

/// Runs `f` on the mounted filesystem of `sb` for a VFS operation: refused
/// after a shutdown; the `no_meta_reserve` knob is applied; a corruption
/// error is logged here, once, naming the device.
pub(crate) fn call<R>(sb: &crate::vfs::SuperBlock<'_, crate::mount::Rxfs>, f: impl FnOnce(&FsInfo) -> Result<R, Error>) -> kernel::error::Result<R> {
    let fs = sb.info();
    if sb.is_shutdown() {
        return Err(EIO);
    }
    if fs.shut.load(Ordering::Acquire) {
        // A metadata write failed: every VFS path now sees the shutdown.
        sb.set_shutdown();
        return Err(EIO);
    }
    let reserve = sb.knob(crate::vfs::Knob::NoMetaReserve).load(Ordering::Relaxed) == 0;
    fs.check_meta.store(reserve, Ordering::Relaxed);
    let delay = sb.knob(crate::vfs::Knob::MetaWriteDelayMs).load(Ordering::Relaxed).clamp(0, 1000) as u32;
    fs.write_delay_ms.store(delay, Ordering::Relaxed);
    // Read first: a swap on every operation would bounce the knob's cache
    // line between CPUs.
    let knob = sb.knob(crate::vfs::Knob::FailHomeWrites);
    if knob.load(Ordering::Relaxed) != 0 {
        let fail = knob.swap(0, Ordering::Relaxed).clamp(0, 1000) as u32;
        fs.fail_home.fetch_add(fail, Ordering::Relaxed);
    }
    f(fs).map_err(|e| {
        let errno = e.errno();
        if errno == crate::librxfs::error::EUCLEAN {
            pr_err!("{}: {}\n", sb.id(), e);
        }
        crate::vfs::errno(errno)
    })
}
