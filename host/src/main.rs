//! The `binyard` binary: see `binyard::cli`.

fn main() -> std::process::ExitCode {
    binyard::cli::main()
}
