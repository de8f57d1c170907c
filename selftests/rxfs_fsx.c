// SPDX-License-Identifier: GPL-2.0
/*
 * rxfs_fsx: an fsx-style random exerciser of the data path with a model of
 * the expected file content. Operations: buffered write and read, short
 * buffered writes (the user buffer turns unreadable part-way, so the copy
 * faults and write() returns less), mmap write and read, junk written
 * through a mapping past EOF in the EOF page (fsx -e), O_DIRECT write and
 * read, truncate up and down, fallocate (allocate with and without
 * KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE, COLLAPSE_RANGE, INSERT_RANGE), fsync,
 * SEEK_DATA/SEEK_HOLE checks and remounts, and on reflink filesystems
 * (mkfs's default) clone, dedupe and unshare between the file and a
 * partner file with a model of its own: FICLONERANGE both ways,
 * FIDEDUPERANGE (which must share exactly when the models agree) and
 * FALLOC_FL_UNSHARE_RANGE, so every write, fault, truncate and fallocate
 * above also runs over shared blocks (copy-on-write); and copy_file_range
 * both ways and within the file (remapped whole blocks and spliced
 * bytes, or all spliced without reflink). The partner is
 * checked whole after each of these, every 64 operations and after every
 * remount; at the end both files are unlinked and the free count must be
 * back where it was before the run. After every operation the
 * touched range and the size are checked against the model, and when the
 * size grew, everything from the old EOF on (what lay past EOF must read as
 * zeroes); the whole file every 64 operations and after every remount;
 * fsck.rxfs -n at the end.
 *
 * The control variant (2k) runs with the knob no_zero_eof (writes past EOF leave
 * what lay past the old EOF in place) and must fail: proof that the mix of
 * short writes, junk past EOF and extending writes finds that class of bug.
 *
 *   RXFS_FSX_OPS    operations per block size (default 20000)
 *   RXFS_FSX_SEED   seed (default 1); the seed of a failure is printed
 *   RXFS_FSX_MAXLEN largest file size (default 256 KiB)
 *   RXFS_FSX_KMSG   if set, each operation is also written to /dev/kmsg
 */
#include <sys/mman.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include "rxfs_test.h"
#include "kselftest_harness.h"

#define HIST 24

struct fsx {
	unsigned char *model, *buf, *dbuf;
	unsigned char *pmodel;	/* the partner file's model */
	long long psize;
	int pfd;
	char ppath[256];
	unsigned char *guard;	/* the first byte of a PROT_NONE page */
	long long size, maxlen;
	int fd, dfd, bs;
	unsigned long long rng;
	char path[256];
	char hist[HIST][96];
	long long nops;
	int reflink;	/* the filesystem can clone */
};

static unsigned long long rnd(struct fsx *x)
{
	x->rng ^= x->rng << 13;
	x->rng ^= x->rng >> 7;
	x->rng ^= x->rng << 17;
	return x->rng;
}

static long long below(struct fsx *x, long long n)
{
	return n > 0 ? (long long)(rnd(x) % (unsigned long long)n) : 0;
}

static int kmsg = -1;	/* RXFS_FSX_KMSG: each operation to the kernel log */

static void note(struct fsx *x, const char *fmt, ...)
{
	char *h = x->hist[x->nops % HIST];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h, sizeof(x->hist[0]), fmt, ap);
	va_end(ap);
	if (kmsg >= 0)
		dprintf(kmsg, "fsx op %lld: %s\n", x->nops, h);
}

static void dump(struct fsx *x)
{
	long long i;

	printf("# last operations (op %lld is the failing one):\n", x->nops);
	for (i = x->nops - HIST + 1; i <= x->nops; i++)
		if (i >= 0)
			printf("#   %6lld %s\n", i, x->hist[i % HIST]);
}

/* Where [off, off+len) of x->buf differs from the model: the runs, by block. */
static int differs(struct fsx *x, const unsigned char *buf, long long off, long long len)
{
	long long i, start = -1, runs = 0;
	int zero = 1;

	for (i = 0; i <= len; i++) {
		int bad = i < len && buf[i] != x->model[off + i];

		if (bad && start < 0) {
			start = i;
			zero = 1;
		}
		if (bad && buf[i])
			zero = 0;
		if (!bad && start >= 0) {
			if (runs++ < 8)
				printf("#   differs at %lld..%lld (blocks %lld..%lld)%s\n", off + start,
				       off + i, (off + start) / x->bs, (off + i - 1) / x->bs,
				       zero ? ", reads as zeroes" : "");
			start = -1;
		}
	}
	return runs;
}

/*
 * After a mismatch: the runs that differ, the file's extents, and whether
 * the disk agrees once the cache is written back and dropped (a page cache
 * that lost data, or blocks that did).
 */
static void explain(struct fsx *x, long long off, long long len)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent fe[64];
	} f;
	unsigned int i;

	differs(x, x->buf, off, len);
	memset(&f, 0, sizeof(f));
	f.fm.fm_length = ~0ULL;
	f.fm.fm_extent_count = 64;
	if (!ioctl(x->fd, FS_IOC_FIEMAP, &f.fm))
		for (i = 0; i < f.fm.fm_mapped_extents; i++)
			printf("#   extent %llu+%llu at %llu flags 0x%x\n",
			       (unsigned long long)f.fe[i].fe_logical,
			       (unsigned long long)f.fe[i].fe_length,
			       (unsigned long long)f.fe[i].fe_physical, f.fe[i].fe_flags);
	/* The test kernel has no fadvise: drop every clean page cache folio. */
	if (fsync(x->fd) || rxfs_write_str("/proc/sys/vm/drop_caches", "1") ||
	    pread(x->fd, x->buf, len, off) != len) {
		printf("# could not read the range back from the disk (errno %d)\n", errno);
		return;
	}
	printf("# after fsync and dropping the cache:\n");
	if (!differs(x, x->buf, off, len))
		printf("#   the range reads as the model says\n");
}

/* Compares [off, off+len) of the file with the model; returns 0 if equal. */
static int check_range(struct fsx *x, long long off, long long len)
{
	struct stat st;
	long long i;
	ssize_t n;

	if (fstat(x->fd, &st) || st.st_size != x->size) {
		printf("# size %lld, model says %lld\n", (long long)st.st_size, x->size);
		return -1;
	}
	if (off >= x->size)
		return 0;
	if (off + len > x->size)
		len = x->size - off;
	n = pread(x->fd, x->buf, len, off);
	if (n != len) {
		printf("# read %lld at %lld returned %zd (errno %d)\n", len, off, n, errno);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (x->buf[i] != x->model[off + i]) {
			printf("# byte %lld is 0x%02x, model says 0x%02x\n", off + i, x->buf[i],
			       x->model[off + i]);
			explain(x, off, len);
			return -1;
		}
	}
	return 0;
}

static void fill(struct fsx *x, unsigned char *p, long long len)
{
	unsigned char c = 1 + below(x, 255);
	long long i;

	for (i = 0; i < len; i++)
		p[i] = c + (unsigned char)(i * 7 + x->nops);
}

static int reopen(struct fsx *x)
{
	x->fd = open(x->path, O_RDWR | O_CREAT, 0644);
	x->dfd = open(x->path, O_RDWR | O_DIRECT);
	x->pfd = open(x->ppath, O_RDWR | O_CREAT, 0644);
	return x->fd < 0 || x->dfd < 0 || x->pfd < 0 ? -1 : 0;
}

/* The whole partner file against its model. */
static int check_partner(struct fsx *x)
{
	struct stat st;
	long long i;

	if (fstat(x->pfd, &st) || st.st_size != x->psize)
		return printf("# partner size %lld, model says %lld\n", (long long)st.st_size, x->psize), -1;
	if (pread(x->pfd, x->buf, x->psize, 0) != x->psize)
		return printf("# partner read: errno %d\n", errno), -1;
	for (i = 0; i < x->psize; i++)
		if (x->buf[i] != x->pmodel[i])
			return printf("# partner byte %lld is 0x%02x, model says 0x%02x\n", i, x->buf[i], x->pmodel[i]), -1;
	return 0;
}

/*
 * Clone, dedupe or unshare (@k of 10) between the file and its partner.
 * Ranges are block aligned; a clone's length may end unaligned only at
 * its source's EOF, and then not before the destination's EOF (the VFS's
 * rules).
 */
static int step_reflink(struct fsx *x, int k)
{
	long long bs = x->bs, off, len, doff;
	int into_partner = k < 4;

	off = below(x, x->maxlen / bs) * bs;
	len = (1 + below(x, x->maxlen / 8 / bs)) * bs;
	doff = below(x, x->maxlen / bs) * bs;
	if (k < 7) {
		int sfd = into_partner ? x->fd : x->pfd, dfd = into_partner ? x->pfd : x->fd;
		unsigned char *sm = into_partner ? x->model : x->pmodel, *dm = into_partner ? x->pmodel : x->model;
		long long ssz = into_partner ? x->size : x->psize, *dsz = into_partner ? &x->psize : &x->size;

		if (off >= ssz)
			return 0;
		if (off + len >= ssz) {
			len = ssz - off;
			/* A partial EOF block may not end inside the destination. */
			if (len % bs && doff + len < *dsz)
				len = len / bs * bs;
		}
		if (!len || doff + len > x->maxlen)
			return 0;
		struct file_clone_range r = { .src_fd = sfd, .src_offset = off, .src_length = len, .dest_offset = doff };

		note(x, "clone%s %7lld %6lld %7lld", into_partner ? ">p" : "<p", off, len, doff);
		if (ioctl(dfd, FICLONERANGE, &r))
			return printf("# FICLONERANGE: errno %d\n", errno), -1;
		memmove(dm + doff, sm + off, len);
		if (doff + len > *dsz)
			*dsz = doff + len;
		if (check_partner(x))
			return -1;
		return check_range(x, into_partner ? off : doff, len);
	}
	if (k < 8) {
		struct {
			struct file_dedupe_range r;
			struct file_dedupe_range_info i;
		} d;
		int same;

		if (off + len > x->size || doff + len > x->psize)
			return 0;
		same = !memcmp(x->model + off, x->pmodel + doff, len);
		note(x, "dedupe    %7lld %6lld %7lld %s", off, len, doff, same ? "same" : "differs");
		memset(&d, 0, sizeof(d));
		d.r.src_offset = off;
		d.r.src_length = len;
		d.r.dest_count = 1;
		d.i.dest_fd = x->pfd;
		d.i.dest_offset = doff;
		if (ioctl(x->fd, FIDEDUPERANGE, &d))
			return printf("# FIDEDUPERANGE: errno %d\n", errno), -1;
		if (d.i.status != (same ? FILE_DEDUPE_RANGE_SAME : FILE_DEDUPE_RANGE_DIFFERS))
			return printf("# FIDEDUPERANGE: status %d, models %s\n", d.i.status, same ? "agree" : "differ"), -1;
		if (check_partner(x))
			return -1;
		return check_range(x, off, len);
	}
	note(x, "unshare   %7lld %6lld", off, len);
	if (fallocate(x->fd, FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_KEEP_SIZE, off, len))
		return printf("# unshare: errno %d\n", errno), -1;
	if (check_partner(x))
		return -1;
	return check_range(x, off, len);
}

/*
 * copy_file_range (@k of 3: file to partner, partner to file, within the
 * file without overlap), half of them block aligned: on a reflink
 * filesystem the VFS first tries a remap that may shorten to whole
 * blocks (REMAP_FILE_CAN_SHORTEN) and splices the rest, otherwise it all
 * goes through splice. The copy stops at the source's EOF; a short
 * return goes on from where it stopped.
 */
static int step_copy(struct fsx *x, int k)
{
	int sfd = k == 1 ? x->pfd : x->fd, dfd = k == 0 ? x->pfd : x->fd;
	unsigned char *sm = k == 1 ? x->pmodel : x->model, *dm = k == 0 ? x->pmodel : x->model;
	long long ssz = k == 1 ? x->psize : x->size, *dsz = k == 0 ? &x->psize : &x->size;
	long long off = below(x, x->maxlen), len = 1 + below(x, x->maxlen / 8), doff = below(x, x->maxlen);
	long long done = 0;

	if (below(x, 2)) {
		off -= off % x->bs;
		doff -= doff % x->bs;
		len = (len + x->bs - 1) / x->bs * x->bs;
	}
	if (off >= ssz)
		return 0;
	if (off + len > ssz)
		len = ssz - off;
	if (doff + len > x->maxlen || (k == 2 && off < doff + len && doff < off + len))
		return 0;
	note(x, "copy%s   %7lld %6lld %7lld", k == 0 ? ">p" : k == 1 ? "<p" : "  ", off, len, doff);
	while (done < len) {
		loff_t i = off + done, o = doff + done;
		ssize_t n = copy_file_range(sfd, &i, dfd, &o, len - done, 0);

		if (n < 0)
			return printf("# copy_file_range: errno %d\n", errno), -1;
		if (n == 0)
			return printf("# copy_file_range: 0 after %lld of %lld bytes\n", done, len), -1;
		done += n;
	}
	memmove(dm + doff, sm + off, len);
	if (doff + len > *dsz)
		*dsz = doff + len;
	if (check_partner(x))
		return -1;
	return check_range(x, k == 0 ? off : doff, len);
}

static int do_remount(struct fsx *x)
{
	close(x->fd);
	close(x->dfd);
	close(x->pfd);
	if (umount(RXFS_MNT) || rxfs_mount(rxfs_dev()))
		return -1;
	return reopen(x);
}

/* One random operation; 0 if it and its check succeeded. */
static int step1(struct fsx *x);

static int step(struct fsx *x)
{
	long long old = x->size;
	int r = step1(x);

	/* What lay past the old EOF is now file data: it must be zeroes. */
	if (!r && x->size > old)
		r = check_range(x, old, x->size - old);
	return r;
}

static int step1(struct fsx *x)
{
	long long off, len, end, ns, mlen;
	int r = 0, op = below(x, x->reflink ? 114 : 104), mode;
	unsigned char *m;

	if (op >= 100 && op < 104)
		return step_copy(x, (op - 100) % 3);
	if (op >= 104)
		return step_reflink(x, op - 104);

	off = below(x, x->maxlen);
	len = 1 + below(x, x->maxlen / 8);
	if (off + len > x->maxlen)
		len = x->maxlen - off;
	if (len <= 0)
		return 0;
	end = off + len;

	if (op < 22) {			/* buffered write */
		note(x, "write     %7lld %6lld", off, len);
		fill(x, x->model + off, len);
		if (pwrite(x->fd, x->model + off, len, off) != len)
			return printf("# write: errno %d\n", errno), -1;
		if (end > x->size)
			x->size = end;
	} else if (op < 27) {		/* short write: the copy faults at @k */
		long long k;
		ssize_t n;

		/*
		 * Half of them start just past EOF: a copy that ends inside a
		 * new block leaves the rest of an uptodate folio as it came
		 * from the page allocator, which the next write past EOF must
		 * not bring into view.
		 */
		k = below(x, len);
		if (below(x, 2)) {
			/*
			 * Short enough for a single-page folio, which the
			 * first block fills when the block is the page.
			 */
			off = x->size + below(x, 2 * x->bs);
			len = 1 + below(x, 4096);
			if (off + len > x->maxlen)
				return 0;
			end = off + len;
			/* The copy stops inside the first block it touches. */
			if (k > x->bs - off % x->bs)
				k = below(x, x->bs - off % x->bs);
		}

		note(x, "shortw    %7lld %6lld %lld", off, len, k);
		fill(x, x->guard - k, k);
		n = pwrite(x->fd, x->guard - k, len, off);
		if (n < 0 && (errno != EFAULT || k))
			return printf("# short write: errno %d\n", errno), -1;
		if (n > k)
			return printf("# short write wrote %zd of %lld readable\n", n, k), -1;
		if (n > 0) {
			memcpy(x->model + off, x->guard - k, n);
			if (off + n > x->size)
				x->size = off + n;
		}
	} else if (op < 32) {		/* read */
		note(x, "read      %7lld %6lld", off, len);
	} else if (op < 42) {		/* mmap write, inside the file */
		if (x->size == 0)
			return 0;
		off = below(x, x->size);
		if (off + len > x->size)
			len = x->size - off;
		end = off + len;
		note(x, "mapwrite  %7lld %6lld", off, len);
		mlen = x->size;
		m = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, x->fd, 0);
		if (m == MAP_FAILED)
			return printf("# mmap: errno %d\n", errno), -1;
		fill(x, x->model + off, len);
		memcpy(m + off, x->model + off, len);
		if (below(x, 2))
			r = msync(m, mlen, MS_SYNC);
		munmap(m, mlen);
		if (r)
			return printf("# msync: errno %d\n", errno), -1;
	} else if (op < 45) {		/* junk past EOF in the EOF page (fsx -e) */
		long pg = sysconf(_SC_PAGESIZE);
		long long pstart = x->size / pg * pg;

		if (x->size % pg == 0)
			return 0;
		note(x, "eofjunk   %7lld", x->size);
		m = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, x->fd, pstart);
		if (m == MAP_FAILED)
			return printf("# mmap: errno %d\n", errno), -1;
		memset(m + (x->size - pstart), 0xee, pstart + pg - x->size);
		munmap(m, pg);
		return 0;
	} else if (op < 47) {		/* mmap read */
		if (x->size == 0)
			return 0;
		note(x, "mapread   %7lld", x->size);
		m = mmap(NULL, x->size, PROT_READ, MAP_SHARED, x->fd, 0);
		if (m == MAP_FAILED)
			return printf("# mmap: errno %d\n", errno), -1;
		r = memcmp(m, x->model, x->size);
		munmap(m, x->size);
		if (r)
			return printf("# mmap read differs from the model\n"), -1;
		return 0;
	} else if (op < 57) {		/* O_DIRECT write, sector aligned */
		off &= ~511LL;
		len = (len + 511) & ~511LL;
		if (off + len > x->maxlen)
			return 0;
		end = off + len;
		note(x, "dwrite    %7lld %6lld", off, len);
		fill(x, x->dbuf, len);
		if (pwrite(x->dfd, x->dbuf, len, off) != len)
			return printf("# O_DIRECT write: errno %d\n", errno), -1;
		memcpy(x->model + off, x->dbuf, len);
		if (end > x->size)
			x->size = end;
	} else if (op < 62) {		/* O_DIRECT read */
		off &= ~511LL;
		len = (len + 511) & ~511LL;
		if (off + len > x->maxlen)
			return 0;
		note(x, "dread     %7lld %6lld", off, len);
		ssize_t n = pread(x->dfd, x->dbuf, len, off);
		long long want = off >= x->size ? 0 : (x->size - off < len ? x->size - off : len);

		if (n != want)
			return printf("# O_DIRECT read returned %zd, want %lld (errno %d)\n", n, want, errno), -1;
		if (memcmp(x->dbuf, x->model + off, want)) {
			printf("# O_DIRECT read differs from the model\n");
			differs(x, x->dbuf, off, want);
			if (!check_range(x, off, want))
				printf("# a buffered read of the range agrees with the model\n");
			return -1;
		}
		return 0;
	} else if (op < 68) {		/* truncate */
		ns = below(x, x->maxlen);
		note(x, "truncate  %7lld", ns);
		if (ftruncate(x->fd, ns))
			return printf("# truncate: errno %d\n", errno), -1;
		if (ns < x->size)
			memset(x->model + ns, 0, x->size - ns);
		x->size = ns;
		off = ns > 4096 ? ns - 4096 : 0;
		len = 8192;
	} else if (op < 73) {		/* allocate */
		mode = below(x, 2) ? FALLOC_FL_KEEP_SIZE : 0;
		note(x, "falloc%s %7lld %6lld", mode ? "-k" : "  ", off, len);
		if (fallocate(x->fd, mode, off, len))
			return printf("# fallocate: errno %d\n", errno), -1;
		if (!mode && end > x->size)
			x->size = end;
	} else if (op < 80) {		/* punch */
		note(x, "punch     %7lld %6lld", off, len);
		if (fallocate(x->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len))
			return printf("# punch: errno %d\n", errno), -1;
		if (off < x->size)
			memset(x->model + off, 0, (end < x->size ? end : x->size) - off);
	} else if (op < 85) {		/* zero range */
		mode = FALLOC_FL_ZERO_RANGE | (below(x, 2) ? FALLOC_FL_KEEP_SIZE : 0);
		note(x, "zero%s   %7lld %6lld", mode & FALLOC_FL_KEEP_SIZE ? "-k" : "  ", off, len);
		if (fallocate(x->fd, mode, off, len))
			return printf("# zero range: errno %d\n", errno), -1;
		if (off < x->size)
			memset(x->model + off, 0, (end < x->size ? end : x->size) - off);
		if (!(mode & FALLOC_FL_KEEP_SIZE) && end > x->size)
			x->size = end;
	} else if (op < 89) {		/* collapse */
		off = off / x->bs * x->bs;
		len = (len + x->bs - 1) / x->bs * x->bs;
		if (off + len >= x->size)
			return 0;
		note(x, "collapse  %7lld %6lld", off, len);
		if (fallocate(x->fd, FALLOC_FL_COLLAPSE_RANGE, off, len))
			return printf("# collapse: errno %d\n", errno), -1;
		memmove(x->model + off, x->model + off + len, x->size - off - len);
		memset(x->model + x->size - len, 0, len);
		x->size -= len;
		off = 0;
		len = x->size;
	} else if (op < 93) {		/* insert */
		off = off / x->bs * x->bs;
		len = (len + x->bs - 1) / x->bs * x->bs;
		if (off >= x->size || x->size + len > x->maxlen)
			return 0;
		note(x, "insert    %7lld %6lld", off, len);
		if (fallocate(x->fd, FALLOC_FL_INSERT_RANGE, off, len))
			return printf("# insert: errno %d\n", errno), -1;
		memmove(x->model + off + len, x->model + off, x->size - off);
		memset(x->model + off, 0, len);
		x->size += len;
		off = 0;
		len = x->size;
	} else if (op < 96) {		/* SEEK_DATA: what it skips must read as zeroes */
		note(x, "seek      %7lld", off);
		off_t d = lseek(x->fd, off, SEEK_DATA);
		long long i, stop;

		if (off >= x->size)
			return d == -1 && errno == ENXIO ? 0 : (printf("# SEEK_DATA past EOF: %lld\n", (long long)d), -1);
		if (d < 0 && errno != ENXIO)
			return printf("# SEEK_DATA: errno %d\n", errno), -1;
		stop = d < 0 ? x->size : d;
		for (i = off; i < stop; i++)
			if (x->model[i])
				return printf("# SEEK_DATA from %lld gave %lld, skipping data at %lld\n", off, (long long)d, i), -1;
		off_t h = lseek(x->fd, off, SEEK_HOLE);

		if (h < off || h > x->size)
			return printf("# SEEK_HOLE from %lld gave %lld (size %lld)\n", off, (long long)h, x->size), -1;
		return 0;
	} else if (op < 99) {		/* fsync */
		note(x, "fsync");
		if (fsync(x->fd))
			return printf("# fsync: errno %d\n", errno), -1;
		return 0;
	} else {
		note(x, "remount");
		if (do_remount(x))
			return printf("# remount failed\n"), -1;
		if (check_partner(x))
			return -1;
		return check_range(x, 0, x->size);
	}
	return check_range(x, off, len);
}

FIXTURE(fsx) {
	struct fsx x;
	long long bfree0;	/* free blocks with both files empty */
};

FIXTURE_VARIANT(fsx) {
	int bs;
	int control;
};

FIXTURE_VARIANT_ADD(fsx, bs1k) { .bs = 1024 };
FIXTURE_VARIANT_ADD(fsx, bs2k) { .bs = 2048 };
FIXTURE_VARIANT_ADD(fsx, bs4k) { .bs = 4096 };
FIXTURE_VARIANT_ADD(fsx, bs2k_control) { .bs = 2048, .control = 1 };

FIXTURE_SETUP(fsx)
{
	const char *e = getenv("RXFS_FSX_MAXLEN");
	struct fsx *x = &self->x;

	memset(x, 0, sizeof(*x));
	x->bs = variant->bs;
	x->maxlen = e && *e ? atoll(e) : 256 << 10;
	if (getenv("RXFS_FSX_KMSG") && kmsg < 0)
		kmsg = open("/dev/kmsg", O_WRONLY);
	x->model = calloc(1, x->maxlen);
	x->pmodel = calloc(1, x->maxlen);
	x->buf = malloc(x->maxlen);
	ASSERT_EQ(0, posix_memalign((void **)&x->dbuf, 4096, x->maxlen + 4096));
	{
		/* Room for the longest write before a PROT_NONE page. */
		long pg = sysconf(_SC_PAGESIZE);
		size_t room = (x->maxlen / 8 + pg) / pg * pg;
		unsigned char *g = mmap(NULL, room + pg, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		ASSERT_NE(MAP_FAILED, g);
		ASSERT_EQ(0, mprotect(g + room, pg, PROT_NONE));
		x->guard = g + room;
	}
	umount(RXFS_MNT);
	ASSERT_EQ(0, rxfs_mkfs(rxfs_dev(), x->bs));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	{
		struct statfs st;

		ASSERT_EQ(0, statfs(RXFS_MNT, &st));
		self->bfree0 = st.f_bfree;
	}
	snprintf(x->path, sizeof(x->path), RXFS_MNT "/fsx");
	snprintf(x->ppath, sizeof(x->ppath), RXFS_MNT "/partner");
	ASSERT_EQ(0, reopen(x));
	{
		struct file_clone_range r = { .src_fd = x->pfd };

		/* An empty clone: EOPNOTSUPP on a filesystem made without reflink. */
		x->reflink = !ioctl(x->fd, FICLONERANGE, &r);
	}
	/* Freed pages full of junk: a folio not zeroed where it must be shows. */
	ASSERT_EQ(0, rxfs_sh("dd if=/dev/zero bs=1M count=16 2>/dev/null | tr '\\0' '\\245' >"
			     RXFS_MNT "/junk && sync && rm " RXFS_MNT "/junk"));
	knob_init();
	ASSERT_EQ(0, dangerous(variant->control));
	ASSERT_EQ(0, knob("no_zero_eof", variant->control));
}

FIXTURE_TEARDOWN(fsx)
{
	knob("no_zero_eof", 0);
	dangerous(0);
	close(self->x.fd);
	close(self->x.dfd);
	close(self->x.pfd);
	umount(RXFS_MNT);
}

TEST_F_TIMEOUT(fsx, random_ops, 3600)
{
	const char *e = getenv("RXFS_FSX_OPS"), *s = getenv("RXFS_FSX_SEED");
	long long nops = e && *e ? atoll(e) : 20000;
	struct fsx *x = &self->x;
	unsigned long long seed = (s && *s ? strtoull(s, NULL, 0) : 1) * 1000003 + variant->bs;

	/*
	 * The control needs a folio from the page allocator that still holds
	 * the junk of a freed one; the debug kernel (KASAN) recycles pages
	 * differently and did not show it in 2,000 operations, so its tier
	 * sets RXFS_FSX_NO_CONTROL. The deterministic proof of the defence is
	 * rxfs_iomap's eof test.
	 */
	if (variant->control && getenv("RXFS_FSX_NO_CONTROL"))
		SKIP(return, "RXFS_FSX_NO_CONTROL is set");
	/*
	 * The control's stale bytes come from a freed folio that still holds
	 * the junk fill, which the page allocator does not always hand back:
	 * it gets three seeds, each on a fresh filesystem and junk fill.
	 */
	for (int attempt = 0; attempt < (variant->control ? 3 : 1); attempt++) {
		if (attempt) {
			close(x->fd);
			close(x->dfd);
			close(x->pfd);
			umount(RXFS_MNT);
			ASSERT_EQ(0, rxfs_mkfs(rxfs_dev(), x->bs));
			ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
			ASSERT_EQ(0, reopen(x));
			ASSERT_EQ(0, rxfs_sh("dd if=/dev/zero bs=1M count=16 2>/dev/null | tr '\\0' '\\245' >"
					     RXFS_MNT "/junk && sync && rm " RXFS_MNT "/junk"));
			memset(x->model, 0, x->maxlen);
			memset(x->pmodel, 0, x->maxlen);
			x->size = x->psize = 0;
			seed += 7919;
		}
		x->rng = seed | 1;
		printf("# seed %llu, %lld operations, block size %d\n", seed, nops, x->bs);
		for (x->nops = 0; x->nops < nops; x->nops++) {
			if (step(x) || (x->nops % 64 == 63 && (check_range(x, 0, x->size) || check_partner(x)))) {
				dump(x);
				if (variant->control)
					break;
				ASSERT_TRUE(0) TH_LOG("seed %llu: op %lld failed", seed, x->nops);
			}
		}
		if (x->nops < nops)
			break;
	}
	if (variant->control) {
		printf("# control: %s after %lld operations\n",
		       x->nops < nops ? "found the stale bytes" : "found nothing", x->nops);
		EXPECT_LT(x->nops, nops);
		/* Leave a clean filesystem behind. */
		close(x->fd);
		close(x->dfd);
		close(x->pfd);
		x->fd = x->dfd = x->pfd = -1;
		umount(RXFS_MNT);
		ASSERT_EQ(0, rxfs_mkfs(rxfs_dev(), x->bs));
		ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
		return;
	}
	ASSERT_EQ(0, do_remount(x));
	ASSERT_EQ(0, check_range(x, 0, x->size));
	ASSERT_EQ(0, check_partner(x));
	close(x->fd);
	close(x->dfd);
	close(x->pfd);
	x->fd = x->dfd = x->pfd = -1;
	ASSERT_EQ(0, umount(RXFS_MNT));
	EXPECT_EQ(0, rxfs_run_logged(20, "fsck.rxfs -n %s", rxfs_dev()));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	/* Space accounting: both files gone, every block they used is free. */
	ASSERT_EQ(0, unlink(x->path));
	ASSERT_EQ(0, unlink(x->ppath));
	sync();
	{
		struct statfs st;

		ASSERT_EQ(0, statfs(RXFS_MNT, &st));
		EXPECT_EQ(self->bfree0, (long long)st.f_bfree);
	}
	EXPECT_EQ(0, rxfs_run_logged(20, "fsck.rxfs -n %s", rxfs_dev()));
}

TEST_HARNESS_MAIN
