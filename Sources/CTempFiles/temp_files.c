#include "temp_files.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__)
#include <fcntl.h>
#include <sys/syscall.h>
#endif

// A whole `dfc run` batch (every output tensor and the statistics) is staged
// at once, so the table holds far more than the two files of `dfc compile`.
enum { slot_count = 1024 };

static _Atomic(char *) slots[slot_count];
// Set by the first handler to run. From then on a forgotten path is not freed:
// a handler on another thread may still be reading it.
static atomic_int handler_entered;
static atomic_ulong next_serial;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};

static void remove_temp_files(int signal_number) {
    atomic_store(&handler_entered, 1);
    for (int i = 0; i < slot_count; i++) {
        char *path = atomic_load(&slots[i]);
        if (path != NULL) unlink(path);
    }
    // The signal is blocked while its handler runs: re-raised with the default
    // action, it ends the process as soon as the handler returns.
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    sigaction(signal_number, &action, NULL);
    raise(signal_number);
}

static void install_handlers(void) {
    for (size_t i = 0; i < sizeof cleanup_signals / sizeof cleanup_signals[0]; i++) {
        struct sigaction current;
        if (sigaction(cleanup_signals[i], NULL, &current) != 0) continue;
        // Ignored (nohup, a background job) or someone else's handler: leave it.
        if ((current.sa_flags & SA_SIGINFO) != 0 || current.sa_handler != SIG_DFL) continue;
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = remove_temp_files;
        sigemptyset(&action.sa_mask);
        sigaction(cleanup_signals[i], &action, NULL);
    }
}

int dfc_temp_file_register(const char *path) {
    pthread_once(&install_once, install_handlers);
    char *copy = strdup(path);
    if (copy == NULL) return -1;
    for (int i = 0; i < slot_count; i++) {
        char *empty = NULL;
        if (atomic_compare_exchange_strong(&slots[i], &empty, copy)) return i;
    }
    free(copy);
    return -1;
}

void dfc_temp_file_forget(int slot) {
    if (slot < 0 || slot >= slot_count) return;
    char *path = atomic_exchange(&slots[slot], NULL);
    // Sequentially consistent: if no handler has entered by now, any handler
    // that enters later reads this slot after the exchange and sees NULL.
    if (!atomic_load(&handler_entered)) free(path);
}

unsigned long dfc_temp_file_serial(void) { return atomic_fetch_add(&next_serial, 1); }

int dfc_exchange_files(const char *a, const char *b) {
#if defined(__linux__) && defined(SYS_renameat2)
    // RENAME_EXCHANGE from linux/fs.h, which is not always installed.
    const unsigned int exchange = 1u << 1;
    return syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, exchange) == 0 ? 0 : errno;
#else
    (void)a;
    (void)b;
    return ENOSYS;
#endif
}

int dfc_preallocate(int descriptor, long long bytes) {
#if defined(__linux__) && defined(SYS_fallocate)
    // FALLOC_FL_KEEP_SIZE from linux/falloc.h, which is not always installed.
    const int keep_size = 0x01;
    return syscall(SYS_fallocate, descriptor, keep_size, (off_t)0, (off_t)bytes) == 0 ? 0 : errno;
#else
    (void)descriptor;
    (void)bytes;
    return ENOSYS;
#endif
}
