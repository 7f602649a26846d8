//! VRF devices and dummy links: creation, and taking a link out of its master.

use crate::{Error, Netlink};
use rtnetlink::{LinkDummy, LinkUnspec, LinkVrf};

impl Netlink {
    /// Create VRF `name` on routing table `table`; EEXIST comes back as an error with that errno.
    pub async fn add_vrf(&self, name: &str, table: u32) -> Result<(), Error> {
        self.add_link(LinkVrf::new(name, table).build(), &format!("creating VRF {name} (table {table})")).await
    }

    /// Create a dummy link, directly in the namespace of `ns_fd` when given.
    pub async fn add_dummy(&self, name: &str, ns_fd: Option<std::os::fd::RawFd>) -> Result<(), Error> {
        let mut b = LinkDummy::new(name);
        if let Some(fd) = ns_fd {
            b = b.setns_by_fd(fd);
        }
        self.add_link(b.build(), &format!("creating dummy link {name}")).await
    }

    /// Wait until `table` has a route to exactly `dst` (the local route the
    /// kernel adds for an address), polling with a doubling pause from
    /// 10 ms, as the reference vrf plugin does, 8 times at most.
    pub async fn wait_route(&self, dst: ipnetwork::IpNetwork, table: u32) -> Result<bool, Error> {
        let mut pause = std::time::Duration::from_millis(10);
        for _ in 0..8 {
            let routes = self.routes(dst.is_ipv4(), Some(table)).await?;
            if routes.iter().any(|r| r.dst == Some(dst)) {
                return Ok(true);
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        Ok(false)
    }

    /// Take link `index` out of its master (bridge, VRF, bond).
    pub async fn set_nomaster(&self, index: u32) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(index).nocontroller().build();
        self.set_link(msg, &format!("releasing link #{index} from its master")).await
    }
}
