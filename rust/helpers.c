// SPDX-License-Identifier: GPL-2.0
/*
 * One-line wrappers of static inlines and macros that Rust cannot call
 * (declared in helpers.h, bound by bindgen). Each body is a single call or
 * return, as in mainline's rust/helpers/.
 */

#include <linux/fs.h>
#include <linux/blkdev.h>
#include <linux/iomap.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/uio.h>
#include <linux/mm.h>
#include <linux/workqueue.h>
#include <linux/slab.h>
#include <linux/cred.h>
#include <linux/mnt_idmapping.h>
#include <linux/bio.h>
#include <linux/completion.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/highmem.h>

#include "helpers.h"

loff_t rxfs_helper_i_size_read(const struct inode *inode) { return i_size_read(inode); }
void rxfs_helper_i_size_write(struct inode *inode, loff_t size) { i_size_write(inode, size); }
unsigned int rxfs_helper_i_blocksize(const struct inode *inode) { return i_blocksize(inode); }
struct inode *rxfs_helper_file_inode(const struct file *file) { return file_inode(file); }
struct inode *rxfs_helper_d_inode(const struct dentry *dentry) { return d_inode(dentry); }
void rxfs_helper_mark_inode_dirty(struct inode *inode) { mark_inode_dirty(inode); }
void rxfs_helper_inode_lock(struct inode *inode) { inode_lock(inode); }
void rxfs_helper_inode_unlock(struct inode *inode) { inode_unlock(inode); }
int rxfs_helper_inode_trylock(struct inode *inode) { return inode_trylock(inode); }
void rxfs_helper_inode_lock_shared(struct inode *inode) { inode_lock_shared(inode); }
void rxfs_helper_inode_unlock_shared(struct inode *inode) { inode_unlock_shared(inode); }
int rxfs_helper_inode_trylock_shared(struct inode *inode) { return inode_trylock_shared(inode); }
void rxfs_helper_filemap_invalidate_lock(struct address_space *m) { filemap_invalidate_lock(m); }
void rxfs_helper_filemap_invalidate_unlock(struct address_space *m) { filemap_invalidate_unlock(m); }
void rxfs_helper_filemap_invalidate_lock_shared(struct address_space *m) { filemap_invalidate_lock_shared(m); }
void rxfs_helper_filemap_invalidate_unlock_shared(struct address_space *m) { filemap_invalidate_unlock_shared(m); }
void rxfs_helper_mapping_set_large_folios(struct address_space *m) { mapping_set_large_folios(m); }
void rxfs_helper_sb_start_pagefault(struct super_block *sb) { sb_start_pagefault(sb); }
void rxfs_helper_sb_end_pagefault(struct super_block *sb) { sb_end_pagefault(sb); }
void rxfs_helper_sb_start_intwrite(struct super_block *sb) { sb_start_intwrite(sb); }
void rxfs_helper_sb_end_intwrite(struct super_block *sb) { sb_end_intwrite(sb); }
int rxfs_helper_sb_rdonly(const struct super_block *sb) { return sb_rdonly(sb); }
void rxfs_helper_file_accessed(struct file *file) { file_accessed(file); }
ssize_t rxfs_helper_generic_write_sync(struct kiocb *iocb, ssize_t count) { return generic_write_sync(iocb, count); }
size_t rxfs_helper_iov_iter_count(const struct iov_iter *i) { return iov_iter_count(i); }
loff_t rxfs_helper_folio_pos(struct folio *folio) { return folio_pos(folio); }
size_t rxfs_helper_folio_size(struct folio *folio) { return folio_size(folio); }
struct inode *rxfs_helper_folio_host(struct folio *folio) { return folio->mapping->host; }
unsigned int rxfs_helper_bdev_logical_block_size(struct block_device *bdev) { return bdev_logical_block_size(bdev); }
struct iomap_ioend *rxfs_helper_iomap_ioend_from_bio(struct bio *bio) { return iomap_ioend_from_bio(bio); }
unsigned int rxfs_helper_memalloc_nofs_save(void) { return memalloc_nofs_save(); }
void rxfs_helper_memalloc_nofs_restore(unsigned int flags) { memalloc_nofs_restore(flags); }
void rxfs_helper_iov_iter_truncate(struct iov_iter *i, u64 count) { iov_iter_truncate(i, count); }
struct file *rxfs_helper_vmf_file(struct vm_fault *vmf) { return vmf->vma->vm_file; }
struct address_space *rxfs_helper_readahead_mapping(struct readahead_control *rac) { return rac->mapping; }
unsigned long rxfs_helper_spin_lock_irqsave(spinlock_t *lock) { return _raw_spin_lock_irqsave(spinlock_check(lock)); }
void rxfs_helper_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags) { spin_unlock_irqrestore(lock, flags); }
int rxfs_helper_list_empty(const struct list_head *head) { return list_empty(head); }
void rxfs_helper_list_add_tail(struct list_head *entry, struct list_head *head) { list_add_tail(entry, head); }
void rxfs_helper_list_del_init(struct list_head *entry) { list_del_init(entry); }
void rxfs_helper_list_splice_init(struct list_head *list, struct list_head *head) { list_splice_init(list, head); }
struct iomap_ioend *rxfs_helper_list_first_ioend(struct list_head *head) { return list_first_entry_or_null(head, struct iomap_ioend, io_list); }
bool rxfs_helper_queue_work(struct workqueue_struct *wq, struct work_struct *work) { return queue_work(wq, work); }
struct timespec64 rxfs_helper_inode_set_mtime_to_ts(struct inode *inode, struct timespec64 ts) { return inode_set_mtime_to_ts(inode, ts); }
void rxfs_helper_mapping_set_error(struct address_space *mapping, int error) { mapping_set_error(mapping, error); }
void rxfs_helper_inode_set_fop(struct inode *inode, const struct file_operations *fop) { inode->i_fop = fop; }
void rxfs_helper_spin_lock_init(spinlock_t *lock) { spin_lock_init(lock); }
void rxfs_helper_init_list_head(struct list_head *head) { INIT_LIST_HEAD(head); }
void rxfs_helper_init_work(struct work_struct *work, work_func_t func) { INIT_WORK(work, func); }
void *rxfs_helper_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache, gfp_t gfp) { return alloc_inode_sb(sb, cache, gfp); }
u32 rxfs_helper_i_uid_read(const struct inode *inode) { return i_uid_read(inode); }
u32 rxfs_helper_i_gid_read(const struct inode *inode) { return i_gid_read(inode); }
void rxfs_helper_i_uid_write(struct inode *inode, u32 uid) { i_uid_write(inode, uid); }
void rxfs_helper_i_gid_write(struct inode *inode, u32 gid) { i_gid_write(inode, gid); }
unsigned int rxfs_helper_inode_nlink(const struct inode *inode) { return inode->i_nlink; }
u32 rxfs_helper_new_encode_dev(dev_t dev) { return new_encode_dev(dev); }
dev_t rxfs_helper_new_decode_dev(u32 dev) { return new_decode_dev(dev); }
struct timespec64 rxfs_helper_inode_get_atime(const struct inode *inode) { return inode_get_atime(inode); }
struct timespec64 rxfs_helper_inode_get_mtime(const struct inode *inode) { return inode_get_mtime(inode); }
struct timespec64 rxfs_helper_inode_get_ctime(const struct inode *inode) { return inode_get_ctime(inode); }
void rxfs_helper_inode_set_atime(struct inode *inode, time64_t sec, long nsec) { inode_set_atime(inode, sec, nsec); }
void rxfs_helper_inode_set_mtime(struct inode *inode, time64_t sec, long nsec) { inode_set_mtime(inode, sec, nsec); }
void rxfs_helper_inode_set_ctime(struct inode *inode, time64_t sec, long nsec) { inode_set_ctime(inode, sec, nsec); }
void rxfs_helper_inode_set_ctime_to_ts(struct inode *inode, struct timespec64 ts) { inode_set_ctime_to_ts(inode, ts); }
void rxfs_helper_inode_set_link(struct inode *inode, char *link) { inode->i_link = link; }
int rxfs_helper_finish_open_simple(struct file *file, int error) { return finish_open_simple(file, error); }
const unsigned char *rxfs_helper_d_name(const struct dentry *dentry) { return dentry->d_name.name; }
u32 rxfs_helper_d_name_len(const struct dentry *dentry) { return dentry->d_name.len; }
u32 rxfs_helper_mapped_fsuid(struct mnt_idmap *idmap) { return from_kuid(&init_user_ns, mapped_fsuid(idmap, &init_user_ns)); }
u32 rxfs_helper_mapped_fsgid(struct mnt_idmap *idmap) { return from_kgid(&init_user_ns, mapped_fsgid(idmap, &init_user_ns)); }
unsigned int rxfs_helper_bdev_dma_alignment(struct block_device *bdev) { return bdev_dma_alignment(bdev); }
bool rxfs_helper_dir_emit_dots(struct file *file, struct dir_context *ctx) { return dir_emit_dots(file, ctx); }
bool rxfs_helper_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino, unsigned int type) { return dir_emit(ctx, name, len, ino, type); }
void rxfs_helper_folio_get(struct folio *folio) { folio_get(folio); }
void rxfs_helper_folio_put(struct folio *folio) { folio_put(folio); }
struct folio *rxfs_helper_filemap_get_folio(struct address_space *mapping, pgoff_t index) { return filemap_get_folio(mapping, index); }
struct folio *rxfs_helper_filemap_grab_folio(struct address_space *mapping, pgoff_t index) { return filemap_grab_folio(mapping, index); }
bool rxfs_helper_folio_test_uptodate(struct folio *folio) { return folio_test_uptodate(folio); }
void rxfs_helper_folio_wait_locked(struct folio *folio) { folio_wait_locked(folio); }
void rxfs_helper_page_cache_sync_readahead(struct address_space *mapping, struct file_ra_state *ra, pgoff_t index, unsigned long count) { page_cache_sync_readahead(mapping, ra, NULL, index, count); }
void *rxfs_helper_folio_address(const struct folio *folio) { return folio_address(folio); }
bool rxfs_helper_folio_test_checked(struct folio *folio) { return folio_test_checked(folio); }
void rxfs_helper_folio_set_checked(struct folio *folio) { folio_set_checked(folio); }
void rxfs_helper_init_completion(struct completion *c) { init_completion(c); }
struct bio *rxfs_helper_bio_alloc(struct block_device *bdev, unsigned short nr_vecs, blk_opf_t opf, gfp_t gfp) { return bio_alloc(bdev, nr_vecs, opf, gfp); }
u64 rxfs_helper_bdev_nr_bytes(struct block_device *bdev) { return bdev_nr_bytes(bdev); }
void rxfs_helper_super_set_uuid(struct super_block *sb, const u8 *uuid, unsigned int len) { super_set_uuid(sb, uuid, len); }
int rxfs_helper_fs_parse(struct fs_context *fc, const struct fs_parameter_spec *desc, struct fs_parameter *param, struct fs_parse_result *result) { return fs_parse(fc, desc, param, result); }
int rxfs_helper_bio_add_virt(struct bio *bio, void *p, unsigned int len) { return bio_add_page(bio, virt_to_page(p), len, offset_in_page(p)); }
int rxfs_helper_bdev_read_only(struct block_device *bdev) { return bdev_read_only(bdev); }
unsigned int rxfs_helper_bdev_max_discard_sectors(struct block_device *bdev) { return bdev_max_discard_sectors(bdev); }
unsigned int rxfs_helper_bdev_discard_granularity(struct block_device *bdev) { return bdev_discard_granularity(bdev); }
void rxfs_helper_init_delayed_work(struct delayed_work *dw, work_func_t func) { INIT_DELAYED_WORK(dw, func); }
bool rxfs_helper_queue_delayed_work(struct workqueue_struct *wq, struct delayed_work *dw, unsigned int ms) { return queue_delayed_work(wq, dw, msecs_to_jiffies(ms)); }
struct delayed_work *rxfs_helper_to_delayed_work(struct work_struct *work) { return to_delayed_work(work); }
bool rxfs_helper_fatal_signal_pending(void) { return fatal_signal_pending(current); }
bool rxfs_helper_is_sync(const struct inode *inode) { return IS_SYNC(inode); }
bool rxfs_helper_is_dirsync(const struct inode *inode) { return IS_DIRSYNC(inode); }
void rxfs_helper_posix_acl_release(struct posix_acl *acl) { posix_acl_release(acl); }
