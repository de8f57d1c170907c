// SPDX-License-Identifier: GPL-2.0
/*
 * rxfs C shim, part 2: inodes, directories, files, address space and iomap
 * operations. Each operation does the VFS bookkeeping that needs struct
 * inode / dentry / folio (which Rust has no safe view of) and calls one
 * rxfs_rs_* function for the filesystem's decision and metadata change. The
 * metadata itself is Rust's; no on-disk structure is touched here.
 */

#include <linux/module.h>
#include <linux/fs.h>
#include <linux/blkdev.h>
#include <linux/bio.h>
#include <linux/pagemap.h>
#include <linux/highmem.h>
#include <linux/iomap.h>
#include <linux/mpage.h>
#include <linux/namei.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/writeback.h>
#include <linux/delay.h>
#include <linux/falloc.h>

#include "shim.h"
#include "shim_fs.h"

static_assert(sizeof(struct rxfs_dinode) == 104);
static_assert(sizeof(struct rxfs_dirent) == 280);
static_assert(sizeof(struct rxfs_map) == 56);

static struct kmem_cache *rxfs_inode_cachep;

static inline struct rxfs_inode *RXI(struct inode *inode)
{
	return container_of(inode, struct rxfs_inode, vfs);
}

static const struct inode_operations rxfs_dir_iops;
static const struct inode_operations rxfs_file_iops;
static const struct inode_operations rxfs_symlink_iops;
static const struct inode_operations rxfs_special_iops;
static const struct file_operations rxfs_dir_fops;
static const struct file_operations rxfs_file_fops;
static const struct address_space_operations rxfs_aops;
static void rxfs_end_io(struct work_struct *work);
static int rxfs_xop(struct inode *inode, enum rxfs_xop op, u64 pos, u64 len, unsigned int flags,
		    struct rxfs_map *m);

/* ---- inode cache ------------------------------------------------------ */

static void rxfs_inode_init_once(void *p)
{
	struct rxfs_inode *ri = p;

	inode_init_once(&ri->vfs);
}

int rxfs_inode_cache_create(void)
{
	rxfs_inode_cachep = kmem_cache_create("rxfs_inode", sizeof(struct rxfs_inode), 0,
					      SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT,
					      rxfs_inode_init_once);
	return rxfs_inode_cachep ? 0 : -ENOMEM;
}

void rxfs_inode_cache_destroy(void)
{
	kmem_cache_destroy(rxfs_inode_cachep);
}

struct inode *rxfs_alloc_inode(struct super_block *sb)
{
	struct rxfs_inode *ri = alloc_inode_sb(sb, rxfs_inode_cachep, GFP_KERNEL);

	if (!ri)
		return NULL;
	ri->btime_sec = 0;
	ri->btime_nsec = 0;
	ri->flags = 0;
	ri->link = NULL;
	ri->dblocks = 0;
	ri->delayed = 0;
	atomic64_set(&ri->data_seq, 0);
	spin_lock_init(&ri->ioend_lock);
	INIT_LIST_HEAD(&ri->ioend_list);
	INIT_WORK(&ri->ioend_work, rxfs_end_io);
	return &ri->vfs;
}

void rxfs_free_inode(struct inode *inode)
{
	struct rxfs_inode *ri = RXI(inode);

	kfree(ri->link);
	kmem_cache_free(rxfs_inode_cachep, ri);
}

/* ---- struct inode <-> struct rxfs_dinode ------------------------------ */

static void rxfs_to_dinode(struct inode *inode, struct rxfs_dinode *di)
{
	struct timespec64 t;

	memset(di, 0, sizeof(*di));
	di->ino = inode->i_ino;
	di->size = i_size_read(inode);
	di->mode = inode->i_mode;
	di->uid = i_uid_read(inode);
	di->gid = i_gid_read(inode);
	di->nlink = inode->i_nlink;
	di->rdev = new_encode_dev(inode->i_rdev);
	di->generation = inode->i_generation;
	t = inode_get_atime(inode);
	di->atime_sec = t.tv_sec;
	di->atime_nsec = t.tv_nsec;
	t = inode_get_mtime(inode);
	di->mtime_sec = t.tv_sec;
	di->mtime_nsec = t.tv_nsec;
	t = inode_get_ctime(inode);
	di->ctime_sec = t.tv_sec;
	di->ctime_nsec = t.tv_nsec;
	di->btime_sec = RXI(inode)->btime_sec;
	di->btime_nsec = RXI(inode)->btime_nsec;
	di->flags = RXI(inode)->flags;
}

static void rxfs_set_ops(struct inode *inode)
{
	switch (inode->i_mode & S_IFMT) {
	case S_IFREG:
		inode->i_op = &rxfs_file_iops;
		inode->i_fop = &rxfs_file_fops;
		inode->i_mapping->a_ops = &rxfs_aops;
		mapping_set_large_folios(inode->i_mapping);
		break;
	case S_IFDIR:
		inode->i_op = &rxfs_dir_iops;
		inode->i_fop = &rxfs_dir_fops;
		break;
	case S_IFLNK:
		inode->i_op = &rxfs_symlink_iops;
		inode->i_link = RXI(inode)->link;
		inode_nohighmem(inode);
		break;
	default:
		inode->i_op = &rxfs_special_iops;
		init_special_inode(inode, inode->i_mode, inode->i_rdev);
		break;
	}
}

static void rxfs_from_dinode(struct inode *inode, const struct rxfs_dinode *di)
{
	inode->i_mode = di->mode;
	i_uid_write(inode, di->uid);
	i_gid_write(inode, di->gid);
	set_nlink(inode, di->nlink);
	i_size_write(inode, di->size);
	inode->i_rdev = new_decode_dev(di->rdev);
	inode->i_generation = di->generation;
	inode->i_blocks = di->nblocks << (inode->i_blkbits - 9);
	RXI(inode)->dblocks = di->nblocks;
	inode_set_atime(inode, di->atime_sec, di->atime_nsec);
	inode_set_mtime(inode, di->mtime_sec, di->mtime_nsec);
	inode_set_ctime(inode, di->ctime_sec, di->ctime_nsec);
	RXI(inode)->btime_sec = di->btime_sec;
	RXI(inode)->btime_nsec = di->btime_nsec;
	RXI(inode)->flags = di->flags;
}

struct inode *rxfs_iget(struct super_block *sb, u64 ino)
{
	struct rxfs_dinode di;
	struct inode *inode;
	u8 *link = NULL;
	int err;

	inode = iget_locked(sb, ino);
	if (!inode)
		return ERR_PTR(-ENOMEM);
	if (!(inode->i_state & I_NEW))
		return inode;
	link = kzalloc(sb->s_blocksize + 1, GFP_KERNEL);
	err = -ENOMEM;
	if (!link)
		goto bad;
	err = rxfs_rs_read_inode(sb, ino, &di, link, sb->s_blocksize);
	if (err)
		goto bad;
	rxfs_from_dinode(inode, &di);
	if (S_ISLNK(inode->i_mode)) {
		RXI(inode)->link = link;
		link = NULL;
	}
	kfree(link);
	rxfs_set_ops(inode);
	unlock_new_inode(inode);
	return inode;
bad:
	kfree(link);
	iget_failed(inode);
	return ERR_PTR(err);
}

int rxfs_shim_make_root(struct super_block *sb, u64 ino)
{
	struct inode *inode = rxfs_iget(sb, ino);

	if (IS_ERR(inode))
		return PTR_ERR(inode);
	if (!S_ISDIR(inode->i_mode)) {
		iput(inode);
		return -EUCLEAN;
	}
	sb->s_root = d_make_root(inode);
	return sb->s_root ? 0 : -ENOMEM;
}

/* ---- super operations that involve inodes ------------------------------ */

int rxfs_write_inode(struct inode *inode, struct writeback_control *wbc)
{
	struct rxfs_dinode di;

	rxfs_to_dinode(inode, &di);
	return rxfs_rs_write_inode(inode->i_sb, &di);
}

void rxfs_evict_inode(struct inode *inode)
{
	truncate_inode_pages_final(&inode->i_data);
	/* The last ioend completion may still be finishing with the inode. */
	flush_work(&RXI(inode)->ioend_work);
	/*
	 * Free an unlinked inode; drop a linked one's delalloc, which can be
	 * left only when its dirty pages were thrown away (after a shutdown).
	 */
	if (!is_bad_inode(inode) && inode->i_ino && !sb_rdonly(inode->i_sb) &&
	    (!inode->i_nlink || RXI(inode)->delayed))
		rxfs_rs_evict_inode(inode->i_sb, inode->i_ino, !inode->i_nlink);
	clear_inode(inode);
}

/* ---- directories ------------------------------------------------------- */

static struct dentry *rxfs_lookup(struct inode *dir, struct dentry *dentry, unsigned int flags)
{
	struct inode *inode = NULL;
	u64 ino = 0;
	int err;

	if (dentry->d_name.len > 255)
		return ERR_PTR(-ENAMETOOLONG);
	err = rxfs_rs_lookup(dir->i_sb, dir->i_ino, dentry->d_name.name, dentry->d_name.len, &ino);
	if (err)
		return ERR_PTR(err);
	if (ino)
		inode = rxfs_iget(dir->i_sb, ino);
	return d_splice_alias(inode, dentry);
}

static void rxfs_touch(struct inode *inode)
{
	inode_set_mtime_to_ts(inode, inode_set_ctime_current(inode));
	mark_inode_dirty(inode);
}

/*
 * Makes a new inode of @mode in @dir: on disk first (Rust allocates the
 * block, writes the inode and adds the entry, or puts a tmpfile on the
 * orphan list), then the VFS inode.
 */
static struct inode *rxfs_new(struct mnt_idmap *idmap, struct inode *dir,
			      struct dentry *dentry, umode_t mode, dev_t rdev,
			      const char *symname, int tmpfile)
{
	struct super_block *sb = dir->i_sb;
	struct rxfs_dinode di;
	struct inode *inode;
	u32 linklen = symname ? strlen(symname) : 0;
	int err;

	if (symname && linklen > sb->s_blocksize - 192)
		return ERR_PTR(-ENAMETOOLONG);
	inode = new_inode(sb);
	if (!inode)
		return ERR_PTR(-ENOMEM);
	inode_init_owner(idmap, inode, dir, mode);
	inode->i_rdev = rdev;
	simple_inode_init_ts(inode);
	RXI(inode)->btime_sec = inode_get_ctime(inode).tv_sec;
	RXI(inode)->btime_nsec = inode_get_ctime(inode).tv_nsec;
	set_nlink(inode, S_ISDIR(mode) ? 2 : 1);
	if (symname) {
		RXI(inode)->link = kstrdup(symname, GFP_KERNEL);
		if (!RXI(inode)->link) {
			err = -ENOMEM;
			goto fail;
		}
		i_size_write(inode, linklen);
	}
	rxfs_to_dinode(inode, &di);
	di.ino = 0;
	if (tmpfile)
		di.nlink = 0;
	err = rxfs_rs_create(sb, dir->i_ino, dentry->d_name.name, dentry->d_name.len,
			     &di, symname, linklen, tmpfile);
	if (err)
		goto fail;
	inode->i_ino = di.ino;
	inode->i_generation = di.generation;
	rxfs_set_ops(inode);
	err = insert_inode_locked(inode);
	if (err) {
		/* Cannot happen: the block was free. Leave it to evict. */
		make_bad_inode(inode);
		iput(inode);
		return ERR_PTR(-EUCLEAN);
	}
	if (S_ISDIR(mode))
		inc_nlink(dir);
	rxfs_touch(dir);
	mark_inode_dirty(inode);
	return inode;
fail:
	/* i_ino is 0: evict frees nothing on disk. */
	clear_nlink(inode);
	iput(inode);
	return ERR_PTR(err);
}

static int rxfs_mknod(struct mnt_idmap *idmap, struct inode *dir, struct dentry *dentry,
		      umode_t mode, dev_t rdev)
{
	struct inode *inode = rxfs_new(idmap, dir, dentry, mode, rdev, NULL, 0);

	if (IS_ERR(inode))
		return PTR_ERR(inode);
	d_instantiate_new(dentry, inode);
	return 0;
}

static int rxfs_create(struct mnt_idmap *idmap, struct inode *dir, struct dentry *dentry,
		       umode_t mode, bool excl)
{
	return rxfs_mknod(idmap, dir, dentry, mode | S_IFREG, 0);
}

static int rxfs_mkdir(struct mnt_idmap *idmap, struct inode *dir, struct dentry *dentry,
		      umode_t mode)
{
	return rxfs_mknod(idmap, dir, dentry, mode | S_IFDIR, 0);
}

static int rxfs_symlink(struct mnt_idmap *idmap, struct inode *dir, struct dentry *dentry,
			const char *symname)
{
	struct inode *inode = rxfs_new(idmap, dir, dentry, S_IFLNK | 0777, 0, symname, 0);

	if (IS_ERR(inode))
		return PTR_ERR(inode);
	d_instantiate_new(dentry, inode);
	return 0;
}

static int rxfs_tmpfile(struct mnt_idmap *idmap, struct inode *dir, struct file *file,
			umode_t mode)
{
	struct inode *inode = rxfs_new(idmap, dir, file->f_path.dentry, mode, 0, NULL, 1);

	if (IS_ERR(inode))
		return PTR_ERR(inode);
	/* d_tmpfile drops the link count to zero; the inode is an orphan. */
	d_tmpfile(file, inode);
	unlock_new_inode(inode);
	return finish_open_simple(file, 0);
}

static int rxfs_link(struct dentry *old, struct inode *dir, struct dentry *dentry)
{
	struct inode *inode = d_inode(old);
	int err;

	if (inode->i_nlink >= 65000)
		return -EMLINK;
	err = rxfs_rs_link(dir->i_sb, dir->i_ino, dentry->d_name.name, dentry->d_name.len,
			   inode->i_ino, inode->i_mode);
	if (err)
		return err;
	if (inode->i_nlink == 0) {
		/* A tmpfile being linked in: it leaves the orphan list. */
		err = rxfs_rs_orphan_del(dir->i_sb, inode->i_ino);
		if (err)
			return err;
	}
	inode_set_ctime_current(inode);
	inc_nlink(inode);
	ihold(inode);
	mark_inode_dirty(inode);
	rxfs_touch(dir);
	d_instantiate(dentry, inode);
	return 0;
}

static int rxfs_unlink(struct inode *dir, struct dentry *dentry)
{
	struct inode *inode = d_inode(dentry);
	int last = S_ISDIR(inode->i_mode) || inode->i_nlink <= 1;
	int err;

	err = rxfs_rs_unlink(dir->i_sb, dir->i_ino, dentry->d_name.name, dentry->d_name.len,
			     inode->i_ino, last);
	if (err)
		return err;
	inode_set_ctime_to_ts(inode, inode_get_ctime(dir));
	rxfs_touch(dir);
	if (S_ISDIR(inode->i_mode)) {
		clear_nlink(inode);
		drop_nlink(dir);
	} else {
		drop_nlink(inode);
	}
	mark_inode_dirty(inode);
	return 0;
}

static int rxfs_rmdir(struct inode *dir, struct dentry *dentry)
{
	int err = rxfs_rs_dir_empty(dir->i_sb, d_inode(dentry)->i_ino);

	if (err < 0)
		return err;
	if (!err)
		return -ENOTEMPTY;
	return rxfs_unlink(dir, dentry);
}

static int rxfs_rename(struct mnt_idmap *idmap, struct inode *old_dir, struct dentry *old_dentry,
		       struct inode *new_dir, struct dentry *new_dentry, unsigned int flags)
{
	struct inode *old = d_inode(old_dentry);
	struct inode *new = d_inode(new_dentry);
	struct rxfs_rename r = {};
	int err;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	if (new && S_ISDIR(new->i_mode) && !(flags & RENAME_EXCHANGE)) {
		err = rxfs_rs_dir_empty(old_dir->i_sb, new->i_ino);
		if (err < 0)
			return err;
		if (!err)
			return -ENOTEMPTY;
	}
	r.old_dir = old_dir->i_ino;
	r.new_dir = new_dir->i_ino;
	r.old_ino = old->i_ino;
	r.new_ino = new ? new->i_ino : 0;
	r.old_name = old_dentry->d_name.name;
	r.old_len = old_dentry->d_name.len;
	r.new_name = new_dentry->d_name.name;
	r.new_len = new_dentry->d_name.len;
	r.flags = flags;
	r.old_mode = old->i_mode;
	r.new_mode = new ? new->i_mode : 0;
	r.target_last_link = new && !(flags & RENAME_EXCHANGE) &&
			     (S_ISDIR(new->i_mode) || new->i_nlink <= 1);
	if (flags & RENAME_WHITEOUT) {
		struct timespec64 now = current_time(old_dir);

		r.whiteout.mode = S_IFCHR | WHITEOUT_MODE;
		r.whiteout.rdev = new_encode_dev(WHITEOUT_DEV);
		r.whiteout.uid = from_kuid(&init_user_ns, mapped_fsuid(idmap, &init_user_ns));
		r.whiteout.gid = from_kgid(&init_user_ns, mapped_fsgid(idmap, &init_user_ns));
		r.whiteout.nlink = 1;
		r.whiteout.atime_sec = r.whiteout.mtime_sec = r.whiteout.ctime_sec =
			r.whiteout.btime_sec = now.tv_sec;
		r.whiteout.atime_nsec = r.whiteout.mtime_nsec = r.whiteout.ctime_nsec =
			r.whiteout.btime_nsec = now.tv_nsec;
	}
	err = rxfs_rs_rename(old_dir->i_sb, &r);
	if (err)
		return err;

	rxfs_touch(old_dir);
	if (new_dir != old_dir)
		rxfs_touch(new_dir);
	inode_set_ctime_current(old);
	mark_inode_dirty(old);
	if (flags & RENAME_EXCHANGE) {
		inode_set_ctime_current(new);
		mark_inode_dirty(new);
		if (S_ISDIR(old->i_mode) != S_ISDIR(new->i_mode) && old_dir != new_dir) {
			if (S_ISDIR(old->i_mode)) {
				drop_nlink(old_dir);
				inc_nlink(new_dir);
			} else {
				drop_nlink(new_dir);
				inc_nlink(old_dir);
			}
		}
		return 0;
	}
	if (new) {
		inode_set_ctime_current(new);
		if (S_ISDIR(new->i_mode)) {
			clear_nlink(new);
			drop_nlink(new_dir);
		} else {
			drop_nlink(new);
		}
		mark_inode_dirty(new);
	}
	if (S_ISDIR(old->i_mode) && old_dir != new_dir) {
		drop_nlink(old_dir);
		inc_nlink(new_dir);
	}
	return 0;
}

static int rxfs_readdir(struct file *file, struct dir_context *ctx)
{
	struct inode *dir = file_inode(file);
	struct rxfs_dirent *de;
	int err = 0;

	if (!dir_emit_dots(file, ctx))
		return 0;
	de = kmalloc(sizeof(*de), GFP_KERNEL);
	if (!de)
		return -ENOMEM;
	for (;;) {
		err = rxfs_rs_readdir(dir->i_sb, dir->i_ino, ctx->pos, de);
		if (err <= 0)
			break;
		if (!dir_emit(ctx, de->name, de->namelen, de->ino, de->type)) {
			err = 0;
			break;
		}
		ctx->pos = de->next_pos;
	}
	kfree(de);
	return err < 0 ? err : 0;
}

/* ---- attributes -------------------------------------------------------- */

static int rxfs_getattr(struct mnt_idmap *idmap, const struct path *path, struct kstat *stat,
			u32 request_mask, unsigned int query_flags)
{
	struct inode *inode = d_inode(path->dentry);

	generic_fillattr(idmap, request_mask, inode, stat);
	stat->btime.tv_sec = RXI(inode)->btime_sec;
	stat->btime.tv_nsec = RXI(inode)->btime_nsec;
	stat->result_mask |= STATX_BTIME;
	if ((request_mask & STATX_DIOALIGN) && S_ISREG(inode->i_mode)) {
		struct block_device *bdev = inode->i_sb->s_bdev;

		stat->dio_mem_align = bdev_dma_alignment(bdev) + 1;
		stat->dio_offset_align = bdev_logical_block_size(bdev);
		stat->result_mask |= STATX_DIOALIGN;
	}
	return 0;
}

static int rxfs_zero_eof(struct inode *inode, loff_t pos);

static int rxfs_setsize(struct inode *inode, loff_t newsize)
{
	loff_t oldsize = i_size_read(inode);
	struct rxfs_map m;
	int err;

	inode_dio_wait(inode);
	/*
	 * Zero what lies between the new EOF and the end of its block (when
	 * shrinking), or from the old EOF on (when growing), so no stale bytes
	 * past EOF come back into view. The invalidate_lock keeps write faults
	 * out from the zeroing until the new size is set.
	 */
	filemap_invalidate_lock(inode->i_mapping);
	if (newsize < oldsize)
		err = iomap_truncate_page(inode, newsize, NULL, &rxfs_buffered_write_iomap_ops);
	else
		err = rxfs_zero_eof(inode, newsize);
	if (err)
		goto out;
	truncate_setsize(inode, newsize);
	if (newsize < oldsize)
		err = rxfs_xop(inode, RXFS_XOP_REMOVE, round_up(newsize, i_blocksize(inode)),
			       U64_MAX, 0, &m);
out:
	filemap_invalidate_unlock(inode->i_mapping);
	return err;
}

static int rxfs_setattr(struct mnt_idmap *idmap, struct dentry *dentry, struct iattr *attr)
{
	struct inode *inode = d_inode(dentry);
	int err;

	err = setattr_prepare(idmap, dentry, attr);
	if (err)
		return err;
	if ((attr->ia_valid & ATTR_SIZE) && attr->ia_size != i_size_read(inode)) {
		if (!S_ISREG(inode->i_mode))
			return -EINVAL;
		err = rxfs_setsize(inode, attr->ia_size);
		if (err)
			return err;
		inode_set_mtime_to_ts(inode, inode_set_ctime_current(inode));
	}
	setattr_copy(idmap, inode, attr);
	mark_inode_dirty(inode);
	return 0;
}

static const char *rxfs_get_link(struct dentry *dentry, struct inode *inode,
				 struct delayed_call *done)
{
	return RXI(inode)->link ? RXI(inode)->link : ERR_PTR(-EUCLEAN);
}

static const struct inode_operations rxfs_dir_iops = {
	.lookup		= rxfs_lookup,
	.create		= rxfs_create,
	.mkdir		= rxfs_mkdir,
	.mknod		= rxfs_mknod,
	.symlink	= rxfs_symlink,
	.tmpfile	= rxfs_tmpfile,
	.link		= rxfs_link,
	.unlink		= rxfs_unlink,
	.rmdir		= rxfs_rmdir,
	.rename		= rxfs_rename,
	.getattr	= rxfs_getattr,
	.setattr	= rxfs_setattr,
};

static int rxfs_fiemap(struct inode *inode, struct fiemap_extent_info *fieinfo, u64 start,
		       u64 len);

static const struct inode_operations rxfs_file_iops = {
	.getattr	= rxfs_getattr,
	.setattr	= rxfs_setattr,
	.fiemap		= rxfs_fiemap,
};

static const struct inode_operations rxfs_symlink_iops = {
	.get_link	= rxfs_get_link,
	.getattr	= rxfs_getattr,
	.setattr	= rxfs_setattr,
};

static const struct inode_operations rxfs_special_iops = {
	.getattr	= rxfs_getattr,
	.setattr	= rxfs_setattr,
};

static int rxfs_fsync(struct file *file, loff_t start, loff_t end, int datasync)
{
	struct inode *inode = file->f_mapping->host;
	int err;

	if (rxfs_is_shutdown(inode->i_sb))
		return -EIO;
	err = file_write_and_wait_range(file, start, end);
	if (err)
		return err;
	err = sync_inode_metadata(inode, 1);
	if (err)
		return err;
	return rxfs_rs_fsync(inode->i_sb);
}

static long rxfs_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

static const struct file_operations rxfs_dir_fops = {
	.llseek		= generic_file_llseek,
	.read		= generic_read_dir,
	.iterate_shared	= rxfs_readdir,
	.fsync		= rxfs_fsync,
	.unlocked_ioctl	= rxfs_ioctl,
};

/* ---- regular files: extent operations and iomap ------------------------- */

static void rxfs_account(struct inode *inode, const struct rxfs_map *m)
{
	struct rxfs_inode *ri = RXI(inode);

	if (!m->changed && !m->delayed)
		return;
	spin_lock(&inode->i_lock);
	if (m->changed)
		ri->dblocks = m->nblocks;
	ri->delayed += m->delayed;
	inode->i_blocks = (ri->dblocks + ri->delayed) << (inode->i_blkbits - 9);
	spin_unlock(&inode->i_lock);
}

/* One extent operation (enum rxfs_xop) on bytes pos..pos+len of @inode. */
static int rxfs_xop(struct inode *inode, enum rxfs_xop op, u64 pos, u64 len, unsigned int flags,
		    struct rxfs_map *m)
{
	int err;

	memset(m, 0, sizeof(*m));
	err = rxfs_rs_xop(inode->i_sb, inode->i_ino, &RXI(inode)->data_seq, op, pos, len, flags, m);
	rxfs_account(inode, m);
	return err;
}

static const struct iomap_folio_ops rxfs_folio_ops;

/*
 * The cookie a data fork mapping made now would carry: the data fork
 * sequence in the low 32 bits (data::cookie); the high 32 bits are for the
 * CoW fork's.
 */
static u64 rxfs_cookie(struct inode *inode)
{
	return (u32)atomic64_read(&RXI(inode)->data_seq);
}

static void rxfs_fill_iomap(struct inode *inode, const struct rxfs_map *m, struct iomap *iomap)
{
	iomap->addr = m->addr;
	iomap->offset = m->offset;
	iomap->length = m->length;
	iomap->type = m->type;
	iomap->flags = m->flags;
	iomap->bdev = inode->i_sb->s_bdev;
	iomap->validity_cookie = m->cookie;
	iomap->folio_ops = &rxfs_folio_ops;
}

/*
 * Fires a one-shot offset knob if @pos..@pos+@len covers it: returns the
 * offset and disarms the knob, or returns -1.
 */
static s64 rxfs_knob_hit(s64 *knob, loff_t pos, loff_t len)
{
	s64 at = READ_ONCE(*knob);

	if (at < 0 || at < pos || at >= pos + len)
		return -1;
	return cmpxchg(knob, at, -1) == at ? at : -1;
}

/* An iomap_begin: extent operation @op, its mapping into @iomap. */
static int rxfs_begin(struct inode *inode, enum rxfs_xop op, loff_t pos, loff_t length,
		      unsigned int flags, struct iomap *iomap)
{
	struct rxfs_map m;
	int err = rxfs_xop(inode, op, pos, length, flags, &m);

	if (!err)
		rxfs_fill_iomap(inode, &m, iomap);
	return err;
}

static int rxfs_read_iomap_begin(struct inode *inode, loff_t pos, loff_t length,
				 unsigned int flags, struct iomap *iomap, struct iomap *srcmap)
{
	int err = rxfs_begin(inode, RXFS_XOP_READ, pos, length, flags, iomap);

	/* O_DIRECT reads flushed the cache: delalloc there has no disk data. */
	if (!err && (flags & IOMAP_DIRECT) && iomap->type == IOMAP_DELALLOC)
		iomap->type = IOMAP_HOLE;
	return err;
}

/* Reads, readahead, SEEK_HOLE/SEEK_DATA, FIEMAP, O_DIRECT reads. */
const struct iomap_ops rxfs_read_iomap_ops = {
	.iomap_begin	= rxfs_read_iomap_begin,
};

/*
 * Buffered writes and write faults reserve delalloc over holes (IOMAP_F_NEW:
 * this call made the reservation, so iomap_end may punch it). Zeroing gets
 * holes as holes.
 */
static int rxfs_buffered_write_iomap_begin(struct inode *inode, loff_t pos, loff_t length,
					   unsigned int flags, struct iomap *iomap,
					   struct iomap *srcmap)
{
	struct rxfs_knobs *k = &RXSB(inode->i_sb)->knobs;
	int err = rxfs_begin(inode, RXFS_XOP_BWRITE, pos, length, flags, iomap);

	if (err)
		return err;
	/* Knob (a): widen the window between mapping and folio lock. */
	if (!(flags & IOMAP_ZERO) && rxfs_knob_hit(&k->begin_delay_pos, pos, length) >= 0)
		msleep(READ_ONCE(k->begin_delay_ms));
	return 0;
}

/*
 * The punch callback of iomap_write_delalloc_release(): removes only delalloc
 * in the range, atomically under the extent lock. It may run with a folio
 * locked, so it takes no folio lock itself.
 */
static void rxfs_punch_delalloc(struct inode *inode, loff_t offset, loff_t length,
				struct iomap *iomap)
{
	struct rxfs_map m;

	rxfs_xop(inode, RXFS_XOP_PUNCH_DELALLOC, offset, length, 0, &m);
}

/*
 * A short write leaves delalloc this call reserved but did not fill: punch
 * it, except where the page cache is dirty (another writer, or a write
 * fault, put data there meanwhile). iomap_write_delalloc_release() finds the
 * dirty ranges; 6.12 requires the invalidate_lock held exclusively.
 */
static int rxfs_buffered_write_iomap_end(struct inode *inode, loff_t pos, loff_t length,
					 ssize_t written, unsigned int flags, struct iomap *iomap)
{
	struct rxfs_knobs *k = &RXSB(inode->i_sb)->knobs;
	loff_t start_byte, end_byte;
	s64 mode;

	if (iomap->type != IOMAP_DELALLOC || !(iomap->flags & IOMAP_F_NEW))
		return 0;
	start_byte = iomap_last_written_block(inode, pos, written);
	end_byte = round_up(pos + length, i_blocksize(inode));
	if (start_byte >= end_byte)
		return 0;
	/* Zeroing never gets a fresh reservation, so the lock is ours to take. */
	WARN_ON_ONCE(flags & (IOMAP_ZERO | IOMAP_UNSHARE));
	mode = READ_ONCE(k->punch_mode);
	if (mode == 2)		/* negative control: no punch, the reservation leaks */
		return 0;
	filemap_invalidate_lock(inode->i_mapping);
	if (mode == 1) {	/* negative control: punch it all, drop the cache */
		truncate_pagecache_range(inode, start_byte, end_byte - 1);
		rxfs_punch_delalloc(inode, start_byte, end_byte - start_byte, iomap);
	} else {
		iomap_write_delalloc_release(inode, start_byte, end_byte, flags, iomap,
					     rxfs_punch_delalloc);
	}
	filemap_invalidate_unlock(inode->i_mapping);
	return 0;
}

const struct iomap_ops rxfs_buffered_write_iomap_ops = {
	.iomap_begin	= rxfs_buffered_write_iomap_begin,
	.iomap_end	= rxfs_buffered_write_iomap_end,
};

/* Write faults: the same reservation, never revoked (no iomap_end). */
static const struct iomap_ops rxfs_mkwrite_iomap_ops = {
	.iomap_begin	= rxfs_buffered_write_iomap_begin,
};

/*
 * Called by iomap with the folio locked: the mapping is still good only if
 * no extent change happened since it was made.
 */
static bool rxfs_iomap_valid(struct inode *inode, const struct iomap *iomap)
{
	if (READ_ONCE(RXSB(inode->i_sb)->knobs.no_iomap_valid))
		return true;	/* knob (d), negative control */
	return iomap->validity_cookie == rxfs_cookie(inode);
}

/* Knob (c): @iter->private is the write's iov_iter (buffered writes only). */
static struct folio *rxfs_get_folio(struct iomap_iter *iter, loff_t pos, unsigned int len)
{
	struct rxfs_knobs *k = &RXSB(iter->inode->i_sb)->knobs;
	struct iov_iter *from = iter->private;
	s64 at;

	if (from) {
		/* The user copy for this folio stops at the knob's offset. */
		at = rxfs_knob_hit(&k->short_write_at, pos, len);
		if (at >= 0)
			iov_iter_truncate(from, at - pos);
		if (rxfs_knob_hit(&k->fail_write_at, pos, len) >= 0)
			return ERR_PTR(-EIO);
	}
	return iomap_get_folio(iter, pos, len);
}

static const struct iomap_folio_ops rxfs_folio_ops = {
	.get_folio	= rxfs_get_folio,
	.iomap_valid	= rxfs_iomap_valid,
};

/* O_DIRECT writes: holes and delalloc become unwritten blocks. */
static int rxfs_dio_write_iomap_begin(struct inode *inode, loff_t pos, loff_t length,
				      unsigned int flags, struct iomap *iomap,
				      struct iomap *srcmap)
{
	return rxfs_begin(inode, RXFS_XOP_DWRITE, pos, length, flags, iomap);
}

static const struct iomap_ops rxfs_dio_write_iomap_ops = {
	.iomap_begin	= rxfs_dio_write_iomap_begin,
};

/*
 * EOF is about to move up to @pos (a write or fallocate past EOF, truncate
 * up): zero the file from the old EOF to @pos through the page cache first,
 * as XFS's xfs_file_write_zero_eof() does, so that nothing that lay past
 * the old EOF becomes readable: neither the rest of the EOF block on disk
 * nor bytes left past EOF in its folio by a short copy or a write fault.
 * iomap_zero_range() writes zeroes over written and delalloc blocks and
 * flushes dirty folios over holes and unwritten blocks, whose writeback
 * zeroes a folio's tail past EOF. Called with i_rwsem and the
 * invalidate_lock held exclusively; O_DIRECT completions that move EOF
 * have been waited for.
 */
static int rxfs_zero_eof(struct inode *inode, loff_t pos)
{
	loff_t isize = i_size_read(inode);

	if (pos <= isize)
		return 0;
	return iomap_zero_range(inode, isize, pos - isize, NULL, &rxfs_buffered_write_iomap_ops);
}

/* A write that starts past EOF: zero from the old EOF to its start first. */
static int rxfs_write_zero_eof(struct kiocb *iocb)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	int err;

	if (iocb->ki_pos <= i_size_read(inode))
		return 0;
	/* Negative control: the old EOF's block and folio are left as they are. */
	if (READ_ONCE(RXSB(inode->i_sb)->knobs.no_zero_eof))
		return 0;
	if (iocb->ki_flags & IOCB_NOWAIT)
		return -EAGAIN;
	/* An O_DIRECT completion still in flight may move EOF. */
	inode_dio_wait(inode);
	filemap_invalidate_lock(inode->i_mapping);
	err = rxfs_zero_eof(inode, iocb->ki_pos);
	filemap_invalidate_unlock(inode->i_mapping);
	return err;
}

static void rxfs_extend_size(struct inode *inode, loff_t end)
{
	bool grew = false;

	spin_lock(&inode->i_lock);
	if (end > i_size_read(inode)) {
		i_size_write(inode, end);
		grew = true;
	}
	spin_unlock(&inode->i_lock);
	if (grew)
		mark_inode_dirty(inode);
}

/*
 * O_DIRECT write completion, with ki_pos still at the write's start: convert
 * exactly the completed range, then grow i_size (conversion first, so a
 * racing read never sees unwritten blocks below EOF as data).
 */
static int rxfs_dio_write_end_io(struct kiocb *iocb, ssize_t size, int error, unsigned int flags)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	unsigned int nofs;
	struct rxfs_map m;
	int err = 0;

	if (error)
		return error;
	if (!size)
		return 0;
	nofs = memalloc_nofs_save();
	if (flags & IOMAP_DIO_UNWRITTEN)
		err = rxfs_xop(inode, RXFS_XOP_CONVERT, iocb->ki_pos, size, 0, &m);
	memalloc_nofs_restore(nofs);
	if (!err)
		rxfs_extend_size(inode, iocb->ki_pos + size);
	return err;
}

static const struct iomap_dio_ops rxfs_dio_write_ops = {
	.end_io		= rxfs_dio_write_end_io,
};

/* ---- writeback ---------------------------------------------------------- */

/*
 * Reuses the cached mapping while it covers @offset and the data fork has not
 * changed since it was made; otherwise asks for a new one, which turns
 * delalloc into unwritten blocks (never returns delalloc).
 */
static int rxfs_map_blocks(struct iomap_writepage_ctx *wpc, struct inode *inode, loff_t offset,
			   unsigned int len)
{
	struct rxfs_map m;
	loff_t size;
	int err;

	if (offset >= wpc->iomap.offset && offset < wpc->iomap.offset + wpc->iomap.length &&
	    wpc->iomap.validity_cookie == rxfs_cookie(inode))
		return 0;
	/*
	 * Delalloc below EOF is all under dirty folios about to be written, so
	 * convert up to EOF in one go; never past it (post-EOF delalloc has no
	 * data and would become allocated blocks nothing frees).
	 */
	size = i_size_read(inode);
	err = rxfs_xop(inode, RXFS_XOP_WRITEBACK, offset, max_t(loff_t, len, size - offset), 0, &m);
	if (err)
		return err;
	if (WARN_ON_ONCE(m.type == IOMAP_DELALLOC))
		return -EIO;
	rxfs_fill_iomap(inode, &m, &wpc->iomap);
	return 0;
}

static void rxfs_end_bio(struct bio *bio)
{
	struct iomap_ioend *ioend = iomap_ioend_from_bio(bio);
	struct rxfs_inode *ri = RXI(ioend->io_inode);
	unsigned long flags;

	spin_lock_irqsave(&ri->ioend_lock, flags);
	if (list_empty(&ri->ioend_list))
		WARN_ON_ONCE(!queue_work(RXSB(ri->vfs.i_sb)->ioend_wq, &ri->ioend_work));
	list_add_tail(&ioend->io_list, &ri->ioend_list);
	spin_unlock_irqrestore(&ri->ioend_lock, flags);
}

/* Completion of ioends over unwritten blocks, in process context. */
static void rxfs_end_io(struct work_struct *work)
{
	struct rxfs_inode *ri = container_of(work, struct rxfs_inode, ioend_work);
	struct inode *inode = &ri->vfs;
	s64 delay = READ_ONCE(RXSB(inode->i_sb)->knobs.wb_complete_delay_ms);
	struct iomap_ioend *ioend;
	unsigned long flags;
	LIST_HEAD(done);

	if (delay > 0)
		msleep(delay);	/* knob (b) */
	spin_lock_irqsave(&ri->ioend_lock, flags);
	list_replace_init(&ri->ioend_list, &done);
	spin_unlock_irqrestore(&ri->ioend_lock, flags);
	while ((ioend = list_first_entry_or_null(&done, struct iomap_ioend, io_list))) {
		int error = blk_status_to_errno(ioend->io_bio.bi_status);

		list_del_init(&ioend->io_list);
		if (!error && ioend->io_type == IOMAP_UNWRITTEN) {
			unsigned int nofs = memalloc_nofs_save();
			struct rxfs_map m;

			error = rxfs_xop(inode, RXFS_XOP_CONVERT, ioend->io_offset, ioend->io_size,
					 0, &m);
			memalloc_nofs_restore(nofs);
			if (error)
				mapping_set_error(inode->i_mapping, error);
		}
		iomap_finish_ioends(ioend, error);
	}
}

static int rxfs_prepare_ioend(struct iomap_ioend *ioend, int status)
{
	struct rxfs_knobs *k = &RXSB(ioend->io_inode->i_sb)->knobs;
	s64 delay = READ_ONCE(k->wb_submit_delay_ms);

	if (delay > 0)
		msleep(delay);	/* knob (b) */
	if (!status && (ioend->io_type == IOMAP_UNWRITTEN || READ_ONCE(k->wb_complete_delay_ms) > 0))
		ioend->io_bio.bi_end_io = rxfs_end_bio;
	return status;
}

static void rxfs_discard_folio(struct folio *folio, loff_t pos)
{
	/* The folio's data is lost: so is its delalloc reservation. */
	rxfs_punch_delalloc(folio->mapping->host, pos, folio_pos(folio) + folio_size(folio) - pos,
			    NULL);
}

static const struct iomap_writeback_ops rxfs_writeback_ops = {
	.map_blocks	= rxfs_map_blocks,
	.prepare_ioend	= rxfs_prepare_ioend,
	.discard_folio	= rxfs_discard_folio,
};

static int rxfs_read_folio(struct file *file, struct folio *folio)
{
	return iomap_read_folio(folio, &rxfs_read_iomap_ops);
}

static void rxfs_readahead(struct readahead_control *rac)
{
	iomap_readahead(rac, &rxfs_read_iomap_ops);
}

static int rxfs_writepages(struct address_space *mapping, struct writeback_control *wbc)
{
	struct iomap_writepage_ctx wpc = {};

	if (rxfs_is_shutdown(mapping->host->i_sb))
		return -EIO;
	return iomap_writepages(mapping, wbc, &wpc, &rxfs_writeback_ops);
}

static const struct address_space_operations rxfs_aops = {
	.read_folio		= rxfs_read_folio,
	.readahead		= rxfs_readahead,
	.writepages		= rxfs_writepages,
	.dirty_folio		= iomap_dirty_folio,
	.release_folio		= iomap_release_folio,
	.invalidate_folio	= iomap_invalidate_folio,
	.migrate_folio		= filemap_migrate_folio,
	.is_partially_uptodate	= iomap_is_partially_uptodate,
	.error_remove_folio	= generic_error_remove_folio,
};

/* ---- file operations ---------------------------------------------------- */

/* O_DIRECT needs the I/O aligned to the device's logical sector, as XFS. */
static bool rxfs_dio_aligned(struct inode *inode, loff_t pos, size_t count)
{
	unsigned int mask = bdev_logical_block_size(inode->i_sb->s_bdev) - 1;

	return !((pos | count) & mask);
}

static ssize_t rxfs_file_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	ssize_t ret;

	if (rxfs_is_shutdown(inode->i_sb))
		return -EIO;
	if (!(iocb->ki_flags & IOCB_DIRECT))
		return generic_file_read_iter(iocb, to);
	if (!iov_iter_count(to))
		return 0;
	if (!rxfs_dio_aligned(inode, iocb->ki_pos, iov_iter_count(to)))
		return -EINVAL;
	if (iocb->ki_flags & IOCB_NOWAIT) {
		if (!inode_trylock_shared(inode))
			return -EAGAIN;
	} else {
		inode_lock_shared(inode);
	}
	ret = iomap_dio_rw(iocb, to, &rxfs_read_iomap_ops, NULL, 0, NULL, 0);
	inode_unlock_shared(inode);
	file_accessed(iocb->ki_filp);
	return ret;
}

static ssize_t rxfs_buffered_write(struct kiocb *iocb, struct iov_iter *from)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	bool flushed = false;
	ssize_t ret;

again:
	ret = iomap_file_buffered_write(iocb, from, &rxfs_buffered_write_iomap_ops, from);
	/*
	 * Out of space for a reservation: write back what is dirty (converting
	 * delalloc frees its over-reservation) and try once more, as XFS does.
	 */
	if (ret == -ENOSPC && !flushed) {
		flushed = true;
		inode_unlock(inode);
		if (down_read_trylock(&inode->i_sb->s_umount)) {
			sync_inodes_sb(inode->i_sb);
			up_read(&inode->i_sb->s_umount);
		}
		inode_lock(inode);
		/*
		 * EOF may have moved while the lock was dropped: an append
		 * follows it, and a truncate down must be zeroed over again.
		 */
		if (iocb->ki_flags & IOCB_APPEND)
			iocb->ki_pos = i_size_read(inode);
		ret = rxfs_write_zero_eof(iocb);
		if (ret)
			return ret;
		goto again;
	}
	return ret;
}

static ssize_t rxfs_file_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	unsigned int dio_flags = 0;
	ssize_t ret;

	if (rxfs_is_shutdown(inode->i_sb))
		return -EIO;
	if (iocb->ki_flags & IOCB_NOWAIT) {
		if (!inode_trylock(inode))
			return -EAGAIN;
	} else {
		inode_lock(inode);
	}
	ret = generic_write_checks(iocb, from);
	if (ret <= 0)
		goto out;
	ret = file_remove_privs(iocb->ki_filp);
	if (ret)
		goto out;
	ret = file_update_time(iocb->ki_filp);
	if (ret)
		goto out;
	ret = rxfs_write_zero_eof(iocb);
	if (ret)
		goto out;
	if (!(iocb->ki_flags & IOCB_DIRECT)) {
		ret = rxfs_buffered_write(iocb, from);
		/* iomap grew i_size; the inode must reach the disk with it. */
		mark_inode_dirty(inode);
		goto out;
	}
	if (!rxfs_dio_aligned(inode, iocb->ki_pos, iov_iter_count(from))) {
		ret = -EINVAL;
		goto out;
	}
	/*
	 * Sub-block writes zero the rest of a new block: no other O_DIRECT
	 * write may be in flight on it (i_rwsem is held exclusively here).
	 */
	if ((iocb->ki_pos | iov_iter_count(from)) & (i_blocksize(inode) - 1)) {
		inode_dio_wait(inode);
		dio_flags |= IOMAP_DIO_FORCE_WAIT;
	}
	ret = iomap_dio_rw(iocb, from, &rxfs_dio_write_iomap_ops, &rxfs_dio_write_ops, dio_flags,
			   NULL, 0);
	/* The page cache could not be invalidated: fall back to buffered. */
	if (ret == -ENOTBLK) {
		ret = rxfs_buffered_write(iocb, from);
		mark_inode_dirty(inode);
	}
out:
	inode_unlock(inode);
	if (ret > 0)
		ret = generic_write_sync(iocb, ret);
	return ret;
}

static vm_fault_t rxfs_page_mkwrite(struct vm_fault *vmf)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	vm_fault_t ret;

	if (rxfs_is_shutdown(inode->i_sb))
		return VM_FAULT_SIGBUS;
	/* Negative control: dirty the folio without reserving its holes. */
	if (READ_ONCE(RXSB(inode->i_sb)->knobs.mkwrite_naive))
		return filemap_page_mkwrite(vmf);
	sb_start_pagefault(inode->i_sb);
	file_update_time(vmf->vma->vm_file);
	filemap_invalidate_lock_shared(inode->i_mapping);
	ret = iomap_page_mkwrite(vmf, &rxfs_mkwrite_iomap_ops);
	filemap_invalidate_unlock_shared(inode->i_mapping);
	sb_end_pagefault(inode->i_sb);
	return ret;
}

static const struct vm_operations_struct rxfs_vm_ops = {
	.fault		= filemap_fault,
	.map_pages	= filemap_map_pages,
	.page_mkwrite	= rxfs_page_mkwrite,
};

static int rxfs_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	file_accessed(file);
	vma->vm_ops = &rxfs_vm_ops;
	return 0;
}

static int rxfs_file_open(struct inode *inode, struct file *file)
{
	if (rxfs_is_shutdown(inode->i_sb))
		return -EIO;
	file->f_mode |= FMODE_CAN_ODIRECT;
	return generic_file_open(inode, file);
}

static loff_t rxfs_file_llseek(struct file *file, loff_t offset, int whence)
{
	struct inode *inode = file->f_mapping->host;

	switch (whence) {
	case SEEK_HOLE:
	case SEEK_DATA:
		if (rxfs_is_shutdown(inode->i_sb))
			return -EIO;
		inode_lock_shared(inode);
		if (whence == SEEK_HOLE)
			offset = iomap_seek_hole(inode, offset, &rxfs_read_iomap_ops);
		else
			offset = iomap_seek_data(inode, offset, &rxfs_read_iomap_ops);
		inode_unlock_shared(inode);
		if (offset < 0)
			return offset;
		return vfs_setpos(file, offset, inode->i_sb->s_maxbytes);
	default:
		return generic_file_llseek(file, offset, whence);
	}
}

static int rxfs_fiemap(struct inode *inode, struct fiemap_extent_info *fieinfo, u64 start,
		       u64 len)
{
	int err;

	inode_lock_shared(inode);
	err = iomap_fiemap(inode, fieinfo, start, len, &rxfs_read_iomap_ops);
	inode_unlock_shared(inode);
	return err;
}

/*
 * Unmaps the whole blocks of offset..offset+len and zeroes the partial ones
 * through the page cache. Called with i_rwsem and the invalidate_lock held.
 */
static int rxfs_free_range(struct inode *inode, loff_t offset, loff_t len)
{
	unsigned int bs = i_blocksize(inode);
	loff_t first = round_up(offset, bs), last = round_down(offset + len, bs);
	loff_t size = i_size_read(inode);
	struct rxfs_map m;
	int err;

	err = filemap_write_and_wait_range(inode->i_mapping, offset, offset + len - 1);
	if (err)
		return err;
	truncate_pagecache_range(inode, offset, offset + len - 1);
	if (last > first) {
		err = rxfs_xop(inode, RXFS_XOP_REMOVE, first, last - first, 0, &m);
		if (err)
			return err;
	}
	if (offset < size)
		err = iomap_zero_range(inode, offset, min(len, size - offset), NULL,
				       &rxfs_buffered_write_iomap_ops);
	return err;
}

#define RXFS_FALLOC_MODES (FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | \
			   FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)

/* Collapse and insert move blocks: flush and drop the cache from @offset. */
static int rxfs_prepare_shift(struct inode *inode, loff_t offset, loff_t len)
{
	unsigned int bs = i_blocksize(inode);
	int err;

	if ((offset | len) & (bs - 1))
		return -EINVAL;
	err = filemap_write_and_wait_range(inode->i_mapping, round_down(offset, PAGE_SIZE),
					   LLONG_MAX);
	if (err)
		return err;
	truncate_pagecache_range(inode, round_down(offset, PAGE_SIZE), LLONG_MAX);
	return 0;
}

static long rxfs_fallocate(struct file *file, int mode, loff_t offset, loff_t len)
{
	struct inode *inode = file_inode(file);
	unsigned int bs = i_blocksize(inode);
	loff_t size, new_size = 0;
	struct rxfs_map m;
	long err;

	if (!S_ISREG(inode->i_mode))
		return -EINVAL;
	if (mode & ~RXFS_FALLOC_MODES)
		return -EOPNOTSUPP;
	if (rxfs_is_shutdown(inode->i_sb))
		return -EIO;
	inode_lock(inode);
	filemap_invalidate_lock(inode->i_mapping);
	inode_dio_wait(inode);
	err = file_modified(file);
	if (err)
		goto out;
	size = i_size_read(inode);
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		err = rxfs_free_range(inode, offset, len);
	} else if (mode & FALLOC_FL_COLLAPSE_RANGE) {
		err = -EINVAL;
		if (offset + len >= size)
			goto out;
		err = rxfs_prepare_shift(inode, offset, len);
		if (err)
			goto out;
		err = rxfs_xop(inode, RXFS_XOP_COLLAPSE, offset, len, 0, &m);
		if (!err)
			i_size_write(inode, size - len);
	} else if (mode & FALLOC_FL_INSERT_RANGE) {
		err = -EINVAL;
		if (offset >= size)
			goto out;
		err = -EFBIG;
		if (len > inode->i_sb->s_maxbytes - size)
			goto out;
		err = rxfs_prepare_shift(inode, offset, len);
		if (err)
			goto out;
		err = rxfs_xop(inode, RXFS_XOP_INSERT, offset, len, 0, &m);
		if (!err)
			i_size_write(inode, size + len);
	} else {
		if (!(mode & FALLOC_FL_KEEP_SIZE) && offset + len > size) {
			new_size = offset + len;
			err = inode_newsize_ok(inode, new_size);
			if (err)
				goto out;
		}
		if (mode & FALLOC_FL_ZERO_RANGE) {
			err = rxfs_free_range(inode, offset, len);
			if (err)
				goto out;
		}
		err = rxfs_xop(inode, RXFS_XOP_PREALLOC, round_down(offset, bs),
			       round_up(offset + len, bs) - round_down(offset, bs), 0, &m);
		if (!err && new_size) {
			err = rxfs_zero_eof(inode, new_size);
			if (!err)
				truncate_setsize(inode, new_size);
		}
	}
out:
	if (!err) {
		inode_set_mtime_to_ts(inode, inode_set_ctime_current(inode));
		mark_inode_dirty(inode);
	}
	filemap_invalidate_unlock(inode->i_mapping);
	inode_unlock(inode);
	return err;
}

#define RXFS_IOC_GOINGDOWN	_IOR('X', 125, __u32)
#define RXFS_GOINGDOWN_DEFAULT	0	/* flush data and metadata, then shut down */
#define RXFS_GOINGDOWN_LOGFLUSH	1	/* flush metadata, then shut down */
#define RXFS_GOINGDOWN_NOLOGFLUSH 2	/* shut down now */

/* The XFS shutdown ioctl, as fstests uses it on any filesystem. */
static int rxfs_shutdown(struct super_block *sb, u32 how)
{
	switch (how) {
	case RXFS_GOINGDOWN_DEFAULT:
		down_read(&sb->s_umount);
		sync_filesystem(sb);
		up_read(&sb->s_umount);
		break;
	case RXFS_GOINGDOWN_LOGFLUSH:
		rxfs_rs_sync_fs(sb, 1);
		break;
	case RXFS_GOINGDOWN_NOLOGFLUSH:
		break;
	default:
		return -EINVAL;
	}
	if (!test_and_set_bit(RXFS_SB_SHUTDOWN, &RXSB(sb)->flags))
		pr_warn("rxfs (%s): filesystem shut down (mode %u)\n", sb->s_id, how);
	return 0;
}

static long rxfs_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct super_block *sb = file_inode(file)->i_sb;
	u32 how;

	switch (cmd) {
	case RXFS_IOC_GOINGDOWN:
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		if (get_user(how, (u32 __user *)arg))
			return -EFAULT;
		return rxfs_shutdown(sb, how);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations rxfs_file_fops = {
	.llseek		= rxfs_file_llseek,
	.read_iter	= rxfs_file_read_iter,
	.write_iter	= rxfs_file_write_iter,
	.mmap		= rxfs_file_mmap,
	.open		= rxfs_file_open,
	.fsync		= rxfs_fsync,
	.fallocate	= rxfs_fallocate,
	.unlocked_ioctl	= rxfs_ioctl,
	.splice_read	= filemap_splice_read,
	.splice_write	= iter_file_splice_write,
	.get_unmapped_area = thp_get_unmapped_area,
};

/* ---- metadata I/O through the block device's page cache ----------------- */

/*
 * Returns a pointer to the byte at @pos of the device inside its cached
 * folio, whose reference goes to @folio. Metadata is changed in that copy
 * and written by rxfs_shim_meta_write(); the folio is never marked dirty,
 * so the block layer never writes back a whole folio that also holds file
 * data written by bios since it was read.
 */
void *rxfs_shim_meta_get(struct super_block *sb, u64 pos, struct folio **folio)
{
	struct folio *f = read_mapping_folio(sb->s_bdev->bd_mapping, pos >> PAGE_SHIFT, NULL);

	if (IS_ERR(f))
		return f;
	if (folio_test_highmem(f)) {
		folio_put(f);
		return ERR_PTR(-EIO);
	}
	*folio = f;
	return folio_address(f) + offset_in_folio(f, pos);
}

void rxfs_shim_folio_get(struct folio *folio)
{
	folio_get(folio);
}

void rxfs_shim_folio_put(struct folio *folio)
{
	folio_put(folio);
}

struct rxfs_meta_wait {
	atomic_t pending;
	int error;
	struct completion done;
};

static void rxfs_meta_end_io(struct bio *bio)
{
	struct rxfs_meta_wait *w = bio->bi_private;

	if (bio->bi_status)
		w->error = blk_status_to_errno(bio->bi_status);
	bio_put(bio);
	if (atomic_dec_and_test(&w->pending))
		complete(&w->done);
}

/* Writes @n metadata blocks of @len bytes at byte positions @pos and waits. */
int rxfs_shim_meta_write(struct super_block *sb, const u64 *pos, struct folio **folios,
			 size_t n, unsigned int len)
{
	struct rxfs_meta_wait w;
	struct blk_plug plug;
	size_t i;

	atomic_set(&w.pending, 1);
	w.error = 0;
	init_completion(&w.done);
	blk_start_plug(&plug);
	for (i = 0; i < n; i++) {
		struct bio *bio = bio_alloc(sb->s_bdev, 1, REQ_OP_WRITE | REQ_META | REQ_SYNC,
					    GFP_NOFS);

		bio->bi_iter.bi_sector = pos[i] >> SECTOR_SHIFT;
		bio_add_folio_nofail(bio, folios[i], len, offset_in_folio(folios[i], pos[i]));
		bio->bi_private = &w;
		bio->bi_end_io = rxfs_meta_end_io;
		atomic_inc(&w.pending);
		submit_bio(bio);
	}
	blk_finish_plug(&plug);
	if (!atomic_dec_and_test(&w.pending))
		wait_for_completion_io(&w.done);
	return w.error;
}

int rxfs_shim_bdev_flush(struct super_block *sb)
{
	return blkdev_issue_flush(sb->s_bdev);
}

unsigned int rxfs_shim_nofs_save(void)
{
	return memalloc_nofs_save();
}

void rxfs_shim_nofs_restore(unsigned int flags)
{
	memalloc_nofs_restore(flags);
}
