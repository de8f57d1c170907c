// SPDX-License-Identifier: GPL-2.0

//! Inodes. An inode is one metadata block and its number is that block's
//! number, so inode allocation is block allocation (near the parent
//! directory) and scales with the free-space structures, with no inode
//! table to size at mkfs time and no inode count limit.
//!
//! | offset | size | field                                             |
//! |--------|------|---------------------------------------------------|
//! | 0      | 32   | metadata header, magic `RXIN`, owner = inode no.  |
//! | 32     | 4    | mode (file type and permissions)                  |
//! | 36     | 4    | flags ([`FLAG_REFLINK`], [`FLAGS_USER`])          |
//! | 40     | 4    | uid                                               |
//! | 44     | 4    | gid                                               |
//! | 48     | 4    | link count                                        |
//! | 52     | 4    | generation                                        |
//! | 56     | 8    | size in bytes                                     |
//! | 64     | 8    | blocks owned (data and tree nodes, not the inode) |
//! | 72     | 8×4  | atime, mtime, ctime, btime seconds (signed)       |
//! | 104    | 4×4  | atime, mtime, ctime, btime nanoseconds            |
//! | 120    | 4    | rdev (`new_encode_dev`) for device nodes          |
//! | 124    | 2    | fork format ([`Fork`])                            |
//! | 126    | 2    | inline data length (symlink target)               |
//! | 128    | 8    | parent directory (directories only)               |
//! | 136    | 8    | next inode on the orphan list, or 0               |
//! | 144    | 4    | CoW extent size hint, in blocks                   |
//! | 148    | 8    | xattr block ([`super::xattr`]), or 0              |
//! | 156    | 36   | reserved, zero                                    |
//! | 192    | ...  | the data fork ([`FORK_OFF`] to the end of block)  |

use super::error::Error;
use super::le;
use super::meta;

/// Where the data fork starts.
pub const FORK_OFF: usize = 192;
/// Flag: the file may share blocks (reflink, a later version).
pub const FLAG_REFLINK: u32 = 1;
/// Flag (`chattr +i`): the file cannot be changed, linked to, renamed or
/// removed (the VFS enforces it from `S_IMMUTABLE`).
pub const FLAG_IMMUTABLE: u32 = 1 << 1;
/// Flag (`chattr +a`): the file can only be appended to; a directory's
/// entries cannot be removed (`S_APPEND`).
pub const FLAG_APPEND: u32 = 1 << 2;
/// Flag (`chattr +S`): writes are synchronous (`S_SYNC`).
pub const FLAG_SYNC: u32 = 1 << 3;
/// Flag (`chattr +A`): access times are not updated (`S_NOATIME`).
pub const FLAG_NOATIME: u32 = 1 << 4;
/// Flag (`chattr +d`): not for dump(8); nothing else.
pub const FLAG_NODUMP: u32 = 1 << 5;
/// The flags a user sets (`FS_IOC_SETFLAGS`, `FS_IOC_FSSETXATTR`).
pub const FLAGS_USER: u32 = FLAG_IMMUTABLE | FLAG_APPEND | FLAG_SYNC | FLAG_NOATIME | FLAG_NODUMP;
/// The flags a new regular file or directory takes from its parent
/// directory, as XFS's `xfs_inode_inherit_flags` does with its default
/// `fs.xfs.inherit_*` sysctls: sync, noatime and nodump (never immutable or
/// append-only, which would make the new file unusable to its creator).
pub const FLAGS_INHERITED: u32 = FLAG_SYNC | FLAG_NOATIME | FLAG_NODUMP;

/// The flags a new inode of type `mode` takes from a parent directory with
/// `parent` flags: [`FLAGS_INHERITED`] for regular files and directories,
/// none for symlinks and special files.
pub fn inherited_flags(parent: u32, mode: u32) -> u32 {
    match mode & mode::S_IFMT {
        mode::S_IFREG | mode::S_IFDIR => parent & FLAGS_INHERITED,
        _ => 0,
    }
}

/// Flags this version knows.
pub const FLAGS_KNOWN: u32 = FLAG_REFLINK | FLAGS_USER;
/// Highest link count.
pub const MAX_NLINK: u32 = 65000;

/// The blocks of the largest file (`LLONG_MAX` bytes, `MAX_LFS_FILESIZE`)
/// at block size `1 << log`: its last block ends at 2^63, one byte past
/// the largest size, so file blocks are `0..max_file_blocks(log)`.
pub const fn max_file_blocks(log: u32) -> u64 {
    // (Saturating: no shift can overflow, whatever `log` is.)
    1 << 63u32.saturating_sub(log)
}

/// File types, the `S_IFMT` bits of the mode.
pub mod mode {
    /// Type mask.
    pub const S_IFMT: u32 = 0o170000;
    /// Socket.
    pub const S_IFSOCK: u32 = 0o140000;
    /// Symbolic link.
    pub const S_IFLNK: u32 = 0o120000;
    /// Regular file.
    pub const S_IFREG: u32 = 0o100000;
    /// Block device.
    pub const S_IFBLK: u32 = 0o060000;
    /// Directory.
    pub const S_IFDIR: u32 = 0o040000;
    /// Character device.
    pub const S_IFCHR: u32 = 0o020000;
    /// FIFO.
    pub const S_IFIFO: u32 = 0o010000;
}

/// What the data fork holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Fork {
    /// Nothing (device nodes, fifos, sockets).
    None = 0,
    /// A B+tree root: the extent map of a file, or a directory's entries.
    Tree = 1,
    /// Inline bytes: a symlink's target.
    Inline = 2,
}

/// A timestamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ts {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds, below 10^9.
    pub nsec: u32,
}

/// The fields of an inode (everything but the fork's contents).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inode {
    /// Mode.
    pub mode: u32,
    /// Flags.
    pub flags: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Link count.
    pub nlink: u32,
    /// Generation, for NFS file handles.
    pub generation: u32,
    /// Size in bytes.
    pub size: u64,
    /// Blocks owned.
    pub nblocks: u64,
    /// Access time.
    pub atime: Ts,
    /// Modification time.
    pub mtime: Ts,
    /// Change time.
    pub ctime: Ts,
    /// Birth time.
    pub btime: Ts,
    /// Device number.
    pub rdev: u32,
    /// Inline data length.
    pub inline_len: u16,
    /// Parent directory.
    pub parent: u64,
    /// Next on the orphan list.
    pub next_orphan: u64,
    /// CoW extent size hint.
    pub cowextsize: u32,
    /// The extended attribute block, or 0 (with
    /// [`super::format::features::INCOMPAT_XATTR`]).
    pub xattr: u64,
}

mod off {
    pub(super) const MODE: usize = 32;
    pub(super) const FLAGS: usize = 36;
    pub(super) const UID: usize = 40;
    pub(super) const GID: usize = 44;
    pub(super) const NLINK: usize = 48;
    pub(super) const GEN: usize = 52;
    pub(super) const SIZE: usize = 56;
    pub(super) const NBLOCKS: usize = 64;
    pub(super) const SEC: usize = 72;
    pub(super) const NSEC: usize = 104;
    pub(super) const RDEV: usize = 120;
    pub(super) const FORK: usize = 124;
    pub(super) const INLINE_LEN: usize = 126;
    pub(super) const PARENT: usize = 128;
    pub(super) const NEXT_ORPHAN: usize = 136;
    pub(super) const COWEXTSIZE: usize = 144;
    pub(super) const XATTR: usize = 148;
    pub(super) const RESERVED: usize = 156;
}

impl Inode {
    /// The file type bits.
    pub fn ftype(&self) -> u32 {
        self.mode & mode::S_IFMT
    }

    /// The fork format this file type uses.
    pub fn fork(&self) -> Fork {
        match self.ftype() {
            mode::S_IFREG | mode::S_IFDIR => Fork::Tree,
            mode::S_IFLNK => Fork::Inline,
            _ => Fork::None,
        }
    }

    /// Writes the fields into an inode block, leaving the fork alone, and
    /// reseals it. The header must be in place ([`init_block`]).
    pub fn encode(&self, buf: &mut [u8]) {
        le::put_u32(buf, off::MODE, self.mode);
        le::put_u32(buf, off::FLAGS, self.flags);
        le::put_u32(buf, off::UID, self.uid);
        le::put_u32(buf, off::GID, self.gid);
        le::put_u32(buf, off::NLINK, self.nlink);
        le::put_u32(buf, off::GEN, self.generation);
        le::put_u64(buf, off::SIZE, self.size);
        le::put_u64(buf, off::NBLOCKS, self.nblocks);
        for (i, t) in [self.atime, self.mtime, self.ctime, self.btime].iter().enumerate() {
            le::put_u64(buf, off::SEC + 8 * i, t.sec as u64);
            le::put_u32(buf, off::NSEC + 4 * i, t.nsec);
        }
        le::put_u32(buf, off::RDEV, self.rdev);
        le::put(buf, off::FORK, &(self.fork() as u16).to_le_bytes());
        le::put(buf, off::INLINE_LEN, &self.inline_len.to_le_bytes());
        le::put_u64(buf, off::PARENT, self.parent);
        le::put_u64(buf, off::NEXT_ORPHAN, self.next_orphan);
        le::put_u32(buf, off::COWEXTSIZE, self.cowextsize);
        le::put_u64(buf, off::XATTR, self.xattr);
        if let Some(r) = buf.get_mut(off::RESERVED..FORK_OFF) {
            r.fill(0);
        }
        meta::seal(buf);
    }

    /// Verifies an inode block (header, then every field) and decodes it.
    pub fn decode(buf: &[u8], ino: u64, fsid: u64, block_count: u64) -> Result<Self, Error> {
        meta::verify(buf, "inode", meta::MAGIC_INODE, ino, Some(ino), fsid)?;
        Self::decode_fields(buf, ino, block_count)
    }

    /// [`Inode::decode`] of a block read from `s`, whose checksum `s` may
    /// know is verified already ([`meta::verify_buf`]).
    pub fn decode_in<S: super::meta::Store>(s: &S, buf: &S::Buf<'_>, ino: u64) -> Result<Self, Error> {
        meta::verify_buf(s, buf, "inode", meta::MAGIC_INODE, ino, Some(ino))?;
        Self::decode_fields(buf, ino, s.block_count())
    }

    /// Checks and decodes every field of a verified inode block.
    fn decode_fields(buf: &[u8], ino: u64, block_count: u64) -> Result<Self, Error> {
        let bad = |why| Error::Corrupt { what: "inode", blkno: ino, why };
        if buf.len() <= FORK_OFF {
            return Err(bad("short block"));
        }
        let u32f = |o| le::u32_at(buf, o).unwrap_or(0);
        let u64f = |o| le::u64_at(buf, o).unwrap_or(0);
        let mut t = [Ts::default(); 4];
        for (i, ts) in t.iter_mut().enumerate() {
            ts.sec = u64f(off::SEC + 8 * i) as i64;
            ts.nsec = u32f(off::NSEC + 4 * i);
            if ts.nsec >= 1_000_000_000 {
                return Err(bad("timestamp nanoseconds out of range"));
            }
        }
        let ino_rec = Inode {
            mode: u32f(off::MODE),
            flags: u32f(off::FLAGS),
            uid: u32f(off::UID),
            gid: u32f(off::GID),
            nlink: u32f(off::NLINK),
            generation: u32f(off::GEN),
            size: u64f(off::SIZE),
            nblocks: u64f(off::NBLOCKS),
            atime: t[0],
            mtime: t[1],
            ctime: t[2],
            btime: t[3],
            rdev: u32f(off::RDEV),
            inline_len: le::u16_at(buf, off::INLINE_LEN).unwrap_or(0),
            parent: u64f(off::PARENT),
            next_orphan: u64f(off::NEXT_ORPHAN),
            cowextsize: u32f(off::COWEXTSIZE),
            xattr: u64f(off::XATTR),
        };
        if ino_rec.mode & !0o177777 != 0 {
            return Err(bad("bad mode"));
        }
        match ino_rec.ftype() {
            mode::S_IFREG | mode::S_IFDIR | mode::S_IFLNK | mode::S_IFCHR | mode::S_IFBLK
            | mode::S_IFIFO | mode::S_IFSOCK => {}
            _ => return Err(bad("bad file type")),
        }
        if ino_rec.flags & !FLAGS_KNOWN != 0 {
            return Err(bad("unknown flags"));
        }
        if ino_rec.nlink > MAX_NLINK {
            return Err(bad("link count out of range"));
        }
        if ino_rec.size > i64::MAX as u64 {
            return Err(bad("size out of range"));
        }
        // A file that shares blocks counts each of its mappings (as XFS's
        // di_nblocks): at most one per file block, plus its tree nodes.
        let limit = if ino_rec.flags & FLAG_REFLINK != 0 {
            max_file_blocks(buf.len().trailing_zeros()).saturating_add(block_count)
        } else {
            block_count
        };
        if ino_rec.nblocks >= limit {
            return Err(bad("block count out of range"));
        }
        if le::u16_at(buf, off::FORK) != Some(ino_rec.fork() as u16) {
            return Err(bad("fork format does not match file type"));
        }
        let fork_room = buf.len() - FORK_OFF;
        match ino_rec.fork() {
            Fork::Inline => {
                if ino_rec.inline_len as usize > fork_room || ino_rec.inline_len == 0 {
                    return Err(bad("inline data length out of range"));
                }
                if ino_rec.size != ino_rec.inline_len as u64 {
                    return Err(bad("symlink size does not match its target"));
                }
            }
            _ if ino_rec.inline_len != 0 => return Err(bad("inline data length on a non-symlink")),
            _ => {}
        }
        let is_dir = ino_rec.ftype() == mode::S_IFDIR;
        if (is_dir && (ino_rec.parent == 0 || ino_rec.parent >= block_count)) || (!is_dir && ino_rec.parent != 0) {
            return Err(bad("bad parent"));
        }
        if ino_rec.next_orphan >= block_count || ino_rec.next_orphan == ino {
            return Err(bad("bad orphan list pointer"));
        }
        if ino_rec.xattr >= block_count || ino_rec.xattr == ino {
            return Err(bad("bad xattr block pointer"));
        }
        if buf.get(off::RESERVED..FORK_OFF).is_some_and(|r| r.iter().any(|&b| b != 0)) {
            return Err(bad("reserved bytes not zero"));
        }
        Ok(ino_rec)
    }
}

/// Starts a fresh inode block: header, zeroed fields and fork.
pub fn init_block(buf: &mut [u8], ino: u64, fsid: u64) {
    buf.fill(0);
    meta::init(buf, meta::MAGIC_INODE, ino, ino, fsid);
}

/// The inline data (symlink target) of a verified inode block.
pub fn inline_data<'a>(buf: &'a [u8], ino: &Inode) -> &'a [u8] {
    buf.get(FORK_OFF..FORK_OFF + ino.inline_len as usize).unwrap_or(&[])
}

/// Stores inline data; [`Error::NameTooLong`] if it does not fit.
pub fn set_inline_data(buf: &mut [u8], ino: &mut Inode, data: &[u8]) -> Result<(), Error> {
    let room = buf.len().saturating_sub(FORK_OFF);
    if data.len() > room || data.len() > u16::MAX as usize {
        return Err(Error::NameTooLong);
    }
    if let Some(f) = buf.get_mut(FORK_OFF..) {
        f.fill(0);
    }
    le::put(buf, FORK_OFF, data);
    ino.inline_len = data.len() as u16;
    ino.size = data.len() as u64;
    Ok(())
}

/// Reads and verifies inode `ino`'s block, returning the decoded fields.
pub fn read<S: super::meta::Store>(s: &S, ino: u64) -> Result<Inode, Error> {
    if ino == 0 || ino >= s.block_count() {
        return Err(Error::Corrupt { what: "inode", blkno: ino, why: "inode number out of range" });
    }
    let buf = s.read(ino)?;
    Inode::decode_in(s, &buf, ino)
}

/// Changes some fields of an on-disk inode: reads and verifies it, applies
/// `f`, re-encodes and commits. A change that changes nothing dirties
/// nothing: `write_inode` of an inode whose fields the namespace operation
/// already wrote (every create, before the first sync) would otherwise
/// log and write home one block per inode again.
pub fn modify<S: super::meta::Store>(s: &S, ino: u64, f: impl FnOnce(&mut Inode)) -> Result<Inode, Error> {
    if ino == 0 || ino >= s.block_count() {
        return Err(Error::Corrupt { what: "inode", blkno: ino, why: "inode number out of range" });
    }
    let mut buf = s.read(ino)?;
    let old = Inode::decode_in(s, &buf, ino)?;
    let mut i = old.clone();
    f(&mut i);
    if i != old {
        i.encode(&mut buf);
        s.dirty(&mut buf);
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{mem::MemStore, Store};

    /// `modify` dirties the block only when a field changes, and the change
    /// reads back.
    #[test]
    fn modify_dirties_only_a_change() {
        let s = MemStore::new(1024, 16, 9);
        {
            let mut b = s.read(5).unwrap();
            init_block(&mut b, 5, 9);
            let i = Inode { mode: 0o100644, nlink: 1, ..Default::default() };
            i.encode(&mut b);
        }
        let same = modify(&s, 5, |i| i.nlink = 1).unwrap();
        assert!(s.dirtied.borrow().is_empty(), "an unchanged inode was dirtied");
        assert_eq!(same.nlink, 1);
        let changed = modify(&s, 5, |i| i.size = 4096).unwrap();
        assert!(s.dirtied.borrow().contains(&5), "a changed inode was not dirtied");
        assert_eq!(changed.size, 4096);
        assert_eq!(read(&s, 5).unwrap().size, 4096);
    }
}
