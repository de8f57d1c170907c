// SPDX-License-Identifier: GPL-2.0
/*
 * fsync latency (a benchmark, run by scripts/bench-fsync): N times one
 * 4 KiB write and fsync, in two patterns on a fresh file each:
 *   append     the write extends the file (an allocation and a size change
 *              to commit each time)
 *   overwrite  the same 4 KiB rewritten (no metadata change: the fsync is
 *              the data write and a cache flush)
 * Prints "PATTERN mean_us p50_us p99_us max_us" per pattern.
 *
 *   bench_fsync DIR [N]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int run(const char *dir, const char *pattern, int n)
{
	char path[512], buf[4096];
	double *lat = calloc(n, sizeof(*lat)), sum = 0;
	int fd, i;

	snprintf(path, sizeof(path), "%s/fsync-%s", dir, pattern);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0 || !lat) {
		perror(path);
		return 1;
	}
	memset(buf, 0x5a, sizeof(buf));
	for (i = 0; i < n; i++) {
		off_t off = strcmp(pattern, "append") ? 0 : (off_t)i * 4096;
		double t = now_us();

		if (pwrite(fd, buf, sizeof(buf), off) != sizeof(buf) || fsync(fd)) {
			perror("pwrite/fsync");
			return 1;
		}
		lat[i] = now_us() - t;
		sum += lat[i];
	}
	close(fd);
	qsort(lat, n, sizeof(*lat), cmp);
	printf("%s %.0f %.0f %.0f %.0f\n", pattern, sum / n, lat[n / 2], lat[(n * 99) / 100], lat[n - 1]);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 1000;

	if (argc < 2 || n < 1) {
		fprintf(stderr, "usage: bench_fsync DIR [N]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return run(argv[1], "append", n) || run(argv[1], "overwrite", n);
}
