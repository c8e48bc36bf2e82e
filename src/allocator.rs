//! The process's memory allocator: glibc's malloc by default, mimalloc with the `mimalloc`
//! feature (see the README's performance section for what each costs).

/// With the `mimalloc` feature, mimalloc allocates for the whole process.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// For the simulator, before its threads start: one glibc arena for the whole process. Its
/// server threads would each get an arena of their own, and glibc grows a thread's arena a few
/// pages at a time with an `mprotect` each — thousands a second while the simulator's
/// transcripts grow under load (a tenth of its CPU at 5 000 messages/s). The main arena grows by
/// `brk` with a pad. The engine (`botvisor run`) keeps glibc's defaults: its actors run on the
/// main thread, in the main arena already.
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
    // SAFETY: mallopt only changes malloc's parameters; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
