// The wrappers whose system headers must not be seen by Swift's module of CLinux (they clash
// with Glibc's and Dispatch's modules under _GNU_SOURCE); the rest are inline in clinux.h.
#define _GNU_SOURCE
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "clinux.h"

int clinux_spawn_close_from(void *actions, int first) {
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, first);
}

int clinux_renice_this_thread(int nice) {
    // PRIO_PROCESS with a thread id names that thread.
    return setpriority(PRIO_PROCESS, (id_t)gettid(), nice);
}
