//! The IPAM plugins, host-local and static, black-box: one test binary, a
//! module per concern. `cargo test --test ipam gc::` runs one of them.

mod bad_input;
mod differential;
mod gc;
mod interop;
mod specific_ips;
mod status;
mod version_matrix;
