// SPDX-License-Identifier: GPL-2.0

//! The orphan list: inodes with no links that are still open, or whose
//! blocks are being freed. It is a singly linked list through the inodes'
//! `next_orphan` fields, headed by the superblock's `orphan_head`. An inode
//! joins when its link count drops to zero and leaves once its blocks are
//! freed, so after a crash mount recovery frees whatever is left on it.

use super::error::Error;
use super::inode;
use super::meta::Store;

/// Where each orphan's predecessor is, kept in memory (a kernel `RBTree` in
/// the module, a `BTreeMap` in tests; 0: the list head), so that taking an
/// inode off the list does not walk it: closing 50,000 tmpfiles oldest
/// first (fstests generic/531) walked the whole list each time. XFS keeps
/// the same back pointers in memory (`i_prev_unlinked`). Only a hint: each
/// is checked against the disk before use, and a missing or wrong one (an
/// allocation that failed, a mount that found orphans) falls back to the walk.
pub trait PrevIndex {
    /// The recorded predecessor of `ino`.
    fn prev(&mut self, ino: u64) -> Option<u64>;
    /// Records `prev` as `ino`'s predecessor; an allocation failure drops
    /// the entry instead.
    fn set_prev(&mut self, ino: u64, prev: u64);
    /// Forgets `ino`.
    fn forget(&mut self, ino: u64);
}

/// Puts `ino` at the head of the list.
pub fn add<S: Store>(s: &S, head: &mut u64, idx: &mut impl PrevIndex, ino: u64) -> Result<(), Error> {
    let h = *head;
    inode::modify(s, ino, |i| i.next_orphan = h)?;
    *head = ino;
    idx.set_prev(ino, 0);
    if h != 0 {
        idx.set_prev(h, ino);
    }
    Ok(())
}

/// Takes `ino` off the list: through its recorded predecessor, else by
/// walking to it, bounded by the block count, so a cycle on disk is
/// reported, not followed forever.
pub fn remove<S: Store>(s: &S, head: &mut u64, idx: &mut impl PrevIndex, ino: u64) -> Result<(), Error> {
    let next = inode::read(s, ino)?.next_orphan;
    let prev = if *head == ino {
        *head = next;
        0
    } else {
        let hint = match idx.prev(ino) {
            // A hint that does not read as an inode is a miss, not corruption.
            Some(p) if p != 0 && p != ino && inode::read(s, p).is_ok_and(|i| i.next_orphan == ino) => Some(p),
            _ => None,
        };
        let p = match hint {
            Some(p) => p,
            None => walk_to(s, *head, ino)?,
        };
        inode::modify(s, p, |i| i.next_orphan = next)?;
        p
    };
    inode::modify(s, ino, |i| i.next_orphan = 0)?;
    idx.forget(ino);
    if next != 0 {
        idx.set_prev(next, prev);
    }
    Ok(())
}

/// The inode whose `next_orphan` is `ino`.
fn walk_to<S: Store>(s: &S, head: u64, ino: u64) -> Result<u64, Error> {
    let mut cur = head;
    let mut steps = 0u64;
    loop {
        if cur == 0 {
            return Err(Error::Corrupt { what: "orphan list", blkno: ino, why: "inode not on the orphan list" });
        }
        steps += 1;
        if steps > s.block_count() {
            return Err(Error::Corrupt { what: "orphan list", blkno: cur, why: "cycle in the orphan list" });
        }
        let c = inode::read(s, cur)?;
        if c.next_orphan == ino {
            return Ok(cur);
        }
        cur = c.next_orphan;
    }
}

/// No index: every removal walks (fsck, and mount recovery, which takes
/// the head each time).
pub struct NoIndex;

impl PrevIndex for NoIndex {
    fn prev(&mut self, _: u64) -> Option<u64> {
        None
    }
    fn set_prev(&mut self, _: u64, _: u64) {}
    fn forget(&mut self, _: u64) {}
}

#[cfg(any(test, feature = "std"))]
impl PrevIndex for std::collections::BTreeMap<u64, u64> {
    fn prev(&mut self, ino: u64) -> Option<u64> {
        self.get(&ino).copied()
    }
    fn set_prev(&mut self, ino: u64, prev: u64) {
        self.insert(ino, prev);
    }
    fn forget(&mut self, ino: u64) {
        self.remove(&ino);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btree::tests::Rng;
    use crate::meta::mem::MemStore;
    use std::collections::BTreeMap;

    fn make(s: &MemStore, ino: u64) {
        let mut b = s.read(ino).unwrap();
        inode::init_block(&mut b, ino, 7);
        inode::Inode { mode: 0o100644, ..Default::default() }.encode(&mut b);
    }

    /// The list read from disk, head first.
    fn list(s: &MemStore, head: u64) -> Vec<u64> {
        let mut v = Vec::new();
        let mut cur = head;
        while cur != 0 {
            v.push(cur);
            cur = inode::read(s, cur).unwrap().next_orphan;
        }
        v
    }

    /// Random adds and removes against a model (a vector, head first),
    /// with the index intact, with entries lost (failed allocations) and
    /// with entries made wrong: the list on disk is always the model's.
    #[test]
    fn index_is_only_a_hint() {
        for damage in 0..3 {
            let s = MemStore::new(1024, 4096, 7);
            let inos: Vec<u64> = (100..160).collect();
            for &i in &inos {
                make(&s, i);
            }
            let mut head = 0u64;
            let mut idx = BTreeMap::new();
            let mut model: Vec<u64> = Vec::new();
            let mut rng = Rng(damage + 11);
            for _ in 0..2000 {
                let i = inos[rng.below(inos.len() as u64) as usize];
                if model.contains(&i) {
                    remove(&s, &mut head, &mut idx, i).unwrap();
                    model.retain(|&x| x != i);
                } else {
                    add(&s, &mut head, &mut idx, i).unwrap();
                    model.insert(0, i);
                }
                match (damage, rng.below(4)) {
                    (1, 0) => {
                        let k = inos[rng.below(inos.len() as u64) as usize];
                        idx.remove(&k);
                    }
                    (2, 0) => {
                        let k = inos[rng.below(inos.len() as u64) as usize];
                        idx.insert(k, inos[rng.below(inos.len() as u64) as usize]);
                    }
                    _ => {}
                }
                assert_eq!(list(&s, head), model);
            }
            // Not on the list: corruption reported, nothing changed.
            let absent = inos.iter().copied().find(|i| !model.contains(i)).unwrap();
            if !model.is_empty() {
                assert!(matches!(remove(&s, &mut head, &mut NoIndex, absent), Err(Error::Corrupt { .. })));
                assert_eq!(list(&s, head), model);
            }
        }
    }

    /// Removing oldest first finds every predecessor in the index.
    #[test]
    fn oldest_first_does_not_walk() {
        struct Counting(BTreeMap<u64, u64>, u64);
        impl PrevIndex for Counting {
            fn prev(&mut self, ino: u64) -> Option<u64> {
                let p = self.0.prev(ino);
                if p.is_none() {
                    self.1 += 1;
                }
                p
            }
            fn set_prev(&mut self, ino: u64, prev: u64) {
                self.0.set_prev(ino, prev)
            }
            fn forget(&mut self, ino: u64) {
                self.0.forget(ino)
            }
        }
        let s = MemStore::new(1024, 8192, 7);
        let mut head = 0u64;
        let mut idx = Counting(BTreeMap::new(), 0);
        for i in 100..3000u64 {
            make(&s, i);
            add(&s, &mut head, &mut idx, i).unwrap();
        }
        for i in 100..3000u64 {
            remove(&s, &mut head, &mut idx, i).unwrap();
        }
        assert_eq!(head, 0);
        assert_eq!(idx.1, 0, "removals that had to walk");
        assert!(idx.0.is_empty());
    }
}
