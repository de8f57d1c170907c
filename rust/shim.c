// SPDX-License-Identifier: GPL-2.0
/*
 * rxfs C shim.
 *
 * Linux 6.12 has no Rust bindings for fs_context.h, pagemap.h, statfs.h or
 * iomap.h, and the static inlines rxfs needs have no Rust helpers. This file
 * owns every C structure whose layout Rust should not hard-code (operation
 * tables, fs_context, kstatfs, mount options) and wraps the inlines; each
 * entry point forwards to Rust (the rxfs_rs_* functions, implemented in
 * rust/vfs/) or to the kernel. No on-disk structure is touched here, but
 * this file and shim_fs.c still make decisions that belong in Rust (issue
 * 10 moves every callback there).
 */

#include <linux/module.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/blkdev.h>
#include <linux/pagemap.h>
#include <linux/highmem.h>
#include <linux/statfs.h>
#include <linux/uuid.h>
#include <linux/debugfs.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

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
	struct rxfs_sb_info *sbi = kzalloc(sizeof(*sbi), GFP_KERNEL);
	int err;

	if (!sbi)
		return -ENOMEM;
	sbi->knobs.begin_delay_pos = -1;
	sbi->knobs.short_write_at = -1;
	sbi->knobs.fail_write_at = -1;
	sb->s_fs_info = sbi;
	sbi->ioend_wq = alloc_workqueue("rxfs-ioend/%s", WQ_MEM_RECLAIM | WQ_FREEZABLE, 0,
					sb->s_id);
	if (!sbi->ioend_wq)
		return -ENOMEM;
	err = rxfs_rs_fill_super(sb, !!(fc->sb_flags & SB_SILENT));
	if (!err)
		rxfs_debugfs_mount(sb);
	return err;
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

/*
 * Mount options. "discard"/"nodiscard" are accepted, as on XFS and ext4,
 * so that tools and tests that pass them can mount rxfs; rxfs issues no
 * discards yet (freed blocks are only marked free: without a journal a
 * crash could leave metadata pointing at a block already discarded).
 */
enum { Opt_discard };

static const struct fs_parameter_spec rxfs_fs_parameters[] = {
	fsparam_flag_no("discard", Opt_discard),
	{}
};

static int rxfs_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	struct fs_parse_result result;
	int opt = fs_parse(fc, rxfs_fs_parameters, param, &result);

	return opt < 0 ? opt : 0;
}

static const struct fs_context_operations rxfs_context_ops = {
	.parse_param	= rxfs_parse_param,
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
	struct rxfs_sb_info *sbi = sb->s_fs_info;

	kill_block_super(sb);
	if (!sbi)
		return;
	debugfs_remove(sbi->debugfs);
	if (sbi->ioend_wq)
		destroy_workqueue(sbi->ioend_wq);
	if (sbi->rs)
		rxfs_rs_kill_sb(sbi->rs);
	kfree(sbi);
}

static struct file_system_type rxfs_fs_type = {
	.owner			= THIS_MODULE,
	.name			= "rxfs",
	.init_fs_context	= rxfs_init_fs_context,
	.parameters		= rxfs_fs_parameters,
	.kill_sb		= rxfs_kill_sb,
	.fs_flags		= FS_REQUIRES_DEV,
};

int rxfs_shim_register(void)
{
	int err = rxfs_inode_cache_create();

	if (err)
		return err;
	rxfs_debugfs_init();
	err = register_filesystem(&rxfs_fs_type);
	if (err) {
		rxfs_debugfs_exit();
		rxfs_inode_cache_destroy();
	}
	return err;
}

void rxfs_shim_unregister(void)
{
	unregister_filesystem(&rxfs_fs_type);
	/* Inodes are freed by RCU callbacks: let them finish before unload. */
	rcu_barrier();
	rxfs_debugfs_exit();
	rxfs_inode_cache_destroy();
}

const char *rxfs_shim_sb_id(struct super_block *sb)
{
	return sb->s_id;
}

void *rxfs_shim_sb_info(struct super_block *sb)
{
	return RXSB(sb)->rs;
}

void rxfs_shim_sb_set_info(struct super_block *sb, void *info)
{
	RXSB(sb)->rs = info;
}

int rxfs_shim_is_shutdown(struct super_block *sb)
{
	return rxfs_is_shutdown(sb);
}

int rxfs_shim_no_meta_reserve(struct super_block *sb)
{
	return READ_ONCE(RXSB(sb)->knobs.no_meta_reserve) != 0;
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


/* ---- fault injection: debugfs knobs, like XFS errortags ----------------- */

static bool dangerous_knobs;
module_param(dangerous_knobs, bool, 0644);
MODULE_PARM_DESC(dangerous_knobs,
		 "allow the negative-control knobs no_iomap_valid, punch_mode and mkwrite_naive (they corrupt data on purpose)");

static struct dentry *rxfs_debugfs_root;

static int rxfs_knob_get(void *data, u64 *val)
{
	*val = READ_ONCE(*(s64 *)data);
	return 0;
}

static int rxfs_knob_set(void *data, u64 val)
{
	WRITE_ONCE(*(s64 *)data, (s64)val);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE_SIGNED(rxfs_knob_fops, rxfs_knob_get, rxfs_knob_set, "%lld\n");

/* The negative controls: refused unless dangerous_knobs is set. */
static int rxfs_dangerous_set(void *data, u64 val)
{
	if (val && !READ_ONCE(dangerous_knobs))
		return -EPERM;
	if (val)
		pr_warn_once("rxfs: a dangerous fault-injection knob is on: data corruption follows\n");
	return rxfs_knob_set(data, val);
}
DEFINE_DEBUGFS_ATTRIBUTE_SIGNED(rxfs_dangerous_fops, rxfs_knob_get, rxfs_dangerous_set, "%lld\n");

static int rxfs_stats_show(struct seq_file *m, void *v)
{
	struct super_block *sb = m->private;
	u64 st[4];
	int err = rxfs_rs_stats(sb, st);

	if (err)
		return err;
	seq_printf(m, "free %llu\nreserved %llu\npool %llu\ndelalloc_ranges %llu\n",
		   st[0], st[1], st[2], st[3]);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(rxfs_stats);

int rxfs_debugfs_init(void)
{
	rxfs_debugfs_root = debugfs_create_dir("rxfs", NULL);
	return 0;
}

void rxfs_debugfs_exit(void)
{
	debugfs_remove(rxfs_debugfs_root);
}

void rxfs_debugfs_mount(struct super_block *sb)
{
	struct rxfs_sb_info *sbi = RXSB(sb);
	struct rxfs_knobs *k = &sbi->knobs;
	struct dentry *d;

	if (IS_ERR_OR_NULL(rxfs_debugfs_root))
		return;
	d = debugfs_create_dir(sb->s_id, rxfs_debugfs_root);
	if (IS_ERR(d))
		return;
	sbi->debugfs = d;
	debugfs_create_file_unsafe("begin_delay_ms", 0600, d, &k->begin_delay_ms, &rxfs_knob_fops);
	debugfs_create_file_unsafe("begin_delay_pos", 0600, d, &k->begin_delay_pos, &rxfs_knob_fops);
	debugfs_create_file_unsafe("wb_submit_delay_ms", 0600, d, &k->wb_submit_delay_ms, &rxfs_knob_fops);
	debugfs_create_file_unsafe("wb_complete_delay_ms", 0600, d, &k->wb_complete_delay_ms,
				   &rxfs_knob_fops);
	debugfs_create_file_unsafe("short_write_at", 0600, d, &k->short_write_at, &rxfs_knob_fops);
	debugfs_create_file_unsafe("fail_write_at", 0600, d, &k->fail_write_at, &rxfs_knob_fops);
	debugfs_create_file_unsafe("no_iomap_valid", 0600, d, &k->no_iomap_valid, &rxfs_dangerous_fops);
	debugfs_create_file_unsafe("punch_mode", 0600, d, &k->punch_mode, &rxfs_dangerous_fops);
	debugfs_create_file_unsafe("mkwrite_naive", 0600, d, &k->mkwrite_naive, &rxfs_dangerous_fops);
	debugfs_create_file_unsafe("no_meta_reserve", 0600, d, &k->no_meta_reserve,
				   &rxfs_dangerous_fops);
	debugfs_create_file_unsafe("no_zero_eof", 0600, d, &k->no_zero_eof, &rxfs_dangerous_fops);
	debugfs_create_file("stats", 0400, d, sb, &rxfs_stats_fops);
}
