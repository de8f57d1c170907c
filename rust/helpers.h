/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One-line wrappers of static inlines and macros that Rust cannot call, in
 * the style of mainline's rust/helpers/ *.c. Each body is one call or
 * return: no branch, no filesystem decision. bindgen makes the Rust
 * declarations from this header.
 */
#ifndef RXFS_HELPERS_H
#define RXFS_HELPERS_H

#include <linux/fs.h>
#include <linux/iomap.h>
#include <linux/pagemap.h>
#include <linux/uio.h>
#include <linux/bio.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/posix_acl.h>

loff_t rxfs_helper_i_size_read(const struct inode *inode);
void rxfs_helper_i_size_write(struct inode *inode, loff_t size);
unsigned int rxfs_helper_i_blocksize(const struct inode *inode);
struct inode *rxfs_helper_file_inode(const struct file *file);
struct inode *rxfs_helper_d_inode(const struct dentry *dentry);
void rxfs_helper_mark_inode_dirty(struct inode *inode);
void rxfs_helper_inode_lock(struct inode *inode);
void rxfs_helper_inode_unlock(struct inode *inode);
int rxfs_helper_inode_trylock(struct inode *inode);
void rxfs_helper_inode_lock_shared(struct inode *inode);
void rxfs_helper_inode_unlock_shared(struct inode *inode);
int rxfs_helper_inode_trylock_shared(struct inode *inode);
void rxfs_helper_filemap_invalidate_lock(struct address_space *mapping);
void rxfs_helper_filemap_invalidate_unlock(struct address_space *mapping);
void rxfs_helper_filemap_invalidate_lock_shared(struct address_space *mapping);
void rxfs_helper_filemap_invalidate_unlock_shared(struct address_space *mapping);
void rxfs_helper_mapping_set_large_folios(struct address_space *mapping);
void rxfs_helper_sb_start_pagefault(struct super_block *sb);
void rxfs_helper_sb_end_pagefault(struct super_block *sb);
void rxfs_helper_sb_start_intwrite(struct super_block *sb);
void rxfs_helper_sb_end_intwrite(struct super_block *sb);
int rxfs_helper_sb_rdonly(const struct super_block *sb);
void rxfs_helper_file_accessed(struct file *file);
ssize_t rxfs_helper_generic_write_sync(struct kiocb *iocb, ssize_t count);
size_t rxfs_helper_iov_iter_count(const struct iov_iter *i);
loff_t rxfs_helper_folio_pos(struct folio *folio);
size_t rxfs_helper_folio_size(struct folio *folio);
struct inode *rxfs_helper_folio_host(struct folio *folio);
unsigned int rxfs_helper_bdev_logical_block_size(struct block_device *bdev);
struct iomap_ioend *rxfs_helper_iomap_ioend_from_bio(struct bio *bio);
unsigned int rxfs_helper_memalloc_nofs_save(void);
void rxfs_helper_memalloc_nofs_restore(unsigned int flags);
void rxfs_helper_iov_iter_truncate(struct iov_iter *i, u64 count);
struct file *rxfs_helper_vmf_file(struct vm_fault *vmf);
struct address_space *rxfs_helper_readahead_mapping(struct readahead_control *rac);
unsigned long rxfs_helper_spin_lock_irqsave(spinlock_t *lock);
void rxfs_helper_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);
int rxfs_helper_list_empty(const struct list_head *head);
void rxfs_helper_list_add_tail(struct list_head *entry, struct list_head *head);
void rxfs_helper_list_del_init(struct list_head *entry);
void rxfs_helper_list_splice_init(struct list_head *list, struct list_head *head);
struct iomap_ioend *rxfs_helper_list_first_ioend(struct list_head *head);
bool rxfs_helper_queue_work(struct workqueue_struct *wq, struct work_struct *work);
void rxfs_helper_inode_set_fop(struct inode *inode, const struct file_operations *fop);
void rxfs_helper_mapping_set_error(struct address_space *mapping, int error);
struct timespec64 rxfs_helper_inode_set_mtime_to_ts(struct inode *inode, struct timespec64 ts);

void rxfs_helper_spin_lock_init(spinlock_t *lock);
void rxfs_helper_init_list_head(struct list_head *head);
void rxfs_helper_init_work(struct work_struct *work, work_func_t func);
void rxfs_helper_init_delayed_work(struct delayed_work *dw, work_func_t func);
bool rxfs_helper_queue_delayed_work(struct workqueue_struct *wq, struct delayed_work *dw, unsigned int ms);
struct delayed_work *rxfs_helper_to_delayed_work(struct work_struct *work);
void *rxfs_helper_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache, gfp_t gfp);
u32 rxfs_helper_i_uid_read(const struct inode *inode);
u32 rxfs_helper_i_gid_read(const struct inode *inode);
void rxfs_helper_i_uid_write(struct inode *inode, u32 uid);
void rxfs_helper_i_gid_write(struct inode *inode, u32 gid);
unsigned int rxfs_helper_inode_nlink(const struct inode *inode);
u32 rxfs_helper_new_encode_dev(dev_t dev);
dev_t rxfs_helper_new_decode_dev(u32 dev);
struct timespec64 rxfs_helper_inode_get_atime(const struct inode *inode);
struct timespec64 rxfs_helper_inode_get_mtime(const struct inode *inode);
struct timespec64 rxfs_helper_inode_get_ctime(const struct inode *inode);
void rxfs_helper_inode_set_atime(struct inode *inode, time64_t sec, long nsec);
void rxfs_helper_inode_set_mtime(struct inode *inode, time64_t sec, long nsec);
void rxfs_helper_inode_set_ctime(struct inode *inode, time64_t sec, long nsec);
void rxfs_helper_inode_set_ctime_to_ts(struct inode *inode, struct timespec64 ts);
void rxfs_helper_inode_set_link(struct inode *inode, char *link);
int rxfs_helper_finish_open_simple(struct file *file, int error);
const unsigned char *rxfs_helper_d_name(const struct dentry *dentry);
u32 rxfs_helper_d_name_len(const struct dentry *dentry);
u32 rxfs_helper_mapped_fsuid(struct mnt_idmap *idmap);
u32 rxfs_helper_mapped_fsgid(struct mnt_idmap *idmap);
unsigned int rxfs_helper_bdev_dma_alignment(struct block_device *bdev);
bool rxfs_helper_dir_emit_dots(struct file *file, struct dir_context *ctx);
bool rxfs_helper_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino, unsigned int type);
void rxfs_helper_folio_get(struct folio *folio);
void rxfs_helper_folio_put(struct folio *folio);
struct folio *rxfs_helper_filemap_get_folio(struct address_space *mapping, pgoff_t index);
struct folio *rxfs_helper_filemap_grab_folio(struct address_space *mapping, pgoff_t index);
bool rxfs_helper_folio_test_uptodate(struct folio *folio);
void rxfs_helper_folio_wait_locked(struct folio *folio);
bool rxfs_helper_fatal_signal_pending(void);
bool rxfs_helper_is_sync(const struct inode *inode);
bool rxfs_helper_is_dirsync(const struct inode *inode);
void rxfs_helper_posix_acl_release(struct posix_acl *acl);
void rxfs_helper_page_cache_sync_readahead(struct address_space *mapping, struct file_ra_state *ra, pgoff_t index, unsigned long count);
void *rxfs_helper_folio_address(const struct folio *folio);
bool rxfs_helper_folio_test_checked(struct folio *folio);
void rxfs_helper_folio_set_checked(struct folio *folio);
void rxfs_helper_init_completion(struct completion *c);
struct bio *rxfs_helper_bio_alloc(struct block_device *bdev, unsigned short nr_vecs, blk_opf_t opf, gfp_t gfp);
int rxfs_helper_bio_add_virt(struct bio *bio, void *p, unsigned int len);
int rxfs_helper_bdev_read_only(struct block_device *bdev);
unsigned int rxfs_helper_bdev_max_discard_sectors(struct block_device *bdev);
unsigned int rxfs_helper_bdev_discard_granularity(struct block_device *bdev);
u64 rxfs_helper_bdev_nr_bytes(struct block_device *bdev);
void rxfs_helper_super_set_uuid(struct super_block *sb, const u8 *uuid, unsigned int len);
int rxfs_helper_fs_parse(struct fs_context *fc, const struct fs_parameter_spec *desc, struct fs_parameter *param, struct fs_parse_result *result);

#endif
