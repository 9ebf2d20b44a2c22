//! The web UI's files are embedded with `include_dir!`, which cannot tell cargo
//! about them on stable Rust: a change under `ui/` must rebuild the crate.

fn main() {
    println!("cargo:rerun-if-changed=ui");
}
