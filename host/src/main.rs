//! The `binyard` binary: see `binyard::cli`.

/// mimalloc: many small, short-lived allocations per request (headers, records)
/// cost noticeably less than with the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    binyard::cli::main()
}
