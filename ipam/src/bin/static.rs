fn main() -> std::process::ExitCode {
    cni::run(&ipam::static_ipam::Static)
}
