// SPDX-License-Identifier: GPL-2.0

//! Directories: a [`btree`](super::btree) of entries keyed by name hash.
//!
//! Key: `hash << 32 | seq`, where `hash` is the 31-bit seeded crc32c of the
//! name and `seq` tells apart names with the same hash (the lowest unused).
//! Keys never change while an entry exists, so the key is the readdir cookie:
//! `f_pos = key + 2` (0 and 1 are `.` and `..`, which are not stored; the
//! parent is in the inode). A cookie stays valid across any other change to
//! the directory, as ext4's htree cookies do.
//!
//! Value ([`VAL_SIZE`] bytes): inode number (8), file type (1, `DT_*`), name
//! length (1), name (up to 255), zero padding.

use super::alloc::Alloc;
use super::btree::{Desc, Tree};
use super::crc32c;
use super::error::Error;
use super::inode::FORK_OFF;
use super::le;
use super::meta::{Store, MAGIC_DIR};

/// Bytes of an entry's value.
pub const VAL_SIZE: usize = 272;
/// Largest `seq`.
pub const MAX_SEQ: u64 = 0xffff_ff00;
/// The tree kind.
pub static DESC: Desc = Desc { magic: MAGIC_DIR, val_size: VAL_SIZE, what: "directory" };
/// readdir position after the last entry.
pub const POS_END: i64 = i64::MAX;

/// The hash of a name under the filesystem's seed.
pub fn hash(seed: u32, name: &[u8]) -> u64 {
    (crc32c::update(seed, name) & 0x7fff_ffff) as u64
}

/// One directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Inode number.
    pub ino: u64,
    /// `DT_*` type.
    pub dtype: u8,
    /// Name.
    pub name: &'a [u8],
}

/// Decodes and checks an entry value (`key` for the error's sake).
pub fn decode(v: &[u8], dir: u64, block_count: u64) -> Result<Entry<'_>, Error> {
    let bad = |why| Error::Corrupt { what: "directory", blkno: dir, why };
    let ino = le::u64_at(v, 0).ok_or(bad("short entry"))?;
    let [dtype] = le::bytes::<1>(v, 8).ok_or(bad("short entry"))?;
    let [len] = le::bytes::<1>(v, 9).ok_or(bad("short entry"))?;
    let name = v.get(10..10 + len as usize).ok_or(bad("short entry"))?;
    if ino == 0 || ino >= block_count {
        return Err(bad("entry inode number out of range"));
    }
    if name.is_empty() || name.iter().any(|&c| c == b'/' || c == 0) || name == b"." || name == b".." {
        return Err(bad("bad entry name"));
    }
    if dtype == 0 || dtype > 14 {
        return Err(bad("bad entry type"));
    }
    Ok(Entry { ino, dtype, name })
}

fn encode(e: &Entry<'_>, v: &mut [u8; VAL_SIZE]) {
    v.fill(0);
    le::put_u64(v, 0, e.ino);
    le::put(v, 8, &[e.dtype, e.name.len() as u8]);
    le::put(v, 10, e.name);
}

/// The directory tree of directory `dir`.
pub fn tree(dir: u64) -> Tree {
    Tree::new(&DESC, dir, FORK_OFF)
}

/// Checks a name for a new entry.
pub fn check_name(name: &[u8]) -> Result<(), Error> {
    if name.len() > super::format::NAME_MAX as usize {
        return Err(Error::NameTooLong);
    }
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(Error::BadField { field: "name", value: name.len() as u64 });
    }
    Ok(())
}

/// Looks up `name`: its key and entry (inode, type).
pub fn lookup<S: Store>(s: &S, dir: u64, seed: u32, name: &[u8]) -> Result<Option<(u64, u64, u8)>, Error> {
    let h = hash(seed, name);
    let t = tree(dir);
    let mut v = [0u8; VAL_SIZE];
    let mut k = h << 32;
    while let Some(found) = t.next_ge(s, k, &mut v)? {
        if found >> 32 != h {
            break;
        }
        let e = decode(&v, dir, s.block_count())?;
        if e.name == name {
            return Ok(Some((found, e.ino, e.dtype)));
        }
        k = found + 1;
    }
    Ok(None)
}

/// Adds an entry; [`Error::Exists`] if the name is there. Returns the key.
/// `nodes_delta` gets the change in the directory's node blocks.
pub fn add<S: Store>(
    s: &S,
    a: &mut Alloc,
    dir: u64,
    seed: u32,
    e: &Entry<'_>,
    nodes_delta: &mut i64,
) -> Result<u64, Error> {
    check_name(e.name)?;
    let h = hash(seed, e.name);
    let mut t = tree(dir);
    let mut v = [0u8; VAL_SIZE];
    // The lowest free seq in this hash's run (almost always 0).
    let mut want = 0u64;
    let mut k = h << 32;
    while let Some(found) = t.next_ge(s, k, &mut v)? {
        if found >> 32 != h {
            break;
        }
        let old = decode(&v, dir, s.block_count())?;
        if old.name == e.name {
            return Err(Error::Exists);
        }
        if found & 0xffff_ffff == want {
            want += 1;
        }
        k = found + 1;
    }
    if want > MAX_SEQ {
        return Err(Error::NoSpace);
    }
    let key = h << 32 | want;
    encode(e, &mut v);
    let r = t.insert(s, a, key, &v);
    *nodes_delta += t.nodes_delta;
    r.map(|()| key)
}

/// Finds `name`, which the caller knows names inode `ino`: its key. An
/// entry naming another inode means the directory and the caller's view
/// (the dentry cache) disagree, which is corruption; nothing is changed.
fn find_expected<S: Store>(s: &S, dir: u64, seed: u32, name: &[u8], ino: u64) -> Result<u64, Error> {
    let (key, found, _) = lookup(s, dir, seed, name)?.ok_or(Error::NotFound)?;
    if found != ino {
        return Err(Error::Corrupt { what: "directory", blkno: dir, why: "entry names another inode than expected" });
    }
    Ok(key)
}

/// Removes `name`, which must name inode `ino`.
pub fn remove<S: Store>(
    s: &S,
    a: &mut Alloc,
    dir: u64,
    seed: u32,
    name: &[u8],
    ino: u64,
    nodes_delta: &mut i64,
) -> Result<(), Error> {
    let key = find_expected(s, dir, seed, name, ino)?;
    let mut t = tree(dir);
    let mut v = [0u8; VAL_SIZE];
    let r = t.delete(s, a, key, &mut v);
    *nodes_delta += t.nodes_delta;
    r
}

/// Points `name`, which must name inode `old`, at inode `ino` instead
/// (rename over an existing name, exchange, whiteout).
pub fn replace<S: Store>(s: &S, dir: u64, seed: u32, name: &[u8], old: u64, ino: u64, dtype: u8) -> Result<(), Error> {
    let key = find_expected(s, dir, seed, name, old)?;
    let mut v = [0u8; VAL_SIZE];
    encode(&Entry { ino, dtype, name }, &mut v);
    tree(dir).update(s, key, &v)
}

/// The first entry at or after readdir position `pos` (>= 2): the next
/// position and the entry, copied into `v`.
pub fn next_from<S: Store>(s: &S, dir: u64, pos: i64, v: &mut [u8; VAL_SIZE]) -> Result<Option<u64>, Error> {
    if pos < 2 || pos == POS_END {
        return Ok(None);
    }
    let key = tree(dir).next_ge(s, (pos - 2) as u64, v)?;
    // Every key is a 31-bit hash and a seq of at most MAX_SEQ, so key + 3
    // (the next position) fits an i64 and stays below POS_END.
    match key {
        Some(k) if k >> 32 > 0x7fff_ffff || k & 0xffff_ffff > MAX_SEQ => {
            Err(Error::Corrupt { what: "directory", blkno: dir, why: "entry key out of range" })
        }
        k => Ok(k),
    }
}

/// Whether the directory has no entries.
pub fn is_empty<S: Store>(s: &S, dir: u64) -> Result<bool, Error> {
    let mut v = [0u8; VAL_SIZE];
    Ok(tree(dir).next_ge(s, 0, &mut v)?.is_none())
}
