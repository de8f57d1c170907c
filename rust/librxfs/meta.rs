// SPDX-License-Identifier: GPL-2.0

//! Metadata blocks and the store they live in.
//!
//! Every metadata block except the superblock starts with a [`HDR_SIZE`]-byte
//! self-describing header, as XFS v5 blocks do:
//!
//! | offset | size | field                                          |
//! |--------|------|------------------------------------------------|
//! | 0      | 4    | magic (per structure type)                     |
//! | 4      | 4    | crc32c of the whole block, this field as zero  |
//! | 8      | 8    | the block's own number                         |
//! | 16     | 8    | owner: inode number, or group number           |
//! | 24     | 8    | fsid: the first 8 bytes of the volume uuid     |
//!
//! Readers check all five ([`verify`]) before using anything else in the
//! block, so a misdirected write, a block from an older filesystem on the
//! same device or a block of another owner is caught, not just bit rot.

use core::ops::DerefMut;

use super::crc32c;
use super::error::Error;
use super::le;

/// Size of the common metadata block header.
pub const HDR_SIZE: usize = 32;
/// Offset of the crc32c in every metadata block.
pub const CRC_OFFSET: usize = 4;

/// Magic of an inode block: `"RXIN"`.
pub const MAGIC_INODE: u32 = u32::from_le_bytes(*b"RXIN");
/// Magic of an extent-tree node: `"RXEX"`.
pub const MAGIC_EXTENT: u32 = u32::from_le_bytes(*b"RXEX");
/// Magic of a directory-tree node: `"RXDR"`.
pub const MAGIC_DIR: u32 = u32::from_le_bytes(*b"RXDR");
/// Magic of a free-space bitmap block: `"RXBM"`.
pub const MAGIC_BITMAP: u32 = u32::from_le_bytes(*b"RXBM");
/// Magic of a free-space summary block: `"RXGS"`.
pub const MAGIC_SUMMARY: u32 = u32::from_le_bytes(*b"RXGS");
/// Magic of a refcount-tree node: `"RXRC"`.
pub const MAGIC_REFCOUNT: u32 = u32::from_le_bytes(*b"RXRC");
/// Magic of an inode's extended attribute block: `"RXXA"`.
pub const MAGIC_XATTR: u32 = u32::from_le_bytes(*b"RXXA");

/// Owner of the allocator's own blocks (bitmap, summary): the group number
/// for bitmap blocks, the summary block index for summary blocks.
pub type Owner = u64;

/// The block store: metadata blocks by number, as the kernel's block-device
/// page cache or a user-space image file provides them.
///
/// Handles borrow the store immutably so several blocks can be held at once
/// (a parent and a child B+tree node). A caller never holds two handles to the
/// same block at the same time.
pub trait Store {
    /// A handle to one block's bytes, exactly one block long.
    type Buf<'a>: DerefMut<Target = [u8]>
    where
        Self: 'a;
    /// Block size in bytes.
    fn block_size(&self) -> usize;
    /// Blocks in the filesystem.
    fn block_count(&self) -> u64;
    /// The fsid every header must carry.
    fn fsid(&self) -> u64;
    /// The first block after the fixed metadata: file data and tree nodes
    /// live at or after it.
    fn data_start(&self) -> u64 {
        1
    }
    /// Reads block `blk`, unverified.
    fn read(&self, blk: u64) -> Result<Self::Buf<'_>, Error>;
    /// Blocks `start..start + len` are about to be [`read`](Store::read)
    /// one after the other: a store may start reading them in large I/Os
    /// (a hint; nothing changes what `read` returns).
    fn readahead(&self, start: u64, len: u64) {
        let _ = (start, len);
    }
    /// Records that `buf` was changed; it reaches the disk at the next sync.
    fn dirty(&self, buf: &mut Self::Buf<'_>);
    /// Blocks `start..start + len` were freed: a change not yet written must
    /// not be, since the blocks may next hold file data written directly.
    fn forget(&self, start: u64, len: u64) {
        let _ = (start, len);
    }
    /// True if `buf`'s checksum was verified since its bytes last came
    /// from the device, so [`verify_buf`] may skip it (every change since
    /// went through [`seal`]). Stores that cannot tell say no.
    fn checksum_known(&self, buf: &Self::Buf<'_>) -> bool {
        let _ = buf;
        false
    }
    /// Records that [`verify_buf`] verified `buf`'s checksum.
    fn checksum_verified(&self, buf: &Self::Buf<'_>) {
        let _ = buf;
    }
}

/// Fills in a header for a new block; the crc is set by [`seal`].
pub fn init(buf: &mut [u8], magic: u32, blkno: u64, owner: Owner, fsid: u64) {
    if let Some(h) = buf.get_mut(..HDR_SIZE) {
        h.fill(0);
    }
    le::put_u32(buf, 0, magic);
    le::put_u64(buf, 8, blkno);
    le::put_u64(buf, 16, owner);
    le::put_u64(buf, 24, fsid);
}

/// Recomputes the crc of a metadata block after a change.
pub fn seal(buf: &mut [u8]) {
    if let Some(crc) = crc32c::block_crc(buf, CRC_OFFSET) {
        le::put_u32(buf, CRC_OFFSET, crc);
    }
}

/// Seals and dirties a changed block.
pub fn commit<S: Store>(s: &S, buf: &mut S::Buf<'_>) {
    seal(buf);
    s.dirty(buf);
}

/// The magic recorded in a block's header (0 if the block is short).
pub fn magic_of(buf: &[u8]) -> u32 {
    le::u32_at(buf, 0).unwrap_or(0)
}

/// Verifies a metadata block's header: magic, crc, own block number, owner
/// (unless `owner` is `None`) and fsid. `what` names the structure in the
/// error.
pub fn verify(
    buf: &[u8],
    what: &'static str,
    magic: u32,
    blkno: u64,
    owner: Option<Owner>,
    fsid: u64,
) -> Result<(), Error> {
    check_header(buf, what, magic, blkno, owner, fsid, true)
}

/// [`verify`] of a block read from `s`: the checksum is computed only if
/// the store does not know it verified (its bytes unchanged since, or
/// changed and sealed), as XFS verifies a buffer when it is read from
/// disk, not at each use. The other header fields are checked every time.
pub fn verify_buf<S: Store>(s: &S, buf: &S::Buf<'_>, what: &'static str, magic: u32, blkno: u64, owner: Option<Owner>) -> Result<(), Error> {
    let crc = !s.checksum_known(buf);
    check_header(buf, what, magic, blkno, owner, s.fsid(), crc)?;
    if crc {
        s.checksum_verified(buf);
    }
    Ok(())
}

fn check_header(buf: &[u8], what: &'static str, magic: u32, blkno: u64, owner: Option<Owner>, fsid: u64, crc: bool) -> Result<(), Error> {
    let bad = |why| Error::Corrupt { what, blkno, why };
    if buf.len() < HDR_SIZE {
        return Err(bad("short block"));
    }
    if le::u32_at(buf, 0) != Some(magic) {
        return Err(bad("bad magic"));
    }
    if crc && le::u32_at(buf, CRC_OFFSET) != crc32c::block_crc(buf, CRC_OFFSET) {
        return Err(bad("bad checksum"));
    }
    if le::u64_at(buf, 8) != Some(blkno) {
        return Err(bad("wrong block number in header"));
    }
    if let Some(o) = owner {
        if le::u64_at(buf, 16) != Some(o) {
            return Err(bad("wrong owner in header"));
        }
    }
    if le::u64_at(buf, 24) != Some(fsid) {
        return Err(bad("wrong filesystem id in header"));
    }
    Ok(())
}

/// The fsid of a volume uuid.
pub fn fsid_of(uuid: &[u8; 16]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&uuid[..8]);
    u64::from_le_bytes(b)
}

/// A user-space store: blocks in memory, loaded on first use from an image
/// file or device if there is one. For tests and the tools.
#[cfg(any(test, feature = "std"))]
pub mod mem {
    use super::*;
    use std::cell::{RefCell, RefMut};
    use std::collections::BTreeSet;
    use std::fs::File;
    use std::os::unix::fs::FileExt;

    /// Blocks in memory; each block is its own `RefCell` so that holding two
    /// handles to one block panics in tests. A block not yet loaded is empty.
    /// The table is allocated a chunk of [`CHUNK`] blocks at a time, when
    /// one of them is first used: a tool that reads a few blocks of a large
    /// filesystem pays for those, not for every block of it.
    pub struct MemStore {
        chunks: Vec<std::cell::OnceCell<Box<[RefCell<Vec<u8>>]>>>,
        count: u64,
        /// Block size.
        pub bs: usize,
        /// fsid.
        pub fsid: u64,
        /// Blocks dirtied since the last flush.
        pub dirtied: RefCell<BTreeSet<u64>>,
        /// The image blocks are loaded from and flushed to.
        pub file: Option<File>,
    }

    /// Blocks per chunk of [`MemStore`]'s table.
    pub const CHUNK: u64 = 4096;

    impl MemStore {
        /// A zeroed store.
        pub fn new(bs: usize, count: u64, fsid: u64) -> Self {
            MemStore {
                chunks: (0..count.div_ceil(CHUNK)).map(|_| std::cell::OnceCell::new()).collect(),
                count,
                bs,
                fsid,
                dirtied: RefCell::new(BTreeSet::new()),
                file: None,
            }
        }

        /// A store over an image file; blocks are read when first used.
        pub fn open(file: File, bs: usize, count: u64, fsid: u64) -> Self {
            MemStore { file: Some(file), ..Self::new(bs, count, fsid) }
        }

        /// The same store, loading from and flushing to `file`.
        pub fn with_file(self, file: File) -> Self {
            MemStore { file: Some(file), ..self }
        }

        /// Block `blk`'s cell (empty until loaded), or `None` past the end.
        pub fn cell(&self, blk: u64) -> Option<&RefCell<Vec<u8>>> {
            if blk >= self.count {
                return None;
            }
            let chunk = self.chunks.get((blk / CHUNK) as usize)?;
            let cells = chunk.get_or_init(|| (0..CHUNK).map(|_| RefCell::new(Vec::new())).collect());
            cells.get((blk % CHUNK) as usize)
        }

        /// The blocks loaded so far, in order, with their numbers.
        pub fn loaded(&self) -> impl Iterator<Item = (u64, &RefCell<Vec<u8>>)> {
            self.chunks.iter().enumerate().filter_map(|(i, c)| c.get().map(|c| (i as u64, c))).flat_map(|(i, c)| {
                c.iter().enumerate().map(move |(j, b)| (i * CHUNK + j as u64, b)).filter(|(_, b)| b.try_borrow().map_or(true, |v| !v.is_empty()))
            })
        }

        /// Writes the dirtied blocks back to the file.
        pub fn flush(&self) -> std::io::Result<()> {
            let Some(f) = &self.file else { return Ok(()) };
            for &b in self.dirtied.borrow().iter() {
                let c = self.cell(b).expect("dirtied block in range").borrow();
                f.write_all_at(&c, b * self.bs as u64)?;
            }
            self.dirtied.borrow_mut().clear();
            f.sync_all()
        }

        /// Raw access to a block's bytes (tests corrupt blocks this way).
        pub fn raw(&self, blk: u64) -> RefMut<'_, Vec<u8>> {
            self.read(blk).expect("block in range").0
        }
    }

    /// A handle.
    pub struct MemBuf<'a>(pub RefMut<'a, Vec<u8>>, pub u64);

    impl core::ops::Deref for MemBuf<'_> {
        type Target = [u8];
        fn deref(&self) -> &[u8] {
            &self.0
        }
    }
    impl core::ops::DerefMut for MemBuf<'_> {
        fn deref_mut(&mut self) -> &mut [u8] {
            &mut self.0
        }
    }

    impl Store for MemStore {
        type Buf<'a> = MemBuf<'a>;
        fn block_size(&self) -> usize {
            self.bs
        }
        fn block_count(&self) -> u64 {
            self.count
        }
        fn fsid(&self) -> u64 {
            self.fsid
        }
        fn read(&self, blk: u64) -> Result<MemBuf<'_>, Error> {
            let c = self.cell(blk).ok_or(Error::Io(5))?;
            let mut r = c.try_borrow_mut().expect("block held twice");
            if r.is_empty() {
                r.resize(self.bs, 0);
                if let Some(f) = &self.file {
                    f.read_exact_at(&mut r, blk * self.bs as u64).map_err(|e| Error::Io(e.raw_os_error().unwrap_or(5)))?;
                }
            }
            Ok(MemBuf(r, blk))
        }
        fn dirty(&self, buf: &mut MemBuf<'_>) {
            self.dirtied.borrow_mut().insert(buf.1);
        }
        fn forget(&self, start: u64, len: u64) {
            let mut d = self.dirtied.borrow_mut();
            let gone: Vec<u64> = d.range(start..start.saturating_add(len)).copied().collect();
            for b in gone {
                d.remove(&b);
            }
        }
    }
}
