/*
 * A build-time shim (LD_PRELOAD) that pins what componentize-py's build hands the
 * Python it runs: `build.sh` compiles and preloads it when PY_PIN_ENTROPY=1. It is
 * never part of a component. See README.md, "Reproducible builds", for what it
 * achieves: two builds of the same sources then differ in about a dozen bytes
 * instead of megabytes, but are still not byte-identical.
 *
 * componentize-py builds a component by running CPython inside wasmtime to import
 * the app, and keeps the interpreter's memory as the component's initial state. That
 * memory holds what the build machine handed the guest, and componentize-py 0.25.1
 * hands it the real thing with no way to override it (its pre-init WASI context sets
 * only PYTHONHOME, PYTHONPATH and PYTHONUNBUFFERED, so PYTHONHASHSEED and
 * SOURCE_DATE_EPOCH never reach the guest):
 *
 *   - randomness (`wasi:random`, from getrandom): CPython's string-hash secret, so
 *     every dict and set in the snapshot is laid out differently, and the seed of the
 *     `random` module;
 *   - the clocks (`wasi:clocks`): the wall clock, and the monotonic clock, from which
 *     something in the guest seeds a ChaCha generator;
 *   - file times and inode numbers (`wasi:filesystem` stat): the import system keeps
 *     the modification time of every directory on `sys.path`, and componentize-py
 *     unpacks the standard library and writes the bindings into fresh temporary
 *     directories on every build.
 *
 * The shim answers: getrandom (the libc function and the system call through
 * syscall(3)) with the same fixed stream for every call (REPRO_SEED, default 0);
 * CLOCK_REALTIME with SOURCE_DATE_EPOCH (default 0); CLOCK_MONOTONIC on the main
 * thread, which runs the guest, with time that advances 1 µs per reading (other
 * threads keep the real one, for the build's own timers); every file time clamped to
 * SOURCE_DATE_EPOCH and every device and inode number set to 1.
 *
 * Nothing a connector does at run time is affected: componentize-py reseeds `random`
 * on the first call, and the host that runs the component gives it the real clock.
 * The string-hash secret is fixed at build time either way (it is in the snapshot);
 * with the shim it is the same known value in every build, which matters only to a
 * connector that puts untrusted keys into dicts in bulk (hash flooding).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* Every call gets the same stream from its start: the build runs on several threads
 * (tokio, wasmtime's parallel compilation) that ask in whatever order they are
 * scheduled, so a stream that went on from call to call would hand the guest's seeds
 * out differently in every build. */
static __thread uint64_t counter;

static uint64_t seed(void) {
    static uint64_t value;
    static int done;
    if (!done) {
        const char *s = getenv("REPRO_SEED");
        value = s ? strtoull(s, NULL, 10) : 0;
        done = 1;
    }
    return value;
}

static time_t epoch(void) {
    static time_t value = -1;
    if (value < 0) {
        const char *s = getenv("SOURCE_DATE_EPOCH");
        value = s ? (time_t)strtoll(s, NULL, 10) : 0;
    }
    return value;
}

/* splitmix64 over the call's counter. */
static uint64_t next(void) {
    uint64_t z = ++counter * 0x9E3779B97F4A7C15ULL + seed();
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void fill(void *buf, size_t len) {
    unsigned char *p = buf;
    counter = 0;
    while (len > 0) {
        uint64_t v = next();
        size_t n = len < 8 ? len : 8;
        memcpy(p, &v, n);
        p += n;
        len -= n;
    }
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
    (void)flags;
    fill(buf, len);
    return (ssize_t)len;
}

int getentropy(void *buf, size_t len) {
    fill(buf, len);
    return 0;
}

/* Rust's `getrandom` crate (0.2) calls the system call through syscall(3). */
long syscall(long number, ...) {
    va_list ap;
    long a[6];
    va_start(ap, number);
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_getrandom) {
        fill((void *)a[0], (size_t)a[1]);
        return a[1];
    }
    static long (*real)(long, ...);
    if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    if (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE) {
        ts->tv_sec = epoch();
        ts->tv_nsec = 0;
        return 0;
    }
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    if (clock == CLOCK_MONOTONIC && gettid() == getpid()) {
        /* The main thread runs the guest, which sees monotonic time relative to
         * when its context was made: there, time advances 1 µs per reading, from
         * the real time of the first reading. */
        static struct timespec base;
        static uint64_t readings;
        if (readings == 0 && real(clock, &base) != 0) return -1;
        uint64_t ns = (uint64_t)base.tv_nsec + 1000 * readings++;
        ts->tv_sec = base.tv_sec + (time_t)(ns / 1000000000);
        ts->tv_nsec = (long)(ns % 1000000000);
        return 0;
    }
    return real(clock, ts);
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    (void)tz;
    tv->tv_sec = epoch();
    tv->tv_usec = 0;
    return 0;
}

time_t time(time_t *t) {
    if (t) *t = epoch();
    return epoch();
}

/* --- file times, clamped ------------------------------------------------------- */

static void clamp_ts(struct timespec *ts) {
    if (ts->tv_sec > epoch() || (ts->tv_sec == epoch() && ts->tv_nsec > 0)) {
        ts->tv_sec = epoch();
        ts->tv_nsec = 0;
    }
}

/* Inode numbers too: wasmtime hands the guest a hash of (device, inode) for every
 * file, and the temporary directories are new files in every build. */
static void clamp_stat(struct stat64 *st) {
    st->st_dev = 1;
    st->st_ino = 1;
    clamp_ts(&st->st_atim);
    clamp_ts(&st->st_mtim);
    clamp_ts(&st->st_ctim);
}

static void clamp_sx(struct statx_timestamp *t) {
    if (t->tv_sec > epoch() || (t->tv_sec == epoch() && t->tv_nsec > 0)) {
        t->tv_sec = epoch();
        t->tv_nsec = 0;
    }
}

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *sx) {
    static int (*real)(int, const char *, int, unsigned int, struct statx *);
    if (!real) real = (int (*)(int, const char *, int, unsigned int, struct statx *))dlsym(RTLD_NEXT, "statx");
    int r = real(dirfd, path, flags, mask, sx);
    if (r == 0) {
        sx->stx_dev_major = 0;
        sx->stx_dev_minor = 1;
        sx->stx_ino = 1;
        clamp_sx(&sx->stx_atime);
        clamp_sx(&sx->stx_btime);
        clamp_sx(&sx->stx_ctime);
        clamp_sx(&sx->stx_mtime);
    }
    return r;
}

#define WRAP_XSTAT(name, args, call)                                    \
    int name args {                                                     \
        static int (*real) args;                                        \
        if (!real) real = (int (*) args)dlsym(RTLD_NEXT, #name);        \
        int r = real call;                                              \
        if (r == 0) clamp_stat(st);                                     \
        return r;                                                       \
    }

/* The names an old glibc (the manylinux one componentize-py links) exports. */
WRAP_XSTAT(__xstat64, (int ver, const char *path, struct stat64 *st), (ver, path, st))
WRAP_XSTAT(__lxstat64, (int ver, const char *path, struct stat64 *st), (ver, path, st))
WRAP_XSTAT(__fxstat64, (int ver, int fd, struct stat64 *st), (ver, fd, st))
WRAP_XSTAT(__fxstatat64, (int ver, int dirfd, const char *path, struct stat64 *st, int flags), (ver, dirfd, path, st, flags))
/* And the names a newer one exports. */
WRAP_XSTAT(stat64, (const char *path, struct stat64 *st), (path, st))
WRAP_XSTAT(lstat64, (const char *path, struct stat64 *st), (path, st))
WRAP_XSTAT(fstat64, (int fd, struct stat64 *st), (fd, st))
WRAP_XSTAT(fstatat64, (int dirfd, const char *path, struct stat64 *st, int flags), (dirfd, path, st, flags))
