fn main() -> std::process::ExitCode {
    cni::run(&ipam::host_local::HostLocal)
}
