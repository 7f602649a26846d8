//! The static IPAM plugin: hands out the addresses the config or the runtime names.

use cni::net::{parse_cidr, parse_ip};
use cni::result::{Dns, Route};
use cni::version::Version;
use cni::{CniResult, Error, IpConfig, Plugin, Request, code};
use ipnetwork::IpNetwork;
use serde::Deserialize;
use std::net::IpAddr;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Net {
    ipam: Option<StaticConf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StaticConf {
    addresses: Vec<AddressConf>,
    routes: Vec<Route>,
    dns: Dns,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AddressConf {
    address: String,
    gateway: String,
}

/// One address with the field it came from.
struct Address {
    cidr: IpNetwork,
    gateway: Option<IpAddr>,
}

pub struct Static;

impl Plugin for Static {
    fn about(&self) -> &'static str {
        "railcni static IPAM: returns the configured addresses, routes and DNS"
    }

    fn known_args(&self) -> &'static [&'static str] {
        &["IP", "GATEWAY"]
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error> {
        let (addresses, conf) = load(req)?;
        let ips =
            addresses.into_iter().map(|a| IpConfig { address: a.cidr, gateway: a.gateway, interface: None }).collect();
        // Routes are copied as given, so ECMP (one dst, several gw) survives.
        Ok(CniResult { ips, routes: conf.routes, dns: conf.dns, ..CniResult::default() })
    }

    /// static keeps no state.
    fn del(&self, req: &Request) -> Result<(), Error> {
        load(req).map(|_| ())
    }

    /// Nothing to collect: static keeps no state.
    fn gc(&self, _req: &Request) -> Result<(), Error> {
        Ok(())
    }

    /// Always available: static needs nothing to hand out its addresses.
    fn status(&self, _req: &Request) -> Result<(), Error> {
        Ok(())
    }

    fn check(&self, req: &Request) -> Result<(), Error> {
        let (addresses, _) = load(req)?;
        let prev = req.require_prev_result()?;
        for a in addresses {
            let found = prev.ips.iter().find(|ip| ip.address.ip() == a.cidr.ip());
            match found {
                Some(ip) if a.gateway.is_none() || ip.gateway == a.gateway => {}
                Some(ip) => {
                    return Err(Error::plugin(
                        code::CHECK_FAILED,
                        format!(
                            "address {} has gateway {:?} in prevResult, expected {:?}",
                            a.cidr, ip.gateway, a.gateway
                        ),
                    ));
                }
                None => {
                    return Err(Error::plugin(
                        code::CHECK_FAILED,
                        format!("address {} is missing from prevResult", a.cidr),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The effective addresses, with the reference's precedence: `CNI_ARGS IP`
/// (with `GATEWAY`) adds to `ipam.addresses`, `args.cni.ips` replaces them,
/// and `runtimeConfig.ips` replaces those.
fn load(req: &Request) -> Result<(Vec<Address>, StaticConf), Error> {
    let net: Net = req.decode()?;
    let mut conf = net.ipam.ok_or_else(|| Error::config("ipam", "missing"))?;
    let mut addresses = Vec::new();
    for (i, a) in conf.addresses.iter().enumerate() {
        let at = format!("ipam.addresses[{i}]");
        if a.address.is_empty() {
            return Err(Error::config(format!("{at}.address"), "missing"));
        }
        let gateway = match a.gateway.as_str() {
            "" => None,
            raw => Some(
                parse_ip(raw)
                    .ok_or_else(|| Error::config(format!("{at}.gateway"), format!("{raw:?} is not an IP address")))?,
            ),
        };
        addresses.push(Address { cidr: cidr(&a.address, &format!("{at}.address"))?, gateway });
    }
    if let Some(list) = req.args.get("IP") {
        for item in list.split(',').map(str::trim) {
            let cidr = parse_cidr(item).ok_or_else(|| Error::env("CNI_ARGS", format!("IP={item:?} is not a CIDR")))?;
            addresses.push(Address { cidr, gateway: None });
        }
        if let Some(gws) = req.args.get("GATEWAY") {
            for item in gws.split(',').map(str::trim) {
                let gw = parse_ip(item)
                    .ok_or_else(|| Error::env("CNI_ARGS", format!("GATEWAY={item:?} is not an IP address")))?;
                for a in addresses.iter_mut().filter(|a| a.cidr.contains(gw)) {
                    a.gateway = Some(gw);
                }
            }
        }
    }
    for (field, list) in [("args.cni.ips", &req.conf.args.cni.ips), ("runtimeConfig.ips", &req.conf.runtime_config.ips)]
    {
        if !list.is_empty() {
            addresses = list
                .iter()
                .enumerate()
                .map(|(i, raw)| Ok(Address { cidr: cidr(raw, &format!("{field}[{i}]"))?, gateway: None }))
                .collect::<Result<_, Error>>()?;
        }
    }
    if addresses.is_empty() {
        return Err(Error::config(
            "ipam.addresses",
            "no addresses configured (and none given by CNI_ARGS IP, args.cni.ips or runtimeConfig.ips)",
        ));
    }
    let per_family = |v4: bool| addresses.iter().filter(|a| a.cidr.is_ipv4() == v4).count();
    if (per_family(true) > 1 || per_family(false) > 1) && req.version < Version::V0_3_0 {
        return Err(Error::config(
            "cniVersion",
            format!("{} does not support more than one address per family; use 0.3.0 or later", req.version),
        ));
    }
    conf.addresses.clear();
    Ok((addresses, conf))
}

fn cidr(raw: &str, field: &str) -> Result<IpNetwork, Error> {
    parse_cidr(raw).ok_or_else(|| Error::config(field, format!("{raw:?} is not in CIDR notation, such as 10.0.0.5/24")))
}
