// SPDX-License-Identifier: GPL-2.0

//! The metadata journal: a physical redo log of whole metadata blocks, as
//! jbd2 keeps, in a fixed region that mkfs sizes (`mkfs.rxfs -l size=`).
//!
//! Design note. Every metadata change of rxfs happens under one per-mount
//! lock and reaches the disk only when the set of changed blocks is written
//! out at an operation boundary (sync, fsync, the dirty limit, the periodic
//! commit). The journal makes each such write-out one transaction:
//!
//! 1. the changed blocks' images go to the log, after descriptor blocks that
//!    name their home block numbers and checksum each image;
//! 2. a commit block is written with `PREFLUSH|FUA`: the flush makes the log
//!    blocks durable first, and with them every home write of the earlier
//!    transactions (those were complete before it was issued);
//! 3. the blocks are written home, without waiting for a flush: the next
//!    commit's flush, the wrap (below) or unmount makes them durable.
//!
//! So at any moment only the **last committed transaction** can have home
//! writes that are not durable, and recovery replays exactly it: the log is
//! a chain of transactions with consecutive sequence numbers, starting where
//! the header block (the region's first) points; recovery follows the chain
//! while each transaction is whole (descriptor, every image and commit
//! verified) and writes the last whole one home. A torn transaction, whose
//! commit never became durable, breaks the chain and is ignored. Replaying
//! only the last one also means no revocation records are needed: a block
//! freed and reused for file data after the last commit is free again after
//! recovery, and a block logged in an older transaction is never replayed.
//!
//! A transaction never wraps: when it does not fit before the region's end,
//! the writer flushes the device (every home write durable) and points the
//! header, written FUA, at the region's second block with the next sequence
//! number. Unmount does the same at the current head: the chain is then
//! empty and the log clean. A transaction is at most half the log, so one
//! whole transaction is always there to replay.
//!
//! Every log block has the common metadata header, with the sequence number
//! as owner: a block left from an earlier pass round the log, or from an
//! earlier filesystem, never passes for the one expected.
//!
//! Corruption is not a torn tail: a transaction that does not verify but
//! was committed (its commit block, or the next transaction, is there) is
//! reported (`EUCLEAN`), never taken for the end of the chain, since
//! replaying an older transaction over newer home blocks would mix states.

use super::crc32c;
use super::error::Error;
use super::le;
use super::meta::{self, HDR_SIZE};

/// Magic of the log header block: `"RXLH"`.
pub const MAGIC_HEADER: u32 = u32::from_le_bytes(*b"RXLH");
/// Magic of a descriptor block: `"RXLD"`.
pub const MAGIC_DESC: u32 = u32::from_le_bytes(*b"RXLD");
/// Magic of a commit block: `"RXLC"`.
pub const MAGIC_COMMIT: u32 = u32::from_le_bytes(*b"RXLC");

/// The smallest log: 64 blocks.
pub const MIN_BLOCKS: u64 = 64;
/// The largest log: 2^20 blocks.
pub const MAX_BLOCKS: u64 = 1 << 20;

// Header block fields (after the common header).
const H_SEQ: usize = HDR_SIZE;
const H_POS: usize = HDR_SIZE + 8;
// Descriptor fields.
const D_COUNT: usize = HDR_SIZE;
const D_TAGS: usize = HDR_SIZE + 8;
const TAG_SIZE: usize = 16;
// Commit fields.
const C_NBLOCKS: usize = HDR_SIZE;
const C_NDESC: usize = HDR_SIZE + 8;
const C_CHAIN: usize = HDR_SIZE + 12;

/// The default log size for a filesystem of `block_count` blocks of
/// `block_size` bytes: 1/64 of it, at least 1 MiB and at most 64 MiB, as
/// mkfs.xfs scales its internal log; on a small filesystem at most 1/8 of
/// it, and never under [`MIN_BLOCKS`].
pub fn default_blocks(block_size: u32, block_count: u64) -> u64 {
    let bs = (block_size as u64).max(1);
    let bytes = (block_count.saturating_mul(bs) / 64).clamp(1 << 20, 64 << 20);
    (bytes / bs).min(block_count / 8).clamp(MIN_BLOCKS, MAX_BLOCKS)
}

/// Where the log is and what the filesystem around it looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// First block of the region (the header block).
    pub start: u64,
    /// Blocks in the region, header included.
    pub blocks: u64,
    /// Block size in bytes.
    pub block_size: usize,
    /// Blocks in the filesystem (home block numbers are below it).
    pub fs_blocks: u64,
    /// The fsid every header carries.
    pub fsid: u64,
}

impl Geometry {
    /// Image tags one descriptor block holds.
    pub fn tags_per_desc(&self) -> u64 {
        (self.block_size.saturating_sub(D_TAGS) / TAG_SIZE) as u64
    }

    /// Log blocks a transaction of `n` images takes: descriptors, images and
    /// the commit block.
    pub fn txn_len(&self, n: u64) -> u64 {
        let per = self.tags_per_desc().max(1);
        n.div_ceil(per).saturating_add(n).saturating_add(1)
    }

    /// The most images one transaction may hold: its length is at most half
    /// of the region after the header.
    pub fn max_images(&self) -> u64 {
        let room = self.blocks.saturating_sub(1) / 2;
        let per = self.tags_per_desc().max(1);
        // n + ceil(n/per) + 1 <= n + n/per + 2 <= room
        room.saturating_sub(2) * per / (per + 1)
    }

    /// True if `blk` is inside the log region.
    pub fn contains(&self, blk: u64) -> bool {
        blk >= self.start && blk - self.start < self.blocks
    }

    fn abs(&self, pos: u64) -> u64 {
        self.start.saturating_add(pos)
    }
}

/// Reads log blocks (and, for replay, writes home blocks).
pub trait LogDev {
    /// Reads block `blk` into `buf` (one block).
    fn read(&mut self, blk: u64, buf: &mut [u8]) -> Result<(), Error>;
    /// Blocks `blk..blk + len` are about to be read in order (a hint).
    fn readahead(&mut self, blk: u64, len: u64) {
        let _ = (blk, len);
    }
}

/// The header block: where the chain of transactions starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Sequence number of the first transaction of the chain.
    pub seq: u64,
    /// Its position in the region (1..blocks).
    pub pos: u64,
}

/// Encodes the header block.
pub fn encode_header(g: &Geometry, buf: &mut [u8], h: Header) {
    buf.fill(0);
    meta::init(buf, MAGIC_HEADER, g.start, 0, g.fsid);
    le::put_u64(buf, H_SEQ, h.seq);
    le::put_u64(buf, H_POS, h.pos);
    meta::seal(buf);
}

/// Decodes and verifies the header block.
pub fn decode_header(g: &Geometry, buf: &[u8]) -> Result<Header, Error> {
    meta::verify(buf, "log header", MAGIC_HEADER, g.start, Some(0), g.fsid)?;
    let seq = le::u64_at(buf, H_SEQ).unwrap_or(0);
    let pos = le::u64_at(buf, H_POS).unwrap_or(0);
    if pos == 0 || pos >= g.blocks {
        return Err(Error::Corrupt { what: "log header", blkno: g.start, why: "position outside the log" });
    }
    Ok(Header { seq, pos })
}

/// One logged block: its home and the crc32c of its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tag {
    /// Home block number.
    pub home: u64,
    /// crc32c of the image.
    pub crc: u32,
}

/// Encodes a descriptor block for transaction `seq` at region position
/// `pos` naming `tags` (at most [`Geometry::tags_per_desc`]).
pub fn encode_desc(g: &Geometry, buf: &mut [u8], seq: u64, pos: u64, tags: &[Tag]) {
    buf.fill(0);
    meta::init(buf, MAGIC_DESC, g.abs(pos), seq, g.fsid);
    let n = tags.len().min(g.tags_per_desc() as usize);
    le::put_u32(buf, D_COUNT, n as u32);
    for (i, t) in tags.iter().take(n).enumerate() {
        let o = D_TAGS + i * TAG_SIZE;
        le::put_u64(buf, o, t.home);
        le::put_u32(buf, o + 8, t.crc);
    }
    meta::seal(buf);
}

/// Encodes the commit block of transaction `seq` at `pos`: `nblocks`
/// images under `ndesc` descriptors whose crcs chain to `chain`.
pub fn encode_commit(g: &Geometry, buf: &mut [u8], seq: u64, pos: u64, nblocks: u64, ndesc: u32, chain: u32) {
    buf.fill(0);
    meta::init(buf, MAGIC_COMMIT, g.abs(pos), seq, g.fsid);
    le::put_u64(buf, C_NBLOCKS, nblocks);
    le::put_u32(buf, C_NDESC, ndesc);
    le::put_u32(buf, C_CHAIN, chain);
    meta::seal(buf);
}

/// The crc chain of a transaction's descriptors: each descriptor's stored
/// crc folded in, in order (start from 0).
pub fn chain(prev: u32, desc: &[u8]) -> u32 {
    crc32c::update(prev, desc.get(meta::CRC_OFFSET..meta::CRC_OFFSET + 4).unwrap_or(&[]))
}

/// A whole transaction found in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Txn {
    /// Sequence number.
    pub seq: u64,
    /// Position of its first descriptor.
    pub pos: u64,
    /// Log blocks it takes.
    pub len: u64,
    /// Images in it.
    pub nblocks: u64,
}

/// What [`scan`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The header.
    pub header: Header,
    /// Whole transactions in the chain.
    pub txns: u64,
    /// The last whole one: what recovery replays. `None`: the log is clean.
    pub last: Option<Txn>,
    /// Where the next transaction goes.
    pub next: Header,
}

impl Found {
    /// True if recovery has something to replay.
    pub fn dirty(&self) -> bool {
        self.last.is_some()
    }
}

/// What the log holds at a transaction's place.
enum Step {
    /// A whole transaction.
    Whole(Txn),
    /// Nothing committed: the chain ends (a torn or never written tail).
    End,
    /// A transaction that was committed (its commit block, or the next
    /// transaction, is there) but does not verify: the log is corrupt.
    Corrupt(u64, &'static str),
}

/// True if block `b` carries the common header of a log block of kind
/// `magic` written for sequence `seq` at block `blk` (its checksum aside).
fn looks_written(g: &Geometry, b: &[u8], magic: u32, blk: u64, seq: u64) -> bool {
    meta::magic_of(b) == magic && le::u64_at(b, 8) == Some(blk) && le::u64_at(b, 16) == Some(seq) && le::u64_at(b, 24) == Some(g.fsid)
}

/// Evidence that transaction `seq` at `pos` was committed although it does
/// not verify: a commit block of `seq` that verifies, or a descriptor of
/// `seq + 1` that does, within a transaction's reach after `pos`. Neither
/// can follow a torn transaction: its commit was never durable, and the
/// writer starts the next one only after that commit completed (sequence
/// numbers are never reused: recovery restarts the chain one on).
fn committed<D: LogDev>(g: &Geometry, dev: &mut D, seq: u64, pos: u64, buf: &mut [u8]) -> Result<Option<u64>, Error> {
    let reach = g.blocks.saturating_sub(1) / 2 + 1;
    let end = pos.saturating_add(reach).min(g.blocks);
    // Every mount comes here (a chain ends in a block that is not a
    // whole transaction) and reads up to half the log: in large I/Os.
    let first = pos.saturating_add(1);
    dev.readahead(g.abs(first), end.saturating_sub(first));
    for at in first..end {
        dev.read(g.abs(at), buf)?;
        let m = meta::magic_of(buf);
        if (m == MAGIC_COMMIT && meta::verify(buf, "log commit", MAGIC_COMMIT, g.abs(at), Some(seq), g.fsid).is_ok())
            || (m == MAGIC_DESC
                && meta::verify(buf, "log descriptor", MAGIC_DESC, g.abs(at), Some(seq.wrapping_add(1)), g.fsid).is_ok())
        {
            return Ok(Some(g.abs(at)));
        }
    }
    Ok(None)
}

/// Checks the transaction `seq` at `pos`; `f` sees each image with its
/// home (for replay; only called on a transaction [`scan`] found whole).
///
/// Torn or corrupt: a crash leaves at most the last transaction without a
/// durable commit block (the commit is written `PREFLUSH|FUA` after every
/// other block of it completed), and any of its blocks may be missing or
/// torn. So a transaction that does not verify ends the chain, unless it
/// was committed ([`committed`]), which only corruption explains. One
/// exception makes a corrupt commit block harmless: if every descriptor
/// and image verifies and the commit block's first sector (magic, block,
/// sequence, fsid, counts and chain) is right, the transaction is whole
/// whether the commit was torn or later damaged; replaying it is a
/// consistent state either way (its home writes never started if the
/// commit was torn).
fn walk<D: LogDev>(
    g: &Geometry,
    dev: &mut D,
    seq: u64,
    pos: u64,
    desc: &mut [u8],
    img: &mut [u8],
    mut f: Option<&mut dyn FnMut(u64, &[u8]) -> Result<(), Error>>,
) -> Result<Step, Error> {
    let mut at = pos;
    let mut nblocks = 0u64;
    let mut ndesc = 0u32;
    let mut ch = 0u32;
    // An image that did not verify: its block (the layout is still known).
    let mut bad_image: Option<u64> = None;
    let limit = g.blocks.saturating_sub(1) / 2;
    loop {
        if at >= g.blocks || at - pos >= limit.max(3) {
            return Ok(Step::End);
        }
        dev.read(g.abs(at), desc)?;
        let magic = meta::magic_of(desc);
        if magic == MAGIC_COMMIT && ndesc > 0 {
            let fields = le::u64_at(desc, C_NBLOCKS) == Some(nblocks)
                && le::u32_at(desc, C_NDESC) == Some(ndesc)
                && le::u32_at(desc, C_CHAIN) == Some(ch);
            let ok = meta::verify(desc, "log commit", MAGIC_COMMIT, g.abs(at), Some(seq), g.fsid).is_ok();
            let written = looks_written(g, desc, MAGIC_COMMIT, g.abs(at), seq);
            if let Some(b) = bad_image {
                // Committed with an image that does not match: corruption.
                return Ok(if ok || (written && fields) { Step::Corrupt(b, "an image of a committed transaction does not match its checksum") } else { Step::End });
            }
            if fields && (ok || written) {
                return Ok(Step::Whole(Txn { seq, pos, len: at + 1 - pos, nblocks }));
            }
            if ok {
                return Ok(Step::Corrupt(g.abs(at), "commit block disagrees with its transaction"));
            }
            return end_or_corrupt(g, dev, seq, pos, desc, "commit block");
        }
        if magic != MAGIC_DESC || meta::verify(desc, "log descriptor", MAGIC_DESC, g.abs(at), Some(seq), g.fsid).is_err() {
            if bad_image.is_some() || ndesc > 0 {
                // Torn after some groups, or a damaged descriptor.
                return end_or_corrupt(g, dev, seq, pos, desc, "descriptor");
            }
            return end_or_corrupt(g, dev, seq, pos, desc, "first descriptor");
        }
        let n = le::u32_at(desc, D_COUNT).unwrap_or(0) as u64;
        if n == 0 || n > g.tags_per_desc() || at + 1 + n >= g.blocks {
            return Ok(Step::Corrupt(g.abs(at), "descriptor tag count out of range"));
        }
        ch = chain(ch, desc);
        ndesc = ndesc.saturating_add(1);
        for i in 0..n as usize {
            let o = D_TAGS + i * TAG_SIZE;
            let (Some(home), Some(crc)) = (le::u64_at(desc, o), le::u32_at(desc, o + 8)) else {
                return Ok(Step::Corrupt(g.abs(at), "descriptor tag outside the block"));
            };
            if home >= g.fs_blocks || g.contains(home) {
                return Ok(Step::Corrupt(g.abs(at), "descriptor names a block outside the filesystem or in the log"));
            }
            if bad_image.is_some() {
                continue;
            }
            let ib = g.abs(at + 1 + i as u64);
            dev.read(ib, img)?;
            if crc32c::crc32c(img) != crc {
                bad_image = Some(ib);
                continue;
            }
            if let Some(f) = f.as_mut() {
                f(home, img)?;
            }
        }
        nblocks += n;
        at += 1 + n;
    }
}

/// The transaction at `pos` is not whole: the chain's end, unless
/// [`committed`] shows it was committed.
fn end_or_corrupt<D: LogDev>(g: &Geometry, dev: &mut D, seq: u64, pos: u64, buf: &mut [u8], what: &'static str) -> Result<Step, Error> {
    Ok(match committed(g, dev, seq, pos, buf)? {
        None => Step::End,
        Some(_) => Step::Corrupt(
            g.abs(pos),
            match what {
                "commit block" => "a committed transaction's commit block is damaged",
                _ => "a committed transaction's descriptor is damaged",
            },
        ),
    })
}

/// Reads the header and follows the chain of whole transactions.
/// `desc` and `img` are scratch buffers of one block each. A header that
/// fails verification is corruption (`EUCLEAN`); a transaction that is not
/// whole ends the chain.
pub fn scan<D: LogDev>(g: &Geometry, dev: &mut D, desc: &mut [u8], img: &mut [u8]) -> Result<Found, Error> {
    if desc.len() != g.block_size || img.len() != g.block_size || g.blocks < MIN_BLOCKS {
        return Err(Error::BadField { field: "log geometry", value: g.blocks });
    }
    dev.read(g.start, desc)?;
    let header = decode_header(g, desc)?;
    let mut next = header;
    let mut last = None;
    let mut txns = 0u64;
    // Each step moves forward inside the region: the chain ends.
    loop {
        match walk(g, dev, next.seq, next.pos, desc, img, None)? {
            Step::Whole(t) => {
                txns += 1;
                last = Some(t);
                next = Header { seq: t.seq.wrapping_add(1), pos: t.pos + t.len };
                if next.pos >= g.blocks {
                    break;
                }
            }
            Step::End => break,
            Step::Corrupt(blkno, why) => return Err(Error::Corrupt { what: "log", blkno, why }),
        }
    }
    Ok(Found { header, txns, last, next })
}

/// Writes transaction `t` (from [`scan`]) home: `write(home, image)` for
/// each of its blocks, in log order (a block logged twice ends with its
/// later image).
pub fn replay<D: LogDev>(
    g: &Geometry,
    dev: &mut D,
    t: &Txn,
    desc: &mut [u8],
    img: &mut [u8],
    write: &mut dyn FnMut(u64, &[u8]) -> Result<(), Error>,
) -> Result<u64, Error> {
    let mut n = 0u64;
    let mut count = |home: u64, b: &[u8]| {
        n += 1;
        write(home, b)
    };
    match walk(g, dev, t.seq, t.pos, desc, img, Some(&mut count))? {
        Step::Whole(_) => Ok(n),
        _ => Err(Error::Corrupt { what: "log", blkno: g.abs(t.pos), why: "transaction changed during recovery" }),
    }
}

/// A [`LogDev`] over a metadata [`Store`](meta::Store).
struct StoreDev<'a, S: meta::Store>(&'a S);

impl<S: meta::Store> LogDev for StoreDev<'_, S> {
    fn read(&mut self, blk: u64, buf: &mut [u8]) -> Result<(), Error> {
        let b = self.0.read(blk)?;
        let src = b.get(..buf.len()).ok_or(Error::ShortBuffer { need: buf.len(), have: b.len() })?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn readahead(&mut self, blk: u64, len: u64) {
        self.0.readahead(blk, len)
    }
}

/// What [`recover`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// What the scan found.
    pub found: Found,
    /// Blocks written home (0 for a clean log).
    pub replayed: u64,
}

/// How far a mount's chain of transactions starts after the old chain's
/// end: far enough that no transaction this filesystem wrote in another
/// history of the device (a torn tail, or transactions that a device
/// rolled back to an earlier state, by a snapshot or a replay of recorded
/// writes, still holds beyond the chain) can pass for the next one.
pub const RESTART_GAP: u64 = 1 << 32;

impl Recovery {
    /// The header that starts the chain afresh after this recovery: at the
    /// old chain's end, [`RESTART_GAP`] sequence numbers on.
    pub fn restart(&self, g: &Geometry) -> Header {
        let n = self.found.next;
        Header { seq: n.seq.wrapping_add(RESTART_GAP), pos: if n.pos >= g.blocks { 1 } else { n.pos } }
    }
}

/// [`scan`] through a metadata store.
pub fn scan_store<S: meta::Store>(s: &S, g: &Geometry, desc: &mut [u8], img: &mut [u8]) -> Result<Found, Error> {
    scan(g, &mut StoreDev(s), desc, img)
}

/// Recovery through a metadata store: scans the log and writes the last
/// whole transaction's images into their home blocks in `s` (dirtied; the
/// caller writes them out and then the header [`Recovery::restart`] gives).
pub fn recover<S: meta::Store>(s: &S, g: &Geometry, desc: &mut [u8], img: &mut [u8]) -> Result<Recovery, Error> {
    recover_from(&mut StoreDev(s), s, g, desc, img)
}

/// [`recover`] reading the log from `dev` rather than through `s` (a tool
/// reading the device in large pieces, keeping none of the log), which
/// must hold what `s` would read there.
pub fn recover_from<D: LogDev, S: meta::Store>(dev: &mut D, s: &S, g: &Geometry, desc: &mut [u8], img: &mut [u8]) -> Result<Recovery, Error> {
    let found = scan(g, dev, desc, img)?;
    replay_into(dev, s, g, found, desc, img)
}

/// The replay half of [`recover`], for a caller that scanned already
/// ([`scan_store`]) and decided to replay.
pub fn replay_store<S: meta::Store>(s: &S, g: &Geometry, found: Found, desc: &mut [u8], img: &mut [u8]) -> Result<Recovery, Error> {
    replay_into(&mut StoreDev(s), s, g, found, desc, img)
}

fn replay_into<D: LogDev, S: meta::Store>(dev: &mut D, s: &S, g: &Geometry, found: Found, desc: &mut [u8], img: &mut [u8]) -> Result<Recovery, Error> {
    let mut replayed = 0;
    if let Some(t) = found.last {
        replayed = replay(g, dev, &t, desc, img, &mut |home, image| {
            let mut b = s.read(home)?;
            let dst = b.get_mut(..image.len()).ok_or(Error::ShortBuffer { need: image.len(), have: 0 })?;
            dst.copy_from_slice(image);
            s.dirty(&mut b);
            Ok(())
        })?;
    }
    Ok(Recovery { found, replayed })
}

/// Writes header `h` into the store (dirtied).
pub fn put_header<S: meta::Store>(s: &S, g: &Geometry, h: Header) -> Result<(), Error> {
    let mut b = s.read(g.start)?;
    encode_header(g, &mut b, h);
    s.dirty(&mut b);
    Ok(())
}

/// The highest sequence number any block of the log carries (for a new
/// header when the old one is lost).
pub fn max_seq<S: meta::Store>(s: &S, g: &Geometry) -> u64 {
    let mut max = 0;
    for pos in 1..g.blocks {
        let Ok(b) = s.read(g.abs(pos)) else { continue };
        let m = meta::magic_of(&b);
        if (m == MAGIC_DESC || m == MAGIC_COMMIT) && le::u64_at(&b, 24) == Some(g.fsid) {
            max = max.max(le::u64_at(&b, 16).unwrap_or(0));
        }
    }
    max
}

/// The writer's position: the next transaction's sequence number and place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Next sequence number.
    pub seq: u64,
    /// Next position.
    pub pos: u64,
}

/// Where a transaction of `n` images goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Flush the device and rewrite the header at `pos` 1 first.
    pub wrap: bool,
    /// Its first block's position.
    pub pos: u64,
    /// Its sequence number.
    pub seq: u64,
    /// Blocks it takes.
    pub len: u64,
}

impl Head {
    /// Plans a transaction of `n` images (`n` at most
    /// [`Geometry::max_images`], else `None`).
    pub fn plan(&self, g: &Geometry, n: u64) -> Option<Plan> {
        if n == 0 || n > g.max_images() {
            return None;
        }
        let len = g.txn_len(n);
        let wrap = self.pos.saturating_add(len) > g.blocks;
        Some(Plan { wrap, pos: if wrap { 1 } else { self.pos }, seq: self.seq, len })
    }

    /// The head after `p` was committed.
    pub fn after(&self, p: &Plan) -> Head {
        Head { seq: p.seq.wrapping_add(1), pos: p.pos + p.len }
    }

    /// The header that makes the log clean from here (unmount, after a
    /// flush): it points at the head, where nothing whole is.
    pub fn clean_header(&self, g: &Geometry) -> Header {
        Header { seq: self.seq, pos: if self.pos >= g.blocks { 1 } else { self.pos } }
    }
}

/// Block images and the log blocks to write for one transaction, built by
/// [`build`]: `out(pos, Block)` is called in position order.
pub enum Block<'a> {
    /// A descriptor block, encoded into the caller's buffer.
    Meta(&'a [u8]),
    /// The commit block, last: written `PREFLUSH|FUA`.
    Commit(&'a [u8]),
    /// The image of home block `home` (the caller has its bytes).
    Image(u64),
}

/// Lays out transaction `p` over the images `homes` (with their crcs):
/// calls `out` for every log block in order, descriptors and the commit
/// encoded in `scratch`.
pub fn build(
    g: &Geometry,
    p: &Plan,
    tags: &[Tag],
    scratch: &mut [u8],
    out: &mut dyn FnMut(u64, Block<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let per = g.tags_per_desc().max(1) as usize;
    let mut at = p.pos;
    let mut ch = 0u32;
    let mut ndesc = 0u32;
    for group in tags.chunks(per) {
        encode_desc(g, scratch, p.seq, at, group);
        ch = chain(ch, scratch);
        ndesc += 1;
        out(at, Block::Meta(scratch))?;
        at += 1;
        for t in group {
            out(at, Block::Image(t.home))?;
            at += 1;
        }
    }
    encode_commit(g, scratch, p.seq, at, tags.len() as u64, ndesc, ch);
    out(at, Block::Commit(scratch))?;
    if at + 1 != p.pos + p.len {
        return Err(Error::BadField { field: "log transaction length", value: p.len });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
