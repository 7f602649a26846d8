//! The operator's tool for cluster-ipam's store: `railcni-ipam --help`.
fn main() -> std::process::ExitCode {
    cluster_ipam::admin::main(std::env::args().skip(1))
}
