// SPDX-License-Identifier: GPL-2.0

//! The one B+tree: u64 keys, fixed-size values, root inline in an inode.
//!
//! Extent maps and directories are both this tree, as XFS's bmbt keeps its
//! root in the inode fork. The root lives at a fixed offset of the owner's
//! inode block and never moves: when it fills, its contents move to a new
//! block and the root gains a level (XFS's `xfs_btree_new_iroot`).
//!
//! Node body (in a block after the [`meta`](super::meta) header, or in the
//! inode's fork area):
//!
//! | offset | size | field                                 |
//! |--------|------|---------------------------------------|
//! | 0      | 2    | level (0 = leaf)                      |
//! | 2      | 2    | number of entries                     |
//! | 4      | 4    | zero                                  |
//! | 8      | ...  | entries, sorted by key, no duplicates |
//!
//! A leaf entry is key (8) + value ([`Desc::val_size`]); an interior entry is
//! key (8) + child block number (8), where the key is exactly the smallest key
//! in the child's subtree. Non-root nodes are never empty. Every one of these
//! rules is checked whenever a node is read, so a corrupt tree gives
//! [`Error::Corrupt`], never a wrong answer or a panic.

use super::alloc::Alloc;
use super::error::Error;
use super::le;
use super::meta::{self, Store, HDR_SIZE};

/// The kind of tree.
#[derive(Debug)]
pub struct Desc {
    /// Magic of its blocks.
    pub magic: u32,
    /// Bytes of a leaf value.
    pub val_size: usize,
    /// Name in error messages.
    pub what: &'static str,
}

/// Bytes of the node header.
pub const NODE_HDR: usize = 8;
/// Deepest tree (levels, root included).
pub const MAX_LEVELS: usize = 10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Loc {
    Root,
    Blk(u64),
}

#[derive(Clone, Copy)]
struct Step {
    loc: Loc,
    idx: usize,
}

struct Path {
    steps: [Step; MAX_LEVELS],
    // steps[0] is the root; steps[depth - 1] the leaf.
    depth: usize,
}

/// One tree, for the duration of an operation.
pub struct Tree {
    desc: &'static Desc,
    ino: u64,
    fork_off: usize,
    /// Node blocks allocated minus freed by this handle's operations, for
    /// the owner's block count.
    pub nodes_delta: i64,
}

fn esz(d: &Desc, level: u16) -> usize {
    8 + if level == 0 { d.val_size } else { 8 }
}

fn level_of(b: &[u8]) -> u16 {
    le::u16_at(b, 0).unwrap_or(u16::MAX)
}

fn nrecs_of(b: &[u8]) -> usize {
    le::u16_at(b, 2).map_or(usize::MAX, usize::from)
}

fn set_hdr(b: &mut [u8], level: u16, nrecs: usize) {
    le::put(b, 0, &level.to_le_bytes());
    le::put(b, 2, &(nrecs as u16).to_le_bytes());
    le::put_u32(b, 4, 0);
}

fn cap(blen: usize, esz: usize) -> usize {
    blen.saturating_sub(NODE_HDR).checked_div(esz).unwrap_or(0)
}

fn key_at(b: &[u8], i: usize, esz: usize) -> u64 {
    le::u64_at(b, NODE_HDR + i * esz).unwrap_or(u64::MAX)
}

fn child_at(b: &[u8], i: usize, esz: usize) -> u64 {
    le::u64_at(b, NODE_HDR + i * esz + 8).unwrap_or(0)
}

/// Index of the last entry with key <= k, if any. `n` entries, checked.
fn find_le(b: &[u8], n: usize, esz: usize, k: u64) -> Option<usize> {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if key_at(b, mid, esz) <= k {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo.checked_sub(1)
}

/// Inserts entry bytes at index `i` of a node with `n` entries (room checked).
fn ins_ent(b: &mut [u8], n: usize, i: usize, esz: usize, ent: &[u8]) {
    let start = NODE_HDR + i * esz;
    let end = NODE_HDR + n * esz;
    if end + esz <= b.len() && start <= end {
        b.copy_within(start..end, start + esz);
        le::put(b, start, ent);
    }
}

/// Removes entry `i` of a node with `n` entries.
fn del_ent(b: &mut [u8], n: usize, i: usize, esz: usize) {
    let start = NODE_HDR + i * esz;
    let end = NODE_HDR + n * esz;
    if start + esz <= end && end <= b.len() {
        b.copy_within(start + esz..end, start);
        if let Some(t) = b.get_mut(end - esz..end) {
            t.fill(0);
        }
    }
}

fn ent_range(i: usize, esz: usize) -> core::ops::Range<usize> {
    NODE_HDR + i * esz..NODE_HDR + (i + 1) * esz
}

impl Tree {
    /// The tree of `desc` rooted at `fork_off` in inode block `ino`.
    pub fn new(desc: &'static Desc, ino: u64, fork_off: usize) -> Self {
        Tree { desc, ino, fork_off, nodes_delta: 0 }
    }

    fn corrupt(&self, blkno: u64, why: &'static str) -> Error {
        Error::Corrupt { what: self.desc.what, blkno, why }
    }

    fn base(&self, loc: Loc) -> usize {
        match loc {
            Loc::Root => self.fork_off,
            Loc::Blk(_) => HDR_SIZE,
        }
    }

    fn blkno(&self, loc: Loc) -> u64 {
        match loc {
            Loc::Root => self.ino,
            Loc::Blk(b) => b,
        }
    }

    /// Reads a node and checks it: header, level, count, key order, child
    /// pointers, and (given the parent's key for it, `want_min`) its link to
    /// the parent.
    fn open<'s, S: Store>(
        &self,
        s: &'s S,
        loc: Loc,
        want_level: Option<u16>,
        want_min: Option<u64>,
    ) -> Result<S::Buf<'s>, Error> {
        let blk = self.blkno(loc);
        let buf = s.read(blk)?;
        let (magic, what) = match loc {
            Loc::Root => (meta::MAGIC_INODE, "inode"),
            Loc::Blk(_) => (self.desc.magic, self.desc.what),
        };
        // A node verified earlier this mount (and changed since only by
        // this code, sealed) needs only the cheap checks again.
        let known = s.checksum_known(&buf);
        meta::verify_buf(s, &buf, what, magic, blk, Some(self.ino))?;
        let b = buf.get(self.base(loc)..).ok_or(self.corrupt(blk, "fork out of block"))?;
        let level = level_of(b);
        if level as usize >= MAX_LEVELS || want_level.is_some_and(|w| w != level) {
            return Err(self.corrupt(blk, "bad node level"));
        }
        let e = esz(self.desc, level);
        let n = nrecs_of(b);
        if n > cap(b.len(), e) || (n == 0 && loc != Loc::Root) {
            return Err(self.corrupt(blk, "bad entry count"));
        }
        if le::u32_at(b, 4) != Some(0) {
            return Err(self.corrupt(blk, "nonzero node padding"));
        }
        for i in (1..n).filter(|_| !known) {
            if key_at(b, i - 1, e) >= key_at(b, i, e) {
                return Err(self.corrupt(blk, "keys out of order"));
            }
        }
        if level > 0 && !known {
            for i in 0..n {
                let c = child_at(b, i, e);
                if c == 0 || c >= s.block_count() || c == blk {
                    return Err(self.corrupt(blk, "child pointer out of range"));
                }
            }
        }
        self.check_link(b, loc, want_min)?;
        Ok(buf)
    }

    /// Checks a node against its parent: its first key is the parent's key
    /// for it, and an interior node is not empty.
    fn check_link(&self, b: &[u8], loc: Loc, want_min: Option<u64>) -> Result<(), Error> {
        let level = level_of(b);
        if want_min.is_some_and(|m| key_at(b, 0, esz(self.desc, level)) != m) {
            return Err(self.corrupt(self.blkno(loc), "parent key is not child's first key"));
        }
        if nrecs_of(b) == 0 && level > 0 {
            return Err(self.corrupt(self.blkno(loc), "empty interior node"));
        }
        Ok(())
    }

    /// Walks from the root to the leaf that holds `key` (or would).
    fn descend<S: Store>(&self, s: &S, key: u64) -> Result<Path, Error> {
        let mut path = Path { steps: [Step { loc: Loc::Root, idx: 0 }; MAX_LEVELS], depth: 0 };
        let mut loc = Loc::Root;
        let mut want: Option<u16> = None;
        let mut want_min: Option<u64> = None;
        loop {
            let buf = self.open(s, loc, want, want_min)?;
            let b = buf.get(self.base(loc)..).unwrap_or(&[]);
            let level = level_of(b);
            let e = esz(self.desc, level);
            let n = nrecs_of(b);
            let idx = find_le(b, n, e, key).unwrap_or(0);
            let step = path
                .steps
                .get_mut(path.depth)
                .ok_or(self.corrupt(self.blkno(loc), "tree too deep"))?;
            *step = Step { loc, idx };
            path.depth += 1;
            if level == 0 {
                return Ok(path);
            }
            want_min = Some(key_at(b, idx, e));
            loc = Loc::Blk(child_at(b, idx, e));
            want = Some(level - 1);
        }
    }

    /// The entry with the greatest key <= `key`: its key, value copied to `out`.
    pub fn lookup_le<S: Store>(&self, s: &S, key: u64, out: &mut [u8]) -> Result<Option<u64>, Error> {
        let path = self.descend(s, key)?;
        let leaf = path.steps[path.depth - 1];
        let buf = self.open(s, leaf.loc, Some(0), None)?;
        let b = buf.get(self.base(leaf.loc)..).unwrap_or(&[]);
        let e = esz(self.desc, 0);
        match find_le(b, nrecs_of(b), e, key) {
            Some(i) => {
                let r = ent_range(i, e);
                if let (Some(v), Some(o)) = (b.get(r.start + 8..r.end), out.get_mut(..self.desc.val_size)) {
                    o.copy_from_slice(v);
                }
                Ok(Some(key_at(b, i, e)))
            }
            None => Ok(None),
        }
    }

    /// The entry with the smallest key >= `key`.
    pub fn next_ge<S: Store>(&self, s: &S, key: u64, out: &mut [u8]) -> Result<Option<u64>, Error> {
        let mut k = key;
        // Each round either answers or moves to a strictly greater key that
        // is the first key of a subtree, which the next round finds at once.
        for _ in 0..2 {
            let path = self.descend(s, k)?;
            let mut upper = None;
            for st in &path.steps[..path.depth - 1] {
                let buf = self.open(s, st.loc, None, None)?;
                let b = buf.get(self.base(st.loc)..).unwrap_or(&[]);
                let e = esz(self.desc, level_of(b));
                if st.idx + 1 < nrecs_of(b) {
                    upper = Some(key_at(b, st.idx + 1, e));
                }
            }
            let leaf = path.steps[path.depth - 1];
            let buf = self.open(s, leaf.loc, Some(0), None)?;
            let b = buf.get(self.base(leaf.loc)..).unwrap_or(&[]);
            let e = esz(self.desc, 0);
            let n = nrecs_of(b);
            let i = find_le(b, n, e, k).map_or(0, |i| if key_at(b, i, e) == k { i } else { i + 1 });
            if i < n {
                let r = ent_range(i, e);
                if let (Some(v), Some(o)) = (b.get(r.start + 8..r.end), out.get_mut(..self.desc.val_size)) {
                    o.copy_from_slice(v);
                }
                return Ok(Some(key_at(b, i, e)));
            }
            match upper {
                Some(u) if u > k => k = u,
                Some(_) => return Err(self.corrupt(self.blkno(leaf.loc), "separator keys out of order")),
                None => return Ok(None),
            }
        }
        Err(self.corrupt(self.ino, "separator key not found"))
    }

    /// Allocates and initialises an empty node block near `hint`.
    fn new_node<'s, S: Store>(
        &mut self,
        s: &'s S,
        a: &mut Alloc,
        path: &Path,
        hint: u64,
    ) -> Result<(u64, S::Buf<'s>), Error> {
        let nb = a.alloc_meta(s, hint)?;
        self.nodes_delta += 1;
        self.check_fresh(path, nb)?;
        let mut buf = s.read(nb)?;
        meta::init(&mut buf, self.desc.magic, nb, self.ino, s.fsid());
        if let Some(t) = buf.get_mut(HDR_SIZE..) {
            t.fill(0);
        }
        Ok((nb, buf))
    }

    /// A block just allocated must not be one the tree is using: only a
    /// damaged bitmap (a used block marked free) makes that happen.
    fn check_fresh(&self, path: &Path, nb: u64) -> Result<(), Error> {
        if nb == self.ino || path.steps[..path.depth].iter().any(|st| st.loc == Loc::Blk(nb)) {
            return Err(Error::Corrupt { what: "free-space bitmap", blkno: nb, why: "block in use marked free" });
        }
        Ok(())
    }

    /// Replaces the value of an existing key.
    pub fn update<S: Store>(&self, s: &S, key: u64, val: &[u8]) -> Result<(), Error> {
        let path = self.descend(s, key)?;
        let leaf = path.steps[path.depth - 1];
        let mut buf = self.open(s, leaf.loc, Some(0), None)?;
        let base = self.base(leaf.loc);
        let e = esz(self.desc, 0);
        let b = buf.get_mut(base..).unwrap_or(&mut []);
        match find_le(b, nrecs_of(b), e, key) {
            Some(i) if key_at(b, i, e) == key => {
                le::put(b, NODE_HDR + i * e + 8, val.get(..self.desc.val_size).unwrap_or(&[]));
            }
            _ => return Err(Error::NotFound),
        }
        meta::commit(s, &mut buf);
        Ok(())
    }

    /// The node at path index `from` has a new first key: sets the key of
    /// its entry in the parent, and upwards while that entry is the first.
    fn fix_keys<S: Store>(&self, s: &S, path: &Path, from: usize, key: u64) -> Result<(), Error> {
        let mut li = from;
        while li > 0 {
            li -= 1;
            let st = path.steps[li];
            let mut buf = self.open(s, st.loc, None, None)?;
            let base = self.base(st.loc);
            let b = buf.get_mut(base..).unwrap_or(&mut []);
            le::put_u64(b, NODE_HDR + st.idx * 16, key);
            meta::commit(s, &mut buf);
            if st.idx != 0 {
                break;
            }
        }
        Ok(())
    }

    /// How many nodes an insert along `path` allocates at most: one per full
    /// node from the leaf up, and for a full root two (the grown root's new
    /// child, and that child's split if it is full in a block).
    fn split_need<S: Store>(&self, s: &S, path: &Path) -> Result<u64, Error> {
        let mut need = 0;
        for li in (0..path.depth).rev() {
            let st = path.steps[li];
            let buf = self.open(s, st.loc, None, None)?;
            let b = buf.get(self.base(st.loc)..).unwrap_or(&[]);
            if nrecs_of(b) < cap(b.len(), esz(self.desc, level_of(b))) {
                break;
            }
            need += if st.loc == Loc::Root { 2 } else { 1 };
        }
        Ok(need)
    }

    /// The most nodes one insert can allocate in this tree as it is, plus
    /// one for a level an earlier insert of the same change may add: what a
    /// change of several inserts reserves per insert.
    pub fn insert_worst<S: Store>(&self, s: &S) -> Result<u64, Error> {
        let buf = self.open(s, Loc::Root, None, None)?;
        let levels = level_of(buf.get(self.fork_off..).unwrap_or(&[])) as u64 + 1;
        Ok(levels + 2)
    }

    /// Inserts a new key; [`Error::Exists`] if it is there already.
    pub fn insert<S: Store>(&mut self, s: &S, a: &mut Alloc, key: u64, val: &[u8]) -> Result<(), Error> {
        let mut path = self.descend(s, key)?;
        let mut ent = [0u8; 8 + 512];
        let vs = self.desc.val_size;
        let v = val.get(..vs).ok_or(Error::ShortBuffer { need: vs, have: val.len() })?;
        le::put_u64(&mut ent, 0, key);
        le::put(&mut ent, 8, v);
        // Position in the leaf.
        let mut li = path.depth - 1;
        let leaf_full;
        {
            let leaf = path.steps[li];
            let buf = self.open(s, leaf.loc, Some(0), None)?;
            let b = buf.get(self.base(leaf.loc)..).unwrap_or(&[]);
            let e = esz(self.desc, 0);
            let n = nrecs_of(b);
            let pos = match find_le(b, n, e, key) {
                Some(i) if key_at(b, i, e) == key => return Err(Error::Exists),
                Some(i) => i + 1,
                None => 0,
            };
            path.steps[li].idx = pos;
            leaf_full = n >= cap(b.len(), e);
        }
        // Room for every node this insert can add, before anything changes:
        // running out of space half-way through a split would leave entries
        // in a node the tree no longer reaches, or a new entry in the tree
        // whose caller thinks it failed. A leaf with room allocates nothing.
        if leaf_full {
            a.reserve_meta(self.split_need(s, &path)?)?;
        }
        let mut level: u16 = 0;
        let mut ent_len = 8 + vs;
        loop {
            let st = path.steps[li];
            let e = esz(self.desc, level);
            let mut buf = self.open(s, st.loc, Some(level), None)?;
            let base = self.base(st.loc);
            let blen = buf.len() - base;
            let n = nrecs_of(buf.get(base..).unwrap_or(&[]));
            if n < cap(blen, e) {
                let b = buf.get_mut(base..).unwrap_or(&mut []);
                ins_ent(b, n, st.idx, e, ent.get(..ent_len).unwrap_or(&[]));
                set_hdr(b, level, n + 1);
                let first = key_at(b, 0, e);
                meta::commit(s, &mut buf);
                drop(buf);
                if st.idx == 0 {
                    self.fix_keys(s, &path, li, first)?;
                }
                return Ok(());
            }
            if st.loc == Loc::Root {
                // Grow: the root's entries move to a new block, and the root
                // becomes one level higher with that block as its only child.
                if path.depth >= MAX_LEVELS {
                    return Err(Error::TooBig);
                }
                let (nb, mut cbuf) = self.new_node(s, a, &path, self.ino)?;
                let first;
                {
                    let rb = buf.get_mut(base..).unwrap_or(&mut []);
                    first = key_at(rb, 0, e);
                    let bytes = NODE_HDR + n * e;
                    if let (Some(src), Some(dst)) = (rb.get(..bytes), cbuf.get_mut(HDR_SIZE..HDR_SIZE + bytes)) {
                        dst.copy_from_slice(src);
                    }
                    rb.fill(0);
                    set_hdr(rb, level + 1, 1);
                    le::put_u64(rb, NODE_HDR, first);
                    le::put_u64(rb, NODE_HDR + 8, nb);
                }
                meta::commit(s, &mut cbuf);
                meta::commit(s, &mut buf);
                drop(cbuf);
                drop(buf);
                // The new child takes the root's place in the path.
                let d = path.depth;
                path.steps.copy_within(li..d, li + 1);
                path.steps[li] = Step { loc: Loc::Root, idx: 0 };
                path.steps[li + 1].loc = Loc::Blk(nb);
                path.depth += 1;
                li += 1;
                continue;
            }
            // Split a full block node: the upper half moves to a new right
            // sibling, whose first key then goes into the parent.
            let (nb, mut rbuf) = self.new_node(s, a, &path, self.blkno(st.loc))?;
            let left_n = (n + 1) / 2;
            let right_n = n - left_n;
            {
                let lb = buf.get_mut(base..).unwrap_or(&mut []);
                let rb = rbuf.get_mut(HDR_SIZE..).unwrap_or(&mut []);
                let from = NODE_HDR + left_n * e;
                let to = NODE_HDR + n * e;
                if let (Some(src), Some(dst)) = (lb.get(from..to), rb.get_mut(NODE_HDR..NODE_HDR + right_n * e)) {
                    dst.copy_from_slice(src);
                }
                if let Some(t) = lb.get_mut(from..to) {
                    t.fill(0);
                }
                set_hdr(lb, level, left_n);
                set_hdr(rb, level, right_n);
                if st.idx <= left_n {
                    ins_ent(lb, left_n, st.idx, e, ent.get(..ent_len).unwrap_or(&[]));
                    set_hdr(lb, level, left_n + 1);
                } else {
                    ins_ent(rb, right_n, st.idx - left_n, e, ent.get(..ent_len).unwrap_or(&[]));
                    set_hdr(rb, level, right_n + 1);
                }
            }
            let lfirst = key_at(buf.get(base..).unwrap_or(&[]), 0, e);
            let rfirst = key_at(rbuf.get(HDR_SIZE..).unwrap_or(&[]), 0, e);
            meta::commit(s, &mut rbuf);
            meta::commit(s, &mut buf);
            drop(rbuf);
            drop(buf);
            if st.idx == 0 {
                self.fix_keys(s, &path, li, lfirst)?;
            }
            // Insert (rfirst, nb) into the parent after this node.
            li -= 1;
            level += 1;
            path.steps[li].idx += 1;
            le::put_u64(&mut ent, 0, rfirst);
            le::put_u64(&mut ent, 8, nb);
            ent_len = 16;
        }
    }

    /// Removes a key; [`Error::NotFound`] if absent. Returns the old value in
    /// `out`.
    pub fn delete<S: Store>(&mut self, s: &S, a: &mut Alloc, key: u64, out: &mut [u8]) -> Result<(), Error> {
        let mut path = self.descend(s, key)?;
        let mut li = path.depth - 1;
        let mut level: u16 = 0;
        let path_idx;
        {
            let leaf = path.steps[li];
            let buf = self.open(s, leaf.loc, Some(0), None)?;
            let b = buf.get(self.base(leaf.loc)..).unwrap_or(&[]);
            let e = esz(self.desc, 0);
            match find_le(b, nrecs_of(b), e, key) {
                Some(i) if key_at(b, i, e) == key => {
                    path_idx = i;
                    let r = ent_range(i, e);
                    if let (Some(v), Some(o)) = (b.get(r.start + 8..r.end), out.get_mut(..self.desc.val_size)) {
                        o.copy_from_slice(v);
                    }
                }
                _ => return Err(Error::NotFound),
            }
        }
        path.steps[li].idx = path_idx;
        loop {
            let st = path.steps[li];
            let e = esz(self.desc, level);
            let mut buf = self.open(s, st.loc, Some(level), None)?;
            let base = self.base(st.loc);
            let b = buf.get_mut(base..).unwrap_or(&mut []);
            let n = nrecs_of(b);
            del_ent(b, n, st.idx, e);
            let n = n - 1;
            set_hdr(b, if n == 0 && st.loc == Loc::Root { 0 } else { level }, n);
            let first = if n > 0 { Some(key_at(b, 0, e)) } else { None };
            if n == 0 && st.loc != Loc::Root {
                drop(buf);
                a.free_meta(s, self.blkno(st.loc))?;
                self.nodes_delta -= 1;
                li -= 1;
                level += 1;
                continue;
            }
            meta::commit(s, &mut buf);
            drop(buf);
            if st.idx == 0 {
                if let Some(f) = first {
                    self.fix_keys(s, &path, li, f)?;
                }
            }
            break;
        }
        self.collapse_root(s, a)
    }

    /// While the root has a single child that fits in it, pulls the child up.
    fn collapse_root<S: Store>(&mut self, s: &S, a: &mut Alloc) -> Result<(), Error> {
        loop {
            let mut rbuf = self.open(s, Loc::Root, None, None)?;
            let base = self.fork_off;
            let rb = rbuf.get_mut(base..).unwrap_or(&mut []);
            let level = level_of(rb);
            if level == 0 || nrecs_of(rb) != 1 {
                return Ok(());
            }
            let child = child_at(rb, 0, 16);
            let cbuf = self.open(s, Loc::Blk(child), Some(level - 1), None)?;
            let cb = cbuf.get(HDR_SIZE..).unwrap_or(&[]);
            let ce = esz(self.desc, level - 1);
            let cn = nrecs_of(cb);
            if cn > cap(rb.len(), ce) {
                return Ok(());
            }
            let bytes = NODE_HDR + cn * ce;
            rb.fill(0);
            if let (Some(src), Some(dst)) = (cb.get(..bytes), rb.get_mut(..bytes)) {
                dst.copy_from_slice(src);
            }
            drop(cbuf);
            meta::commit(s, &mut rbuf);
            drop(rbuf);
            a.free_meta(s, child)?;
            self.nodes_delta -= 1;
        }
    }

    /// Visits every node (block number, or `None` for the root; level) and
    /// every leaf entry in key order, checking the tree's structure on the
    /// way: levels, first keys, global key order. For fsck and for freeing.
    pub fn walk<S: Store>(
        &self,
        s: &S,
        node: &mut dyn FnMut(Option<u64>, u16) -> Result<(), Error>,
        rec: &mut dyn FnMut(u64, &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut last: Option<u64> = None;
        self.walk_node(s, Loc::Root, None, None, node, rec, &mut last)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_node<S: Store>(
        &self,
        s: &S,
        loc: Loc,
        want: Option<u16>,
        want_min: Option<u64>,
        node: &mut dyn FnMut(Option<u64>, u16) -> Result<(), Error>,
        rec: &mut dyn FnMut(u64, &[u8]) -> Result<(), Error>,
        last: &mut Option<u64>,
    ) -> Result<(), Error> {
        let (level, n) = {
            let buf = self.open(s, loc, want, want_min)?;
            let b = buf.get(self.base(loc)..).unwrap_or(&[]);
            let level = level_of(b);
            let e = esz(self.desc, level);
            let n = nrecs_of(b);
            node(if let Loc::Blk(b) = loc { Some(b) } else { None }, level)?;
            if level == 0 {
                for i in 0..n {
                    let k = key_at(b, i, e);
                    if last.is_some_and(|l| l >= k) {
                        return Err(self.corrupt(self.blkno(loc), "keys out of order across nodes"));
                    }
                    *last = Some(k);
                    let r = ent_range(i, e);
                    rec(k, b.get(r.start + 8..r.end).unwrap_or(&[]))?;
                }
                return Ok(());
            }
            (level, n)
        };
        for i in 0..n {
            // Re-read the parent for each child: handles are not held across
            // the recursion, so the depth of held handles stays at one.
            let (ck, c) = {
                let buf = self.open(s, loc, Some(level), None)?;
                let b = buf.get(self.base(loc)..).unwrap_or(&[]);
                (key_at(b, i, 16), child_at(b, i, 16))
            };
            self.walk_node(s, Loc::Blk(c), Some(level - 1), Some(ck), node, rec, last)?;
        }
        Ok(())
    }

    /// Frees every node block and empties the root. Leaf entries are handed
    /// to `rec` first (to free the blocks an extent map points at).
    pub fn destroy<S: Store>(
        &mut self,
        s: &S,
        a: &mut Alloc,
        rec: &mut dyn FnMut(&mut Alloc, u64, &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        // Check the whole tree before changing anything.
        self.walk(s, &mut |_, _| Ok(()), &mut |_, _| Ok(()))?;
        let mut first_err = Ok(());
        self.walk(s, &mut |_, _| Ok(()), &mut |k, v| {
            if first_err.is_ok() {
                first_err = rec(a, k, v);
            }
            Ok(())
        })?;
        first_err?;
        let (level, n) = {
            let buf = self.open(s, Loc::Root, None, None)?;
            let b = buf.get(self.fork_off..).unwrap_or(&[]);
            (level_of(b), nrecs_of(b))
        };
        if level > 0 {
            for i in 0..n {
                let c = {
                    let buf = self.open(s, Loc::Root, None, None)?;
                    child_at(buf.get(self.fork_off..).unwrap_or(&[]), i, 16)
                };
                self.free_subtree(s, a, c, level - 1)?;
            }
        }
        let mut rbuf = self.open(s, Loc::Root, None, None)?;
        if let Some(rb) = rbuf.get_mut(self.fork_off..) {
            rb.fill(0);
        }
        meta::commit(s, &mut rbuf);
        Ok(())
    }

    /// Frees a (verified) subtree's blocks, children first. Only bitmap
    /// blocks change, so the subtree can still be read while it is freed.
    fn free_subtree<S: Store>(&mut self, s: &S, a: &mut Alloc, blk: u64, level: u16) -> Result<(), Error> {
        if level > 0 {
            let n = {
                let buf = self.open(s, Loc::Blk(blk), Some(level), None)?;
                nrecs_of(buf.get(HDR_SIZE..).unwrap_or(&[]))
            };
            for i in 0..n {
                let c = {
                    let buf = self.open(s, Loc::Blk(blk), Some(level), None)?;
                    child_at(buf.get(HDR_SIZE..).unwrap_or(&[]), i, 16)
                };
                self.free_subtree(s, a, c, level - 1)?;
            }
        }
        a.free_meta(s, blk)?;
        self.nodes_delta -= 1;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;
