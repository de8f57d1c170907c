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

#include "shim.h"
#include "shim_fs.h"

static_assert(sizeof(struct rxfs_dinode) == 104);
static_assert(sizeof(struct rxfs_dirent) == 280);
static_assert(sizeof(struct rxfs_map) == 40);

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
	atomic64_set(&ri->data_seq, 0);
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
	inode_set_atime(inode, di->atime_sec, di->atime_nsec);
	inode_set_mtime(inode, di->mtime_sec, di->mtime_nsec);
	inode_set_ctime(inode, di->ctime_sec, di->ctime_nsec);
	RXI(inode)->btime_sec = di->btime_sec;
	RXI(inode)->btime_nsec = di->btime_nsec;
	RXI(inode)->flags = di->flags;
}

static void rxfs_set_nblocks(struct inode *inode, u64 nblocks)
{
	spin_lock(&inode->i_lock);
	inode->i_blocks = nblocks << (inode->i_blkbits - 9);
	spin_unlock(&inode->i_lock);
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
	if (!inode->i_nlink && !is_bad_inode(inode) && inode->i_ino &&
	    !sb_rdonly(inode->i_sb))
		rxfs_rs_evict_inode(inode->i_sb, inode->i_ino);
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
	return 0;
}

static int rxfs_setsize(struct inode *inode, loff_t newsize)
{
	loff_t oldsize = i_size_read(inode);
	u64 nblocks;
	int err;

	if (newsize < oldsize) {
		err = iomap_truncate_page(inode, newsize, NULL, &rxfs_iomap_ops);
		if (err)
			return err;
	}
	filemap_invalidate_lock(inode->i_mapping);
	truncate_setsize(inode, newsize);
	err = 0;
	if (newsize < oldsize) {
		err = rxfs_rs_truncate(inode->i_sb, inode->i_ino, newsize, &nblocks);
		atomic64_inc(&RXI(inode)->data_seq);
		if (!err)
			rxfs_set_nblocks(inode, nblocks);
	}
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

static const struct inode_operations rxfs_file_iops = {
	.getattr	= rxfs_getattr,
	.setattr	= rxfs_setattr,
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

	err = file_write_and_wait_range(file, start, end);
	if (err)
		return err;
	err = sync_inode_metadata(inode, 1);
	if (err)
		return err;
	return rxfs_rs_fsync(inode->i_sb);
}

static const struct file_operations rxfs_dir_fops = {
	.llseek		= generic_file_llseek,
	.read		= generic_read_dir,
	.iterate_shared	= rxfs_readdir,
	.fsync		= rxfs_fsync,
};

/* ---- regular files: iomap ---------------------------------------------- */

static int rxfs_iomap_begin(struct inode *inode, loff_t pos, loff_t length, unsigned int flags,
			    struct iomap *iomap, struct iomap *srcmap)
{
	struct rxfs_map m = {};
	int err;

	err = rxfs_rs_iomap_begin(inode->i_sb, inode->i_ino, pos, length, flags, &m);
	if (err)
		return err;
	iomap->addr = m.addr;
	iomap->offset = m.offset;
	iomap->length = m.length;
	iomap->type = m.type;
	iomap->flags = m.flags;
	iomap->bdev = inode->i_sb->s_bdev;
	if (m.flags & IOMAP_F_NEW) {
		atomic64_inc(&RXI(inode)->data_seq);
		rxfs_set_nblocks(inode, m.nblocks);
	}
	iomap->validity_cookie = atomic64_read(&RXI(inode)->data_seq);
	return 0;
}

const struct iomap_ops rxfs_iomap_ops = {
	.iomap_begin	= rxfs_iomap_begin,
};

static int rxfs_map_blocks(struct iomap_writepage_ctx *wpc, struct inode *inode, loff_t offset,
			   unsigned int len)
{
	if (offset >= wpc->iomap.offset && offset < wpc->iomap.offset + wpc->iomap.length &&
	    wpc->iomap.validity_cookie == atomic64_read(&RXI(inode)->data_seq))
		return 0;
	return rxfs_iomap_begin(inode, offset, len, 0, &wpc->iomap, NULL);
}

static const struct iomap_writeback_ops rxfs_writeback_ops = {
	.map_blocks	= rxfs_map_blocks,
};

static int rxfs_read_folio(struct file *file, struct folio *folio)
{
	return iomap_read_folio(folio, &rxfs_iomap_ops);
}

static void rxfs_readahead(struct readahead_control *rac)
{
	iomap_readahead(rac, &rxfs_iomap_ops);
}

static int rxfs_writepages(struct address_space *mapping, struct writeback_control *wbc)
{
	struct iomap_writepage_ctx wpc = {};

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

static ssize_t rxfs_file_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	ssize_t ret;

	inode_lock(inode);
	ret = generic_write_checks(iocb, from);
	if (ret <= 0)
		goto out;
	ret = file_remove_privs(iocb->ki_filp);
	if (ret)
		goto out;
	ret = file_update_time(iocb->ki_filp);
	if (ret)
		goto out;
	ret = iomap_file_buffered_write(iocb, from, &rxfs_iomap_ops, NULL);
	mark_inode_dirty(inode);
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

	sb_start_pagefault(inode->i_sb);
	file_update_time(vmf->vma->vm_file);
	filemap_invalidate_lock_shared(inode->i_mapping);
	ret = iomap_page_mkwrite(vmf, &rxfs_iomap_ops);
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

static const struct file_operations rxfs_file_fops = {
	.llseek		= generic_file_llseek,
	.read_iter	= generic_file_read_iter,
	.write_iter	= rxfs_file_write_iter,
	.mmap		= rxfs_file_mmap,
	.open		= generic_file_open,
	.fsync		= rxfs_fsync,
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
