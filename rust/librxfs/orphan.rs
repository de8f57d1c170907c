// SPDX-License-Identifier: GPL-2.0

//! The orphan list: inodes with no links that are still open, or whose
//! blocks are being freed. It is a singly linked list through the inodes'
//! `next_orphan` fields, headed by the superblock's `orphan_head`. An inode
//! joins when its link count drops to zero and leaves once its blocks are
//! freed, so after a crash mount recovery frees whatever is left on it.

use super::error::Error;
use super::inode;
use super::meta::Store;

/// Puts `ino` at the head of the list.
pub fn add<S: Store>(s: &S, head: &mut u64, ino: u64) -> Result<(), Error> {
    let h = *head;
    inode::modify(s, ino, |i| i.next_orphan = h)?;
    *head = ino;
    Ok(())
}

/// Takes `ino` off the list. Walking to its predecessor is bounded by the
/// block count, so a cycle on disk is reported, not followed forever.
pub fn remove<S: Store>(s: &S, head: &mut u64, ino: u64) -> Result<(), Error> {
    let next = inode::read(s, ino)?.next_orphan;
    if *head == ino {
        *head = next;
    } else {
        let mut cur = *head;
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
                inode::modify(s, cur, |i| i.next_orphan = next)?;
                break;
            }
            cur = c.next_orphan;
        }
    }
    inode::modify(s, ino, |i| i.next_orphan = 0)?;
    Ok(())
}
