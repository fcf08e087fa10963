#ifndef DFC_TEMP_FILES_H
#define DFC_TEMP_FILES_H

// Temporary files dfc is writing, removed when SIGINT, SIGTERM, SIGHUP or
// SIGPIPE ends the process before they are renamed into place.
//
// Why C: a signal handler may only call async-signal-safe functions, and Swift
// code cannot promise that (the runtime may allocate, take locks or initialise
// a global lazily). The handler here reads a fixed table of C strings copied
// before the files were created, unlinks each, and re-raises the signal with
// its default action, so the exit status still names the signal.

// Registers `path` (copied) for removal by the handler and installs the
// handlers on first use; a signal the process ignores (nohup, a background
// job) stays ignored. Returns the slot to give to dfc_temp_file_forget, or -1
// when the table is full or memory is short.
int dfc_temp_file_register(const char *path);

// Forgets the path in `slot`, once its file has been renamed or removed.
void dfc_temp_file_forget(int slot);

// A number not returned before in this process, for temporary file names.
unsigned long dfc_temp_file_serial(void);

// Swaps the files at `a` and `b` atomically (Linux renameat2 with
// RENAME_EXCHANGE); 0 or the errno of the failure (ENOSYS where the system
// has no such call, EINVAL where the file system does not support it).
//
// Why: ext4 writes out the whole of a file renamed over an existing one
// before the rename returns (its auto_da_alloc heuristic, for programs that
// replace files without fsync), which costs VGG-16's 553 MB program about a
// third of a second. Swapping the new file with the old one and removing the
// old one is as atomic for readers, and leaves the new file's pages to be
// written back as a newly created file's are.
int dfc_exchange_files(const char *a, const char *b);

// Reserves the blocks of the first `bytes` bytes of the file open as
// `descriptor` without changing its size (Linux fallocate with
// FALLOC_FL_KEEP_SIZE); 0 or the errno of the failure (ENOSYS elsewhere).
// Nothing is ever written by it: a system without the call is not emulated.
//
// Why: ext4 reserves blocks page by page as a file grows (delayed
// allocation). Reserved ahead, a plain loop writing 550 MB in 1 MB writes
// took 0.62x the time on the development VM, and VGG-16's compile spent
// 0.28-0.35 s in the kernel against 0.35-0.37 (its whole compile moved within
// the noise). The size stays what was written, so a failed write leaves no
// zeros past its end.
int dfc_preallocate(int descriptor, long long bytes);

#endif
