// SPDX-License-Identifier: GPL-2.0

//! Extended attributes: all of an inode's attributes live in one metadata
//! block, its xattr block (the inode's `xattr` field; 0 when it has none),
//! as ext2's single attribute block. The names `user.*`, `trusted.*` and
//! `security.*` are kept as a namespace number and the rest of the name.
//!
//! | offset | size | field                                             |
//! |--------|------|---------------------------------------------------|
//! | 0      | 32   | metadata header, magic `RXXA`, owner = inode no.  |
//! | 32     | 2    | number of entries                                 |
//! | 34     | 2    | bytes of entries, from offset 36                  |
//! | 36     | ...  | entries, sorted by (namespace, name), no repeats  |
//!
//! An entry is a namespace byte ([`NS_USER`], [`NS_TRUSTED`],
//! [`NS_SECURITY`], [`NS_SYSTEM`]), a name length byte (1 to 255), a little-endian u16
//! value length, the name, then the value: a block holds at most
//! `block size - 36` bytes of them (about 2 KiB of values at 4k blocks
//! leaves room for dozens of names; one value can be up to
//! `block size - 36 - 4 - name length` bytes). Everything after the
//! entries is zero. Entries are kept sorted so a verifier sees a repeated
//! name in one pass, and a change is rewritten in place: [`set`] checks the
//! room before it touches anything, so a failure changes nothing.
//!
//! POSIX ACLs (with the `acl` feature) are the names `posix_acl_access`
//! and `posix_acl_default` of [`NS_SYSTEM`], no other, and their values are
//! the VFS's xattr form of an ACL (`struct posix_acl_xattr_header`, then
//! `posix_acl_xattr_entry`s; little-endian, ids as the filesystem stores
//! them), which [`acl_valid`] checks, as btrfs keeps them.

use super::error::Error;
use super::le;
use super::meta;

/// `user.` attributes.
pub const NS_USER: u8 = 1;
/// `trusted.` attributes.
pub const NS_TRUSTED: u8 = 2;
/// `security.` attributes.
pub const NS_SECURITY: u8 = 3;
/// `system.`: only POSIX ACLs ([`ACL_ACCESS`], [`ACL_DEFAULT`]).
pub const NS_SYSTEM: u8 = 4;
/// The access ACL's name in [`NS_SYSTEM`].
pub const ACL_ACCESS: &[u8] = b"posix_acl_access";
/// The default ACL's name in [`NS_SYSTEM`].
pub const ACL_DEFAULT: &[u8] = b"posix_acl_default";
/// `POSIX_ACL_XATTR_VERSION`.
pub const ACL_VERSION: u32 = 2;
/// Longest name after the namespace prefix.
pub const NAME_MAX: usize = 255;
/// Where the entries start.
pub const ENTRIES_OFF: usize = 36;
/// An entry's fixed part: namespace, name length, value length.
pub const ENTRY_HDR: usize = 4;

mod off {
    pub(super) const COUNT: usize = 32;
    pub(super) const USED: usize = 34;
}

/// What [`set`] may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Create or replace (no flags).
    Any,
    /// Only create: [`Error::Exists`] if the name is there (`XATTR_CREATE`).
    Create,
    /// Only replace: [`Error::NotFound`] if it is not (`XATTR_REPLACE`).
    Replace,
}

/// One attribute of a verified block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Namespace.
    pub ns: u8,
    /// Name, without the namespace prefix.
    pub name: &'a [u8],
    /// Value.
    pub value: &'a [u8],
}

impl Entry<'_> {
    /// Bytes the entry takes in the block.
    pub fn size(&self) -> usize {
        ENTRY_HDR + self.name.len() + self.value.len()
    }
}

/// The namespace's prefix, as `listxattr` shows it.
pub fn prefix(ns: u8) -> &'static [u8] {
    match ns {
        NS_USER => b"user.",
        NS_TRUSTED => b"trusted.",
        NS_SECURITY => b"security.",
        NS_SYSTEM => b"system.",
        _ => b"",
    }
}

/// Starts an empty xattr block `blk` of inode `ino`; [`meta::seal`] after.
pub fn init_block(buf: &mut [u8], blk: u64, ino: u64, fsid: u64) {
    buf.fill(0);
    meta::init(buf, meta::MAGIC_XATTR, blk, ino, fsid);
}

/// The number of entries and their bytes, unchecked.
fn counts(buf: &[u8]) -> (usize, usize) {
    (le::u16_at(buf, off::COUNT).unwrap_or(0) as usize, le::u16_at(buf, off::USED).unwrap_or(0) as usize)
}

/// The entry at `at` of the entry bytes `e`, and where the next starts.
fn entry_at(e: &[u8], at: usize) -> Option<(Entry<'_>, usize)> {
    let h = e.get(at..at.checked_add(ENTRY_HDR)?)?;
    let (ns, nlen, vlen) = (h[0], h[1] as usize, u16::from_le_bytes([h[2], h[3]]) as usize);
    let name_at = at + ENTRY_HDR;
    let value_at = name_at + nlen;
    let end = value_at + vlen;
    Some((Entry { ns, name: e.get(name_at..value_at)?, value: e.get(value_at..end)? }, end))
}

/// The entries of a block [`verify`] accepted, in order (on a block it
/// did not, they stop at the first one that does not fit).
pub fn entries(buf: &[u8]) -> Entries<'_> {
    let (count, used) = counts(buf);
    let e = buf.get(ENTRIES_OFF..ENTRIES_OFF.saturating_add(used)).unwrap_or(&[]);
    Entries { e, at: 0, left: count }
}

/// Iterator of [`entries`].
pub struct Entries<'a> {
    e: &'a [u8],
    at: usize,
    left: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        if self.left == 0 {
            return None;
        }
        let (x, next) = entry_at(self.e, self.at)?;
        self.at = next;
        self.left -= 1;
        Some(x)
    }
}

fn key<'a>(e: &Entry<'a>) -> (u8, &'a [u8]) {
    (e.ns, e.name)
}

/// Verifies xattr block `blk` of inode `ino`: the header, then every
/// entry (namespace, name length, bounds, order, no repeated name), the
/// counts, and zeroes after the entries.
pub fn verify(buf: &[u8], blk: u64, ino: u64, fsid: u64) -> Result<(), Error> {
    meta::verify(buf, "xattr block", meta::MAGIC_XATTR, blk, Some(ino), fsid)?;
    verify_entries(buf, blk)
}

/// [`verify`] of a block read from `s`.
pub fn verify_in<S: meta::Store>(s: &S, buf: &S::Buf<'_>, blk: u64, ino: u64) -> Result<(), Error> {
    meta::verify_buf(s, buf, "xattr block", meta::MAGIC_XATTR, blk, Some(ino))?;
    verify_entries(buf, blk)
}

fn verify_entries(buf: &[u8], blk: u64) -> Result<(), Error> {
    let bad = |why| Error::Corrupt { what: "xattr block", blkno: blk, why };
    let (count, used) = counts(buf);
    let e = buf.get(ENTRIES_OFF..ENTRIES_OFF.saturating_add(used)).ok_or(bad("entries run past the block"))?;
    let mut at = 0;
    let mut prev: Option<(u8, &[u8])> = None;
    for _ in 0..count {
        let (x, next) = entry_at(e, at).ok_or(bad("entry runs past the entries"))?;
        if !(NS_USER..=NS_SYSTEM).contains(&x.ns) {
            return Err(bad("unknown namespace"));
        }
        if x.name.is_empty() {
            return Err(bad("empty name"));
        }
        if x.ns == NS_SYSTEM && !(x.name == ACL_ACCESS || x.name == ACL_DEFAULT) {
            return Err(bad("unknown system name"));
        }
        if x.ns == NS_SYSTEM && !acl_valid(x.value) {
            return Err(bad("malformed ACL"));
        }
        if prev.is_some_and(|p| p >= key(&x)) {
            return Err(bad("entries out of order or repeated"));
        }
        prev = Some(key(&x));
        at = next;
    }
    if at != used {
        return Err(bad("entry bytes do not match the count"));
    }
    if buf.get(ENTRIES_OFF + used..).is_some_and(|t| t.iter().any(|&b| b != 0)) {
        return Err(bad("bytes after the entries not zero"));
    }
    Ok(())
}

/// The most entries an ACL may have at block size `bs`: as many as let a
/// directory's access and default ACLs both fit in an empty xattr block
/// (250 at 4k), so that a new directory can always inherit both. More is
/// `E2BIG`, as over XFS's `XFS_ACL_MAX_ENTRIES`; fewer may still not fit
/// beside the inode's other attributes (`ENOSPC`).
pub fn acl_max_entries(bs: usize) -> usize {
    let fixed = ENTRIES_OFF + 2 * (ENTRY_HDR + 4) + ACL_ACCESS.len() + ACL_DEFAULT.len();
    bs.saturating_sub(fixed) / 16
}

/// Whether `v` is a well-formed ACL in the VFS's xattr form: the version,
/// whole entries, each with a known tag and permission bits only, and
/// every tag the form requires (`ACL_USER_OBJ`, `ACL_GROUP_OBJ`,
/// `ACL_OTHER`, and `ACL_MASK` when there are named entries) exactly once;
/// what the kernel's `posix_acl_valid` also checks (the order of named
/// entries) it checks again when it reads the value.
pub fn acl_valid(v: &[u8]) -> bool {
    const USER_OBJ: u16 = 1;
    const USER: u16 = 2;
    const GROUP_OBJ: u16 = 4;
    const GROUP: u16 = 8;
    const MASK: u16 = 0x10;
    const OTHER: u16 = 0x20;
    if v.len() < 4 || (v.len() - 4) % 8 != 0 || le::u32_at(v, 0) != Some(ACL_VERSION) {
        return false;
    }
    let mut seen = [0u32; 6];
    for e in v[4..].chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]);
        let i = match tag {
            USER_OBJ => 0,
            USER => 1,
            GROUP_OBJ => 2,
            GROUP => 3,
            MASK => 4,
            OTHER => 5,
            _ => return false,
        };
        if perm & !7 != 0 {
            return false;
        }
        seen[i] = seen[i].saturating_add(1);
    }
    let named = seen[1] + seen[3];
    seen[0] == 1 && seen[2] == 1 && seen[5] == 1 && seen[4] <= 1 && (named == 0 || seen[4] == 1)
}

/// The value of `ns`/`name` in a verified block.
pub fn get<'a>(buf: &'a [u8], ns: u8, name: &[u8]) -> Option<&'a [u8]> {
    entries(buf).find(|e| e.ns == ns && e.name == name).map(|e| e.value)
}

/// Whether a verified block holds no entries.
pub fn is_empty(buf: &[u8]) -> bool {
    counts(buf).0 == 0
}

/// Sets (`value` given) or removes `ns`/`name` in a verified block, per
/// `mode`; [`Error::NoSpace`] if the result would not fit in the block,
/// [`Error::NameTooLong`] for a name over [`NAME_MAX`] (or empty), and for
/// a removal of a name that is not there [`Error::NotFound`]. Nothing
/// changes on an error. The caller seals the block.
pub fn set(buf: &mut [u8], ns: u8, name: &[u8], value: Option<&[u8]>, mode: Mode) -> Result<(), Error> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(Error::NameTooLong);
    }
    let (count, used) = counts(buf);
    // Where the name is, or where it would go: (offset, its size if there).
    let mut at = 0;
    let mut found = None;
    for x in entries(buf) {
        match key(&x).cmp(&(ns, name)) {
            core::cmp::Ordering::Less => at += x.size(),
            core::cmp::Ordering::Equal => {
                found = Some(x.size());
                break;
            }
            core::cmp::Ordering::Greater => break,
        }
    }
    match (found, mode, value) {
        (Some(_), Mode::Create, Some(_)) => return Err(Error::Exists),
        (None, Mode::Replace, _) | (None, _, None) => return Err(Error::NotFound),
        _ => {}
    }
    let old = found.unwrap_or(0);
    let new = value.map_or(0, |v| ENTRY_HDR + name.len() + v.len());
    if value.is_some_and(|v| v.len() > u16::MAX as usize) {
        return Err(Error::NoSpace);
    }
    let room = buf.len().saturating_sub(ENTRIES_OFF);
    if at + old > used || used > room {
        return Err(Error::Corrupt { what: "xattr block", blkno: le::u64_at(buf, 8).unwrap_or(0), why: "entry bytes do not match the count" });
    }
    let new_used = used - old + new;
    if new_used > room {
        return Err(Error::NoSpace);
    }
    let e = buf.get_mut(ENTRIES_OFF..).ok_or(Error::NoSpace)?;
    // Move the entries after this one to their new place, then write it.
    e.copy_within(at + old..used, at + new);
    if let Some(v) = value {
        let x = e.get_mut(at..at + new).ok_or(Error::NoSpace)?;
        x[0] = ns;
        x[1] = name.len() as u8;
        x[2..4].copy_from_slice(&(v.len() as u16).to_le_bytes());
        x[ENTRY_HDR..ENTRY_HDR + name.len()].copy_from_slice(name);
        x[ENTRY_HDR + name.len()..].copy_from_slice(v);
    }
    if let Some(t) = e.get_mut(new_used..used.max(new_used)) {
        t.fill(0);
    }
    let count = match (found, value) {
        (None, Some(_)) => count + 1,
        (Some(_), None) => count - 1,
        _ => count,
    };
    le::put(buf, off::COUNT, &(count as u16).to_le_bytes());
    le::put(buf, off::USED, &(new_used as u16).to_le_bytes());
    Ok(())
}

/// Writes the names of a verified block as `listxattr` lists them (prefix,
/// name, NUL), those of namespaces `show` accepts, into `out` if given;
/// returns the bytes they take, or [`Error::TooBig`] if `out` is shorter.
pub fn list(buf: &[u8], show: impl Fn(u8) -> bool, mut out: Option<&mut [u8]>) -> Result<usize, Error> {
    let mut n = 0usize;
    for x in entries(buf).filter(|x| show(x.ns)) {
        let p = prefix(x.ns);
        let len = p.len() + x.name.len() + 1;
        if let Some(o) = out.as_deref_mut() {
            let d = o.get_mut(n..n + len).ok_or(Error::TooBig)?;
            d[..p.len()].copy_from_slice(p);
            d[p.len()..len - 1].copy_from_slice(x.name);
            d[len - 1] = 0;
        }
        n += len;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn block(bs: usize) -> Vec<u8> {
        let mut b = vec![0u8; bs];
        init_block(&mut b, 7, 5, 9);
        meta::seal(&mut b);
        b
    }

    fn check(b: &mut [u8]) {
        meta::seal(b);
        verify(b, 7, 5, 9).expect("a block set() made fails verification");
    }

    /// A random mix of sets, creates, replaces and removes, against a map:
    /// after each, the block verifies, lists exactly the map in order, and
    /// an operation that fails changed nothing.
    #[test]
    fn matches_a_model() {
        for &bs in &[1024usize, 2048, 4096] {
            let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ bs as u64;
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let mut b = block(bs);
            let mut model: BTreeMap<(u8, Vec<u8>), Vec<u8>> = BTreeMap::new();
            for _ in 0..20_000 {
                let ns = 1 + (next() % 3) as u8;
                let name = format!("n{}", next() % 40).into_bytes();
                let vlen = match next() % 10 {
                    0 => (next() % bs as u64) as usize,
                    1 => 0,
                    _ => (next() % 64) as usize,
                };
                let value = vec![(next() & 0xff) as u8; vlen];
                let mode = match next() % 3 {
                    0 => Mode::Any,
                    1 => Mode::Create,
                    _ => Mode::Replace,
                };
                let remove = next() % 4 == 0;
                let before = b.clone();
                let k = (ns, name.clone());
                let r = set(&mut b, ns, &name, if remove { None } else { Some(&value) }, mode);
                let present = model.contains_key(&k);
                let used: usize = model.iter().map(|((_, n), v)| ENTRY_HDR + n.len() + v.len()).sum();
                let old = model.get(&k).map_or(0, |v| ENTRY_HDR + name.len() + v.len());
                let want = if remove {
                    if present { Ok(()) } else { Err(Error::NotFound) }
                } else if present && mode == Mode::Create {
                    Err(Error::Exists)
                } else if !present && mode == Mode::Replace {
                    Err(Error::NotFound)
                } else if used - old + ENTRY_HDR + name.len() + vlen > bs - ENTRIES_OFF {
                    Err(Error::NoSpace)
                } else {
                    Ok(())
                };
                assert_eq!(r, want, "set {ns} {:?} remove={remove} mode={mode:?} vlen={vlen}", String::from_utf8_lossy(&name));
                match r {
                    Ok(()) if remove => {
                        model.remove(&k);
                    }
                    Ok(()) => {
                        model.insert(k, value);
                    }
                    Err(_) => assert_eq!(b, before, "a failed set changed the block"),
                }
                check(&mut b);
                let got: Vec<_> = entries(&b).map(|e| ((e.ns, e.name.to_vec()), e.value.to_vec())).collect();
                let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                assert_eq!(got, want);
                assert_eq!(is_empty(&b), model.is_empty());
            }
        }
    }

    #[test]
    fn lists_with_prefixes_and_filters() {
        let mut b = block(1024);
        set(&mut b, NS_USER, b"a", Some(b"1"), Mode::Any).unwrap();
        set(&mut b, NS_TRUSTED, b"t", Some(b""), Mode::Any).unwrap();
        set(&mut b, NS_SECURITY, b"s", Some(b"xyz"), Mode::Any).unwrap();
        check(&mut b);
        let n = list(&b, |_| true, None).unwrap();
        let mut out = vec![0u8; n];
        assert_eq!(list(&b, |_| true, Some(&mut out)).unwrap(), n);
        assert_eq!(out, b"user.a\0trusted.t\0security.s\0");
        let n = list(&b, |ns| ns != NS_TRUSTED, None).unwrap();
        assert_eq!(n, b"user.a\0security.s\0".len());
        let mut short = vec![0u8; n - 1];
        assert_eq!(list(&b, |ns| ns != NS_TRUSTED, Some(&mut short)), Err(Error::TooBig));
        assert_eq!(get(&b, NS_SECURITY, b"s"), Some(&b"xyz"[..]));
        assert_eq!(get(&b, NS_USER, b"s"), None);
    }

    #[test]
    fn names_are_checked() {
        let mut b = block(1024);
        assert_eq!(set(&mut b, NS_USER, b"", Some(b"1"), Mode::Any), Err(Error::NameTooLong));
        assert_eq!(set(&mut b, NS_USER, &[b'x'; 256], Some(b"1"), Mode::Any), Err(Error::NameTooLong));
        assert_eq!(set(&mut b, NS_USER, &[b'x'; 255], Some(b"1"), Mode::Any), Ok(()));
        // The largest value: the whole entry area.
        let mut c = block(1024);
        let max = 1024 - ENTRIES_OFF - ENTRY_HDR - 1;
        assert_eq!(set(&mut c, NS_USER, b"v", Some(&vec![1; max + 1]), Mode::Any), Err(Error::NoSpace));
        assert_eq!(set(&mut c, NS_USER, b"v", Some(&vec![1; max]), Mode::Any), Ok(()));
        check(&mut c);
    }

    /// Every single-byte change of a valid block is caught by the checksum;
    /// with the checksum recomputed, the entry checks reject bad layouts
    /// without panicking.
    #[test]
    fn damage_is_rejected_without_panics() {
        let mut b = block(1024);
        for i in 0..20u8 {
            set(&mut b, 1 + i % 3, &[b'a' + i; 3], Some(&[i; 7]), Mode::Any).unwrap();
        }
        check(&mut b);
        let used = counts(&b).1;
        for at in 32..ENTRIES_OFF + used + 4 {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut d = b.clone();
                if d[at] == v {
                    continue;
                }
                d[at] = v;
                assert!(verify(&d, 7, 5, 9).is_err(), "byte {at} = {v} passed the checksum");
                meta::seal(&mut d);
                if verify(&d, 7, 5, 9).is_ok() {
                    // Still a valid block (e.g. a value byte): it reads.
                    let _ = entries(&d).count();
                    let _ = list(&d, |_| true, None);
                } else {
                    let _ = entries(&d).count();
                    let _ = get(&d, 1, b"aaa");
                }
            }
        }
    }

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = ACL_VERSION.to_le_bytes().to_vec();
        for &(tag, perm, id) in entries {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        v
    }

    /// ACLs in `system.`: the two names, well-formed values only; anything
    /// else in that namespace is a corrupt block.
    #[test]
    fn acls_are_checked() {
        let u = u32::MAX;
        let minimal = acl(&[(1, 6, u), (4, 4, u), (0x20, 4, u)]);
        let named = acl(&[(1, 7, u), (2, 6, 1000), (4, 4, u), (0x10, 6, u), (0x20, 0, u)]);
        assert!(acl_valid(&minimal));
        assert!(acl_valid(&named));
        assert!(acl_valid(&acl(&[(1, 6, u), (4, 4, u), (0x10, 4, u), (0x20, 4, u)])), "a mask alone is allowed");
        assert!(!acl_valid(&acl(&[(1, 7, u), (2, 6, 1000), (4, 4, u), (0x20, 0, u)])), "named entries need a mask");
        assert!(!acl_valid(&acl(&[(1, 6, u), (0x20, 4, u)])), "no group");
        assert!(!acl_valid(&acl(&[(1, 6, u), (1, 6, u), (4, 4, u), (0x20, 4, u)])), "two owners");
        assert!(!acl_valid(&acl(&[(1, 8, u), (4, 4, u), (0x20, 4, u)])), "permission bits beyond rwx");
        assert!(!acl_valid(&acl(&[(1, 6, u), (4, 4, u), (0x40, 4, u)])), "unknown tag");
        assert!(!acl_valid(&minimal[..minimal.len() - 1]), "a partial entry");
        let mut v1 = minimal.clone();
        v1[0] = 1;
        assert!(!acl_valid(&v1), "another version");
        assert!(!acl_valid(&[]));
        for bs in [1024usize, 2048, 4096] {
            // Both ACLs at their largest fit in one block.
            let n = acl_max_entries(bs);
            let mut big = vec![(1u16, 7u16, u); 1];
            big.extend((0..n - 4).map(|i| (2u16, 7u16, i as u32)));
            big.extend([(4, 7, u), (0x10, 7, u), (0x20, 7, u)]);
            let v = acl(&big);
            assert_eq!(v.len(), 4 + 8 * n);
            let mut c = block(bs);
            assert_eq!(set(&mut c, NS_SYSTEM, ACL_ACCESS, Some(&v), Mode::Any), Ok(()), "{bs}");
            assert_eq!(set(&mut c, NS_SYSTEM, ACL_DEFAULT, Some(&v), Mode::Any), Ok(()), "{bs}");
            check(&mut c);
        }
        assert_eq!((acl_max_entries(1024), acl_max_entries(2048), acl_max_entries(4096)), (58, 122, 250));

        let mut b = block(1024);
        set(&mut b, NS_SYSTEM, ACL_ACCESS, Some(&named), Mode::Any).unwrap();
        set(&mut b, NS_SYSTEM, ACL_DEFAULT, Some(&minimal), Mode::Any).unwrap();
        set(&mut b, NS_USER, b"a", Some(b"1"), Mode::Any).unwrap();
        check(&mut b);
        let mut out = vec![0u8; 128];
        let n = list(&b, |_| true, Some(&mut out)).unwrap();
        assert_eq!(&out[..n], &b"user.a\0system.posix_acl_access\0system.posix_acl_default\0"[..]);
        for (name, value) in [(&b"other"[..], &minimal[..]), (ACL_ACCESS, &minimal[..3])] {
            let mut c = block(1024);
            set(&mut c, NS_SYSTEM, name, Some(value), Mode::Any).unwrap();
            meta::seal(&mut c);
            assert!(matches!(verify(&c, 7, 5, 9), Err(Error::Corrupt { .. })), "{:?} verified", String::from_utf8_lossy(name));
        }
    }
}
