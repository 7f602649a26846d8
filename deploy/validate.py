#!/usr/bin/env python3
"""Offline checks of everything in deploy/ that a cluster would read.

- Every manifest (each kustomize directory rendered with `kubectl kustomize`,
  the CRD, the examples) validates strictly against the Kubernetes API
  schemas that kubernetes-validate ships (no cluster, no network).
- Every NetworkAttachmentDefinition validates against the schema of the NAD
  CRD in deploy/crds, and its spec.config, like every CNI config in a
  ConfigMap, is a CNI config (JSON object, cniVersion, name, type or
  plugins). Whether the plugins accept it is tested by running them:
  conformance/tests/deploy_examples.rs.
- A DaemonSet that renders cluster-ipam's settings (railcni-install
  --cluster-ipam-secret) is wired the way the node needs: the Secret
  mounted where the flag points, NODE_NAME from spec.nodeName, --host-conf-dir
  the host path of the volume at --conf-dir, and every railcni-ipam
  container's --config a host path that container sees at the same path.
  The example Secret has only keys railcni-install knows.
- The Dockerfile has the layout the DaemonSet and deploy/check.sh rely on.
- No YAML file under deploy/ escapes these checks.

Usage: python3 deploy/validate.py  (from anywhere; prints one line per file)
"""

import json
import pathlib
import re
import subprocess
import sys

import jsonschema
import kubernetes_validate
import yaml

DEPLOY = pathlib.Path(__file__).resolve().parent
K8S_VERSION = "1.32.0"
NAD_CRD = DEPLOY / "crds" / "network-attachment-definition.yaml"
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

failures = []


def fail(where, msg):
    failures.append(f"{where}: {msg}")


def load_docs(text):
    return [d for d in yaml.safe_load_all(text) if d is not None]


def nad_schema():
    crd = yaml.safe_load(NAD_CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


def check_cni_config(where, text):
    """A conf or conflist as the runtime and Multus read it; returns its plugin types."""
    try:
        conf = json.loads(text)
    except json.JSONDecodeError as e:
        fail(where, f"CNI config is not JSON: {e}")
        return []
    if not isinstance(conf, dict):
        fail(where, "CNI config is not a JSON object")
        return []
    for key in ("cniVersion", "name"):
        if not isinstance(conf.get(key), str) or not conf[key]:
            fail(where, f"CNI config has no {key}")
    plugins = conf.get("plugins", [conf])
    if not isinstance(plugins, list) or not plugins:
        fail(where, "CNI config has an empty plugins list")
        return []
    types = []
    for i, p in enumerate(plugins):
        if not isinstance(p, dict) or not isinstance(p.get("type"), str) or not p["type"]:
            fail(where, f"plugin {i} has no type")
        else:
            types.append(p["type"])
    return types


def check_nad(where, doc, schema):
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError as e:
        return fail(where, f"not a valid NetworkAttachmentDefinition: {e.message}")
    if doc.get("apiVersion") != "k8s.cni.cncf.io/v1":
        fail(where, f"apiVersion {doc.get('apiVersion')!r} is not k8s.cni.cncf.io/v1")
    name = doc.get("metadata", {}).get("name", "")
    if not DNS1123.match(name) or len(name) > 253:
        fail(where, f"metadata.name {name!r} is not a DNS-1123 name")
    config = doc.get("spec", {}).get("config")
    if not isinstance(config, str):
        return fail(where, "spec.config is missing")
    types = check_cni_config(where, config)
    if "sriov" in types and "k8s.v1.cni.cncf.io/resourceName" not in doc["metadata"].get("annotations", {}):
        fail(where, "an sriov network needs the k8s.v1.cni.cncf.io/resourceName annotation")


# railcni-install's Secret keys (deploy/installer/src/cluster_ipam.rs).
CLUSTER_IPAM_SECRET_KEYS = {"endpoints", "ca.crt", "tls.crt", "tls.key", "username", "password", "node-grace-seconds"}
CLUSTER_IPAM_SECRET = "railcni-cluster-ipam-etcd"


def flag(args, name):
    """The value of --name=V or --name V in an args list, else None."""
    for i, a in enumerate(args):
        if a.startswith(f"{name}="):
            return a.split("=", 1)[1]
        if a == name and i + 1 < len(args):
            return args[i + 1]
    return None


def mounted_at(container, volumes, path):
    """(volume, mountPath) of the mount that holds `path` in `container`, else (None, None)."""
    best = (None, None)
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if (path == mp or path.startswith(mp + "/")) and (best[1] is None or len(mp) > len(best[1])):
            best = (volumes.get(m["name"]), mp)
    return best


def check_cluster_ipam_wiring(where, doc):
    """The paths railcni-install writes are the paths the plugin and railcni-ipam read."""
    spec = doc["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    containers = spec.get("initContainers", []) + spec.get("containers", [])
    for c in containers:
        args = c.get("args", [])
        at = f"{where} container {c['name']}"
        secret = flag(args, "--cluster-ipam-secret")
        if secret is None:
            continue
        vol, mp = mounted_at(c, volumes, secret)
        if not vol or vol.get("secret", {}).get("secretName") != CLUSTER_IPAM_SECRET or mp != secret:
            fail(at, f"--cluster-ipam-secret {secret} is not where the Secret {CLUSTER_IPAM_SECRET} is mounted")
        if args and args[0] == "uninstall":
            continue
        env = {e["name"]: e for e in c.get("env", [])}
        field = env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if field != "spec.nodeName" and flag(args, "--node-name") is None:
            fail(at, "NODE_NAME is not set from spec.nodeName (downward API)")
        conf_dir = flag(args, "--conf-dir") or "/host/etc/cni/net.d"
        host_conf_dir = flag(args, "--host-conf-dir") or "/etc/cni/net.d"
        vol, mp = mounted_at(c, volumes, conf_dir)
        host = vol and vol.get("hostPath", {}).get("path")
        if not host or host.rstrip("/") + conf_dir[len(mp):] != host_conf_dir.rstrip("/"):
            fail(at, f"--conf-dir {conf_dir} is not the host's --host-conf-dir {host_conf_dir}")
    for c in containers:
        if not any("railcni-ipam" in x for x in c.get("command", [])):
            continue
        config = flag(c.get("args", []), "--config") or "/etc/cni/net.d/railcni.d/cluster-ipam.json"
        vol, mp = mounted_at(c, volumes, config)
        host = vol and vol.get("hostPath", {}).get("path")
        if not host or host.rstrip("/") != mp:
            fail(f"{where} container {c['name']}", f"--config {config} is not on a hostPath mounted at its host path")


def check_docs(where, docs, schema):
    for i, doc in enumerate(docs):
        at = f"{where}[{i}] {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if doc.get("kind") == "NetworkAttachmentDefinition":
            check_nad(at, doc, schema)
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            fail(at, f"{'.'.join(map(str, e.path))}: {e.message}")
            continue
        except kubernetes_validate.SchemaNotFoundError:
            fail(at, f"no Kubernetes {K8S_VERSION} schema for {doc.get('apiVersion')} {doc.get('kind')}")
            continue
        if doc.get("kind") == "DaemonSet":
            check_cluster_ipam_wiring(at, doc)
        if doc.get("kind") == "Secret" and doc["metadata"].get("name") == CLUSTER_IPAM_SECRET:
            keys = set(doc.get("stringData", {})) | set(doc.get("data", {}))
            if not keys <= CLUSTER_IPAM_SECRET_KEYS or "endpoints" not in keys:
                fail(at, f"keys {sorted(keys)}: railcni-install knows {sorted(CLUSTER_IPAM_SECRET_KEYS)}, needs endpoints")
        if doc.get("kind") == "ConfigMap":
            for key, value in doc.get("data", {}).items():
                if key.endswith((".conf", ".conflist")):
                    check_cni_config(f"{at} data.{key}", value)


def kustomize_dirs():
    return sorted(p.parent for p in (DEPLOY / "kustomize").rglob("kustomization.yaml"))


def check_kustomize(schema):
    """Renders each base/overlay; returns the files it covered."""
    covered = set()
    for d in kustomize_dirs():
        where = d.relative_to(DEPLOY.parent)
        run = subprocess.run(["kubectl", "kustomize", str(d)], capture_output=True, text=True)
        if run.returncode != 0:
            fail(where, f"kubectl kustomize failed: {run.stderr.strip()}")
            continue
        docs = load_docs(run.stdout)
        check_docs(where, docs, schema)
        kinds = sorted(f"{x['kind']}/{x['metadata']['name']}" for x in docs)
        print(f"ok {where} (kustomize: {', '.join(kinds)})")
        covered.update(p for p in d.iterdir() if p.suffix in (".yaml", ".yml"))
    return covered


def check_dockerfile():
    """The layout deploy/check.sh and the DaemonSet rely on; hadolint lints the rest."""
    where = "deploy/Dockerfile"
    lines = []
    for raw in (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        if raw.strip() and not raw.lstrip().startswith("#"):
            lines.append(raw.strip())
    froms = [l for l in lines if l.upper().startswith("FROM ")]
    if len(froms) < 2:
        fail(where, "not a multi-stage build")
    if not froms or froms[-1].split()[1] not in ("scratch",) and "distroless" not in froms[-1]:
        fail(where, f"final stage is not scratch or distroless: {froms[-1] if froms else None}")
    stage_names = [f.split()[-1] for f in froms[:-1] if " AS " in f.upper()]
    build_runs = [l for l in lines if l.upper().startswith("RUN ") and "deploy/build-static.sh" in l]
    if not build_runs:
        fail(where, "the build stage does not run deploy/build-static.sh")
    labels = " ".join(l for l in lines if l.upper().startswith("LABEL "))
    for label in ("org.opencontainers.image.version", "org.opencontainers.image.source"):
        if label not in labels:
            fail(where, f"no {label} label")
    copies = [l for l in lines if l.upper().startswith("COPY --FROM=")]
    for needed in ("/out/bin/ /railcni/bin/", "/out/railcni-install /railcni-install"):
        if not any(needed in c and c.split("=", 1)[1].split()[0] in stage_names for c in copies):
            fail(where, f"final stage does not COPY {needed} from the build stage")
    if 'ENTRYPOINT ["/railcni-install"]' not in lines:
        fail(where, 'ENTRYPOINT is not ["/railcni-install"]')
    print(f"ok {where} ({len(froms)} stages, final {froms[-1] if froms else None})")


def self_test(schema):
    """Each check must catch the mistake it exists for; else its silence means nothing."""
    ds = load_docs((DEPLOY / "kustomize" / "base" / "daemonset.yaml").read_text())[0]
    nad = load_docs((DEPLOY / "examples" / "sriov.yaml").read_text())[0]
    overlay = DEPLOY / "kustomize" / "overlays" / "cluster-ipam"
    rendered = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True)
    (ipam_ds,) = [d for d in load_docs(rendered.stdout) if d["kind"] == "DaemonSet"]

    def broken(edit):
        doc = json.loads(json.dumps(ipam_ds))
        edit(doc["spec"]["template"]["spec"])
        return doc

    def container(spec, name):
        return next(c for c in spec["containers"] + spec["initContainers"] if c["name"] == name)

    def heartbeat_mount_elsewhere(spec):
        container(spec, "heartbeat")["volumeMounts"][0]["mountPath"] = "/host/etc/cni/net.d"

    def host_conf_dir_wrong(spec):
        args = container(spec, "install")["args"]
        args[args.index("--host-conf-dir=/etc/cni/net.d")] = "--host-conf-dir=/host/etc/cni/net.d"

    bad = {
        "unknown field": {**ds, "spec": {**ds["spec"], "replicas": 3}},
        "wrong type": {**ds, "spec": {**ds["spec"], "minReadySeconds": "soon"}},
        "NAD config not a string": {**nad, "spec": {"config": 5}},
        "NAD config not JSON": {**nad, "spec": {"config": "{"}},
        "NAD without type": {**nad, "spec": {"config": '{"cniVersion":"1.0.0","name":"n"}'}},
        "sriov NAD without resourceName": {**nad, "metadata": {"name": "sriov-net"}},
        "cluster-ipam without NODE_NAME": broken(lambda s: container(s, "install").pop("env")),
        "heartbeat config not at its host path": broken(heartbeat_mount_elsewhere),
        "settings paths not the host's": broken(host_conf_dir_wrong),
        "Secret not mounted at the flag": broken(lambda s: container(s, "install-once")["volumeMounts"].pop()),
    }
    for what, doc in bad.items():
        before = len(failures)
        check_docs(f"self-test {what}", [doc], schema)
        caught = len(failures) > before
        del failures[before:]
        if not caught:
            fail("self-test", f"{what} was not caught")
    print(f"ok self-test ({len(bad)} broken documents caught)")


def main():
    schema = nad_schema()
    self_test(schema)
    covered = check_kustomize(schema)
    for path in sorted(DEPLOY.rglob("*.yaml")):
        if path in covered or "kustomize" in path.parts:
            continue
        where = path.relative_to(DEPLOY.parent)
        docs = load_docs(path.read_text())
        if not docs:
            fail(where, "no YAML documents")
        check_docs(where, docs, schema)
        print(f"ok {where} ({len(docs)} documents)")
        covered.add(path)
    stray = sorted(p for p in (DEPLOY / "kustomize").rglob("*.yaml") if p not in covered)
    for p in stray:
        fail(p.relative_to(DEPLOY.parent), "not part of any kustomization")
    check_dockerfile()
    if failures:
        print("\n".join(["deploy/validate.py: FAILED"] + failures), file=sys.stderr)
        return 1
    print(f"deploy/validate.py: {len(covered)} manifest files and the Dockerfile are valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
