// SPDX-License-Identifier: GPL-2.0

//! The rxfs core: on-disk format and pure logic, shared verbatim by the
//! kernel module and the user-space tools, as `fs/xfs/libxfs` is shared with
//! xfsprogs.
//!
//! Rules for this code, because the kernel compiles it too:
//! - `no_std`, no allocation: callers hand in buffers.
//! - No panics on input: every value read from disk goes through a checked
//!   decoder that returns [`Error`]; no indexing that can fail on such values.
//! - Modules refer to each other with `super::`, never `crate::`: in the
//!   kernel this tree is a module of the rxfs crate, not a crate of its own.

#![cfg_attr(not(any(test, feature = "std")), no_std)]

pub mod alloc;
pub mod btree;
pub mod cowfork;
pub mod crc32c;
pub mod delalloc;
pub mod dir;
pub mod error;
pub mod extmap;
pub mod format;
pub mod inode;
pub mod journal;
pub mod le;
pub mod meta;
pub mod mkfs;
pub mod orphan;
pub mod reflink;
pub mod refcount;
pub mod xattr;

pub use error::Error;
