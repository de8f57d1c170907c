// SPDX-License-Identifier: GPL-2.0

//! Free-space management: a bitmap per group and a summary of free counts.
//!
//! The device is cut into groups of [`Geometry::bits_per_group`] blocks; each
//! group has one bitmap block (a set bit is a block in use). Summary blocks
//! hold each group's free count, so an allocation reads one summary block to
//! find a group with space and one bitmap block to find the blocks: the cost
//! does not grow with the device. At 4 KiB a group is 32512 blocks (127 MiB)
//! and one summary block covers 1016 groups (126 GiB); a 16 TiB filesystem
//! has 130 summary blocks.
//!
//! Layout from block 1: the summary blocks, then the bitmap blocks; blocks
//! `0..meta_blocks` are marked in use. Bits past the end of the filesystem
//! in the last bitmap block are set, so they are never handed out.

use super::error::Error;
use super::le;
use super::meta::{self, Store, HDR_SIZE};

/// Fixed geometry of the allocator, derived from block size and count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Block size.
    pub block_size: u32,
    /// Blocks in the filesystem.
    pub block_count: u64,
    /// Blocks covered by one bitmap block.
    pub bits_per_group: u64,
    /// Number of groups (= bitmap blocks).
    pub groups: u64,
    /// Group counts per summary block.
    pub sums_per_block: u64,
    /// First summary block (always 1).
    pub summary_start: u64,
    /// Number of summary blocks.
    pub summary_blocks: u64,
    /// First bitmap block.
    pub bitmap_start: u64,
}

impl Geometry {
    /// The geometry of a filesystem of `block_count` blocks of `block_size`.
    pub fn new(block_size: u32, block_count: u64) -> Self {
        let payload = (block_size as u64).saturating_sub(HDR_SIZE as u64);
        let bits_per_group = payload * 8;
        let groups = block_count.div_ceil(bits_per_group.max(1));
        let sums_per_block = payload / 4;
        let summary_blocks = groups.div_ceil(sums_per_block.max(1));
        Geometry {
            block_size,
            block_count,
            bits_per_group,
            groups,
            sums_per_block,
            summary_start: 1,
            summary_blocks,
            bitmap_start: 1 + summary_blocks,
        }
    }

    /// Blocks taken by the superblock, summary and bitmaps.
    pub fn meta_blocks(&self) -> u64 {
        self.bitmap_start + self.groups
    }

    /// Blocks in group `g` (the last group may be short).
    pub fn group_len(&self, g: u64) -> u64 {
        let start = g * self.bits_per_group;
        self.block_count.saturating_sub(start).min(self.bits_per_group)
    }
}

/// The allocator: geometry plus the free and reserved counters.
#[derive(Debug)]
pub struct Alloc {
    /// Geometry.
    pub geo: Geometry,
    /// Blocks free on disk.
    pub free: u64,
    /// Blocks promised to delayed allocations, not yet allocated.
    pub reserved: u64,
    /// Blocks kept back from ordinary allocations for the metadata that
    /// completing promised ones (delalloc and unwritten conversion) needs.
    pub pool: u64,
    /// Blocks that metadata allocations of the operation in progress must
    /// leave free (see [`Budget`]); 0, no limit, in the tools.
    pub meta_floor: u64,
    /// Whether changes that allocate metadata check for room first
    /// ([`Alloc::reserve_meta`]). Off only for a negative control.
    pub check_meta: bool,
    /// Blocks were freed since the last commit (the kernel's journal
    /// clears it): until that commit is durable they may still be in use in
    /// the committed state, so they must not receive file data (see
    /// `FsInfo::with_data`).
    pub freed: bool,
}

/// What an operation's metadata allocations may draw on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Budget {
    /// Only what ordinary allocations may take: free minus reserved minus
    /// the pool (namespace changes, O_DIRECT and fallocate extents).
    User,
    /// The pool as well: completing a promise (delalloc or unwritten
    /// conversion) and freeing space must not fail for want of tree nodes.
    Pool,
    /// Half the pool as well: a remap (clone, dedupe) takes no data blocks,
    /// only tree nodes, so it works on a filesystem that ordinary writes
    /// filled (fstests generic/546, which XFS passes on the slack its
    /// worst-case delalloc reservations leave); the other half stays for
    /// completing promises, however many remaps run at ENOSPC.
    Remap,
}

const SUMMARY: &str = "free-space summary";
const BITMAP: &str = "free-space bitmap";

fn bit(b: &[u8], i: u64) -> bool {
    le::bytes::<1>(b, HDR_SIZE + (i / 8) as usize).is_some_and(|[x]| x & (1 << (i % 8)) != 0)
}

/// The first run of clear bits in `[from, lim)` of a bitmap block, at most
/// `maxlen` (at least 1) long, as (first bit, length).
fn free_run(b: &[u8], from: u64, lim: u64, maxlen: u64) -> Option<(u64, u64)> {
    let mut i = from;
    while i < lim {
        // Skip whole bytes in use.
        if i % 8 == 0 && le::bytes::<1>(b, HDR_SIZE + (i / 8) as usize) == Some([0xff]) {
            i += 8;
            continue;
        }
        if bit(b, i) {
            i += 1;
            continue;
        }
        let mut n = 1;
        while i + n < lim && n < maxlen && !bit(b, i + n) {
            n += 1;
        }
        return Some((i, n));
    }
    None
}

fn set_bit(b: &mut [u8], i: u64, v: bool) {
    if let Some(x) = b.get_mut(HDR_SIZE + (i / 8) as usize) {
        if v {
            *x |= 1 << (i % 8);
        } else {
            *x &= !(1 << (i % 8));
        }
    }
}

// Division that cannot panic: geometry divisors are never zero for a
// valid block size, and a zero gives zero rather than a panic.
fn div(a: u64, b: u64) -> u64 {
    a.checked_div(b).unwrap_or(0)
}

fn rem(a: u64, b: u64) -> u64 {
    a.checked_rem(b).unwrap_or(0)
}

impl Alloc {
    /// An allocator over `geo` with `free` blocks free.
    pub fn new(geo: Geometry, free: u64) -> Self {
        Alloc { geo, free, reserved: 0, pool: 0, meta_floor: 0, check_meta: true, freed: false }
    }

    /// Sets what the metadata allocations that follow may draw on.
    pub fn budget(&mut self, b: Budget) {
        self.meta_floor = match b {
            Budget::User => self.reserved.saturating_add(self.pool),
            Budget::Pool => self.reserved,
            Budget::Remap => self.reserved.saturating_add(self.pool - self.pool / 2),
        };
    }

    /// Blocks metadata allocations may take now.
    pub fn meta_available(&self) -> u64 {
        self.free.saturating_sub(self.meta_floor)
    }

    /// Succeeds only if `n` metadata blocks can be allocated within the
    /// budget. A change that may allocate up to `n` blocks calls this before
    /// it touches anything, so that running out of space fails it whole
    /// ([`Error::NoSpace`], nothing changed) instead of half done. Everything
    /// runs under the one metadata lock, so nothing else allocates between
    /// the check and the change.
    pub fn reserve_meta(&self, n: u64) -> Result<(), Error> {
        if self.check_meta && self.meta_available() < n {
            return Err(Error::NoSpace);
        }
        Ok(())
    }

    /// Blocks that can still be promised: free minus reserved.
    pub fn available(&self) -> u64 {
        self.free.saturating_sub(self.reserved)
    }

    /// Blocks an ordinary allocation (a new inode, directory node, O_DIRECT
    /// or fallocate extent, a delalloc reservation) may take: free minus
    /// reserved minus the pool. Statfs reports this.
    pub fn user_available(&self) -> u64 {
        self.free.saturating_sub(self.reserved).saturating_sub(self.pool)
    }

    fn summary_loc(&self, g: u64) -> (u64, usize) {
        let blk = self.geo.summary_start + div(g, self.geo.sums_per_block);
        (blk, HDR_SIZE + ((rem(g, self.geo.sums_per_block)) * 4) as usize)
    }

    fn read_summary<'s, S: Store>(&self, s: &'s S, g: u64) -> Result<(S::Buf<'s>, usize), Error> {
        let (blk, off) = self.summary_loc(g);
        let buf = s.read(blk)?;
        meta::verify_buf(s, &buf, SUMMARY, meta::MAGIC_SUMMARY, blk, Some(div(g, self.geo.sums_per_block)))?;
        Ok((buf, off))
    }

    /// Free count of group `g` from its summary block.
    pub fn group_free<S: Store>(&self, s: &S, g: u64) -> Result<u64, Error> {
        let (buf, off) = self.read_summary(s, g)?;
        let n = le::u32_at(&buf, off).unwrap_or(u32::MAX) as u64;
        if n > self.geo.group_len(g) {
            return Err(Error::Corrupt { what: SUMMARY, blkno: self.summary_loc(g).0, why: "free count larger than group" });
        }
        Ok(n)
    }

    /// Checks that group `g`'s summary count can change by `delta`, before
    /// its bitmap is touched, so a damaged summary fails an allocation or a
    /// free without changing anything.
    fn check_group_free<S: Store>(&self, s: &S, g: u64, delta: i64) -> Result<(), Error> {
        let n = self.group_free(s, g)? as i64 + delta;
        if n < 0 || n as u64 > self.geo.group_len(g) {
            return Err(Error::Corrupt { what: SUMMARY, blkno: self.summary_loc(g).0, why: "free count out of range" });
        }
        Ok(())
    }

    fn add_group_free<S: Store>(&self, s: &S, g: u64, delta: i64) -> Result<(), Error> {
        let (mut buf, off) = self.read_summary(s, g)?;
        let n = le::u32_at(&buf, off).unwrap_or(0) as i64 + delta;
        if n < 0 || n as u64 > self.geo.group_len(g) {
            return Err(Error::Corrupt { what: SUMMARY, blkno: self.summary_loc(g).0, why: "free count out of range" });
        }
        le::put_u32(&mut buf, off, n as u32);
        meta::commit(s, &mut buf);
        Ok(())
    }

    /// Reads and verifies group `g`'s bitmap block.
    pub fn read_bitmap<'s, S: Store>(&self, s: &'s S, g: u64) -> Result<S::Buf<'s>, Error> {
        let blk = self.geo.bitmap_start + g;
        let buf = s.read(blk)?;
        meta::verify_buf(s, &buf, BITMAP, meta::MAGIC_BITMAP, blk, Some(g))?;
        Ok(buf)
    }

    /// Whether block `b` is marked in use.
    pub fn is_used<S: Store>(&self, s: &S, b: u64) -> Result<bool, Error> {
        let g = div(b, self.geo.bits_per_group);
        let buf = self.read_bitmap(s, g)?;
        Ok(bit(&buf, rem(b, self.geo.bits_per_group)))
    }

    /// Allocates up to `maxlen` contiguous blocks, the first free run at or
    /// after `goal` (wrapping around). Returns (start, length).
    pub fn alloc<S: Store>(&mut self, s: &S, goal: u64, maxlen: u64) -> Result<(u64, u64), Error> {
        if self.free == 0 || maxlen == 0 {
            return Err(Error::NoSpace);
        }
        let goal = if goal >= self.geo.block_count { 0 } else { goal };
        let g0 = div(goal, self.geo.bits_per_group);
        // g0 from the goal, the other groups in order, then g0 from its start.
        for round in 0..=self.geo.groups {
            let g = rem(g0 + round, self.geo.groups);
            let from = if round == 0 { rem(goal, self.geo.bits_per_group) } else { 0 };
            if self.group_free(s, g)? == 0 {
                continue;
            }
            if let Some(r) = self.alloc_in_group(s, g, from, maxlen)? {
                return Ok(r);
            }
        }
        Err(Error::Corrupt { what: SUMMARY, blkno: self.geo.summary_start, why: "free blocks counted but none found" })
    }

    fn alloc_in_group<S: Store>(&mut self, s: &S, g: u64, from: u64, maxlen: u64) -> Result<Option<(u64, u64)>, Error> {
        let len = self.geo.group_len(g);
        let mut buf = self.read_bitmap(s, g)?;
        if let Some((i, n)) = free_run(&buf, from, len, maxlen) {
            self.check_group_free(s, g, -(n as i64))?;
            for j in i..i + n {
                set_bit(&mut buf, j, true);
            }
            meta::commit(s, &mut buf);
            drop(buf);
            self.add_group_free(s, g, -(n as i64))?;
            self.free = self.free.saturating_sub(n);
            return Ok(Some((g * self.geo.bits_per_group + i, n)));
        }
        if from == 0 {
            return Err(Error::Corrupt { what: BITMAP, blkno: self.geo.bitmap_start + g, why: "summary says free, bitmap full" });
        }
        Ok(None)
    }

    /// The first run of free blocks in `[from, end)` (clipped to the
    /// filesystem), as (start, length); a run ends at its group's end.
    /// FITRIM discards what this finds.
    pub fn next_free_run<S: Store>(&self, s: &S, from: u64, end: u64) -> Result<Option<(u64, u64)>, Error> {
        let end = end.min(self.geo.block_count);
        let mut b = from;
        while b < end {
            let g = div(b, self.geo.bits_per_group);
            let gstart = g.saturating_mul(self.geo.bits_per_group);
            let next = gstart.saturating_add(self.geo.bits_per_group).max(b + 1);
            if self.group_free(s, g)? == 0 {
                b = next;
                continue;
            }
            let lim = gstart.saturating_add(self.geo.group_len(g)).min(end) - gstart;
            let buf = self.read_bitmap(s, g)?;
            if let Some((i, n)) = free_run(&buf, b - gstart, lim, u64::MAX) {
                return Ok(Some((gstart + i, n)));
            }
            b = next;
        }
        Ok(None)
    }

    /// Allocates exactly one block for metadata, near `goal`.
    pub fn alloc_meta<S: Store>(&mut self, s: &S, goal: u64) -> Result<u64, Error> {
        self.reserve_meta(1)?;
        self.alloc(s, goal, 1).map(|(b, _)| b)
    }

    /// Frees one metadata block.
    pub fn free_meta<S: Store>(&mut self, s: &S, blk: u64) -> Result<(), Error> {
        self.free(s, blk, 1)
    }

    /// Marks `start..start+len` free. Freeing a block that is already free,
    /// or one of the fixed metadata blocks, is corruption of the caller's
    /// structure (a double reference), reported without changing anything.
    pub fn free<S: Store>(&mut self, s: &S, start: u64, len: u64) -> Result<(), Error> {
        self.set_range(s, start, len, false)?;
        s.forget(start, len);
        self.freed = true;
        Ok(())
    }

    /// Marks `start..start+len` in use (mkfs, and tests).
    pub fn mark_used<S: Store>(&mut self, s: &S, start: u64, len: u64) -> Result<(), Error> {
        self.set_range(s, start, len, true)
    }

    fn set_range<S: Store>(&mut self, s: &S, start: u64, len: u64, used: bool) -> Result<(), Error> {
        let end = start.checked_add(len).ok_or(Error::BadField { field: "extent", value: start })?;
        if end > self.geo.block_count || (!used && start < self.geo.meta_blocks()) {
            return Err(Error::Corrupt { what: "extent", blkno: start, why: "block range outside the data area" });
        }
        let mut b = start;
        while b < end {
            let g = div(b, self.geo.bits_per_group);
            let gstart = g * self.geo.bits_per_group;
            let gend = (gstart + self.geo.group_len(g)).min(end);
            let mut buf = self.read_bitmap(s, g)?;
            for i in b - gstart..gend - gstart {
                if bit(&buf, i) == used {
                    return Err(Error::Corrupt {
                        what: BITMAP,
                        blkno: self.geo.bitmap_start + g,
                        why: if used { "block already in use" } else { "block freed twice" },
                    });
                }
            }
            let n = gend - b;
            self.check_group_free(s, g, if used { -(n as i64) } else { n as i64 })?;
            for i in b - gstart..gend - gstart {
                set_bit(&mut buf, i, used);
            }
            meta::commit(s, &mut buf);
            drop(buf);
            self.add_group_free(s, g, if used { -(n as i64) } else { n as i64 })?;
            if used {
                self.free = self.free.saturating_sub(n);
            } else {
                self.free += n;
            }
            b = gend;
        }
        Ok(())
    }

    /// Writes empty summary and bitmap blocks (mkfs): everything free except
    /// the fixed metadata and the bits past the end.
    pub fn format<S: Store>(geo: Geometry, s: &S) -> Result<Self, Error> {
        let fsid = s.fsid();
        for i in 0..geo.summary_blocks {
            let blk = geo.summary_start + i;
            let mut buf = s.read(blk)?;
            buf.fill(0);
            meta::init(&mut buf, meta::MAGIC_SUMMARY, blk, i, fsid);
            for j in 0..geo.sums_per_block {
                let g = i * geo.sums_per_block + j;
                if g < geo.groups {
                    le::put_u32(&mut buf, HDR_SIZE + (j * 4) as usize, geo.group_len(g) as u32);
                }
            }
            meta::commit(s, &mut buf);
        }
        for g in 0..geo.groups {
            let blk = geo.bitmap_start + g;
            let mut buf = s.read(blk)?;
            buf.fill(0);
            meta::init(&mut buf, meta::MAGIC_BITMAP, blk, g, fsid);
            for i in geo.group_len(g)..geo.bits_per_group {
                set_bit(&mut buf, i, true);
            }
            meta::commit(s, &mut buf);
        }
        let mut a = Alloc::new(geo, geo.block_count);
        a.mark_used(s, 0, geo.meta_blocks())?;
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::mem::MemStore;

    fn setup(bs: usize, blocks: u64) -> (MemStore, Alloc) {
        let s = MemStore::new(bs, blocks, 7);
        let a = Alloc::format(Geometry::new(bs as u32, blocks), &s).unwrap();
        (s, a)
    }

    /// On a filesystem that ordinary allocations filled, a remap may take
    /// half the pool and no more; promises the whole of it.
    #[test]
    fn remap_budget_is_half_the_pool() {
        let (_s, mut a) = setup(1024, 4096);
        a.pool = 101;
        a.reserved = 7;
        a.free = a.reserved + a.pool;
        assert_eq!(a.user_available(), 0);
        a.budget(Budget::User);
        assert_eq!(a.reserve_meta(1), Err(Error::NoSpace));
        a.budget(Budget::Remap);
        assert_eq!(a.meta_available(), 50);
        assert!(a.reserve_meta(50).is_ok());
        assert_eq!(a.reserve_meta(51), Err(Error::NoSpace));
        a.budget(Budget::Pool);
        assert_eq!(a.meta_available(), 101);
    }

    #[test]
    fn alloc_free_roundtrip_across_groups() {
        for bs in [1024usize, 4096] {
            let blocks = Geometry::new(bs as u32, 1).bits_per_group * 2 + 100;
            let (s, mut a) = setup(bs, blocks);
            let free0 = a.free;
            let mut got = Vec::new();
            while let Ok((b, n)) = a.alloc(&s, 0, 1000) {
                got.push((b, n));
            }
            assert_eq!(a.free, 0);
            assert_eq!(got.iter().map(|g| g.1).sum::<u64>(), free0);
            for (b, n) in got {
                a.free(&s, b, n).unwrap();
            }
            assert_eq!(a.free, free0);
            assert!(matches!(a.free(&s, a.geo.meta_blocks() + 3, 1), Err(Error::Corrupt { .. })));
        }
    }

    /// `next_free_run` finds exactly the free blocks of any range, in
    /// maximal runs that stop only at group ends, on a random pattern of
    /// allocations and frees over three groups.
    #[test]
    fn free_runs_match_the_bitmap() {
        use crate::btree::tests::Rng;
        for bs in [1024usize, 4096] {
            let bpg = Geometry::new(bs as u32, 1).bits_per_group;
            let blocks = bpg * 2 + 77;
            let (s, mut a) = setup(bs, blocks);
            let mut rng = Rng(bs as u64 + 3);
            let mut got = Vec::new();
            while let Ok(r) = a.alloc(&s, rng.below(blocks), 1 + rng.below(40)) {
                got.push(r);
            }
            for (b, n) in got {
                if rng.below(2) == 0 {
                    a.free(&s, b, n).unwrap();
                }
            }
            for _ in 0..40 {
                let from = rng.below(blocks + 10);
                let end = from + rng.below(blocks);
                let mut runs = Vec::new();
                let mut at = from;
                while let Some((b, n)) = a.next_free_run(&s, at, end).unwrap() {
                    assert!(b >= at && n > 0 && b + n <= end.min(blocks));
                    runs.push((b, n));
                    at = b + n;
                }
                let mut want = Vec::new();
                for b in from..end.min(blocks) {
                    if !a.is_used(&s, b).unwrap() {
                        match want.last_mut() {
                            Some((s0, n)) if *s0 + *n == b && b % bpg != 0 => *n += 1,
                            _ => want.push((b, 1)),
                        }
                    }
                }
                assert_eq!(runs, want, "bs {} range {}..{}", bs, from, end);
            }
        }
    }

    #[test]
    fn damaged_summary_changes_nothing() {
        let (s, mut a) = setup(1024, 4096);
        let (b, n) = a.alloc(&s, 0, 8).unwrap();
        let bitmap_before = s.raw(a.geo.bitmap_start).clone();
        s.raw(a.geo.summary_start)[HDR_SIZE] ^= 1;
        assert!(a.free(&s, b, n).is_err());
        assert!(a.alloc(&s, 0, 8).is_err());
        assert_eq!(*s.raw(a.geo.bitmap_start), bitmap_before);
    }
}
