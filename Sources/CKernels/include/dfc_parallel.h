#ifndef DFC_PARALLEL_H
#define DFC_PARALLEL_H

#include <stddef.h>

// The executor's worker threads: one fewer than the cores, started on first
// use, kept for the life of the process.
//
// Why not Dispatch: most of the executor's instructions are small (a band of
// one output row is a product of a few microseconds per core), and waking a
// Dispatch worker takes longer than that, so with concurrentPerform the
// calling thread usually finished both halves before the other core started.
// These workers spin for 10 us after each task before they sleep, so the
// next instruction's parts start on the other core within a microsecond.

// Runs task(context, i) for every i in 0..<tasks, spread over the calling
// thread and the workers, and returns when all have finished. One call uses
// the workers at a time: a call made while another runs (from another thread,
// or from inside a task) runs its tasks on the calling thread, in order.
void dfc_parallel_run(size_t tasks, void (*task)(void *context, size_t index), void *context);

// dfc_parallel_hold(1) keeps idle workers spinning (yielding to other threads now and then) instead
// of sleeping after 10 us, until a matching dfc_parallel_hold(0): for a run of many short jobs with
// gaps between them (the executor's instructions), where waking a sleeping worker (a futex, tens of
// microseconds on a virtual machine) costs more than the job's half.
void dfc_parallel_hold(int held);

// Threads that take part in a dfc_parallel_run: the workers and the caller.
size_t dfc_parallel_width(void);

#endif
