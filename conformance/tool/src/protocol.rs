//! Checks of the protocol itself: VERSION, the environment, stdin, errors.

use crate::ctx::expect_error;
use crate::{Check, Checked, Target, ensure, fail, prefix};
use testkit::binary::Invocation;

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "version.answers", spec: "SPEC §2 VERSION", run: version_answers },
        Check { id: "version.unsupported-is-1", spec: "SPEC §5 Error, code 1", run: unsupported_version },
        Check { id: "env.missing-vars-are-4", spec: "SPEC §2 Parameters; §5 code 4", run: missing_vars },
        Check { id: "env.unknown-command-is-4", spec: "SPEC §2 Parameters; §5 code 4", run: unknown_command },
        Check { id: "env.invalid-ifname", spec: "SPEC §2 Parameters (CNI_IFNAME)", run: invalid_ifname },
        Check {
            id: "env.invalid-container-id",
            spec: "SPEC §2 Parameters (CNI_CONTAINERID)",
            run: invalid_container_id,
        },
        Check { id: "env.unknown-cni-args", spec: "CONVENTIONS CNI_ARGS", run: unknown_args },
        Check { id: "input.undecodable-is-6", spec: "SPEC §5 Error, code 6", run: undecodable },
        Check { id: "input.invalid-config-is-7", spec: "SPEC §5 Error, code 7", run: invalid_config },
    ]
}

/// VERSION answers on any stdin (even none) with a version list.
fn version_answers(t: &Target) -> Checked {
    for (what, stdin) in [("a version object", r#"{"cniVersion":"1.0.0"}"#), ("empty stdin", ""), ("garbage", "}{")] {
        let out = t.plugin.call(&Invocation::bare().command("VERSION").stdin_raw(stdin));
        let v = out.check_ok_json().or_else(|e| fail(format!("VERSION with {what}: {e}")))?;
        let list = v["supportedVersions"].as_array().map(Vec::len).unwrap_or(0);
        ensure(list > 0 && v["cniVersion"].is_string(), || format!("VERSION with {what}: no version list: {v}"))?;
    }
    Ok(())
}

fn unsupported_version(t: &Target) -> Checked {
    let mut lab = t.lab()?;
    let p = t.add_pod(&mut lab);
    let mut conf = t.conf(&lab, "1.0.0", 0);
    conf["cniVersion"] = "9.9.9".into();
    expect_error(&t.verb(&lab, "ADD", p, &conf), Some(1)).map(drop)
}

fn missing_vars(t: &Target) -> Checked {
    let lab = t.lab()?;
    let conf = t.conf(&lab, t.latest()?, 0);
    let mut failures = Vec::new();
    for (verb, var) in [("ADD", "CNI_CONTAINERID"), ("ADD", "CNI_NETNS"), ("ADD", "CNI_IFNAME"), ("CHECK", "CNI_NETNS")]
    {
        let inv = Invocation::attachment_verb(verb).unset(var).set("CNI_PATH", &t.cni_path).stdin_json(&conf);
        if let Err(crate::Why::Fail(e)) = expect_error(&t.exec(&lab, &inv), Some(4)) {
            failures.push(format!("{verb} without {var}: {e}"));
        }
    }
    ensure(failures.is_empty(), || failures.join("; "))
}

fn unknown_command(t: &Target) -> Checked {
    let lab = t.lab()?;
    let inv = Invocation::attachment_verb("FROB").stdin_json(&t.conf(&lab, t.latest()?, 0));
    expect_error(&t.exec(&lab, &inv), Some(4)).map(drop)
}

fn invalid_ifname(t: &Target) -> Checked {
    let mut lab = t.lab()?;
    let p = t.add_pod(&mut lab);
    let conf = t.conf(&lab, t.latest()?, 0);
    for bad in ["eth/0", "a-name-longer-than-15", ".."] {
        let inv = Invocation::add().attachment(&lab.cid(p), bad).set("CNI_NETNS", &lab.pod(p).path_str());
        let out = t.exec(&lab, &inv.stdin_json(&conf));
        expect_error(&out, None).map_err(|e| prefix(e, &format!("CNI_IFNAME {bad:?}")))?;
    }
    ensure(t.reservations(&lab).is_empty(), || format!("a refused ADD left reservations: {:?}", t.reservations(&lab)))
}

fn invalid_container_id(t: &Target) -> Checked {
    let mut lab = t.lab()?;
    let p = t.add_pod(&mut lab);
    let conf = t.conf(&lab, t.latest()?, 0);
    for bad in ["-leading-dash", "with space", "slash/in/it"] {
        let inv = Invocation::add().attachment(bad, "eth0").set("CNI_NETNS", &lab.pod(p).path_str());
        let out = t.exec(&lab, &inv.stdin_json(&conf));
        expect_error(&out, None).map_err(|e| prefix(e, &format!("CNI_CONTAINERID {bad:?}")))?;
    }
    ensure(t.reservations(&lab).is_empty(), || format!("a refused ADD left reservations: {:?}", t.reservations(&lab)))
}

/// Unknown `CNI_ARGS` keys are refused, unless `IgnoreUnknown` is set.
fn unknown_args(t: &Target) -> Checked {
    if t.is_loopback() {
        return crate::skip(
            "loopback reads no CNI_ARGS (nor does the reference's): it has no key for an unknown one to be refused beside",
        );
    }
    let mut lab = t.lab()?;
    let p = t.add_pod(&mut lab);
    let conf = t.conf(&lab, t.latest()?, 0);
    let add = |args: &str| t.verb_args(&lab, "ADD", p, &conf, Some(args));
    expect_error(&add("FROBNICATE=1"), None).map_err(|e| prefix(e, "CNI_ARGS FROBNICATE=1"))?;
    let ok = add("IgnoreUnknown=1;FROBNICATE=1;K8S_POD_NAME=p");
    let result = ok.check_ok_json().or_else(|e| fail(format!("with IgnoreUnknown=1: {e}")))?;
    t.del(&lab, p, &conf, Some(&result))
}

fn undecodable(t: &Target) -> Checked {
    let mut lab = t.lab()?;
    let p = t.add_pod(&mut lab);
    let inv = Invocation::add().attachment(&lab.cid(p), "eth0").set("CNI_NETNS", &lab.pod(p).path_str());
    expect_error(&t.exec(&lab, &inv.stdin_raw("{ not json")), Some(6)).map(drop)
}

/// A well-formed config with a value the plugin must reject: code 7, the
/// message naming the key, and nothing left behind.
fn invalid_config(t: &Target) -> Checked {
    let mut lab = t.lab()?;
    let p = t.add_pod(&mut lab);
    let mut conf = t.conf(&lab, t.latest()?, 0);
    let (key, bad) = t.profile.invalid;
    merge(&mut conf, &bad());
    let err = expect_error(&t.verb(&lab, "ADD", p, &conf), Some(7))?;
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let text = format!("{} {}", err["msg"], err["details"]);
    ensure(text.contains(leaf), || format!("the error does not name {key}: {err}"))?;
    ensure(t.reservations(&lab).is_empty(), || "a refused ADD left a reservation".into())
}

/// `patch`'s keys over `conf`, recursively for objects.
pub fn merge(conf: &mut serde_json::Value, patch: &serde_json::Value) {
    match (conf, patch) {
        (serde_json::Value::Object(c), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge(c.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (c, p) => *c = p.clone(),
    }
}
