//! The memory allocator of static (musl) builds.
//!
//! musl's own allocator returns freed memory to the kernel at once: one
//! bridge ADD made about 90 mmap/munmap pairs, each with its page faults
//! (glibc's made 13 mmaps and 2 munmaps). dlmalloc keeps what it frees for
//! reuse, as glibc does, and these processes live a few milliseconds.

#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;
