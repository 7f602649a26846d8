//! Generates the CRI client (`runtime.v1`, client side only) from
//! `proto/runtime_v1.proto` with Debian's `protoc` (package
//! `protobuf-compiler`; conformance/setup.sh installs it).

fn main() -> std::io::Result<()> {
    let proto = "proto/runtime_v1.proto";
    println!("cargo:rerun-if-changed={proto}");
    tonic_prost_build::configure()
        .build_server(false)
        // The harness connects over a unix socket itself: no `connect(url)`.
        .build_transport(false)
        .compile_protos(&[proto], &["proto"])
}
