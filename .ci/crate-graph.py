#!/usr/bin/env python3
"""Fail when a workspace crate depends on a railcni crate the architecture
does not allow (README, "Architecture"). Reads `cargo metadata`.

Each rule names the railcni crates a crate may use, by workspace path; the
first rule whose path prefix matches a crate's manifest applies. A crate no
rule matches fails too: a new crate takes its place in the graph on purpose.
"""
import json
import os
import subprocess
import sys

# (path prefix under the workspace root, railcni crates it may depend on)
RULES = [
    ("crates/cni/", set()),  # the protocol
    ("crates/netlink/", set()),  # the kernel, and only the kernel
    ("crates/attach/", {"railcni-cni", "railcni-netlink"}),  # the shared plugin steps
    ("ipam/cluster/", {"railcni-cni", "railcni-ipam"}),  # etcd-backed IPAM: no kernel
    ("ipam/", {"railcni-cni"}),  # host-local and static: no kernel
    ("plugins/", {"railcni-cni", "railcni-netlink", "railcni-attach", "railcni-ipam"}),
    # The tests are black-box: they exec binaries and link no plugin code.
    ("conformance/testkit/", set()),
    ("conformance/tests/", {"railcni-testkit", "railcni-conformance"}),  # the suite's own tests
    ("conformance/", {"railcni-testkit"}),  # the conformance tool, the benches, other stages
    # Only to tell railcni's binaries from others' (cni::inproc::is_railcni).
    ("deploy/installer/", {"railcni-cni"}),
]

# Railcni crates a crate's tests may use beyond its rule: dev-dependencies
# only, so nothing of them is linked into the crate's own code.
DEV_ONLY = [
    # cluster-ipam's tests start their etcd cluster with the test kit's
    # (testkit::etcd), the one the conformance suite's profile uses too.
    ("ipam/cluster/", {"railcni-testkit"}),
]


def main() -> int:
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    root = meta["workspace_root"].rstrip("/") + "/"
    ours = {p["name"] for p in meta["packages"]}
    bad = []
    for pkg in meta["packages"]:
        rel = os.path.relpath(os.path.dirname(pkg["manifest_path"]), root) + "/"
        rule = next((allowed for prefix, allowed in RULES if rel.startswith(prefix)), None)
        if rule is None:
            bad.append(f"{pkg['name']} ({rel}) is in no rule of .ci/crate-graph.py: give it its place")
            continue
        dev_only = next((extra for prefix, extra in DEV_ONLY if rel.startswith(prefix)), set())
        for dep in pkg["dependencies"]:
            kind = dep.get("kind") or "normal"
            allowed = rule | dev_only if kind == "dev" else rule
            if dep["name"] in ours and dep["name"] not in allowed and dep["name"] != pkg["name"]:
                bad.append(f"{pkg['name']} ({rel}) depends on {dep['name']} ({kind}), which its layer may not use")
    for line in bad:
        print(f"crate graph: {line}", file=sys.stderr)
    if bad:
        return 1
    print(f"crate graph: {len(meta['packages'])} crates, every dependency allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
