// SPDX-License-Identifier: GPL-2.0

//! The data fork: every change to a file's block mapping, in safe Rust.
//!
//! A file block is in exactly one of four states: a hole, **delalloc**
//! (reserved space, data only in the page cache, kept in
//! [`crate::fs::Meta::delalloc`]), **unwritten** (allocated on disk, reads
//! as zeroes) or **written**. The transitions, as in XFS:
//!
//! ```text
//!   hole --buffered write/mkwrite--> delalloc --writeback--> unwritten
//!   hole --O_DIRECT write/fallocate--------------------> unwritten
//!   unwritten --I/O completion (ioend, dio end_io)--> written
//!   delalloc --short-write punch, truncate--> hole
//! ```
//!
//! Every operation runs under the metadata lock, which is therefore the
//! extent lock: an operation is atomic with respect to every other extent
//! change. Each change bumps the inode's data fork sequence (the iomap
//! validity cookie) before the lock is dropped, and the cookie handed out
//! with a mapping is sampled under the same lock.

use crate::fs::{add_nblocks, Ctx, FsInfo};
use crate::librxfs::alloc::Budget;
use crate::librxfs::delalloc::{self, RangeStore};
use crate::librxfs::error::Error;
use crate::librxfs::extmap::{self, Extent, Map as XMap};
use crate::vfs::iomap as vi;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::rbtree::RBTree;
use crate::vfs::inode::Inode;

/// `ENOMEM`.
const ENOMEM: i32 = 12;

/// `IOMAP_HOLE`.
pub const IOMAP_HOLE: u16 = vi::IOMAP_HOLE as u16;
/// `IOMAP_DELALLOC`.
pub const IOMAP_DELALLOC: u16 = vi::IOMAP_DELALLOC as u16;
/// `IOMAP_MAPPED`.
pub const IOMAP_MAPPED: u16 = vi::IOMAP_MAPPED as u16;
/// `IOMAP_UNWRITTEN`.
pub const IOMAP_UNWRITTEN: u16 = vi::IOMAP_UNWRITTEN as u16;
/// `IOMAP_F_NEW`.
pub const IOMAP_F_NEW: u16 = vi::IOMAP_F_NEW as u16;
const IOMAP_ZERO: u32 = vi::IOMAP_ZERO;
/// No disk address (`IOMAP_NULL_ADDR`).
pub const NULL_ADDR: u64 = vi::IOMAP_NULL_ADDR as u64;

/// What an extent operation mapped and changed, in bytes.
#[derive(Default, Clone, Copy, Debug)]
pub struct Map {
    /// Disk byte address, or [`NULL_ADDR`].
    pub addr: u64,
    /// File offset of the mapping.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// `IOMAP_HOLE`, `IOMAP_DELALLOC`, `IOMAP_MAPPED` or `IOMAP_UNWRITTEN`.
    pub kind: u16,
    /// `IOMAP_F_NEW`.
    pub flags: u16,
    /// 1 if `nblocks` is set.
    pub changed: u32,
    /// The inode's on-disk block count afterwards.
    pub nblocks: u64,
    /// Change in the inode's delalloc blocks.
    pub delayed: i64,
    /// The data fork sequence, sampled under the extent lock.
    pub cookie: u64,
}

/// The delalloc ranges of every file of a mount, keyed by (inode, first
/// block), valued by length.
pub type DelallocMap = RBTree<(u64, u64), u64>;

/// One file's view of a [`DelallocMap`].
pub fn dl(t: &mut DelallocMap, ino: u64) -> Dl<'_> {
    Dl { t, ino }
}

/// One file's view of a [`DelallocMap`].
pub struct Dl<'a> {
    t: &'a mut DelallocMap,
    ino: u64,
}

impl RangeStore for Dl<'_> {
    fn le(&mut self, k: u64) -> Option<(u64, u64)> {
        let ino = self.ino;
        let key = (ino, k);
        let found = match self.t.cursor_lower_bound(&key) {
            Some(c) => {
                let (ck, cv) = c.current();
                if *ck == key {
                    Some((*ck, *cv))
                } else {
                    c.peek_prev().map(|(pk, pv)| (*pk, *pv))
                }
            }
            None => self.t.cursor_back().map(|c| {
                let (ck, cv) = c.current();
                (*ck, *cv)
            }),
        };
        found.filter(|((i, s), _)| *i == ino && *s <= k).map(|((_, s), l)| (s, l))
    }

    fn ge(&mut self, k: u64) -> Option<(u64, u64)> {
        let ino = self.ino;
        let c = self.t.cursor_lower_bound(&(ino, k))?;
        let ((i, s), l) = c.current();
        (*i == ino).then_some((*s, *l))
    }

    fn set(&mut self, k: u64, len: u64) -> Result<(), Error> {
        if let Some(v) = self.t.get_mut(&(self.ino, k)) {
            *v = len;
            return Ok(());
        }
        self.t.try_create_and_insert((self.ino, k), len, GFP_KERNEL).map_err(|_| Error::Io(ENOMEM))?;
        Ok(())
    }

    fn del(&mut self, k: u64) {
        self.t.remove(&(self.ino, k));
    }
}

/// Removes the delalloc blocks of `ino` in `b..b+n` and gives their
/// reservation back; returns how many there were.
pub fn release_delalloc(cx: &mut Ctx<'_>, ino: u64, b: u64, n: u64) -> Result<u64, Error> {
    let got = delalloc::remove(&mut dl(cx.dl, ino), b, n)?;
    cx.a.reserved = cx.a.reserved.saturating_sub(got);
    Ok(got)
}

/// An extent operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum XOp {
    /// Map for reading or reporting; delalloc shows as `IOMAP_DELALLOC`.
    Read,
    /// Map for a buffered write or a write fault: holes become delalloc.
    BufferedWrite,
    /// Map for an O_DIRECT write: holes and delalloc become unwritten.
    DirectWrite,
    /// Map for writeback: delalloc becomes unwritten; never delalloc.
    Writeback,
    /// Remove only the delalloc blocks of the range (short-write punch).
    PunchDelalloc,
    /// Mark the range's unwritten blocks written (I/O completion).
    Convert,
    /// Allocate unwritten blocks for the range's holes and delalloc.
    Prealloc,
    /// Unmap the range: disk blocks and delalloc.
    Remove,
    /// Remove the range and move everything after it down (collapse).
    Collapse,
    /// Move everything from the range's start up by its length (insert).
    Insert,
}

/// What covers a file block.
enum Found {
    Disk(Extent),
    /// A delalloc range (start, length).
    Delay(u64, u64),
    /// A hole of this many blocks (up to the next extent or delalloc).
    Hole(u64),
}

/// State of one operation on one file.
struct Op<'c, 'a> {
    cx: &'c mut Ctx<'a>,
    ino: u64,
    log: u32,
    /// The inode's on-disk block count, once changed.
    nblocks: Option<u64>,
    /// Change in the inode's delalloc blocks.
    delayed: i64,
    /// Whether the mapping changed (the sequence must move).
    changed: bool,
}

impl<'c, 'a> Op<'c, 'a> {
    fn dl(&mut self) -> Dl<'_> {
        Dl { t: &mut *self.cx.dl, ino: self.ino }
    }

    fn find(&mut self, b: u64) -> Result<Found, Error> {
        match extmap::lookup(&self.cx.s, self.ino, b)? {
            XMap::Mapped(e) => Ok(Found::Disk(e)),
            XMap::Hole(n) => {
                let mut dl = self.dl();
                match delalloc::next(&mut dl, b) {
                    Some((s, l)) if s <= b => Ok(Found::Delay(s, l)),
                    Some((s, _)) => Ok(Found::Hole(n.min(s - b))),
                    None => Ok(Found::Hole(n)),
                }
            }
        }
    }

    fn charge(&mut self, delta: i64) -> Result<(), Error> {
        if delta != 0 {
            self.nblocks = Some(add_nblocks(self.cx, self.ino, delta)?);
        }
        Ok(())
    }

    /// Where to put new blocks for file block `b`: after the blocks of the
    /// extent before it, or after the inode.
    fn goal(&self, b: u64) -> Result<u64, Error> {
        if let Some(p) = b.checked_sub(1) {
            if let XMap::Mapped(l) = extmap::lookup(&self.cx.s, self.ino, p)? {
                return Ok(l.pblk + l.len);
            }
        }
        Ok(self.ino + 1)
    }

    /// Allocates unwritten blocks for `b..b+want` (a hole or delalloc) and
    /// maps them. `reserved`: the blocks come out of a delalloc
    /// reservation, which they replace; otherwise they must be available
    /// to ordinary allocations. Returns the new extent (maybe shorter).
    ///
    /// The tree nodes the new extent's insert may need come from the same
    /// budget as the blocks: ordinary space for a new allocation (so its
    /// blocks leave room for them), the pool for a reservation's blocks.
    fn alloc_unwritten(&mut self, b: u64, want: u64, reserved: bool) -> Result<Extent, Error> {
        let want = want.min(extmap::MAX_LEN);
        let want = if reserved {
            want
        } else {
            let nodes = extmap::tree(self.ino).insert_worst(&self.cx.s)?;
            want.min(self.cx.a.user_available().saturating_sub(nodes))
        };
        if want == 0 {
            return Err(Error::NoSpace);
        }
        let goal = self.goal(b)?;
        let (start, got) = self.cx.a.alloc(&self.cx.s, goal, want)?;
        let e = Extent { lblk: b, pblk: start, len: got, unwritten: true };
        // A reservation's blocks leave it as they are allocated, so that
        // its remaining promises stay covered while the insert allocates.
        if reserved {
            self.cx.a.reserved = self.cx.a.reserved.saturating_sub(got);
        }
        self.cx.a.budget(if reserved { Budget::Pool } else { Budget::User });
        let mut nodes = 0;
        if let Err(err) = extmap::insert(&self.cx.s, self.cx.a, self.ino, e, &mut nodes) {
            let _ = self.cx.a.free(&self.cx.s, start, got);
            if reserved {
                self.cx.a.reserved += got;
            }
            return Err(err);
        }
        self.changed = true;
        if reserved {
            // Normally n == got; keep the count exact if not.
            let n = delalloc::remove(&mut self.dl(), b, got)?;
            self.cx.a.reserved = (self.cx.a.reserved + got).saturating_sub(n);
            self.delayed -= n as i64;
        }
        self.charge(nodes + got as i64)?;
        Ok(e)
    }

    /// Removes delalloc blocks `b..b+n` and returns their reservation.
    fn punch_delalloc(&mut self, b: u64, n: u64) -> Result<u64, Error> {
        let got = release_delalloc(self.cx, self.ino, b, n)?;
        if got > 0 {
            self.delayed -= got as i64;
            self.changed = true;
        }
        Ok(got)
    }

    fn remove(&mut self, b: u64, n: u64) -> Result<(), Error> {
        self.punch_delalloc(b, n)?;
        let mut nodes = 0;
        // No kernel path shares a block yet: a file's blocks are its own.
        let r = extmap::remove(&self.cx.s, self.cx.a, self.ino, b, n, &mut extmap::Release::Free, &mut nodes);
        if let Ok(k) = r {
            self.changed |= k > 0 || nodes != 0;
            self.charge(nodes - k as i64)?;
        } else {
            self.changed = true;
            self.charge(nodes)?;
        }
        r.map(|_| ())
    }

    fn map_of(&self, f: &Found, b: u64, max: u64) -> Map {
        let log = self.log;
        let mut m = Map { offset: b << log, addr: NULL_ADDR, ..Default::default() };
        let (kind, end) = match *f {
            Found::Disk(e) => {
                m.addr = (e.pblk + (b - e.lblk)) << log;
                (if e.unwritten { IOMAP_UNWRITTEN } else { IOMAP_MAPPED }, e.end())
            }
            Found::Delay(s, l) => (IOMAP_DELALLOC, s + l),
            Found::Hole(n) => (IOMAP_HOLE, b.saturating_add(n)),
        };
        m.kind = kind;
        m.length = (end.min(max) - b) << log;
        m
    }
}

/// The validity cookie of a data fork mapping: the fork's sequence in the
/// low 32 bits (the high 32 are the CoW fork's, for shared mappings), as
/// `xfs_iomap_inode_sequence`.
pub fn cookie(seq: &AtomicU64) -> u64 {
    seq.load(Ordering::Acquire) & 0xffff_ffff
}

/// Runs extent operation `op` on file `ino` for bytes `pos..pos+len`, with
/// `seq` the file's data fork sequence. Map operations put the mapping at
/// `pos` in `out`. What the operation changed (the inode's block count, its
/// delalloc blocks) goes to `out` whether it succeeds or not, so the
/// in-memory inode stays in step with what a failed operation left done.
fn xop(fs: &FsInfo, ino: u64, seq: &AtomicU64, op: XOp, pos: u64, len: u64, flags: u32, out: &mut Map) -> Result<(), Error> {
    let log = fs.block_log;
    let max = (i64::MAX as u64) >> log;
    let b = pos >> log;
    if b >= max {
        return match op {
            // The last partial block of the largest file: a hole.
            XOp::Read => {
                *out = Map {
                    addr: NULL_ADDR,
                    offset: pos,
                    length: (i64::MAX as u64).saturating_sub(pos).max(1),
                    kind: IOMAP_HOLE,
                    cookie: cookie(seq),
                    ..Default::default()
                };
                Ok(())
            }
            XOp::Remove | XOp::PunchDelalloc => Ok(()),
            _ => Err(Error::TooBig),
        };
    }
    let end = (pos.saturating_add(len).saturating_add((1 << log) - 1) >> log).clamp(b.saturating_add(1), max);
    fs.with(|cx| {
        let mut o = Op { cx, ino, log, nblocks: None, delayed: 0, changed: false };
        let r = run(&mut o, op, b, end, max, flags);
        if o.changed {
            seq.fetch_add(1, Ordering::Release);
        }
        if let Ok(m) = r {
            *out = m;
        }
        if let Some(n) = o.nblocks {
            out.nblocks = n;
            out.changed = 1;
        }
        out.delayed = o.delayed;
        out.cookie = cookie(seq);
        r.map(|_| ())
    })
}

fn run(o: &mut Op<'_, '_>, op: XOp, b: u64, end: u64, max: u64, flags: u32) -> Result<Map, Error> {
    let none = Map::default();
    // Completing promises (writeback of delalloc, unwritten conversion) and
    // giving space back must not fail for want of tree nodes: they may use
    // the pool. New allocations stay within ordinary space.
    o.cx.a.budget(match op {
        XOp::Read | XOp::BufferedWrite | XOp::DirectWrite | XOp::Prealloc => Budget::User,
        XOp::Writeback | XOp::PunchDelalloc | XOp::Convert | XOp::Remove | XOp::Collapse | XOp::Insert => Budget::Pool,
    });
    match op {
        XOp::Read => {
            let f = o.find(b)?;
            Ok(o.map_of(&f, b, max))
        }
        XOp::BufferedWrite => {
            let f = o.find(b)?;
            if let Found::Hole(n) = f {
                if flags & IOMAP_ZERO == 0 {
                    let want = n.min(end - b).min(extmap::MAX_LEN).min(o.cx.a.user_available());
                    if want == 0 {
                        return Err(Error::NoSpace);
                    }
                    delalloc::add(&mut o.dl(), b, want)?;
                    o.cx.a.reserved += want;
                    o.delayed += want as i64;
                    o.changed = true;
                    let mut m = o.map_of(&Found::Delay(b, want), b, max);
                    m.flags = IOMAP_F_NEW;
                    return Ok(m);
                }
            }
            Ok(o.map_of(&f, b, max))
        }
        XOp::DirectWrite | XOp::Writeback => {
            let (e, new) = match o.find(b)? {
                Found::Disk(e) => (e, false),
                Found::Delay(s, l) => (o.alloc_unwritten(b, (s + l).min(end) - b, true)?, true),
                Found::Hole(n) if op == XOp::DirectWrite => (o.alloc_unwritten(b, n.min(end - b), false)?, true),
                h @ Found::Hole(_) => return Ok(o.map_of(&h, b, max)),
            };
            let mut m = o.map_of(&Found::Disk(e), b, max);
            if new && op == XOp::DirectWrite {
                m.flags = IOMAP_F_NEW;
            }
            Ok(m)
        }
        XOp::PunchDelalloc => {
            o.punch_delalloc(b, end - b)?;
            Ok(none)
        }
        XOp::Convert => {
            let mut nodes = 0;
            let r = extmap::convert(&o.cx.s, o.cx.a, o.ino, b, end - b, &mut nodes);
            o.changed = true;
            o.charge(nodes)?;
            r.map(|()| none)
        }
        XOp::Prealloc => {
            let mut p = b;
            while p < end {
                p = match o.find(p)? {
                    Found::Disk(e) => e.end(),
                    Found::Delay(s, l) => o.alloc_unwritten(p, (s + l).min(end) - p, true)?.end(),
                    Found::Hole(n) => o.alloc_unwritten(p, n.min(end - p), false)?.end(),
                };
            }
            Ok(none)
        }
        XOp::Remove => {
            let n = if end >= max { u64::MAX - b } else { end - b };
            o.remove(b, n)?;
            Ok(none)
        }
        XOp::Collapse | XOp::Insert => {
            // The caller flushed and dropped the page cache from `b` on, so
            // no delalloc can be left there; drop any, to be sure.
            o.punch_delalloc(b, u64::MAX - b)?;
            let n = end - b;
            let mut nodes = 0;
            o.changed = true;
            let r = if op == XOp::Collapse {
                o.remove(b, n)?;
                extmap::shift(&o.cx.s, o.cx.a, o.ino, end, -(n as i64), &mut nodes)
            } else {
                extmap::split_at(&o.cx.s, o.cx.a, o.ino, b, &mut nodes)
                    .and_then(|()| extmap::shift(&o.cx.s, o.cx.a, o.ino, b, n as i64, &mut nodes))
            };
            o.charge(nodes)?;
            r.map(|()| none)
        }
    }
}

/// Counters for the debugfs `stats` file.
pub struct Stats {
    /// Free blocks on disk.
    pub free: u64,
    /// Blocks reserved by delalloc.
    pub reserved: u64,
    /// Blocks kept back for metadata of conversions.
    pub pool: u64,
    /// Delalloc ranges in memory.
    pub delalloc_ranges: u64,
}

/// The mount's space counters.
pub fn stats(fs: &FsInfo) -> Stats {
    let m = fs.meta.lock();
    Stats {
        free: m.alloc.free,
        reserved: m.alloc.reserved,
        pool: m.alloc.pool,
        delalloc_ranges: m.delalloc.iter().count() as u64,
    }
}

/// Runs extent operation `op` on `inode`'s data fork for bytes
/// `pos..pos+len`: the one way the VFS-facing code changes or maps a file's
/// blocks. Refused after a shutdown; the inode's block counts follow what
/// the operation did, even when it failed part-way; a corruption is logged
/// once, here.
fn run_op(inode: &Inode, op: XOp, pos: u64, len: u64, flags: u32) -> kernel::error::Result<Map> {
    let mut m = Map::default();
    let r = crate::fs::call(&inode.sb(), |fs| xop(fs, inode.ino(), inode.data_seq(), op, pos, len, flags, &mut m));
    inode.account((m.changed != 0).then_some(m.nblocks), m.delayed);
    r.map(|()| m)
}

// The extent operations the VFS-facing code calls, one per transition of
// the state machine above. Each runs atomically under the metadata lock.

/// The mapping at `pos` for reading or reporting; delalloc shows as
/// delalloc.
pub fn map_read(inode: &Inode, pos: u64, len: u64, flags: u32) -> kernel::error::Result<Map> {
    run_op(inode, XOp::Read, pos, len, flags)
}

/// The mapping at `pos` for a buffered write or write fault: a hole
/// becomes a delalloc reservation (`IOMAP_F_NEW`), unless zeroing.
pub fn reserve_delalloc(inode: &Inode, pos: u64, len: u64, flags: u32) -> kernel::error::Result<Map> {
    run_op(inode, XOp::BufferedWrite, pos, len, flags)
}

/// The mapping at `pos` for an O_DIRECT write: holes and delalloc become
/// unwritten blocks.
pub fn alloc_direct(inode: &Inode, pos: u64, len: u64, flags: u32) -> kernel::error::Result<Map> {
    run_op(inode, XOp::DirectWrite, pos, len, flags)
}

/// The mapping at `pos` for writeback: delalloc up to `pos+len` becomes
/// unwritten blocks; never delalloc.
pub fn map_writeback(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result<Map> {
    run_op(inode, XOp::Writeback, pos, len, 0)
}

/// Removes only the delalloc of the range (the short-write punch).
pub fn punch_delalloc(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    run_op(inode, XOp::PunchDelalloc, pos, len, 0).map(|_| ())
}

/// Marks the range's unwritten blocks written (I/O completion).
pub fn convert_unwritten(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    run_op(inode, XOp::Convert, pos, len, 0).map(|_| ())
}

/// Allocates unwritten blocks over the range's holes and delalloc
/// (fallocate).
pub fn prealloc(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    run_op(inode, XOp::Prealloc, pos, len, 0).map(|_| ())
}

/// Unmaps the range: blocks and delalloc (punch, truncate).
pub fn remove(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    run_op(inode, XOp::Remove, pos, len, 0).map(|_| ())
}

/// Removes the range and moves everything after it down.
pub fn collapse(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    run_op(inode, XOp::Collapse, pos, len, 0).map(|_| ())
}

/// Moves everything from `pos` up by `len`.
pub fn insert(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    run_op(inode, XOp::Insert, pos, len, 0).map(|_| ())
}
