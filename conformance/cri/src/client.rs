//! A blocking CRI client over containerd's unix socket, as kubelet talks to
//! it (kubelet uses the same gRPC service; this one is synchronous because
//! the tests are).

use crate::proto::runtime_service_client::RuntimeServiceClient;
use crate::proto::{
    PodSandboxConfig, PodSandboxStatusRequest, PodSandboxStatusResponse, RemovePodSandboxRequest, RunPodSandboxRequest,
    StopPodSandboxRequest, VersionRequest, VersionResponse,
};
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

/// Kubelet's default for RunPodSandbox (`--runtime-request-timeout`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Cri {
    runtime: tokio::runtime::Runtime,
    client: RuntimeServiceClient<Channel>,
}

impl Cri {
    /// A client for the CRI service on `socket`. The connection is made on
    /// first use, so a runtime that restarts behind it is reached again.
    pub fn new(socket: &Path) -> Cri {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let socket: PathBuf = socket.to_owned();
        let channel = runtime.block_on(async move {
            // The URI is a placeholder: the connector dials the socket.
            Endpoint::from_static("http://[::1]:1").timeout(REQUEST_TIMEOUT).connect_with_connector_lazy(
                tower::service_fn(move |_: Uri| {
                    let socket = socket.clone();
                    async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(socket).await?)) }
                }),
            )
        });
        Cri { runtime, client: RuntimeServiceClient::new(channel) }
    }

    pub fn version(&mut self) -> Result<VersionResponse, tonic::Status> {
        let req = VersionRequest { version: "v1".into() };
        Ok(self.runtime.block_on(self.client.version(req))?.into_inner())
    }

    /// RunPodSandbox with the default runtime handler: the new sandbox's ID.
    pub fn run_pod(&mut self, config: PodSandboxConfig) -> Result<String, tonic::Status> {
        let req = RunPodSandboxRequest { config: Some(config), runtime_handler: String::new() };
        Ok(self.runtime.block_on(self.client.run_pod_sandbox(req))?.into_inner().pod_sandbox_id)
    }

    /// PodSandboxStatus, verbose: `info` holds containerd's JSON about it.
    pub fn status(&mut self, id: &str) -> Result<PodSandboxStatusResponse, tonic::Status> {
        let req = PodSandboxStatusRequest { pod_sandbox_id: id.into(), verbose: true };
        Ok(self.runtime.block_on(self.client.pod_sandbox_status(req))?.into_inner())
    }

    pub fn stop(&mut self, id: &str) -> Result<(), tonic::Status> {
        let req = StopPodSandboxRequest { pod_sandbox_id: id.into() };
        self.runtime.block_on(self.client.stop_pod_sandbox(req))?;
        Ok(())
    }

    pub fn remove(&mut self, id: &str) -> Result<(), tonic::Status> {
        let req = RemovePodSandboxRequest { pod_sandbox_id: id.into() };
        self.runtime.block_on(self.client.remove_pod_sandbox(req))?;
        Ok(())
    }
}
