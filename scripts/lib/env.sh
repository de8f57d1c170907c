# SPDX-License-Identifier: GPL-2.0
# Shared settings for the rxfs scripts. Sourced, never executed.

RXFS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Caches live outside the repository so a clean checkout reuses them.
RXFS_CACHE=${RXFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rxfs}
RXFS_TOOLS_ROOT=$RXFS_CACHE/tools
RXFS_BINDGEN_VERSION=0.72.1
RXFS_BINDGEN=${BINDGEN:-$RXFS_TOOLS_ROOT/bin/bindgen}
RXFS_RUSTC=/usr/bin/rustc
RXFS_RUSTDOC=/usr/bin/rustdoc
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
# Everything passed to the kernel's make, for the kernel and the module alike.
RXFS_KMAKE_ARGS=(LLVM=-19 RUSTC="$RXFS_RUSTC" RUSTDOC="$RXFS_RUSTDOC" BINDGEN="$RXFS_BINDGEN")
