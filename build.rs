//! include_dir! embeds packer/ but cannot tell cargo to watch it on stable; this does.
fn main() {
    println!("cargo:rerun-if-changed=packer");
}
