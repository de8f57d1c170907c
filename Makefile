# SPDX-License-Identifier: GPL-2.0
#
# rxfs top-level Makefile. Kbuild reads ./Kbuild; this file is for people.
#
#   make            build rxfs.ko against KDIR (default: the cached test
#                   kernel, built by scripts/build-kernel if missing)
#   make tools      build mkfs.rxfs, fsck.rxfs and rxfs-db into build/bin
#   make check      build what is missing and run every test tier
#   make demo       set up, build, boot a VM, make and mount an rxfs
#   make setup      install the toolchain (Debian packages, bindgen-cli)
#   make kernel     build the test kernel (KERNEL_VARIANT=debug for debug)
#   make clean

SHELL := /bin/bash
KERNEL_VARIANT ?= lean
variant_flag := $(if $(filter debug,$(KERNEL_VARIANT)),--debug,)
KDIR ?= $(shell scripts/build-kernel $(variant_flag) --print-kdir)
# LLVM, RUSTC, RUSTDOC, BINDGEN: defined once, in scripts/lib/env.sh.
KMAKE_ARGS := $(shell bash -c '. scripts/lib/env.sh; echo "$${RXFS_KMAKE_ARGS[@]}"')

.PHONY: all module tools check demo setup kernel clean

all: module

# Only the default KDIR is ours to build; a given KDIR must already be built.
module: $(if $(filter file,$(origin KDIR)),kernel)
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(KMAKE_ARGS) modules

kernel: setup
	@scripts/build-kernel $(variant_flag) >/dev/null

setup:
	@scripts/setup

tools: setup
	cd tools && cargo build --release --quiet
	mkdir -p build/bin
	install -m 755 tools/target/release/mkfs-rxfs build/bin/mkfs.rxfs
	install -m 755 tools/target/release/fsck-rxfs build/bin/fsck.rxfs
	install -m 755 tools/target/release/rxfs-db build/bin/rxfs-db

check:
	scripts/check

demo:
	scripts/demo

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) $(KMAKE_ARGS) clean 2>/dev/null
	rm -rf build
	cd tools && cargo clean
