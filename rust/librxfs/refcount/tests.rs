// SPDX-License-Identifier: GPL-2.0

//! Random clones, unmaps and CoW staging against a per-block model, with
//! the whole tree re-read and its invariants checked after every step.

use super::*;
use crate::btree::tests::{setup, Rng};
use crate::meta::mem::MemStore;
use std::collections::BTreeMap;

/// Disk blocks the tests play with: mapped once at the start.
const LO: u64 = 200;
const HI: u64 = 3000;

struct Model {
    /// Mappings of each block in LO..HI (0: freed).
    count: Vec<u32>,
    /// Staging ranges, by start.
    staged: BTreeMap<u64, u64>,
}

impl Model {
    fn c(&self, b: u64) -> u32 {
        self.count[(b - LO) as usize]
    }
}

/// Reads the tree back: the shared records and the staging records, checked
/// for order, overlap, domain and merging.
fn read_back(s: &MemStore, ino: u64) -> (Vec<Rec>, Vec<Rec>) {
    read_back_nodes(s, ino).0
}

/// As [`read_back`], and the number of tree blocks (the root is in the
/// inode).
fn read_back_nodes(s: &MemStore, ino: u64) -> ((Vec<Rec>, Vec<Rec>), i64) {
    let (mut shared, mut staged) = (Vec::new(), Vec::new());
    let mut nodes = 0;
    tree(ino)
        .walk(s, &mut |b, _| {
            nodes += b.is_some() as i64;
            Ok(())
        }, &mut |k, v| {
            let (r, st) = decode_rec(ino, k, v, s.block_count())?;
            if st { staged.push(r) } else { shared.push(r) }
            Ok(())
        })
        .unwrap();
    for w in shared.windows(2) {
        assert!(w[0].end() <= w[1].pblk, "overlapping records {:?}", w);
        if w[0].end() == w[1].pblk && w[0].count == w[1].count {
            assert!(w[0].len + w[1].len > MAX_LEN, "unmerged neighbours {:?}", w);
        }
    }
    for w in staged.windows(2) {
        assert!(w[0].end() <= w[1].pblk, "overlapping staging {:?}", w);
    }
    ((shared, staged), nodes)
}

/// Checks the tree against the model; returns its record count and its
/// number of tree blocks.
fn check(s: &MemStore, ino: u64, m: &Model, rng: &mut Rng) -> (usize, i64) {
    let ((shared, staged), nodes) = read_back_nodes(s, ino);
    let mut want = vec![1u32; (HI - LO) as usize];
    for r in &shared {
        assert!(r.pblk >= LO && r.end() <= HI, "record outside the played range {:?}", r);
        for b in r.pblk..r.end() {
            want[(b - LO) as usize] = r.count;
        }
    }
    for b in LO..HI {
        let c = m.c(b);
        // A freed or once-mapped block has no record.
        assert_eq!(want[(b - LO) as usize], c.max(1), "count of block {}", b);
    }
    let got: BTreeMap<u64, u64> = staged.iter().map(|r| (r.pblk, r.len)).collect();
    assert_eq!(got, m.staged);
    // Point lookups and find_shared against the model.
    for _ in 0..8 {
        let b = LO + rng.below(HI - LO);
        let (c, run) = lookup(s, ino, b).unwrap();
        assert_eq!(c, m.c(b).max(1));
        let stop = b.saturating_add(run).min(HI);
        assert!((b..stop).all(|x| m.c(x).max(1) == c));
        if b.saturating_add(run) < HI {
            assert_ne!(m.c(b + run).max(1), c, "run from {} ends early", b);
        }
        let len = 1 + rng.below(300);
        let first = (b..(b + len).min(HI)).find(|&x| m.c(x) >= 2);
        match find_shared(s, ino, b, len).unwrap() {
            None => assert_eq!(first, None),
            Some((p, l)) => {
                assert_eq!(Some(p), first);
                assert!((p..p + l).all(|x| m.c(x) >= 2));
                let e = p + l;
                assert!(e == (b + len).min(u64::MAX) || e >= HI || m.c(e) < 2 || m.c(e) != m.c(e - 1));
            }
        }
    }
    (shared.len() + staged.len(), nodes)
}

fn run(bs: usize, ops: usize, seed: u64) {
    let (s, mut a, ino) = setup(bs, 1 << 14);
    // The played range is "mapped once": make sure the allocator does not
    // hand it out for tree nodes.
    a.mark_used(&s, LO, HI - LO).unwrap();
    let mut m = Model { count: vec![1; (HI - LO) as usize], staged: BTreeMap::new() };
    let mut rng = Rng(seed);
    let mut nodes = 0i64;
    let mut most = 0;
    for op in 0..ops {
        let start = LO + rng.below(HI - LO);
        let cap = if rng.below(4) == 0 { 2000 } else { 40 };
        let len = 1 + rng.below((HI - start).min(cap));
        match rng.below(10) {
            0..=3 => {
                // One more mapping of live blocks (a clone).
                if (start..start + len).any(|b| m.c(b) == 0) {
                    continue;
                }
                assert_eq!(adjust(&s, &mut a, ino, start, len, 1, &mut nodes).unwrap(), 0, "freed on a clone");
                for b in start..start + len {
                    m.count[(b - LO) as usize] += 1;
                }
            }
            4..=7 => {
                if (start..start + len).any(|b| m.c(b) == 0) {
                    continue;
                }
                let (free0, nodes0) = (a.free, nodes);
                let freed = adjust(&s, &mut a, ino, start, len, -1, &mut nodes).unwrap();
                let mut want = 0;
                for b in start..start + len {
                    let c = &mut m.count[(b - LO) as usize];
                    *c -= 1;
                    want += (*c == 0) as u64;
                }
                assert_eq!(freed, want, "op {} freed", op);
                // The blocks went back to the allocator, less the tree's
                // new nodes.
                assert_eq!(a.free as i64, free0 as i64 + freed as i64 - (nodes - nodes0), "op {}", op);
            }
            8 => {
                // Stage a range that overlaps no staging record.
                let l = len.min(MAX_LEN);
                let clash = m.staged.range(..start + l).next_back().is_some_and(|(&p, &pl)| p + pl > start);
                if clash {
                    continue;
                }
                stage(&s, &mut a, ino, start, l, &mut nodes).unwrap();
                m.staged.insert(start, l);
            }
            _ => {
                // Unstage part of a staging record.
                let Some((&p, &pl)) = m.staged.range(start..).next().or_else(|| m.staged.iter().next()) else { continue };
                let off = rng.below(pl);
                let l = 1 + rng.below(pl - off);
                unstage(&s, &mut a, ino, p + off, l, &mut nodes).unwrap();
                m.staged.remove(&p);
                if off > 0 {
                    m.staged.insert(p, off);
                }
                if off + l < pl {
                    m.staged.insert(p + off + l, pl - off - l);
                }
            }
        }
        let (recs, tree_nodes) = check(&s, ino, &m, &mut rng);
        // Every block still mapped is still allocated (now and then: the
        // bitmap reads are slow).
        if op % 100 == 0 {
            assert!((LO..HI).filter(|&b| m.c(b) > 0).all(|b| a.is_used(&s, b).unwrap()), "op {}: a mapped block was freed", op);
        }
        assert_eq!(tree_nodes, nodes, "op {}: tree blocks and the reported change disagree", op);
        most = most.max(recs);
    }
    // Enough records that the tree grew past its inode root.
    assert!(most > 200, "only {} records at most", most);
    // Staging records are found from any block on, in order.
    let mut p = 0;
    let mut got = BTreeMap::new();
    while let Some(r) = next_staged(&s, ino, p).unwrap() {
        got.insert(r.pblk, r.len);
        p = r.end();
    }
    assert_eq!(got, m.staged);
}

#[test]
fn model_1k() {
    for seed in 1..=4 {
        run(1024, 1500, seed * 7919);
    }
}

#[test]
fn model_4k() {
    for seed in 1..=4 {
        run(4096, 1500, seed * 104729);
    }
}

#[test]
fn long_ranges_split_at_max_len() {
    let (s, mut a, ino) = setup(4096, 1 << 23);
    let mut nodes = 0;
    let n = 2 * MAX_LEN + 5;
    adjust(&s, &mut a, ino, 1000, n, 1, &mut nodes).unwrap();
    let (shared, _) = read_back(&s, ino);
    assert_eq!(shared.len(), 3);
    assert!(shared.iter().all(|r| r.count == 2 && r.len <= MAX_LEN));
    assert_eq!(shared.iter().map(|r| r.len).sum::<u64>(), n);
    assert_eq!(adjust(&s, &mut a, ino, 1000, n, -1, &mut nodes).unwrap(), 0);
    assert!(read_back(&s, ino).0.is_empty());
}

#[test]
fn bad_arguments_and_corrupt_records() {
    let (s, mut a, ino) = setup(4096, 1 << 14);
    let mut nodes = 0;
    assert!(adjust(&s, &mut a, ino, 10, 5, 2, &mut nodes).is_err());
    assert!(adjust(&s, &mut a, ino, (1 << 14) - 2, 5, 1, &mut nodes).is_err());
    assert!(stage(&s, &mut a, ino, 0, 5, &mut nodes).is_err());
    assert!(matches!(unstage(&s, &mut a, ino, 10, 1, &mut nodes), Err(Error::Corrupt { .. })));
    // A shared record with count 1 is corrupt.
    let mut t = tree(ino);
    t.insert(&s, &mut a, 50, &encode(&Rec { pblk: 50, len: 3, count: 1 })).unwrap();
    assert!(matches!(lookup(&s, ino, 51), Err(Error::Corrupt { .. })));
}

/// fsck's repair: a tree with wrong counts, a record too many and staging
/// leftovers is rebuilt to exactly the runs given; the staging blocks are
/// freed, the node count is exact, and the free count returns to what the
/// runs' tree costs.
#[test]
fn rebuild_replaces_records_and_frees_staging() {
    let (s, mut a, ino) = setup(1024, 1 << 23);
    let free0 = a.free;
    let mut nodes = 0;
    // Many records (several tree blocks), some wrong on purpose.
    for k in 0..300u64 {
        adjust(&s, &mut a, ino, 2000 + 3 * k, 2, 1, &mut nodes).unwrap();
    }
    let (p, l) = a.alloc(&s, 9000, 40).unwrap();
    stage(&s, &mut a, ino, p, l, &mut nodes).unwrap();
    assert_eq!(read_back_nodes(&s, ino).1, nodes);
    let runs = [(2000u64, 2u64, 3u32), (5000, 10, 2), (6000, 2 * MAX_LEN + 1, 4)];
    let freed = rebuild(&s, &mut a, ino, &runs, &mut nodes).unwrap();
    assert_eq!(freed, l);
    let ((shared, staged), n) = read_back_nodes(&s, ino);
    assert!(staged.is_empty());
    assert_eq!(n, nodes, "node count");
    let want: Vec<(u64, u64, u32)> = vec![(2000, 2, 3), (5000, 10, 2), (6000, MAX_LEN, 4), (6000 + MAX_LEN, MAX_LEN, 4), (6000 + 2 * MAX_LEN, 1, 4)];
    assert_eq!(shared.iter().map(|r| (r.pblk, r.len, r.count)).collect::<Vec<_>>(), want);
    assert_eq!(a.free as i64, free0 as i64 - nodes, "free count");
    assert!(rebuild(&s, &mut a, ino, &[(7, 1, 1)], &mut nodes).is_err());
}

/// A count that reaches MAX_COUNT is pinned: more clones do not wrap it to
/// zero (which would free blocks still mapped), and unmaps never free its
/// blocks; the records beside it still count.
#[test]
fn counts_pin_at_the_maximum() {
    let (s, mut a, ino) = setup(4096, 1 << 14);
    let mut nodes = 0;
    a.mark_used(&s, 100, 10).unwrap();
    rebuild(&s, &mut a, ino, &[(100, 4, MAX_COUNT - 1)], &mut nodes).unwrap();
    // 100..104 reach the maximum; 104..106 become shared.
    assert_eq!(adjust(&s, &mut a, ino, 100, 6, 1, &mut nodes).unwrap(), 0);
    let recs = |s: &MemStore| read_back(s, ino).0.iter().map(|r| (r.pblk, r.len, r.count)).collect::<Vec<_>>();
    assert_eq!(recs(&s), vec![(100, 4, MAX_COUNT), (104, 2, 2)]);
    assert_eq!(adjust(&s, &mut a, ino, 100, 6, 1, &mut nodes).unwrap(), 0);
    assert_eq!(recs(&s), vec![(100, 4, MAX_COUNT), (104, 2, 3)]);
    for _ in 0..2 {
        assert_eq!(adjust(&s, &mut a, ino, 100, 6, -1, &mut nodes).unwrap(), 0);
    }
    assert_eq!(recs(&s), vec![(100, 4, MAX_COUNT)]);
    // The last unmap frees the unpinned blocks only.
    assert_eq!(adjust(&s, &mut a, ino, 100, 6, -1, &mut nodes).unwrap(), 2);
    assert!(a.is_used(&s, 103).unwrap() && !a.is_used(&s, 104).unwrap());
    assert_eq!(read_back_nodes(&s, ino).1, nodes);
}
