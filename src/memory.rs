//! Freed memory given back to the system between phases. glibc's allocator keeps freed
//! heap pages that sit among live allocations: after a large cluster's pages are read and
//! reduced, tens of MB of them, which a long computation (`simulate`) would otherwise
//! carry as resident memory.

/// Return freed heap pages to the system where the allocator keeps them (glibc); elsewhere
/// nothing to do.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and only releases memory already freed.
    unsafe {
        libc::malloc_trim(0);
    }
}
