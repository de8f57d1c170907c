// SPDX-License-Identifier: GPL-2.0

//! Checked little-endian field access for on-disk structures.
//!
//! Every accessor is bounds-checked and returns `None` (readers) or `false`
//! (writers) instead of panicking, so a decoder can turn a short or corrupt
//! buffer into an [`Error`](super::Error).

/// Reads `N` bytes at `off`.
pub fn bytes<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    let end = off.checked_add(N)?;
    let s = buf.get(off..end)?;
    let mut out = [0u8; N];
    out.copy_from_slice(s);
    Some(out)
}

/// Reads a little-endian `u16` at `off`.
pub fn u16_at(buf: &[u8], off: usize) -> Option<u16> {
    bytes::<2>(buf, off).map(u16::from_le_bytes)
}

/// Reads a little-endian `u32` at `off`.
pub fn u32_at(buf: &[u8], off: usize) -> Option<u32> {
    bytes::<4>(buf, off).map(u32::from_le_bytes)
}

/// Reads a little-endian `u64` at `off`.
pub fn u64_at(buf: &[u8], off: usize) -> Option<u64> {
    bytes::<8>(buf, off).map(u64::from_le_bytes)
}

/// Writes `src` at `off`; false if it does not fit.
pub fn put(buf: &mut [u8], off: usize, src: &[u8]) -> bool {
    let Some(end) = off.checked_add(src.len()) else {
        return false;
    };
    match buf.get_mut(off..end) {
        Some(d) => {
            d.copy_from_slice(src);
            true
        }
        None => false,
    }
}

/// Writes a little-endian `u32` at `off`.
pub fn put_u32(buf: &mut [u8], off: usize, v: u32) -> bool {
    put(buf, off, &v.to_le_bytes())
}

/// Writes a little-endian `u64` at `off`.
pub fn put_u64(buf: &mut [u8], off: usize, v: u64) -> bool {
    put(buf, off, &v.to_le_bytes())
}
