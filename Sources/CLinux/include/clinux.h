#ifndef CLINUX_H
#define CLINUX_H
/* Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module
   does not see. Thin wrappers, nothing else. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <unistd.h>
#include <fcntl.h>
#include <stdio.h>

/* syncfs(2): one durability barrier for every dirty file of a filesystem. */
static inline int clinux_syncfs(int fd) { return syncfs(fd); }

/* sync_file_range(2) with SYNC_FILE_RANGE_WRITE: starts writing a range of a file's dirty
   pages to disk without waiting, so that an fsync later has little left to wait for. */
static inline int clinux_start_writeback(int fd, long long offset, long long length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

/* open(2)'s O_DIRECT: writes go from our buffer to the disk, past the page cache. */
static inline int clinux_o_direct(void) { return O_DIRECT; }

/* mallopt(M_MMAP_THRESHOLD): allocations of at least `bytes` are mapped on their own and
   given back to the kernel when freed, rather than kept in a thread's heap (glibc otherwise
   raises the threshold after the first large free). */
#include <malloc.h>
static inline int clinux_set_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }

/* renameat2(2) with RENAME_NOREPLACE / RENAME_EXCHANGE. */
static inline int clinux_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}
static inline unsigned int clinux_rename_noreplace(void) { return RENAME_NOREPLACE; }
static inline unsigned int clinux_rename_exchange(void) { return RENAME_EXCHANGE; }

/* posix_spawn closes every descriptor from `first` up in the child, before exec (glibc 2.34):
   a worker gets its three pipes and nothing else of the daemon's. `actions` is a
   posix_spawn_file_actions_t *. Defined in clinux.c: <spawn.h> under _GNU_SOURCE pulls in
   <sys/select.h>, whose fd_set then clashes with the one Dispatch's module sees. */
int clinux_spawn_close_from(void *actions, int first);

/* fcntl(2) read leases. Taken only while nobody has the file open for writing (EAGAIN
   otherwise); while held, anyone's open for writing (or truncate) waits until the lease is
   given up, and the holder sees the lease as broken. The holder is sent SIGIO. */
static inline int clinux_take_read_lease(int fd) { return fcntl(fd, F_SETLEASE, F_RDLCK); }
static inline int clinux_read_lease_intact(int fd) { return fcntl(fd, F_GETLEASE) == F_RDLCK; }

/* Linux keeps a nice value per thread: lowers the calling thread's CPU priority only.
   Defined in clinux.c, for the same reason (<sys/resource.h>, <sys/syscall.h>). */
int clinux_renice_this_thread(int nice);
#endif
