/*
 * LD_PRELOAD shim that adds a fixed delay to every fsync/fdatasync, to model a
 * network-attached volume (EBS, PD) on a machine with a fast local disk.
 *
 *   cc -O2 -shared -fPIC -o fsync_delay.so fsync_delay.c -ldl
 *   FSYNC_DELAY_US=1000 LD_PRELOAD=./fsync_delay.so redis-server ...
 *
 * The delay is applied after the real call so the data is durable when the
 * caller resumes, just later.  FSYNC_DELAY_US unset or 0 means no delay.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

static long delay_us = -1;

static void pause_for_disk(void) {
    if (delay_us < 0) {
        const char *s = getenv("FSYNC_DELAY_US");
        delay_us = s ? atol(s) : 0;
        if (delay_us < 0)
            delay_us = 0;
    }
    if (delay_us == 0)
        return;
    struct timespec ts = {delay_us / 1000000, (delay_us % 1000000) * 1000};
    int saved = errno;
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
    errno = saved;
}

typedef int (*sync_fn)(int);

int fsync(int fd) {
    static sync_fn real;
    if (!real)
        real = (sync_fn)dlsym(RTLD_NEXT, "fsync");
    int rc = real ? real(fd) : (errno = ENOSYS, -1);
    pause_for_disk();
    return rc;
}

int fdatasync(int fd) {
    static sync_fn real;
    if (!real)
        real = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
    int rc = real ? real(fd) : (errno = ENOSYS, -1);
    pause_for_disk();
    return rc;
}
