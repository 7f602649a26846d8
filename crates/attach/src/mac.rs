//! The MAC a created pod link gets, for the plugins whose reference reads
//! no `args.cni.mac` (macvlan, tap).

use cni::{Error, Request};

/// The reference macvlan's and tap's precedence: `runtimeConfig.mac` over
/// `CNI_ARGS MAC` over the config's `mac`. A bad value is code 7 naming
/// the field it came from.
pub fn requested_or_configured_mac(req: &Request, conf_mac: &str) -> Result<Option<Vec<u8>>, Error> {
    let chosen = req
        .conf
        .runtime_config
        .mac
        .clone()
        .map(|m| (m, "runtimeConfig.mac"))
        .or_else(|| req.args.get("MAC").map(|m| (m.to_string(), "CNI_ARGS MAC")))
        .or_else(|| (!conf_mac.is_empty()).then(|| (conf_mac.to_string(), "mac")));
    match chosen {
        None => Ok(None),
        Some((raw, field)) => netlink::parse_mac(&raw)
            .map(Some)
            .ok_or_else(|| Error::config(field, format!("{raw:?} is not a MAC address"))),
    }
}
