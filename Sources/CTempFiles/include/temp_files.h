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

#endif
