// SPDX-License-Identifier: GPL-2.0

//! The metadata journal in the kernel: commit and recovery, over the
//! format and the logic of [`crate::librxfs::journal`] (whose design note
//! says why replaying only the last whole transaction is enough).
//!
//! Design note. A transaction is what the metadata lock's holders changed
//! since the last commit: the set of changed blocks ([`DirtySet`]), every
//! one of them at an operation boundary, since operations change metadata
//! only inside [`crate::fs::FsInfo::with`]. A commit (under that lock):
//!
//! 1. checksums each changed block and lays the transaction out
//!    (`journal::build`): per descriptor, one batch of bios with the
//!    descriptor and the blocks' images taken straight from the device's
//!    page cache (no copy);
//! 2. writes the commit block `PREFLUSH|FUA`: when it completes, the
//!    transaction, the file data written before it and every earlier home
//!    write are durable, so fsync costs this one flush;
//! 3. writes the blocks home and empties the set.
//!
//! A set larger than a transaction may be (half the log) is committed in
//! pieces, each written home before the next: each piece is durable, the
//! whole is not atomic (counted in `split`; the dirty limit keeps sets far
//! below it). The first commit of a mount writes the header that restarts
//! the chain; unmount flushes and writes the header that leaves the log
//! clean. A log write error or a commit after shutdown fails: the caller
//! shuts the filesystem down, and nothing more is written. A failed home
//! write after a whole transaction is kept for the next one instead
//! ([`Journal::commit`]).

use crate::librxfs::crc32c;
use crate::librxfs::error::Error;
use crate::librxfs::journal::{self as j, Block, Geometry, Head, Header, Tag};
use crate::vfs::meta::{BdevStore, BlockBuf, Dev, DirtySet, WriteKind};
use kernel::prelude::*;

/// The journal of a mounted filesystem, behind the metadata lock.
pub struct Journal {
    g: Geometry,
    head: Head,
    /// The header for `head` was written this mount (by the first commit).
    opened: bool,
    /// Mount replayed a transaction: unmount must mark the log clean.
    recovered: bool,
    /// Descriptors and the commit are encoded here ...
    scratch: BlockBuf,
    /// ... and written from here (the next one is encoded meanwhile).
    io: BlockBuf,
    /// One transaction's tags.
    tags: KVVec<Tag>,
    /// One descriptor's images.
    homes: KVec<u64>,
    /// Transactions committed this mount.
    pub commits: u64,
    /// Commits of a set too large for one transaction.
    pub split: u64,
    /// Commits whose home writes failed (kept for the next commit).
    pub home_retries: u64,
    /// The last commit's home writes failed.
    home_failing: bool,
}

fn io_err(e: kernel::error::Error) -> Error {
    Error::Io(-e.to_errno())
}

fn no_mem<T>(_: T) -> Error {
    Error::Io(12)
}

/// Fault injection for the home writes of a commit.
#[derive(Clone, Copy)]
pub struct Faults {
    /// Knob (g): a block at a time, sleeping this long after each.
    pub delay_ms: u32,
    /// Knob `fail_home_writes`: every home write of this commit fails.
    pub fail_home: bool,
}

/// Writes the blocks of `set` home (without a journal, or after its
/// commit) and empties it of those written; with `wait`, flushes the
/// device cache too.
pub fn write_home(dev: &Dev, set: &mut DirtySet, f: Faults, wait: bool) -> Result<(), Error> {
    write_home_upto(dev, set, u64::MAX, f)?;
    if wait {
        dev.flush_cache().map_err(io_err)?;
    }
    Ok(())
}

fn write_home_upto(dev: &Dev, set: &mut DirtySet, upto: u64, f: Faults) -> Result<(), Error> {
    if f.delay_ms == 0 {
        return dev.flush_upto(set, upto, false, f.fail_home).map_err(io_err);
    }
    while let Some(b) = set.first().filter(|&b| b <= upto) {
        dev.flush_upto(set, b, false, f.fail_home).map_err(io_err)?;
        crate::vfs::msleep(f.delay_ms);
    }
    Ok(())
}

/// What mount found in the log.
pub struct Recovered {
    /// The journal to commit with.
    pub journal: Journal,
    /// Blocks replayed (0: the log was clean).
    pub replayed: u64,
    /// The transaction replayed.
    pub seq: u64,
}

/// Mount: scans the log and, if it is dirty, replays its last whole
/// transaction home and flushes. `may_write` false (a read-only device, or
/// `norecovery`): a dirty log is not replayed and `Err(EROFS)` says so,
/// unless `skip` (`norecovery`), which mounts without replay.
pub fn recover(dev: &Dev, g: Geometry, may_write: bool, skip: bool) -> Result<Recovered, Error> {
    let bs = g.block_size;
    let mut a = KVec::from_elem(0u8, bs, GFP_KERNEL).map_err(no_mem)?;
    let mut b = KVec::from_elem(0u8, bs, GFP_KERNEL).map_err(no_mem)?;
    let mut set = DirtySet::new();
    let found = j::scan_store(&BdevStore::new(*dev, &mut set), &g, &mut a, &mut b)?;
    let mut rec = Recovered { journal: Journal::new(g, Head { seq: 0, pos: 1 })?, replayed: 0, seq: 0 };
    let r = if found.dirty() && (skip || !may_write) {
        if !skip {
            return Err(Error::Io(30));
        }
        // Nothing may be written: the chain is left as it is.
        j::Recovery { found, replayed: 0 }
    } else {
        j::replay_store(&BdevStore::new(*dev, &mut set), &g, found, &mut a, &mut b)?
    };
    if r.replayed > 0 {
        dev.flush(&mut set, true).map_err(io_err)?;
        rec.journal.recovered = true;
        rec.replayed = r.replayed;
        rec.seq = r.found.last.map_or(0, |t| t.seq);
    }
    let h = r.restart(&g);
    rec.journal.head = Head { seq: h.seq, pos: h.pos };
    Ok(rec)
}

impl Journal {
    fn new(g: Geometry, head: Head) -> Result<Self, Error> {
        let max = g.max_images() as usize;
        let per = g.tags_per_desc() as usize;
        Ok(Journal {
            g,
            head,
            opened: false,
            recovered: false,
            scratch: BlockBuf::new(g.block_size).map_err(io_err)?,
            io: BlockBuf::new(g.block_size).map_err(io_err)?,
            tags: KVVec::from_elem(Tag::default(), max.max(1), GFP_KERNEL).map_err(no_mem)?,
            homes: KVec::from_elem(0u64, per.max(1), GFP_KERNEL).map_err(no_mem)?,
            commits: 0,
            split: 0,
            home_retries: 0,
            home_failing: false,
        })
    }

    /// The log's geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.g
    }

    fn write_header(&mut self, dev: &Dev, h: Header) -> Result<(), Error> {
        j::encode_header(&self.g, &mut self.io, h);
        dev.write_buf(self.g.start, &self.io, WriteKind::Durable).map_err(io_err)
    }

    /// Commits `set` and writes it home; an empty set only flushes the
    /// device's cache, if `wait` (fsync of file data).
    ///
    /// A home write that fails after a whole transaction is committed is
    /// not an error: the log holds the block, and the block stays in `set`,
    /// so the next transaction logs it again and writes it home again; the
    /// last transaction, all that recovery replays, always holds every
    /// block not yet home. XFS retries failed metadata write-back the same
    /// way (a thin pool out of space fails writes until it is grown). A
    /// transaction committed in pieces cannot keep that promise (the next
    /// piece does not hold the earlier piece's blocks): there a failed home
    /// write is an error, and the caller shuts the filesystem down.
    pub fn commit(&mut self, dev: &Dev, set: &mut DirtySet, wait: bool, f: Faults) -> Result<(), Error> {
        if set.is_empty() {
            return if wait { dev.flush_cache().map_err(io_err) } else { Ok(()) };
        }
        let max = self.tags.len();
        let mut from = 0u64;
        loop {
            let mut n = 0usize;
            let mut last = 0u64;
            let tags = &mut self.tags;
            dev.each_dirty(set, from, |blk, bytes| {
                let Some(t) = tags.get_mut(n) else { return false };
                *t = Tag { home: blk, crc: crc32c::crc32c(bytes) };
                n += 1;
                last = blk;
                true
            })
            .map_err(io_err)?;
            if n == 0 {
                return Ok(());
            }
            let whole = n < max || set.len() == n;
            if !whole && self.split == 0 {
                pr_warn!("{} changed metadata blocks: committed in pieces of {}\n", set.len(), max);
            }
            self.commit_tags(dev, set, n)?;
            if whole {
                match write_home(dev, set, f, false) {
                    Ok(()) if self.home_failing => {
                        pr_info!("metadata write-back works again\n");
                        self.home_failing = false;
                    }
                    Ok(()) => {}
                    Err(e) => {
                        self.home_retries += 1;
                        if !self.home_failing {
                            pr_warn!("metadata write-back failed ({}): {} blocks kept, logged and written again at the next commit\n", e, set.len());
                            self.home_failing = true;
                        }
                    }
                }
                return Ok(());
            }
            // This piece home before the next is committed.
            self.split += 1;
            write_home_upto(dev, set, last, f)?;
            from = last.saturating_add(1);
        }
    }

    fn commit_tags(&mut self, dev: &Dev, set: &DirtySet, n: usize) -> Result<(), Error> {
        if !self.opened {
            let h = Header { seq: self.head.seq, pos: self.head.pos };
            self.write_header(dev, h)?;
            self.opened = true;
        }
        let p = self.head.plan(&self.g, n as u64).ok_or(Error::BadField { field: "log transaction", value: n as u64 })?;
        if p.wrap {
            // Every earlier home write durable before the chain restarts.
            dev.flush_cache().map_err(io_err)?;
            self.write_header(dev, Header { seq: p.seq, pos: 1 })?;
        }
        let g = self.g;
        let Journal { scratch, io, tags, homes, .. } = self;
        let tags = tags.get(..n).ok_or(Error::Io(22))?;
        // The descriptor in `io` and its images not yet written.
        let mut pending: Option<(u64, usize)> = None;
        let flush = |pending: &mut Option<(u64, usize)>, io: &BlockBuf, homes: &[u64]| -> Result<(), Error> {
            if let Some((at, k)) = pending.take() {
                let hs = homes.get(..k).ok_or(Error::Io(22))?;
                dev.write_log(set, g.start + at, io, hs).map_err(io_err)?;
            }
            Ok(())
        };
        j::build(&g, &p, tags, scratch, &mut |pos, blk| {
            match blk {
                Block::Meta(m) => {
                    flush(&mut pending, io, homes)?;
                    io.copy_from_slice(m);
                    pending = Some((pos, 0));
                }
                Block::Image(h) => {
                    let (_, k) = pending.as_mut().ok_or(Error::Io(22))?;
                    *homes.get_mut(*k).ok_or(Error::Io(22))? = h;
                    *k += 1;
                }
                Block::Commit(m) => {
                    flush(&mut pending, io, homes)?;
                    io.copy_from_slice(m);
                    dev.write_buf(g.start + pos, io, WriteKind::Durable).map_err(io_err)?;
                }
            }
            Ok(())
        })?;
        self.head = self.head.after(&p);
        self.commits += 1;
        Ok(())
    }

    /// Unmount (after the last commit): makes every home write durable and
    /// the log clean, if this mount wrote to it.
    pub fn close(&mut self, dev: &Dev) -> Result<(), Error> {
        if !self.opened && !self.recovered {
            return Ok(());
        }
        dev.flush_cache().map_err(io_err)?;
        let h = self.head.clean_header(&self.g);
        self.write_header(dev, h)?;
        self.opened = false;
        self.recovered = false;
        // The next commit (after a remount read-write) restarts the chain
        // one sequence number on.
        self.head = Head { seq: h.seq.wrapping_add(1), pos: h.pos };
        Ok(())
    }
}
