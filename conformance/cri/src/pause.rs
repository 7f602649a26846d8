//! The pod sandbox image, built here: there is no registry to pull
//! `registry.k8s.io/pause` from. A sandbox's process only has to hold the
//! pod's namespaces until containerd kills it (StopPodSandbox sends
//! SIGKILL), so the image is one static x86_64 program of 129 bytes that
//! calls pause(2) in a loop, in an OCI image layout that
//! `ctr images import` reads.

use crate::tar;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The name the image is imported under and the CRI config's `sandbox_image`.
pub const IMAGE: &str = "localhost/railcni-pause:1";

/// The OCI image layout of the pause image, as a tar archive.
pub fn oci_archive() -> Vec<u8> {
    let layer = tar::archive(&[("pause", 0o755, &program())]);
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Entrypoint": ["/pause"] },
        "rootfs": { "type": "layers", "diff_ids": [digest(&layer)] },
    });
    let config = serde_json::to_vec(&config).expect("json");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer)],
    });
    let manifest = serde_json::to_vec(&manifest).expect("json");
    let mut entry = descriptor("application/vnd.oci.image.manifest.v1+json", &manifest);
    entry["platform"] = json!({ "architecture": "amd64", "os": "linux" });
    // containerd's importer names the image after this annotation.
    entry["annotations"] = json!({ "io.containerd.image.name": IMAGE });
    let index = json!({ "schemaVersion": 2, "manifests": [entry] });
    let index = serde_json::to_vec(&index).expect("json");
    let blob = |b: &[u8]| format!("blobs/sha256/{}", &digest(b)["sha256:".len()..]);
    let (layer_path, config_path, manifest_path) = (blob(&layer), blob(&config), blob(&manifest));
    tar::archive(&[
        ("oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#),
        ("index.json", 0o644, &index),
        (&layer_path, 0o644, &layer),
        (&config_path, 0o644, &config),
        (&manifest_path, 0o644, &manifest),
    ])
}

fn digest(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({ "mediaType": media_type, "digest": digest(bytes), "size": bytes.len() })
}

/// An x86_64 ELF executable: one loadable segment holding the headers and
/// `loop { pause() }`. No libc, no dynamic loader, nothing else to ship.
fn program() -> Vec<u8> {
    if !cfg!(target_arch = "x86_64") {
        panic!("the pause program is x86_64 machine code");
    }
    const BASE: u64 = 0x40_0000;
    const EHDR: u16 = 64;
    const PHDR: u16 = 56;
    #[rustfmt::skip]
    let code: [u8; 9] = [
        0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34 (pause)
        0x0f, 0x05,                   // syscall
        0xeb, 0xf7,                   // jmp back to the mov
    ];
    let size = u64::from(EHDR + PHDR) + code.len() as u64;
    let mut elf = Vec::with_capacity(size as usize);
    // e_ident: magic, 64-bit, little endian, version 1, System V ABI.
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_type: executable
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // e_machine: x86-64
    elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
    elf.extend_from_slice(&(BASE + u64::from(EHDR + PHDR)).to_le_bytes()); // e_entry: the code
    elf.extend_from_slice(&u64::from(EHDR).to_le_bytes()); // e_phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // e_shoff: no sections
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for half in [EHDR, PHDR, 1, 0, 0, 0] {
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // p_flags: read + execute
    for word in [0, BASE, BASE, size, size, 0x1000] {
        // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.extend_from_slice(&code);
    elf
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    use std::time::Duration;

    #[test]
    fn the_program_runs_until_killed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pause");
        std::fs::write(&path, super::program()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = Command::new(&path).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(child.try_wait().unwrap().is_none(), "pause exited on its own");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
