/*
 * LD_PRELOAD shim that counts the sync calls, write calls and bytes a server
 * issues on its AOF files, without slowing the server down the way strace does
 * (strace stops every thread at every system call, which breaks a
 * multi-threaded group commit into tiny batches).
 *
 *   cc -O2 -shared -fPIC -o io_count.so io_count.c -ldl
 *   head -c 4096 /dev/zero > counts
 *   IO_COUNT_FILE=counts IO_COUNT_MATCH=appendonly LD_PRELOAD=./io_count.so redis-server ...
 *
 * IO_COUNT_FILE is a file of at least 32 bytes that the shim maps shared; it
 * holds four little-endian u64 counters that the reader diffs: fsync/fdatasync
 * calls, write calls, bytes written, and calls it looked at. Only regular files
 * whose path contains IO_COUNT_MATCH are counted, so socket writes are not.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { SYNCS, WRITES, BYTES, SEEN, NCOUNTERS };

static uint64_t *counters;
static const char *match;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void setup(void) {
    const char *path = getenv("IO_COUNT_FILE");
    match = getenv("IO_COUNT_MATCH");
    if (!path || !match)
        return;
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p != MAP_FAILED)
        counters = p;
}

/* A small cache of (device, inode) -> matches, so the path is read once per file. */
#define CACHE 64
static struct {
    dev_t dev;
    ino_t ino;
    int hit;
} cache[CACHE];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int counted(int fd) {
    int saved = errno;
    pthread_once(&once, setup);
    int hit = 0;
    struct stat st;
    if (counters && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        size_t slot = (size_t)(st.st_ino ^ st.st_dev) % CACHE;
        pthread_mutex_lock(&cache_lock);
        if (cache[slot].ino == st.st_ino && cache[slot].dev == st.st_dev && cache[slot].ino) {
            hit = cache[slot].hit;
        } else {
            char link[64], target[4096];
            snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n > 0) {
                target[n] = 0;
                hit = strstr(target, match) != NULL;
            }
            cache[slot].dev = st.st_dev;
            cache[slot].ino = st.st_ino;
            cache[slot].hit = hit;
        }
        pthread_mutex_unlock(&cache_lock);
        __atomic_fetch_add(&counters[SEEN], 1, __ATOMIC_RELAXED);
    }
    errno = saved;
    return hit;
}

static void add(int which, uint64_t n) {
    __atomic_fetch_add(&counters[which], n, __ATOMIC_RELAXED);
}

#define REAL(name, type) \
    static type real; \
    if (!real) \
        real = (type)dlsym(RTLD_NEXT, name)

typedef int (*sync_fn)(int);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);

static ssize_t after_write(int fd, ssize_t rc) {
    if (counted(fd)) {
        add(WRITES, 1);
        if (rc > 0)
            add(BYTES, (uint64_t)rc);
    }
    return rc;
}

int fsync(int fd) {
    REAL("fsync", sync_fn);
    int rc = real(fd);
    if (counted(fd))
        add(SYNCS, 1);
    return rc;
}

int fdatasync(int fd) {
    REAL("fdatasync", sync_fn);
    int rc = real(fd);
    if (counted(fd))
        add(SYNCS, 1);
    return rc;
}

ssize_t write(int fd, const void *buf, size_t n) {
    REAL("write", write_fn);
    return after_write(fd, real(fd, buf, n));
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    REAL("pwrite", pwrite_fn);
    return after_write(fd, real(fd, buf, n, off));
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
    REAL("pwrite64", pwrite_fn);
    return after_write(fd, real(fd, buf, n, off));
}

ssize_t writev(int fd, const struct iovec *iov, int n) {
    REAL("writev", writev_fn);
    return after_write(fd, real(fd, iov, n));
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off) {
    REAL("pwritev", pwritev_fn);
    return after_write(fd, real(fd, iov, n, off));
}
