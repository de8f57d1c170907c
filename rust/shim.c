// SPDX-License-Identifier: GPL-2.0
/*
 * rxfs C shim.
 *
 * Linux 6.12 has no Rust bindings for fs_context.h, pagemap.h, statfs.h or
 * iomap.h, and the static inlines rxfs needs have no Rust helpers. This file
 * owns every C structure whose layout Rust should not hard-code (operation
 * tables, fs_context, kstatfs) and wraps the inlines; each entry point is a
 * few lines that forward to Rust (the rxfs_rs_* functions, implemented in
 * rust/vfs/) or to the kernel. No filesystem logic lives here.
 */

#include <linux/module.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/blkdev.h>
#include <linux/pagemap.h>
#include <linux/highmem.h>
#include <linux/statfs.h>
#include <linux/uuid.h>

#include "shim.h"
#include "shim_fs.h"

static_assert(sizeof(struct rxfs_statfs) == 64);

static int rxfs_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct rxfs_statfs st = {};
	int err = rxfs_rs_statfs(dentry->d_sb, &st);

	if (err)
		return err;
	buf->f_type = st.type;
	buf->f_bsize = st.bsize;
	buf->f_frsize = st.bsize;
	buf->f_blocks = st.blocks;
	buf->f_bfree = st.bfree;
	buf->f_bavail = st.bavail;
	buf->f_files = st.files;
	buf->f_ffree = st.ffree;
	buf->f_fsid = u64_to_fsid(st.fsid);
	buf->f_namelen = st.namelen;
	return 0;
}

static int rxfs_sync_fs(struct super_block *sb, int wait)
{
	return rxfs_rs_sync_fs(sb, wait);
}

static void rxfs_put_super(struct super_block *sb)
{
	/* Evicting the last inodes may have changed metadata since sync_fs. */
	rxfs_rs_sync_fs(sb, 1);
}

static const struct super_operations rxfs_super_ops = {
	.alloc_inode	= rxfs_alloc_inode,
	.free_inode	= rxfs_free_inode,
	.write_inode	= rxfs_write_inode,
	.evict_inode	= rxfs_evict_inode,
	.put_super	= rxfs_put_super,
	.sync_fs	= rxfs_sync_fs,
	.statfs		= rxfs_statfs,
};

static int rxfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	return rxfs_rs_fill_super(sb, !!(fc->sb_flags & SB_SILENT));
}

static int rxfs_get_tree(struct fs_context *fc)
{
	return get_tree_bdev(fc, rxfs_fill_super);
}

static int rxfs_reconfigure(struct fs_context *fc)
{
	sync_filesystem(fc->root->d_sb);
	return 0;
}

static const struct fs_context_operations rxfs_context_ops = {
	.get_tree	= rxfs_get_tree,
	.reconfigure	= rxfs_reconfigure,
};

static int rxfs_init_fs_context(struct fs_context *fc)
{
	fc->ops = &rxfs_context_ops;
	return 0;
}

static void rxfs_kill_sb(struct super_block *sb)
{
	void *fs_info = sb->s_fs_info;

	kill_block_super(sb);
	rxfs_rs_kill_sb(fs_info);
}

static struct file_system_type rxfs_fs_type = {
	.owner			= THIS_MODULE,
	.name			= "rxfs",
	.init_fs_context	= rxfs_init_fs_context,
	.kill_sb		= rxfs_kill_sb,
	.fs_flags		= FS_REQUIRES_DEV,
};

int rxfs_shim_register(void)
{
	int err = rxfs_inode_cache_create();

	if (err)
		return err;
	err = register_filesystem(&rxfs_fs_type);
	if (err)
		rxfs_inode_cache_destroy();
	return err;
}

void rxfs_shim_unregister(void)
{
	unregister_filesystem(&rxfs_fs_type);
	/* Inodes are freed by RCU callbacks: let them finish before unload. */
	rcu_barrier();
	rxfs_inode_cache_destroy();
}

const char *rxfs_shim_sb_id(struct super_block *sb)
{
	return sb->s_id;
}

void *rxfs_shim_sb_info(struct super_block *sb)
{
	return sb->s_fs_info;
}

void rxfs_shim_sb_set_info(struct super_block *sb, void *info)
{
	sb->s_fs_info = info;
}

u64 rxfs_shim_bdev_bytes(struct super_block *sb)
{
	return bdev_nr_bytes(sb->s_bdev);
}

unsigned int rxfs_shim_bdev_sector_size(struct super_block *sb)
{
	return bdev_logical_block_size(sb->s_bdev);
}

int rxfs_shim_sb_is_rdonly(struct super_block *sb)
{
	return sb_rdonly(sb);
}

/*
 * Read @len bytes at byte @pos of the filesystem's block device through the
 * device's page cache (no buffer heads). The caller checks the range lies
 * inside the device.
 */
int rxfs_shim_bdev_read(struct super_block *sb, u64 pos, void *buf, size_t len)
{
	struct address_space *mapping = sb->s_bdev->bd_mapping;

	while (len) {
		struct folio *folio;
		size_t off, n;

		folio = read_mapping_folio(mapping, pos >> PAGE_SHIFT, NULL);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		off = offset_in_folio(folio, pos);
		n = min(len, folio_size(folio) - off);
		memcpy_from_folio(buf, folio, off, n);
		folio_put(folio);
		pos += n;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Set up a superblock whose on-disk superblock has been verified. Returns
 * -EINVAL if the block size is below the device's sector size.
 */
int rxfs_shim_sb_setup(struct super_block *sb, unsigned int block_size,
		       unsigned long magic, const u8 *uuid)
{
	if (!sb_set_blocksize(sb, block_size))
		return -EINVAL;
	sb->s_magic = magic;
	sb->s_op = &rxfs_super_ops;
	sb->s_maxbytes = MAX_LFS_FILESIZE;
	sb->s_time_gran = 1;
	sb->s_time_min = S64_MIN;
	sb->s_time_max = S64_MAX;
	sb->s_max_links = 65000;
	super_set_uuid(sb, uuid, 16);
	return 0;
}

