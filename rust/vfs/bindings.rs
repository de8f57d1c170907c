// SPDX-License-Identifier: GPL-2.0

//! Raw bindings: `kernel::bindings` plus what bindgen generates from
//! `rust/vfs/bindings.h` at build time (iomap.h, fs_context.h, fs_parser.h,
//! debugfs.h, rxfs's one-line C helpers). One namespace: an item generated
//! here shadows the kernel crate's opaque declaration of the same name
//! (`iomap_ops`, `fs_context`, `kstatfs`, ...); every other type is the
//! kernel crate's own (the generator blocklists them), so a `*mut inode`
//! from here and from `kernel::bindings` are the same type.

#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::all,
    improper_ctypes,
    unsafe_op_in_unsafe_fn,
    unnecessary_transmutes
)]

pub use kernel::bindings::*;

include!("bindings_generated.rs");
