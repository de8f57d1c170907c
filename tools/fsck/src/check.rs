// SPDX-License-Identifier: GPL-2.0

//! The checker: every structure reachable from the superblock, each block's
//! owner, and the free-space bitmap and summary against what is owned.
//!
//! Phases, in order:
//!
//! 1. the rest of block 0, the summary and bitmap blocks' headers;
//! 2. the namespace from the root: every inode, its extent or directory
//!    tree, each directory entry (name, hash, type), parents;
//! 3. the orphan list;
//! 4. with reflink, the refcount inode and its tree (shared records, CoW
//!    staging records);
//! 5. the xattr blocks of the inodes found, once everything else has
//!    claimed its blocks (a pointer that does not lead to a valid xattr
//!    block of its inode is cleared by repair; the block, if nothing else
//!    owns it, is then a leaked block);
//! 6. blocks marked in use that nothing owns (leaked blocks and inodes,
//!    and the xattr blocks of those inodes);
//! 7. link counts and block counts; shared data blocks against the
//!    refcount tree, each block's mappings counted exactly;
//! 8. the bitmap against the owners, the summary against the bitmap, the
//!    superblock's counters.
//!
//! Every block gets at most one owner in an owner map over the whole device;
//! a second claim is a cross-linked block, except a data block mapped again
//! by a data fork on a reflink filesystem: those are counted (`data_refs`)
//! and must match the refcount tree. The walk is *complete* when every
//! structure that owns blocks could be read in full: only then is the set of
//! owned blocks known exactly, and only then does repair free anything
//! (leaked blocks, unreferenced unlinked inodes) or rewrite a counter that
//! depends on the whole tree. Repairs that only mark blocks in use, or that
//! recompute a summary from a valid bitmap, are safe either way.

use crate::image::evict;
use librxfs::alloc::Geometry;
use librxfs::btree::{Desc, Tree, MAX_LEVELS, NODE_HDR};
use librxfs::dir;
use librxfs::extmap;
use librxfs::format::{Superblock, SB_SIZE};
use librxfs::refcount;
use librxfs::inode::{self, mode, Fork, Inode, FORK_OFF};
use librxfs::meta::{self, mem::MemStore, Store, HDR_SIZE};
use librxfs::xattr;
use librxfs::Error;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Owner of the fixed metadata blocks (superblock, summary, bitmaps).
const FS: u64 = u64::MAX;
/// Owner of the journal's region.
const LOG: u64 = u64::MAX - 1;

/// How a problem is repaired, if it can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fix {
    /// It cannot be.
    None,
    /// By a rewrite that is always safe.
    Always,
    /// By rewriting group `g`'s bitmap block (needs its contents known).
    Bitmap(u64),
    /// By freeing blocks: needs a complete walk.
    Free,
    /// By rewriting group `g`'s summary count.
    Summary(u64),
    /// By rebuilding summary block `i` (all its groups known).
    SummaryBlock(u64),
    /// By rewriting the superblock's free block count.
    SbFree,
    /// By rewriting the superblock's inode count.
    SbInodes,
    /// By setting an inode's link count (needs a complete walk).
    Nlink(u64, u32),
    /// By setting an inode's block count (its trees were read in full).
    Nblocks(u64, u64),
    /// By rebuilding the refcount tree from the data forks, freeing CoW
    /// staging leftovers (needs a complete walk).
    Refcounts,
    /// By clearing inode `ino`'s xattr block pointer (always safe: the
    /// block is not a valid xattr block of it, or the filesystem cannot
    /// have one). The block was not claimed for the inode: if nothing
    /// else owns it, it is a leaked block, freed as those are.
    Xattr(u64),
}

/// One problem found.
#[derive(Clone, Debug)]
pub struct Problem {
    /// What is wrong, naming the structure and block.
    pub msg: String,
    /// How it would be repaired.
    pub fix: Fix,
    /// Whether it was repaired.
    pub fixed: bool,
    /// What a crash leaves and the next mount recovers (a log to replay,
    /// CoW staging to free): not damage. `-n` notes it and does not
    /// count it; `-y` repairs it as the mount would.
    pub recovers: bool,
}

/// What the check counted.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Directories reachable from the root.
    pub dirs: u64,
    /// Regular files reachable from the root.
    pub files: u64,
    /// Symbolic links reachable from the root.
    pub symlinks: u64,
    /// Device nodes, fifos and sockets reachable from the root.
    pub special: u64,
    /// Inodes on the orphan list only.
    pub orphans: u64,
    /// Unreachable inodes found among the leaked blocks.
    pub leaked_inodes: u64,
    /// Data blocks (extents) of all inodes.
    pub data_blocks: u64,
    /// Extent and directory tree node blocks.
    pub node_blocks: u64,
    /// Extended attribute blocks.
    pub xattr_blocks: u64,
    /// Inodes found (the superblock's `inode_count` should be this).
    pub inodes: u64,
    /// Blocks marked free in the bitmap (after repair, if any).
    pub free_blocks: Option<u64>,
}

/// The outcome of a check.
#[derive(Debug)]
pub struct Report {
    /// Problems, in the order found.
    pub problems: Vec<Problem>,
    /// Counts.
    pub stats: Stats,
    /// Whether every structure was read in full.
    pub complete: bool,
}

#[derive(Default)]
struct InoInfo {
    inode: Option<Inode>,
    path: Option<String>,
    /// Directory entries naming this inode.
    refs: u32,
    /// Subdirectories (directories only).
    subdirs: u32,
    reachable: bool,
    orphan: bool,
    leaked: bool,
    /// The inode's tree was read in full; `found_blocks` is exact.
    walked: bool,
    found_blocks: u64,
}

/// Leaf records of a tree: key and value bytes.
type Recs = Vec<(u64, Vec<u8>)>;

struct DirEnt {
    ino: u64,
    dtype: u8,
    name: Vec<u8>,
}

/// A check in progress.
pub struct Checker<'a> {
    s: &'a MemStore,
    sb: Superblock,
    geo: Geometry,
    fsid: u64,
    owner: Vec<u64>,
    multi: HashSet<u64>,
    /// Each group's bitmap block, if its header verified.
    bitmaps: Vec<Option<Vec<u8>>>,
    /// Each summary block, if its header verified.
    summaries: Vec<Option<Vec<u8>>>,
    inodes: BTreeMap<u64, InoInfo>,
    /// Unlinked inodes on no list: freed by repair.
    to_free: BTreeSet<u64>,
    complete: bool,
    orphan_walk_ok: bool,
    problems: Vec<Problem>,
    stats: Stats,
    /// Blocks claimed as file data (a bitset over the device).
    data: Vec<u64>,
    /// Data blocks mapped more than once (reflink), and how often.
    data_refs: HashMap<u64, u32>,
    /// The refcount tree's shared records, if it was read.
    shared: Option<Vec<refcount::Rec>>,
    /// Xattr block pointers (inode, block) not yet checked: they are
    /// checked once every other structure found has claimed its blocks
    /// ([`Self::xattr_blocks`]), so that a pointer to another structure's
    /// block is known as such whichever is found first.
    xattrs: Vec<(u64, u64)>,
}

fn bit(b: &[u8], i: u64) -> bool {
    b.get(HDR_SIZE + (i / 8) as usize)
        .is_some_and(|x| x & (1 << (i % 8)) != 0)
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

fn range(start: u64, len: u64) -> String {
    if len == 1 {
        format!("block {start}")
    } else {
        format!("blocks {start}-{}", start + len - 1)
    }
}

fn owner_name(o: u64) -> String {
    if o == FS {
        "the fixed metadata".into()
    } else if o == LOG {
        "the log".into()
    } else {
        format!("inode {o}")
    }
}

/// An error from librxfs about inode `ino`'s block or trees, without the
/// redundant "corrupt inode in block N" when the inode is the subject.
fn describe(e: &Error, ino: u64) -> String {
    match *e {
        Error::Corrupt {
            what: "inode",
            blkno,
            why,
        } if blkno == ino => why.to_string(),
        Error::Corrupt { what, blkno, why } if blkno == ino => format!("{what}: {why}"),
        Error::Corrupt { what, blkno, why } => format!("{what} block {blkno}: {why}"),
        ref other => other.to_string(),
    }
}

/// Just what is wrong, for a block whose name the caller gives.
fn why(e: &Error) -> String {
    match *e {
        Error::Corrupt { why, .. } => why.to_string(),
        ref other => other.to_string(),
    }
}

fn dtype_of(m: u32) -> u8 {
    ((m & mode::S_IFMT) >> 12) as u8
}

fn join(dir: &str, name: &[u8]) -> String {
    let n = String::from_utf8_lossy(name);
    if dir.ends_with('/') {
        format!("{dir}{n}")
    } else {
        format!("{dir}/{n}")
    }
}

impl<'a> Checker<'a> {
    /// A checker over an opened filesystem.
    pub fn new(s: &'a MemStore, sb: &Superblock) -> Self {
        let geo = sb.geometry();
        Checker {
            s,
            sb: sb.clone(),
            geo,
            fsid: sb.fsid(),
            owner: vec![0; sb.block_count as usize],
            multi: HashSet::new(),
            bitmaps: vec![None; geo.groups as usize],
            summaries: vec![None; geo.summary_blocks as usize],
            inodes: BTreeMap::new(),
            to_free: BTreeSet::new(),
            complete: true,
            orphan_walk_ok: true,
            problems: Vec::new(),
            stats: Stats::default(),
            data: vec![0; (sb.block_count as usize).div_ceil(64)],
            data_refs: HashMap::new(),
            shared: None,
            xattrs: Vec::new(),
        }
    }

    fn problem(&mut self, msg: String, fix: Fix) {
        self.problems.push(Problem {
            msg,
            fix,
            fixed: false,
            recovers: false,
        });
    }

    /// "inode N" and, if known, where it is.
    fn subject(&self, ino: u64) -> String {
        match self.inodes.get(&ino) {
            Some(InoInfo { path: Some(p), .. }) => format!("inode {ino} ({p})"),
            Some(InoInfo {
                orphan: true,
                reachable: false,
                ..
            }) => format!("inode {ino} (orphan)"),
            _ => format!("inode {ino}"),
        }
    }

    fn ino_problem(&mut self, ino: u64, what: String, fix: Fix) {
        let msg = format!("{}: {what}", self.subject(ino));
        self.problem(msg, fix);
    }

    /// As [`Self::ino_problem`], for what a crash leaves and the next
    /// mount recovers ([`Problem::recovers`]).
    fn ino_recovers(&mut self, ino: u64, what: String, fix: Fix) {
        self.ino_problem(ino, what, fix);
        if let Some(p) = self.problems.last_mut() {
            p.recovers = true;
        }
    }

    /// Runs every check.
    pub fn run(mut self) -> (Report, Repair) {
        self.check_block0();
        self.load_allocator();
        for b in 0..self.sb.meta_blocks.min(self.owner.len() as u64) {
            self.owner[b as usize] = FS;
        }
        if self.sb.has_log() {
            // Inside the filesystem: the superblock's decoder checked it.
            for b in self.sb.log_start..self.sb.log_start + self.sb.log_blocks {
                if let Some(o) = self.owner.get_mut(b as usize) {
                    *o = LOG;
                }
            }
        }
        self.namespace();
        self.orphans();
        self.refcount_tree();
        self.xattr_blocks();
        self.leaks();
        self.counts();
        self.shared_data();
        self.free_space();
        let inodes = self
            .inodes
            .values()
            .filter(|i| i.inode.is_some() || i.reachable)
            .count() as u64;
        self.stats.inodes = inodes;
        if self.complete && self.sb.inode_count != inodes {
            let msg = format!(
                "superblock: inode count {}, found {inodes}",
                self.sb.inode_count
            );
            self.problem(msg, Fix::SbInodes);
        }
        let report = Report {
            problems: self.problems,
            stats: self.stats,
            complete: self.complete,
        };
        let repair = Repair {
            sb: self.sb,
            geo: self.geo,
            fsid: self.fsid,
            owner: self.owner,
            multi: self.multi,
            bitmaps: self.bitmaps,
            summaries: self.summaries,
            to_free: self.to_free,
            inodes,
            complete: self.complete,
            data_refs: self.data_refs,
        };
        (report, repair)
    }

    fn check_block0(&mut self) {
        match self.s.read(0) {
            Ok(b) => {
                if b.get(SB_SIZE..).is_some_and(|t| t.iter().any(|&x| x != 0)) {
                    drop(b);
                    self.problem(
                        "superblock: block 0 past the superblock is not zero".into(),
                        Fix::Always,
                    );
                }
            }
            Err(e) => self.problem(format!("superblock: {e}"), Fix::None),
        }
    }

    fn load_allocator(&mut self) {
        let g = self.geo;
        for i in 0..g.summary_blocks {
            let blk = g.summary_start + i;
            match self.s.read(blk) {
                Ok(b) => match meta::verify(&b, "", meta::MAGIC_SUMMARY, blk, Some(i), self.fsid) {
                    Ok(()) => self.summaries[i as usize] = Some(b.to_vec()),
                    Err(e) => {
                        drop(b);
                        let msg = format!("free-space summary block {blk}: {}", why(&e));
                        self.problem(msg, Fix::SummaryBlock(i));
                    }
                },
                Err(e) => self.problem(
                    format!("free-space summary block {blk}: {e}"),
                    Fix::SummaryBlock(i),
                ),
            }
        }
        for grp in 0..g.groups {
            let blk = g.bitmap_start + grp;
            match self.s.read(blk) {
                Ok(b) => {
                    match meta::verify(&b, "", meta::MAGIC_BITMAP, blk, Some(grp), self.fsid) {
                        Ok(()) => self.bitmaps[grp as usize] = Some(b.to_vec()),
                        Err(e) => {
                            drop(b);
                            let msg =
                                format!("free-space bitmap block {blk} (group {grp}): {}", why(&e));
                            self.problem(msg, Fix::Bitmap(grp));
                        }
                    }
                }
                Err(e) => self.problem(
                    format!("free-space bitmap block {blk} (group {grp}): {e}"),
                    Fix::Bitmap(grp),
                ),
            }
            evict(self.s, blk);
        }
    }

    /// Claims `start..start+len` for `owner`; reports blocks someone else
    /// already has. The range must lie inside the filesystem.
    fn claim(&mut self, start: u64, len: u64, owner: u64, what: &str) {
        let mut runs: Vec<(u64, u64, u64)> = Vec::new();
        for b in start..start + len {
            let Some(o) = self.owner.get_mut(b as usize) else {
                continue;
            };
            if *o == 0 {
                *o = owner;
                continue;
            }
            let other = *o;
            self.multi.insert(b);
            match runs.last_mut() {
                Some((s, l, oo)) if *s + *l == b && *oo == other => *l += 1,
                _ => runs.push((b, 1, other)),
            }
        }
        for (s, l, other) in runs {
            let msg = format!(
                "{} ({what}) already owned by {}",
                range(s, l),
                owner_name(other)
            );
            self.ino_problem(owner, msg, Fix::None);
        }
    }

    fn is_data(&self, b: u64) -> bool {
        self.data.get((b / 64) as usize).is_some_and(|w| w & (1 << (b % 64)) != 0)
    }

    /// Claims file data blocks. On a reflink filesystem a block another
    /// data fork already maps is shared, not cross-linked: it is counted,
    /// and checked against the refcount tree at the end.
    fn claim_data(&mut self, start: u64, len: u64, ino: u64) {
        let reflink = self.sb.has_reflink();
        let mut rest = Vec::new();
        for b in start..start + len {
            if reflink && self.is_data(b) {
                let n = self.data_refs.entry(b).or_insert(1);
                *n = n.saturating_add(1);
                continue;
            }
            if self.owner.get(b as usize) == Some(&0) {
                if let Some(w) = self.data.get_mut((b / 64) as usize) {
                    *w |= 1 << (b % 64);
                }
            }
            match rest.last_mut() {
                Some((s, l)) if *s + *l == b => *l += 1,
                _ => rest.push((b, 1)),
            }
        }
        for (s, l) in rest {
            self.claim(s, l, ino, "data");
        }
    }

    /// The refcount inode (reflink): a regular file in no directory, whose
    /// fork roots the refcount tree. Claims the inode, its tree nodes and
    /// the CoW staging blocks (leftovers of a crash, which mount frees), and
    /// keeps the shared records for [`Self::shared_data`].
    fn refcount_tree(&mut self) {
        if !self.sb.has_reflink() {
            return;
        }
        let ino = self.sb.refcount_ino;
        let bc = self.sb.block_count;
        if self.inodes.contains_key(&ino) {
            self.ino_problem(ino, "the refcount inode is named in a directory or the orphan list".into(), Fix::None);
            self.complete = false;
            return;
        }
        self.inodes.insert(
            ino,
            InoInfo {
                reachable: true,
                refs: 1,
                path: Some("refcount inode".into()),
                ..Default::default()
            },
        );
        let i = match inode::read(self.s, ino) {
            Ok(i) => i,
            Err(e) => {
                self.ino_problem(ino, describe(&e, ino), Fix::None);
                self.complete = false;
                return;
            }
        };
        self.claim(ino, 1, ino, "inode");
        self.note_xattr(ino, &i);
        if i.ftype() != mode::S_IFREG || i.size != 0 {
            self.ino_problem(ino, "the refcount inode is not an empty regular file".into(), Fix::None);
        }
        if let Some(info) = self.inodes.get_mut(&ino) {
            info.inode = Some(i);
        }
        let (nodes, recs, mut ok) = self.read_tree(ino, &refcount::DESC, "refcount tree node");
        let mut shared: Vec<refcount::Rec> = Vec::new();
        let mut staged: Vec<refcount::Rec> = Vec::new();
        for (k, v) in recs {
            match refcount::decode_rec(ino, k, &v, bc) {
                Ok((r, true)) => staged.push(r),
                Ok((r, false)) => shared.push(r),
                Err(e) => {
                    self.ino_problem(ino, format!("record at key {k:#x}: {}", describe(&e, ino)), Fix::None);
                    ok = false;
                }
            }
        }
        for w in shared.windows(2) {
            if w[0].end() > w[1].pblk {
                self.ino_problem(ino, format!("shared records at {} and {} overlap", w[0].pblk, w[1].pblk), Fix::Refcounts);
            } else if w[0].end() == w[1].pblk && w[0].count == w[1].count && w[0].len + w[1].len <= refcount::MAX_LEN {
                self.ino_problem(ino, format!("shared records at {} and {} have the same count and are not merged", w[0].pblk, w[1].pblk), Fix::Refcounts);
            }
        }
        for w in staged.windows(2) {
            if w[0].end() > w[1].pblk {
                self.ino_problem(ino, format!("CoW staging records at {} and {} overlap", w[0].pblk, w[1].pblk), Fix::Refcounts);
            }
        }
        if !staged.is_empty() {
            // CoW writes in flight at a crash: the mount frees them, as
            // XFS's xfs_reflink_recover_cow does.
            let n: u64 = staged.iter().map(|r| r.len).sum();
            self.ino_recovers(ino, format!("{n} blocks of CoW staging left over from a crash"), Fix::Refcounts);
        }
        for r in &staged {
            self.claim(r.pblk, r.len, ino, "CoW staging");
        }
        if let Some(info) = self.inodes.get_mut(&ino) {
            info.walked = ok;
            info.found_blocks = nodes.len() as u64;
        }
        if ok {
            self.shared = Some(shared);
        } else {
            self.complete = false;
        }
        evict(self.s, ino);
    }

    /// Notes inode `ino`'s xattr block, if it has one, for
    /// [`Self::xattr_blocks`]; on a filesystem without the feature, the
    /// pointer itself is wrong.
    fn note_xattr(&mut self, ino: u64, i: &Inode) {
        if i.xattr == 0 {
            return;
        }
        if !self.sb.has_xattr() {
            let msg = format!(
                "xattr block {}: set, but the filesystem does not have extended attributes",
                i.xattr
            );
            self.ino_problem(ino, msg, Fix::Xattr(ino));
            return;
        }
        self.xattrs.push((ino, i.xattr));
    }

    /// Checks the xattr blocks noted so far. Those that verify as their
    /// inode's xattr block are claimed first (a block someone else also
    /// claims is cross-linked, as any other); then each pointer to a block
    /// that does not is reported, with the block's owner if it has one.
    /// Such a block is not claimed: the pointer is what is wrong, and a
    /// repair clears it; the block stays with its other owner, if any, or
    /// is a leaked block.
    fn xattr_blocks(&mut self) {
        let fsid = self.fsid;
        let mut bad = Vec::new();
        for (ino, b) in std::mem::take(&mut self.xattrs) {
            // The inode's decoder checked b < block_count and b != ino.
            let r = match self.s.read(b) {
                Ok(buf) => xattr::verify(&buf, b, ino, fsid),
                Err(e) => {
                    // Unreadable: what it holds is not known, so neither
                    // is the pointer wrong; the block stays the inode's.
                    self.ino_problem(ino, format!("xattr block {b}: {e}"), Fix::None);
                    if self.owner[b as usize] == 0 {
                        self.owner[b as usize] = ino;
                    }
                    continue;
                }
            };
            if r.is_ok() && !self.sb.has_acl() {
                if let Ok(buf) = self.s.read(b) {
                    if xattr::entries(&buf).any(|e| e.ns == xattr::NS_SYSTEM) {
                        let msg = format!("xattr block {b}: holds POSIX ACLs, but the filesystem does not have the acl feature");
                        self.ino_problem(ino, msg, Fix::None);
                    }
                }
            }
            evict(self.s, b);
            match r {
                Ok(()) => {
                    self.stats.xattr_blocks += 1;
                    self.claim(b, 1, ino, "xattr block");
                }
                Err(e) => bad.push((ino, b, why(&e))),
            }
        }
        for (ino, b, why) in bad {
            let msg = match self.owner[b as usize] {
                0 => format!("xattr block {b}: {why}"),
                o => format!("xattr block {b}: {why}; already owned by {}", owner_name(o)),
            };
            self.ino_problem(ino, msg, Fix::Xattr(ino));
        }
    }

    /// Every data block's mappings against the refcount tree: a block in a
    /// shared record is mapped exactly its count times, every other data
    /// block once.
    fn shared_data(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let mut in_rec = HashSet::new();
        let mut bad: Vec<(u64, u64, u32, u32)> = Vec::new();
        let mut note = |b: u64, want: u32, got: u32| match bad.last_mut() {
            Some((s, l, w, g)) if *s + *l == b && *w == want && *g == got => *l += 1,
            _ => bad.push((b, 1, want, got)),
        };
        for r in &shared {
            for b in r.pblk..r.end() {
                in_rec.insert(b);
                let got = match self.data_refs.get(&b) {
                    Some(&n) => n,
                    None if self.is_data(b) => 1,
                    None => 0,
                };
                // A pinned count (refcount::MAX_COUNT) stays whatever the
                // mappings that remain.
                let pinned = r.count == refcount::MAX_COUNT && got >= 1;
                if got != r.count && !pinned {
                    note(b, r.count, got);
                }
            }
        }
        let mut extra: Vec<u64> = self.data_refs.keys().copied().filter(|b| !in_rec.contains(b)).collect();
        extra.sort_unstable();
        for b in extra {
            note(b, 1, self.data_refs[&b]);
        }
        if !self.complete {
            return;
        }
        for (s, l, want, got) in bad {
            let msg = format!("{}: refcount tree says {want} mapping(s), data forks map it {got} time(s)", range(s, l));
            self.problem(msg, Fix::Refcounts);
        }
    }

    /// Reads inode `ino` and everything it owns. Returns the entries of a
    /// directory.
    fn visit(&mut self, ino: u64) -> Option<Vec<DirEnt>> {
        let r = inode::read(self.s, ino);
        let i = match r {
            Ok(i) => i,
            Err(e) => {
                self.ino_problem(ino, describe(&e, ino), Fix::None);
                self.complete = false;
                // Whatever it is, the block is taken by the entry naming it.
                if ino >= self.sb.meta_blocks
                    && ino < self.sb.block_count
                    && self.owner[ino as usize] == 0
                {
                    self.owner[ino as usize] = ino;
                }
                evict(self.s, ino);
                return None;
            }
        };
        self.claim(ino, 1, ino, "inode");
        self.note_xattr(ino, &i);
        if let Some(info) = self.inodes.get_mut(&ino) {
            info.inode = Some(i.clone());
        }
        let mut entries = None;
        let mut found = 0u64;
        let mut walked = true;
        match i.fork() {
            Fork::Tree if i.ftype() == mode::S_IFDIR => {
                let (ents, nodes, ok) = self.walk_dir(ino);
                found = nodes;
                walked = ok;
                entries = Some(ents);
            }
            Fork::Tree => {
                let (n, ok) = self.walk_extents(ino);
                found = n;
                walked = ok;
            }
            Fork::Inline => {
                if let Ok(b) = self.s.read(ino) {
                    let nul = inode::inline_data(&b, &i).contains(&0);
                    drop(b);
                    if nul {
                        self.ino_problem(
                            ino,
                            "symlink target contains a NUL byte".into(),
                            Fix::None,
                        );
                    }
                }
            }
            Fork::None => {}
        }
        evict(self.s, ino);
        if let Some(info) = self.inodes.get_mut(&ino) {
            info.walked = walked;
            info.found_blocks = found;
        }
        entries
    }

    /// Reads a whole tree of inode `ino` and claims its node blocks. On
    /// damage, reports it and salvages what can be read. Returns (node
    /// blocks, leaf records, read in full).
    fn read_tree(&mut self, ino: u64, desc: &'static Desc, what: &str) -> (Vec<u64>, Recs, bool) {
        let s = self.s;
        let t = Tree::new(desc, ino, FORK_OFF);
        let mut nodes = Vec::new();
        let mut recs: Recs = Vec::new();
        let r = t.walk(
            s,
            &mut |b, _| {
                if let Some(b) = b {
                    nodes.push(b);
                }
                Ok(())
            },
            &mut |k, v| {
                recs.push((k, v.to_vec()));
                Ok(())
            },
        );
        let ok = match r {
            Ok(()) => true,
            Err(e) => {
                self.ino_problem(ino, describe(&e, ino), Fix::None);
                let seen = match e {
                    Error::Corrupt { blkno, .. } if blkno != ino => Some(blkno),
                    _ => None,
                };
                let (n, r) = self.salvage(ino, desc, seen);
                nodes = n;
                recs = r;
                false
            }
        };
        for &n in &nodes {
            self.claim(n, 1, ino, what);
            evict(s, n);
        }
        self.stats.node_blocks += nodes.len() as u64;
        (nodes, recs, ok)
    }

    /// Reads what can be read of a damaged tree: every node whose header and
    /// layout verify, skipping only the subtrees under one that does not
    /// (the levels strictly decrease, so this ends). Reports each bad node
    /// but `seen`, already reported; a bad node's block is still taken by
    /// the tree that points at it.
    fn salvage(&mut self, ino: u64, desc: &'static Desc, seen: Option<u64>) -> (Vec<u64>, Recs) {
        let s = self.s;
        let bc = self.sb.block_count;
        let mut nodes = Vec::new();
        let mut recs = Vec::new();
        let mut bad: Vec<(u64, &'static str)> = Vec::new();
        // (block or None for the root, level it must have)
        let mut stack: Vec<(Option<u64>, Option<u16>)> = vec![(None, None)];
        while let Some((loc, want)) = stack.pop() {
            let blk = loc.unwrap_or(ino);
            let Ok(buf) = s.read(blk) else {
                bad.push((blk, "cannot read"));
                continue;
            };
            if let Some(b) = loc {
                if let Err(e) = meta::verify(&buf, desc.what, desc.magic, b, Some(ino), self.fsid) {
                    bad.push((
                        b,
                        match e {
                            Error::Corrupt { why, .. } => why,
                            _ => "bad header",
                        },
                    ));
                    continue;
                }
                nodes.push(b);
            }
            let base = if loc.is_some() { HDR_SIZE } else { FORK_OFF };
            let body = buf.get(base..).unwrap_or(&[]);
            let level = librxfs::le::u16_at(body, 0).unwrap_or(u16::MAX);
            let n = librxfs::le::u16_at(body, 2).unwrap_or(0) as usize;
            let esz = 8 + if level == 0 { desc.val_size } else { 8 };
            if level as usize >= MAX_LEVELS || want.is_some_and(|w| w != level) {
                bad.push((blk, "bad node level"));
                continue;
            }
            if n > body.len().saturating_sub(NODE_HDR) / esz
                || (n == 0 && (loc.is_some() || level > 0))
            {
                bad.push((blk, "bad entry count"));
                continue;
            }
            for i in 0..n {
                let off = NODE_HDR + i * esz;
                let key = librxfs::le::u64_at(body, off).unwrap_or(0);
                if level == 0 {
                    recs.push((key, body.get(off + 8..off + esz).unwrap_or(&[]).to_vec()));
                    continue;
                }
                let c = librxfs::le::u64_at(body, off + 8).unwrap_or(0);
                if c == 0 || c >= bc || c == blk {
                    bad.push((blk, "child pointer out of range"));
                    continue;
                }
                stack.push((Some(c), Some(level - 1)));
            }
        }
        for (b, why) in bad {
            if b != ino && b >= self.sb.meta_blocks && b < bc && self.owner[b as usize] == 0 {
                self.owner[b as usize] = ino;
            }
            if Some(b) != seen && b != ino {
                self.ino_problem(ino, format!("{} block {b}: {why}", desc.what), Fix::None);
            }
        }
        recs.sort_by_key(|r| r.0);
        (nodes, recs)
    }

    /// Walks a file's extent map: claims node and data blocks, checks each
    /// extent. Returns (blocks owned, read in full).
    fn walk_extents(&mut self, ino: u64) -> (u64, bool) {
        let bc = self.sb.block_count;
        let (nodes, recs, mut ok) = self.read_tree(ino, &extmap::DESC, "extent tree node");
        let mut exts = Vec::with_capacity(recs.len());
        for (k, v) in recs {
            match extmap::decode_rec(ino, k, &v, bc) {
                Ok(e) => exts.push(e),
                Err(e) => {
                    self.ino_problem(
                        ino,
                        format!("extent at file block {k}: {}", describe(&e, ino)),
                        Fix::None,
                    );
                    ok = false;
                }
            }
        }
        exts.sort_by_key(|e| e.lblk);
        let meta = self.sb.meta_blocks;
        let mut prev_end = 0u64;
        let mut data = 0u64;
        for e in &exts {
            if e.lblk < prev_end {
                self.ino_problem(
                    ino,
                    format!("extent at file block {} overlaps the one before", e.lblk),
                    Fix::None,
                );
            }
            prev_end = prev_end.max(e.end());
            data += e.len;
            let mut start = e.pblk;
            if start < meta {
                let msg = format!(
                    "extent at file block {} maps {} inside the fixed metadata",
                    e.lblk,
                    range(e.pblk, e.len)
                );
                self.ino_problem(ino, msg, Fix::None);
                start = meta;
            }
            let end = e.pblk + e.len;
            if end > start {
                self.claim_data(start, end - start, ino);
            }
        }
        if !ok {
            self.complete = false;
        }
        self.stats.data_blocks += data;
        (data + nodes.len() as u64, ok)
    }

    /// Walks a directory's tree: claims its nodes, decodes and checks each
    /// entry. Returns (entries, node blocks, read in full).
    fn walk_dir(&mut self, d: u64) -> (Vec<DirEnt>, u64, bool) {
        let (nodes, recs, mut ok) = self.read_tree(d, &dir::DESC, "directory tree node");
        let seed = self.sb.hash_seed;
        let mut ents = Vec::with_capacity(recs.len());
        let mut names: HashSet<Vec<u8>> = HashSet::new();
        for (k, v) in recs {
            let e = match dir::decode(&v, d, self.sb.block_count) {
                Ok(e) => e,
                Err(e) => {
                    self.ino_problem(
                        d,
                        format!("entry with key 0x{k:x}: {}", describe(&e, d)),
                        Fix::None,
                    );
                    ok = false;
                    continue;
                }
            };
            let shown = String::from_utf8_lossy(e.name).into_owned();
            if k >> 32 != dir::hash(seed, e.name) {
                self.ino_problem(
                    d,
                    format!("entry '{shown}' is filed under the wrong hash (key 0x{k:x})"),
                    Fix::None,
                );
            }
            if k & 0xffff_ffff > dir::MAX_SEQ {
                self.ino_problem(
                    d,
                    format!("entry '{shown}' has a sequence number out of range (key 0x{k:x})"),
                    Fix::None,
                );
            }
            if !names.insert(e.name.to_vec()) {
                self.ino_problem(d, format!("entry '{shown}' appears twice"), Fix::None);
                continue;
            }
            ents.push(DirEnt {
                ino: e.ino,
                dtype: e.dtype,
                name: e.name.to_vec(),
            });
        }
        if !ok {
            self.complete = false;
        }
        (ents, nodes.len() as u64, ok)
    }

    fn count_type(&mut self, i: &Inode) {
        match i.ftype() {
            mode::S_IFDIR => self.stats.dirs += 1,
            mode::S_IFREG => self.stats.files += 1,
            mode::S_IFLNK => self.stats.symlinks += 1,
            _ => self.stats.special += 1,
        }
    }

    fn namespace(&mut self) {
        let root = self.sb.root_ino;
        self.inodes.insert(
            root,
            InoInfo {
                reachable: true,
                path: Some("/".into()),
                ..Default::default()
            },
        );
        let ents = self.visit(root);
        let Some(ri) = self.inodes.get(&root).and_then(|i| i.inode.clone()) else {
            return;
        };
        self.count_type(&ri);
        let Some(ents) = ents else {
            self.ino_problem(root, "the root inode is not a directory".into(), Fix::None);
            self.complete = false;
            return;
        };
        if ri.parent != root {
            self.ino_problem(
                root,
                format!("the root directory's parent is {}, not itself", ri.parent),
                Fix::None,
            );
        }
        let mut stack = vec![(root, ents)];
        while let Some((d, ents)) = stack.pop() {
            let dpath = self
                .inodes
                .get(&d)
                .and_then(|i| i.path.clone())
                .unwrap_or_default();
            for e in ents {
                let path = join(&dpath, &e.name);
                let shown = String::from_utf8_lossy(&e.name).into_owned();
                if let Some(info) = self.inodes.get_mut(&e.ino) {
                    let is_dir = info
                        .inode
                        .as_ref()
                        .is_some_and(|i| i.ftype() == mode::S_IFDIR);
                    if is_dir || e.ino == root {
                        let first = info.path.clone().unwrap_or_default();
                        let msg = format!("directory reachable twice: as {first} and as {path}");
                        self.ino_problem(e.ino, msg, Fix::None);
                        continue;
                    }
                    info.refs += 1;
                    let m = info.inode.as_ref().map(|i| i.mode);
                    if let Some(m) = m {
                        if dtype_of(m) != e.dtype {
                            let msg = format!(
                                "entry '{shown}' has type {}, inode {} has type {}",
                                e.dtype,
                                e.ino,
                                dtype_of(m)
                            );
                            self.ino_problem(d, msg, Fix::None);
                        }
                    }
                    continue;
                }
                self.inodes.insert(
                    e.ino,
                    InoInfo {
                        reachable: true,
                        refs: 1,
                        path: Some(path),
                        ..Default::default()
                    },
                );
                let sub = self.visit(e.ino);
                let Some(i) = self.inodes.get(&e.ino).and_then(|i| i.inode.clone()) else {
                    continue;
                };
                self.count_type(&i);
                if dtype_of(i.mode) != e.dtype {
                    let msg = format!(
                        "entry '{shown}' has type {}, inode {} has type {}",
                        e.dtype,
                        e.ino,
                        dtype_of(i.mode)
                    );
                    self.ino_problem(d, msg, Fix::None);
                }
                if let Some(sub) = sub {
                    if i.parent != d {
                        self.ino_problem(
                            e.ino,
                            format!("parent is {}, but the directory is in {d}", i.parent),
                            Fix::None,
                        );
                    }
                    if let Some(p) = self.inodes.get_mut(&d) {
                        p.subdirs += 1;
                    }
                    stack.push((e.ino, sub));
                }
            }
        }
    }

    fn orphans(&mut self) {
        let mut cur = self.sb.orphan_head;
        let mut seen = HashSet::new();
        while cur != 0 {
            if !seen.insert(cur) {
                self.problem(format!("orphan list: cycle back to inode {cur}"), Fix::None);
                self.orphan_walk_ok = false;
                return;
            }
            let known = self.inodes.get(&cur).map(|i| i.inode.clone());
            let i = match known {
                Some(i) => {
                    if let Some(info) = self.inodes.get_mut(&cur) {
                        info.orphan = true;
                    }
                    i
                }
                None => {
                    self.inodes.insert(
                        cur,
                        InoInfo {
                            orphan: true,
                            ..Default::default()
                        },
                    );
                    let ents = self.visit(cur);
                    let i = self.inodes.get(&cur).and_then(|i| i.inode.clone());
                    if let Some(i) = &i {
                        self.stats.orphans += 1;
                        if ents.is_some_and(|e| !e.is_empty()) {
                            self.ino_problem(
                                cur,
                                "unlinked directory is not empty".into(),
                                Fix::None,
                            );
                        }
                        if i.ftype() == mode::S_IFDIR && i.parent >= self.sb.block_count {
                            self.ino_problem(cur, "bad parent".into(), Fix::None);
                        }
                    }
                    i
                }
            };
            let Some(i) = i else {
                self.problem(
                    format!("orphan list: cannot follow past inode {cur}"),
                    Fix::None,
                );
                self.orphan_walk_ok = false;
                self.complete = false;
                return;
            };
            if i.nlink != 0 {
                self.ino_problem(
                    cur,
                    format!("on the orphan list with {} links", i.nlink),
                    Fix::None,
                );
            }
            cur = i.next_orphan;
        }
    }

    /// Blocks in use that nothing owns: unreachable inodes first (with what
    /// they own), then the rest.
    fn leaks(&mut self) {
        let g = self.geo;
        let mut cand = Vec::new();
        for grp in 0..g.groups {
            let Some(bm) = &self.bitmaps[grp as usize] else {
                continue;
            };
            for i in 0..g.group_len(grp) {
                let b = grp * g.bits_per_group + i;
                if bit(bm, i) && self.owner[b as usize] == 0 {
                    cand.push(b);
                }
            }
        }
        for &b in &cand {
            if self.owner[b as usize] != 0 {
                continue;
            }
            let looks_like_inode = match self.s.read(b) {
                Ok(buf) => meta::verify(&buf, "", meta::MAGIC_INODE, b, Some(b), self.fsid).is_ok(),
                Err(_) => false,
            };
            if !looks_like_inode {
                evict(self.s, b);
                continue;
            }
            let Ok(i) = inode::read(self.s, b) else {
                evict(self.s, b);
                continue;
            };
            self.inodes.insert(
                b,
                InoInfo {
                    leaked: true,
                    ..Default::default()
                },
            );
            let complete = self.complete;
            self.visit(b);
            let walked = self.inodes.get(&b).is_some_and(|x| x.walked);
            self.stats.leaked_inodes += 1;
            if i.nlink == 0 {
                self.complete = complete;
                self.ino_problem(
                    b,
                    "unlinked inode not on the orphan list (leaked)".into(),
                    Fix::Free,
                );
                self.to_free.insert(b);
            } else {
                // A linked inode's blocks must not be freed as leaks: if its
                // tree could not be read, what it owns is unknown.
                self.complete = complete && walked;
                let msg = if complete {
                    format!(
                        "not reachable from the root and not on the orphan list ({} links)",
                        i.nlink
                    )
                } else {
                    format!("not found from the root nor on the orphan list ({} links; may be named in an unreadable directory)", i.nlink)
                };
                self.ino_problem(b, msg, Fix::None);
            }
        }
        // The xattr blocks of the inodes just found.
        self.xattr_blocks();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for &b in &cand {
            if self.owner[b as usize] != 0 {
                continue;
            }
            match runs.last_mut() {
                Some((s, l)) if *s + *l == b => *l += 1,
                _ => runs.push((b, 1)),
            }
        }
        for (s, l) in runs {
            let msg = if self.complete {
                format!("{}: in use but owned by nothing (leaked)", range(s, l))
            } else {
                format!(
                    "{}: in use but no owner found (leaked, or owned by something unreadable)",
                    range(s, l)
                )
            };
            self.problem(msg, Fix::Free);
        }
    }

    fn counts(&mut self) {
        let ids: Vec<u64> = self.inodes.keys().copied().collect();
        for ino in ids {
            let info = &self.inodes[&ino];
            let Some(i) = info.inode.clone() else {
                continue;
            };
            let (reachable, orphan, leaked, walked, found) = (
                info.reachable,
                info.orphan,
                info.leaked,
                info.walked,
                info.found_blocks,
            );
            let is_dir = i.ftype() == mode::S_IFDIR;
            if reachable {
                let want = if is_dir { 2 + info.subdirs } else { info.refs };
                // Links may hide in what could not be read: only too many
                // found is certain then.
                if i.nlink != want && (self.complete || want > i.nlink) {
                    let fix = if orphan {
                        Fix::None
                    } else {
                        Fix::Nlink(ino, want)
                    };
                    self.ino_problem(
                        ino,
                        format!("link count {}, should be {want}", i.nlink),
                        fix,
                    );
                }
            }
            if walked && !self.to_free.contains(&ino) && i.nblocks != found {
                self.ino_problem(
                    ino,
                    format!("block count {}, found {found}", i.nblocks),
                    Fix::Nblocks(ino, found),
                );
            }
            if !orphan && !leaked && self.orphan_walk_ok && i.next_orphan != 0 {
                let msg = format!(
                    "orphan list pointer {} set, but not on the orphan list",
                    i.next_orphan
                );
                self.ino_problem(ino, msg, Fix::None);
            }
        }
    }

    fn free_space(&mut self) {
        let g = self.geo;
        let mut total_free = Some(0u64);
        for grp in 0..g.groups {
            let Some(bm) = self.bitmaps[grp as usize].take() else {
                total_free = None;
                continue;
            };
            let base = grp * g.bits_per_group;
            let len = g.group_len(grp);
            let mut free = 0u64;
            let mut runs: Vec<(u64, u64, u64)> = Vec::new();
            for i in 0..len {
                let b = base + i;
                if !bit(&bm, i) {
                    free += 1;
                    let o = self.owner[b as usize];
                    if o != 0 {
                        match runs.last_mut() {
                            Some((s, l, oo)) if *s + *l == b && *oo == o => *l += 1,
                            _ => runs.push((b, 1, o)),
                        }
                    }
                }
            }
            for (s, l, o) in runs {
                self.problem(
                    format!(
                        "{} ({}): in use but marked free",
                        range(s, l),
                        owner_name(o)
                    ),
                    Fix::Bitmap(grp),
                );
            }
            if (len..g.bits_per_group).any(|i| !bit(&bm, i)) {
                let msg = format!("free-space bitmap block {} (group {grp}): bits past the end of the filesystem are clear", g.bitmap_start + grp);
                self.problem(msg, Fix::Bitmap(grp));
            }
            total_free = total_free.map(|t| t + free);
            let si = grp / g.sums_per_block;
            if let Some(sb) = &self.summaries[si as usize] {
                let off = HDR_SIZE + ((grp % g.sums_per_block) * 4) as usize;
                let n = librxfs::le::u32_at(sb, off).unwrap_or(u32::MAX) as u64;
                if n != free {
                    let msg =
                        format!("group {grp}: summary says {n} blocks free, the bitmap {free}");
                    self.problem(msg, Fix::Summary(grp));
                }
            }
            self.bitmaps[grp as usize] = Some(bm);
        }
        for si in 0..g.summary_blocks {
            let Some(sb) = &self.summaries[si as usize] else {
                continue;
            };
            let stray = (0..g.sums_per_block).any(|j| {
                let grp = si * g.sums_per_block + j;
                grp >= g.groups && librxfs::le::u32_at(sb, HDR_SIZE + (j * 4) as usize) != Some(0)
            }) || sb
                .get(HDR_SIZE + (g.sums_per_block * 4) as usize..)
                .is_some_and(|t| t.iter().any(|&x| x != 0));
            if stray {
                let msg = format!(
                    "free-space summary block {}: entries past the last group are not zero",
                    g.summary_start + si
                );
                self.problem(msg, Fix::Always);
            }
        }
        if let Some(t) = total_free {
            self.stats.free_blocks = Some(t);
            if t != self.sb.free_blocks {
                let msg = format!(
                    "superblock: free block count {}, the bitmap has {t}",
                    self.sb.free_blocks
                );
                self.problem(msg, Fix::SbFree);
            }
        }
    }
}

/// What repair needs from the check.
pub struct Repair {
    sb: Superblock,
    geo: Geometry,
    fsid: u64,
    owner: Vec<u64>,
    multi: HashSet<u64>,
    bitmaps: Vec<Option<Vec<u8>>>,
    summaries: Vec<Option<Vec<u8>>>,
    to_free: BTreeSet<u64>,
    inodes: u64,
    complete: bool,
    /// Data blocks mapped more than once, and how many times.
    data_refs: HashMap<u64, u32>,
}

impl Repair {
    fn group_known(&self, g: u64) -> bool {
        self.complete || self.bitmaps.get(g as usize).is_some_and(|b| b.is_some())
    }

    fn summary_groups(&self, i: u64) -> std::ops::Range<u64> {
        let spb = self.geo.sums_per_block;
        i * spb..((i + 1) * spb).min(self.geo.groups)
    }

    fn summary_known(&self, i: u64) -> bool {
        self.summaries.get(i as usize).is_some_and(|s| s.is_some())
            || self.summary_groups(i).all(|g| self.group_known(g))
    }

    /// Whether a repair of this kind can be made.
    pub fn can_fix(&self, f: Fix) -> bool {
        match f {
            Fix::None => false,
            Fix::Always | Fix::Nblocks(..) | Fix::Xattr(..) => true,
            Fix::Bitmap(g) => self.group_known(g),
            Fix::Free | Fix::SbInodes | Fix::Nlink(..) | Fix::Refcounts => self.complete,
            Fix::Summary(g) => {
                self.group_known(g) && self.summary_known(g / self.geo.sums_per_block)
            }
            Fix::SummaryBlock(i) => self.summary_groups(i).all(|g| self.group_known(g)),
            Fix::SbFree => (0..self.geo.groups).all(|g| self.group_known(g)),
        }
    }

    /// Runs of data blocks mapped the same number (>= 2) of times: what
    /// the refcount tree must record.
    fn shared_runs(&self) -> Vec<(u64, u64, u32)> {
        let mut bs: Vec<(u64, u32)> = self.data_refs.iter().filter(|(_, &n)| n >= 2).map(|(&b, &n)| (b, n)).collect();
        bs.sort_unstable();
        let mut runs: Vec<(u64, u64, u32)> = Vec::new();
        for (b, n) in bs {
            match runs.last_mut() {
                Some((s, l, c)) if *s + *l == b && *c == n => *l += 1,
                _ => runs.push((b, 1, n)),
            }
        }
        runs
    }

    /// Whether block `b` stays in use after repair.
    fn keep(&self, b: u64) -> bool {
        let o = self.owner[b as usize];
        o != 0 && (!self.to_free.contains(&o) || self.multi.contains(&b))
    }

    /// Makes every repair `can_fix` allows, marks those problems fixed, and
    /// writes the changes to the device. Returns the free block count.
    pub fn apply(&self, s: &MemStore, problems: &mut [Problem]) -> Result<Option<u64>, String> {
        for p in problems.iter_mut() {
            p.fixed = self.can_fix(p.fix);
        }
        let err = |what: &str, e: Error| format!("repair failed: {what}: {e}");
        // Inode fields.
        for p in problems.iter_mut().filter(|p| p.fixed) {
            match p.fix {
                Fix::Nlink(ino, n) => {
                    inode::modify(s, ino, |i| i.nlink = n)
                        .map_err(|e| err(&format!("inode {ino}"), e))?;
                }
                Fix::Nblocks(ino, n) => {
                    inode::modify(s, ino, |i| i.nblocks = n)
                        .map_err(|e| err(&format!("inode {ino}"), e))?;
                }
                Fix::Xattr(ino) => {
                    inode::modify(s, ino, |i| i.xattr = 0)
                        .map_err(|e| err(&format!("inode {ino}"), e))?;
                }
                _ => {}
            }
        }
        // Bitmaps: rebuilt from the owners after a complete walk; otherwise
        // only owned blocks and the bits past the end are set.
        let g = self.geo;
        let mut free: Vec<Option<u64>> = vec![None; g.groups as usize];
        for grp in 0..g.groups {
            if !self.group_known(grp) {
                continue;
            }
            let blk = g.bitmap_start + grp;
            let old = self.bitmaps[grp as usize].as_deref();
            let mut new = match old {
                Some(o) => o.to_vec(),
                None => vec![0u8; g.block_size as usize],
            };
            if old.is_none() || self.complete {
                if let Some(p) = new.get_mut(HDR_SIZE..) {
                    p.fill(0);
                }
            }
            meta::init(&mut new, meta::MAGIC_BITMAP, blk, grp, self.fsid);
            let base = grp * g.bits_per_group;
            let len = g.group_len(grp);
            let mut nfree = 0;
            for i in 0..len {
                let b = base + i;
                let used = if self.complete {
                    self.keep(b)
                } else {
                    bit(&new, i) || self.owner[b as usize] != 0
                };
                set_bit(&mut new, i, used);
                if !used {
                    nfree += 1;
                }
            }
            for i in len..g.bits_per_group {
                set_bit(&mut new, i, true);
            }
            meta::seal(&mut new);
            free[grp as usize] = Some(nfree);
            if old != Some(&new[..]) {
                write(s, blk, &new).map_err(|e| err(&format!("bitmap block {blk}"), e))?;
            }
        }
        // Summaries from the bitmaps.
        for i in 0..g.summary_blocks {
            if !self.summary_known(i) {
                continue;
            }
            let blk = g.summary_start + i;
            let old = self.summaries[i as usize].as_deref();
            let mut new = vec![0u8; g.block_size as usize];
            meta::init(&mut new, meta::MAGIC_SUMMARY, blk, i, self.fsid);
            for j in 0..g.sums_per_block {
                let grp = i * g.sums_per_block + j;
                if grp >= g.groups {
                    break;
                }
                let off = HDR_SIZE + (j * 4) as usize;
                let n = match free[grp as usize] {
                    Some(n) => n as u32,
                    None => old.and_then(|o| librxfs::le::u32_at(o, off)).unwrap_or(0),
                };
                librxfs::le::put_u32(&mut new, off, n);
            }
            meta::seal(&mut new);
            if old != Some(&new[..]) {
                write(s, blk, &new).map_err(|e| err(&format!("summary block {blk}"), e))?;
            }
        }
        // The refcount tree, rebuilt from the data forks' counts on the
        // repaired bitmaps (through the shared core's allocator).
        let mut total: Option<u64> = free.iter().copied().sum();
        if let (Some(t), true) = (total, problems.iter().any(|p| p.fixed && p.fix == Fix::Refcounts)) {
            let rc = self.sb.refcount_ino;
            let mut a = librxfs::alloc::Alloc::new(g, t);
            let mut delta = 0;
            let runs = self.shared_runs();
            let r = refcount::rebuild(s, &mut a, rc, &runs, &mut delta);
            inode::modify(s, rc, |i| i.nblocks = i.nblocks.saturating_add_signed(delta)).map_err(|e| err("refcount inode", e))?;
            r.map_err(|e| err("refcount tree", e))?;
            total = Some(a.free);
        }
        // The superblock's counters, and block 0's tail.
        let mut sb = self.sb.clone();
        if let Some(t) = total {
            sb.free_blocks = t;
        }
        if self.complete {
            sb.inode_count = self.inodes - self.to_free.len() as u64;
        }
        {
            let mut b = s.read(0).map_err(|e| err("superblock", e))?;
            let mut new = vec![0u8; b.len()];
            sb.encode(&mut new).map_err(|e| err("superblock", e))?;
            if b[..] != new[..] {
                b.copy_from_slice(&new);
                s.dirty(&mut b);
            }
        }
        s.flush().map_err(|e| format!("cannot write: {e}"))?;
        Ok(total)
    }
}

fn write(s: &MemStore, blk: u64, data: &[u8]) -> Result<(), Error> {
    let mut b = s.read(blk)?;
    if b.len() != data.len() {
        return Err(Error::ShortBuffer {
            need: b.len(),
            have: data.len(),
        });
    }
    b.copy_from_slice(data);
    s.dirty(&mut b);
    Ok(())
}
