// SPDX-License-Identifier: GPL-2.0

//! The rxfs on-disk format, version 1: the one definition that the kernel
//! module, mkfs.rxfs and fsck.rxfs all use. `Documentation/filesystems/rxfs/
//! ondisk-format.rst` describes the same layout in prose; keep them in step.
//!
//! All integers are little-endian. Block 0 holds the superblock in its first
//! [`SB_SIZE`] bytes; the rest of block 0 is zero.

use super::alloc::Geometry;
use super::crc32c;
use super::error::Error;
use super::le;

/// `"RXFS"` as stored: the bytes `52 58 46 53` at offset 0.
pub const SB_MAGIC: u32 = u32::from_le_bytes(*b"RXFS");
/// The format version this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes of block 0 covered by the superblock and its checksum. Fits one
/// 512-byte sector, so it is written atomically.
pub const SB_SIZE: usize = 512;
/// The superblock's crc32c, over the first [`SB_SIZE`] bytes with this field
/// taken as zero.
pub const SB_CRC_OFFSET: usize = SB_SIZE - 4;
/// `statfs` `f_type`: the magic number as a host integer.
pub const STATFS_MAGIC: u64 = SB_MAGIC as u64;

/// The smallest block size: 1 KiB.
pub const MIN_BLOCK_LOG: u8 = 10;
/// The largest block size: 4 KiB (one page on the supported machines).
pub const MAX_BLOCK_LOG: u8 = 12;
/// The default block size.
pub const DEFAULT_BLOCK_SIZE: u32 = 4096;
/// The smallest filesystem mkfs makes: 1 MiB.
pub const MIN_FS_BYTES: u64 = 1 << 20;
/// The largest block count: 2^48 blocks (1 EiB at 4 KiB), so that any block
/// number times the block size fits in a u64 byte offset.
pub const MAX_BLOCKS: u64 = 1 << 48;
/// Length of the volume label, NUL padded.
pub const LABEL_LEN: usize = 32;
/// Longest file name.
pub const NAME_MAX: u32 = 255;
/// Longest extent, in blocks (2^21, as XFS): of the data fork, the CoW fork
/// and the refcount tree's records.
pub const MAX_EXTENT_LEN: u64 = 1 << 21;

/// Feature bits. A filesystem with a feature bit this code does not know
/// mounts read-only (ro_compat) or not at all (incompat).
pub mod features {
    /// Compatible features this code knows.
    pub const COMPAT_KNOWN: u64 = 0;
    /// Read-only compatible: files may share blocks (reflink). The
    /// superblock names the refcount inode, whose fork roots the
    /// [`refcount`](super::super::refcount) tree. Read-only compatible as
    /// XFS's: code that does not know it can still read every file, but
    /// must not free or overwrite a shared block.
    pub const RO_COMPAT_REFLINK: u64 = 1;
    /// Read-only compatible features this code knows.
    pub const RO_COMPAT_KNOWN: u64 = RO_COMPAT_REFLINK;
    /// Incompatible: the filesystem has a metadata journal (the superblock
    /// names its region); code that does not know it must not mount it, as
    /// it could not replay the log.
    pub const INCOMPAT_LOG: u64 = 1;
    /// Incompatible: inodes may have an extended attribute block
    /// ([`xattr`](super::super::xattr)), named by a field that older code
    /// requires to be zero (it could neither read such an inode nor free
    /// the block with it).
    pub const INCOMPAT_XATTR: u64 = 2;
    /// Incompatible: xattr blocks may hold POSIX ACLs (namespace
    /// [`NS_SYSTEM`](super::super::xattr::NS_SYSTEM)), which older code
    /// takes for a corrupt block. Needs [`INCOMPAT_XATTR`].
    pub const INCOMPAT_ACL: u64 = 4;
    /// Incompatible features this code knows.
    pub const INCOMPAT_KNOWN: u64 = INCOMPAT_LOG | INCOMPAT_XATTR | INCOMPAT_ACL;
}

// Byte offsets of the superblock fields.
mod off {
    pub(super) const MAGIC: usize = 0;
    pub(super) const VERSION: usize = 4;
    pub(super) const BLOCK_SIZE: usize = 8;
    pub(super) const BLOCK_LOG: usize = 12; // u32, must equal log2(block_size)
    pub(super) const BLOCK_COUNT: usize = 16;
    pub(super) const UUID: usize = 24; // 16 bytes
    pub(super) const LABEL: usize = 40; // 32 bytes
    pub(super) const COMPAT: usize = 72;
    pub(super) const RO_COMPAT: usize = 80;
    pub(super) const INCOMPAT: usize = 88;
    pub(super) const FREE_BLOCKS: usize = 96;
    pub(super) const INODE_COUNT: usize = 104;
    pub(super) const ROOT_INO: usize = 112;
    pub(super) const META_BLOCKS: usize = 120;
    pub(super) const ORPHAN_HEAD: usize = 128;
    pub(super) const HASH_SEED: usize = 136; // u32
    pub(super) const GENERATION: usize = 140; // u32
    pub(super) const REFCOUNT_INO: usize = 144;
    pub(super) const LOG_START: usize = 152;
    pub(super) const LOG_BLOCKS: usize = 160;
    // 168..SB_CRC_OFFSET: reserved; zero.
    pub(super) const RESERVED: usize = 168;
}

/// The decoded superblock. Only [`Superblock::decode`] builds one from disk,
/// so a value of this type has passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// log2 of the block size, 10..=12.
    pub block_log: u8,
    /// Blocks in the filesystem.
    pub block_count: u64,
    /// Volume UUID.
    pub uuid: [u8; 16],
    /// Volume label, NUL padded.
    pub label: [u8; LABEL_LEN],
    /// Compatible feature bits.
    pub compat: u64,
    /// Read-only compatible feature bits: unknown ones force read-only.
    pub ro_compat: u64,
    /// Incompatible feature bits: unknown ones refuse the mount.
    pub incompat: u64,
    /// Blocks not in use.
    pub free_blocks: u64,
    /// Inodes in use.
    pub inode_count: u64,
    /// Inode number of the root directory.
    pub root_ino: u64,
    /// Blocks at the start of the device that hold fixed metadata.
    pub meta_blocks: u64,
    /// First inode of the orphan list (unlinked, still open), or 0.
    pub orphan_head: u64,
    /// Seed of the directory name hash.
    pub hash_seed: u32,
    /// Next inode generation number.
    pub generation: u32,
    /// The refcount inode (with [`features::RO_COMPAT_REFLINK`]), else 0.
    pub refcount_ino: u64,
    /// First block of the journal region (with [`features::INCOMPAT_LOG`]),
    /// else 0.
    pub log_start: u64,
    /// Blocks in the journal region, else 0.
    pub log_blocks: u64,
}

impl Superblock {
    /// The block size in bytes.
    pub fn block_size(&self) -> u32 {
        1u32 << self.block_log
    }

    /// A new, empty filesystem's superblock.
    pub fn new(block_size: u32, block_count: u64, uuid: [u8; 16]) -> Result<Self, Error> {
        let block_log = block_log_of(block_size)?;
        check_block_count(block_log, block_count)?;
        let meta_blocks = Geometry::new(block_size, block_count).meta_blocks();
        if meta_blocks + 16 > block_count {
            return Err(Error::BadField { field: "block_count", value: block_count });
        }
        Ok(Superblock {
            block_log,
            block_count,
            uuid,
            label: [0; LABEL_LEN],
            compat: 0,
            ro_compat: 0,
            incompat: 0,
            free_blocks: block_count - meta_blocks - 1,
            inode_count: 1,
            root_ino: meta_blocks,
            meta_blocks,
            orphan_head: 0,
            hash_seed: crc32c::crc32c(&uuid),
            generation: 1,
            refcount_ino: 0,
            log_start: 0,
            log_blocks: 0,
        })
    }

    /// Encodes into the first [`SB_SIZE`] bytes of `buf`, checksum included.
    pub fn encode(&self, buf: &mut [u8]) -> Result<(), Error> {
        let have = buf.len();
        let sb = buf
            .get_mut(..SB_SIZE)
            .ok_or(Error::ShortBuffer { need: SB_SIZE, have })?;
        sb.fill(0);
        // Every offset below is a constant inside SB_SIZE: the puts succeed.
        le::put_u32(sb, off::MAGIC, SB_MAGIC);
        le::put_u32(sb, off::VERSION, FORMAT_VERSION);
        le::put_u32(sb, off::BLOCK_SIZE, self.block_size());
        le::put_u32(sb, off::BLOCK_LOG, self.block_log as u32);
        le::put_u64(sb, off::BLOCK_COUNT, self.block_count);
        le::put(sb, off::UUID, &self.uuid);
        le::put(sb, off::LABEL, &self.label);
        le::put_u64(sb, off::COMPAT, self.compat);
        le::put_u64(sb, off::RO_COMPAT, self.ro_compat);
        le::put_u64(sb, off::INCOMPAT, self.incompat);
        le::put_u64(sb, off::FREE_BLOCKS, self.free_blocks);
        le::put_u64(sb, off::INODE_COUNT, self.inode_count);
        le::put_u64(sb, off::ROOT_INO, self.root_ino);
        le::put_u64(sb, off::META_BLOCKS, self.meta_blocks);
        le::put_u64(sb, off::ORPHAN_HEAD, self.orphan_head);
        le::put_u32(sb, off::HASH_SEED, self.hash_seed);
        le::put_u32(sb, off::GENERATION, self.generation);
        le::put_u64(sb, off::REFCOUNT_INO, self.refcount_ino);
        le::put_u64(sb, off::LOG_START, self.log_start);
        le::put_u64(sb, off::LOG_BLOCKS, self.log_blocks);
        let crc = crc32c::block_crc(sb, SB_CRC_OFFSET).ok_or(Error::ShortBuffer {
            need: SB_SIZE,
            have,
        })?;
        le::put_u32(sb, SB_CRC_OFFSET, crc);
        Ok(())
    }

    /// Decodes and verifies a superblock: magic, checksum, version, features,
    /// geometry and counters. Does not know the device size; see
    /// [`Superblock::check_device`].
    pub fn decode(buf: &[u8]) -> Result<Self, Error> {
        let have = buf.len();
        let short = Error::ShortBuffer { need: SB_SIZE, have };
        let sb = buf.get(..SB_SIZE).ok_or(short)?;
        let magic = le::u32_at(sb, off::MAGIC).ok_or(short)?;
        if magic != SB_MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let stored = le::u32_at(sb, SB_CRC_OFFSET).ok_or(short)?;
        let computed = crc32c::block_crc(sb, SB_CRC_OFFSET).ok_or(short)?;
        if stored != computed {
            return Err(Error::BadChecksum { stored, computed });
        }
        let version = le::u32_at(sb, off::VERSION).ok_or(short)?;
        if version != FORMAT_VERSION {
            return Err(Error::BadVersion { found: version });
        }
        let u64f = |o| le::u64_at(sb, o).ok_or(short);
        let incompat = u64f(off::INCOMPAT)?;
        if incompat & !features::INCOMPAT_KNOWN != 0 {
            return Err(Error::UnknownIncompat {
                bits: incompat & !features::INCOMPAT_KNOWN,
            });
        }
        if incompat & features::INCOMPAT_ACL != 0 && incompat & features::INCOMPAT_XATTR == 0 {
            // ACLs live in xattr blocks.
            return Err(Error::BadField { field: "acl feature without xattr", value: incompat });
        }
        let block_size = le::u32_at(sb, off::BLOCK_SIZE).ok_or(short)?;
        let block_log = block_log_of(block_size)?;
        let stored_log = le::u32_at(sb, off::BLOCK_LOG).ok_or(short)?;
        if stored_log != block_log as u32 {
            return Err(Error::BadField { field: "block_log", value: stored_log as u64 });
        }
        let block_count = u64f(off::BLOCK_COUNT)?;
        check_block_count(block_log, block_count)?;
        let meta_blocks = u64f(off::META_BLOCKS)?;
        if meta_blocks != Geometry::new(block_size, block_count).meta_blocks() || meta_blocks >= block_count {
            return Err(Error::BadField { field: "meta_blocks", value: meta_blocks });
        }
        let free_blocks = u64f(off::FREE_BLOCKS)?;
        if free_blocks > block_count - meta_blocks {
            return Err(Error::BadField { field: "free_blocks", value: free_blocks });
        }
        let root_ino = u64f(off::ROOT_INO)?;
        if root_ino < meta_blocks || root_ino >= block_count {
            return Err(Error::BadField { field: "root_ino", value: root_ino });
        }
        let inode_count = u64f(off::INODE_COUNT)?;
        if inode_count == 0 || inode_count > block_count {
            return Err(Error::BadField { field: "inode_count", value: inode_count });
        }
        let orphan_head = u64f(off::ORPHAN_HEAD)?;
        if orphan_head != 0 && (orphan_head < meta_blocks || orphan_head >= block_count) {
            return Err(Error::BadField { field: "orphan_head", value: orphan_head });
        }
        let ro_compat = u64f(off::RO_COMPAT)?;
        let refcount_ino = u64f(off::REFCOUNT_INO)?;
        let reflink = ro_compat & features::RO_COMPAT_REFLINK != 0;
        if (reflink && (refcount_ino < meta_blocks || refcount_ino >= block_count || refcount_ino == root_ino))
            || (!reflink && refcount_ino != 0)
        {
            return Err(Error::BadField { field: "refcount_ino", value: refcount_ino });
        }
        let log_start = u64f(off::LOG_START)?;
        let log_blocks = u64f(off::LOG_BLOCKS)?;
        if incompat & features::INCOMPAT_LOG != 0 {
            let end = log_start.checked_add(log_blocks);
            if log_start < meta_blocks
                || !(super::journal::MIN_BLOCKS..=super::journal::MAX_BLOCKS).contains(&log_blocks)
                || end.is_none_or(|e| e > block_count)
                || (root_ino >= log_start && root_ino - log_start < log_blocks)
                || (reflink && refcount_ino >= log_start && refcount_ino - log_start < log_blocks)
            {
                return Err(Error::BadField { field: "log_start", value: log_start });
            }
        } else if log_start != 0 || log_blocks != 0 {
            return Err(Error::BadField { field: "log_start", value: log_start });
        }
        if sb
            .get(off::RESERVED..SB_CRC_OFFSET)
            .ok_or(short)?
            .iter()
            .any(|&b| b != 0)
        {
            return Err(Error::BadField { field: "reserved area", value: 0 });
        }
        Ok(Superblock {
            block_log,
            block_count,
            uuid: le::bytes(sb, off::UUID).ok_or(short)?,
            label: le::bytes(sb, off::LABEL).ok_or(short)?,
            compat: u64f(off::COMPAT)?,
            ro_compat,
            incompat,
            free_blocks,
            inode_count,
            root_ino,
            meta_blocks,
            orphan_head,
            hash_seed: le::u32_at(sb, off::HASH_SEED).ok_or(short)?,
            generation: le::u32_at(sb, off::GENERATION).ok_or(short)?,
            refcount_ino,
            log_start,
            log_blocks,
        })
    }

    /// The allocator geometry.
    pub fn geometry(&self) -> Geometry {
        Geometry::new(self.block_size(), self.block_count)
    }

    /// The fsid every metadata header carries.
    pub fn fsid(&self) -> u64 {
        super::meta::fsid_of(&self.uuid)
    }

    /// Checks the filesystem fits on a device of `dev_bytes` bytes.
    pub fn check_device(&self, dev_bytes: u64) -> Result<(), Error> {
        let dev_blocks = dev_bytes >> self.block_log;
        if self.block_count > dev_blocks {
            return Err(Error::DeviceTooSmall { fs_blocks: self.block_count, dev_blocks });
        }
        Ok(())
    }

    /// True if files may share blocks (the refcount tree exists).
    pub fn has_reflink(&self) -> bool {
        self.ro_compat & features::RO_COMPAT_REFLINK != 0
    }

    /// True if inodes may have extended attributes.
    pub fn has_xattr(&self) -> bool {
        self.incompat & features::INCOMPAT_XATTR != 0
    }

    /// True if files may have POSIX ACLs.
    pub fn has_acl(&self) -> bool {
        self.incompat & features::INCOMPAT_ACL != 0 && self.has_xattr()
    }

    /// True if the filesystem has a journal.
    pub fn has_log(&self) -> bool {
        self.incompat & features::INCOMPAT_LOG != 0
    }

    /// The journal's geometry, if there is one.
    pub fn log_geometry(&self) -> Option<super::journal::Geometry> {
        self.has_log().then(|| super::journal::Geometry {
            start: self.log_start,
            blocks: self.log_blocks,
            block_size: self.block_size() as usize,
            fs_blocks: self.block_count,
            fsid: self.fsid(),
        })
    }

    /// True if a read-only compatible feature this code does not know is set:
    /// the filesystem may be mounted read-only only.
    pub fn needs_readonly(&self) -> bool {
        self.ro_compat & !features::RO_COMPAT_KNOWN != 0
    }
}

/// log2 of a supported block size, or an error naming the bad size.
pub fn block_log_of(block_size: u32) -> Result<u8, Error> {
    match block_size {
        1024 => Ok(10),
        2048 => Ok(11),
        4096 => Ok(12),
        _ => Err(Error::BadField { field: "block_size", value: block_size as u64 }),
    }
}

fn check_block_count(block_log: u8, block_count: u64) -> Result<(), Error> {
    let min = MIN_FS_BYTES >> block_log;
    if block_count < min || block_count > MAX_BLOCKS {
        return Err(Error::BadField { field: "block_count", value: block_count });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Superblock {
        let mut sb = Superblock::new(4096, 1 << 18, [0xab; 16]).unwrap();
        sb.label[..4].copy_from_slice(b"test");
        sb
    }

    fn encoded(sb: &Superblock) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        sb.encode(&mut b).unwrap();
        b
    }

    #[test]
    fn roundtrip_every_block_size() {
        for bs in [1024, 2048, 4096] {
            let sb = Superblock::new(bs, 8192, [1; 16]).unwrap();
            let b = encoded(&sb);
            assert_eq!(Superblock::decode(&b).unwrap(), sb);
            assert_eq!(&b[..4], b"RXFS");
        }
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let b = encoded(&sample());
        for byte in 0..SB_SIZE {
            for bit in 0..8 {
                let mut c = b.clone();
                c[byte] ^= 1 << bit;
                assert!(Superblock::decode(&c).is_err(), "flip at {byte}.{bit} not caught");
            }
        }
    }

    #[test]
    fn zeroed_and_garbage_are_not_rxfs() {
        assert!(matches!(Superblock::decode(&[0u8; 4096]), Err(Error::BadMagic { found: 0 })));
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
        let e = Superblock::decode(&garbage).unwrap_err();
        assert_eq!(e.errno(), super::super::error::EINVAL);
    }

    #[test]
    fn wrong_checksum_is_euclean() {
        let mut b = encoded(&sample());
        b[SB_CRC_OFFSET] ^= 0xff;
        let e = Superblock::decode(&b).unwrap_err();
        assert!(matches!(e, Error::BadChecksum { .. }));
        assert_eq!(e.errno(), super::super::error::EUCLEAN);
    }

    /// Re-seals a modified superblock so only the semantic checks can object.
    fn reseal(b: &mut [u8]) {
        let crc = crc32c::block_crc(&b[..SB_SIZE], SB_CRC_OFFSET).unwrap();
        b[SB_CRC_OFFSET..SB_SIZE].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn field_checks_with_valid_checksum() {
        let cases: &[(usize, &[u8])] = &[
            (off::VERSION, &2u32.to_le_bytes()),
            (off::BLOCK_SIZE, &512u32.to_le_bytes()),
            (off::BLOCK_SIZE, &8192u32.to_le_bytes()),
            (off::BLOCK_LOG, &11u32.to_le_bytes()),
            (off::BLOCK_COUNT, &0u64.to_le_bytes()),
            (off::BLOCK_COUNT, &u64::MAX.to_le_bytes()),
            (off::FREE_BLOCKS, &u64::MAX.to_le_bytes()),
            (off::META_BLOCKS, &0u64.to_le_bytes()),
            (off::ROOT_INO, &0u64.to_le_bytes()),
            (off::ORPHAN_HEAD, &3u64.to_le_bytes()),
            (off::INCOMPAT, &4u64.to_le_bytes()),
            (off::INCOMPAT, &1u64.to_le_bytes()),
            (off::LOG_START, &1u64.to_le_bytes()),
            (off::RESERVED + 10, &[1u8]),
        ];
        for &(o, bytes) in cases {
            let mut b = encoded(&sample());
            b[o..o + bytes.len()].copy_from_slice(bytes);
            reseal(&mut b);
            assert!(Superblock::decode(&b).is_err(), "field at {o} not checked");
        }
    }

    #[test]
    fn short_buffers_are_errors_not_panics() {
        let b = encoded(&sample());
        for len in 0..SB_SIZE {
            assert!(Superblock::decode(&b[..len]).is_err());
        }
        let mut small = [0u8; 100];
        assert!(sample().encode(&mut small).is_err());
    }

    #[test]
    fn device_size_check() {
        let sb = sample();
        assert!(sb.check_device(sb.block_count << 12).is_ok());
        assert_eq!(
            sb.check_device((sb.block_count << 12) - 1).unwrap_err().errno(),
            super::super::error::EINVAL
        );
    }

    #[test]
    fn geometry_limits() {
        assert!(Superblock::new(4096, 255, [0; 16]).is_err());
        assert!(Superblock::new(4096, 256, [0; 16]).is_ok());
        assert_eq!(Superblock::new(4096, 256, [0; 16]).unwrap().meta_blocks, 3);
        assert!(Superblock::new(1024, 1023, [0; 16]).is_err());
        assert!(Superblock::new(4096, MAX_BLOCKS + 1, [0; 16]).is_err());
        assert!(Superblock::new(3000, 4096, [0; 16]).is_err());
    }
}
