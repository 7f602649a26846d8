fn main() -> std::process::ExitCode {
    cni::run(&cluster_ipam::ClusterIpam)
}
