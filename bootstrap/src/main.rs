use clap::Parser;

/// Turns a booted EC2 instance into a registered CI agent.
#[derive(Parser)]
#[command(name = "imagekit-bootstrap", version = imagekit_bootstrap::version::long_version())]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
