// SPDX-License-Identifier: GPL-2.0

//! Errors of the shared core, and the errno each one becomes.

use core::fmt;

/// `EINVAL`: not an rxfs filesystem, or a request that makes no sense.
pub const EINVAL: i32 = 22;
/// `EUCLEAN`, which XFS calls `EFSCORRUPTED`: metadata failed verification.
pub const EUCLEAN: i32 = 117;
/// `ENOSPC`: no free blocks.
pub const ENOSPC: i32 = 28;
/// `ENOENT`: no such name or record.
pub const ENOENT: i32 = 2;
/// `EEXIST`: the name or record exists.
pub const EEXIST: i32 = 17;
/// `ENAMETOOLONG`: a name or symlink target too long for the format.
pub const ENAMETOOLONG: i32 = 36;
/// `EFBIG`: a file or tree would outgrow what the format can address.
pub const EFBIG: i32 = 27;

/// What a verifier found wrong. Each variant names the field at fault so that
/// the kernel's log line and fsck's report can say exactly what is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The magic number is not rxfs's: this is not (or no longer) an rxfs
    /// filesystem. Mount says EINVAL, as for any foreign filesystem.
    BadMagic {
        /// The magic number found.
        found: u32,
    },
    /// The stored crc32c does not match the contents.
    BadChecksum {
        /// The checksum stored on disk.
        stored: u32,
        /// The checksum of the contents.
        computed: u32,
    },
    /// A format version this code does not know.
    BadVersion {
        /// The version found.
        found: u32,
    },
    /// Incompatible feature bits this code does not know.
    UnknownIncompat {
        /// The unknown bits.
        bits: u64,
    },
    /// A field is out of its valid range.
    BadField {
        /// The field's name.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// The buffer handed to a decoder is too small.
    ShortBuffer {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// A metadata block or record failed verification.
    Corrupt {
        /// The structure: "inode", "extent tree", "directory", ...
        what: &'static str,
        /// The block it was read from.
        blkno: u64,
        /// What was wrong.
        why: &'static str,
    },
    /// No free blocks (ENOSPC).
    NoSpace,
    /// No such record or name (ENOENT).
    NotFound,
    /// The record or name exists (EEXIST).
    Exists,
    /// A name or link target too long (ENAMETOOLONG).
    NameTooLong,
    /// A file or tree would outgrow the format (EFBIG).
    TooBig,
    /// An I/O error from the block store, as a positive errno.
    Io(i32),
    /// The filesystem claims more blocks than its device has.
    DeviceTooSmall {
        /// Blocks the filesystem claims.
        fs_blocks: u64,
        /// Blocks the device has.
        dev_blocks: u64,
    },
}

impl Error {
    /// The errno this error is reported as (positive).
    pub fn errno(&self) -> i32 {
        match self {
            // A filesystem larger than its device is EINVAL, not XFS's
            // EFBIG: mount reports EINVAL or EUCLEAN for every bad device.
            Error::BadMagic { .. }
            | Error::UnknownIncompat { .. }
            | Error::ShortBuffer { .. }
            | Error::DeviceTooSmall { .. } => EINVAL,
            Error::BadChecksum { .. }
            | Error::BadVersion { .. }
            | Error::BadField { .. }
            | Error::Corrupt { .. } => EUCLEAN,
            Error::NoSpace => ENOSPC,
            Error::NotFound => ENOENT,
            Error::Exists => EEXIST,
            Error::NameTooLong => ENAMETOOLONG,
            Error::TooBig => EFBIG,
            Error::Io(e) => *e,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::BadMagic { found } => write!(f, "bad magic 0x{found:08x}"),
            Error::BadChecksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})"
            ),
            Error::BadVersion { found } => write!(f, "unsupported format version {found}"),
            Error::UnknownIncompat { bits } => {
                write!(f, "unknown incompatible features 0x{bits:x}")
            }
            Error::BadField { field, value } => write!(f, "bad {field} {value}"),
            Error::ShortBuffer { need, have } => {
                write!(f, "buffer of {have} bytes, need {need}")
            }
            Error::Corrupt { what, blkno, why } => {
                write!(f, "corrupt {what} in block {blkno}: {why}")
            }
            Error::NoSpace => write!(f, "no space left"),
            Error::NotFound => write!(f, "not found"),
            Error::Exists => write!(f, "exists"),
            Error::NameTooLong => write!(f, "name too long"),
            Error::TooBig => write!(f, "too big"),
            Error::Io(e) => write!(f, "I/O error {e}"),
            Error::DeviceTooSmall { fs_blocks, dev_blocks } => write!(
                f,
                "filesystem has {fs_blocks} blocks but the device only {dev_blocks}"
            ),
        }
    }
}
