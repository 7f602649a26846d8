//! The backup of what ADD changes, one file per attachment
//! (`<dataDir>/<containerID>_<ifname>.json`, the reference's name and
//! keys, so DEL also restores an attachment the reference tuning made).
//! railcni adds the sysctls' old values (`Sysctl`). It is written, atomic
//! and durable (`cni::statefile::AttachmentFile`), before anything
//! changes, so DEL can undo a killed ADD.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Backup {
    #[serde(rename = "Mac", skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(rename = "Promisc", skip_serializing_if = "Option::is_none")]
    pub promisc: Option<bool>,
    #[serde(rename = "Mtu", skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(rename = "Allmulti", skip_serializing_if = "Option::is_none")]
    pub allmulti: Option<bool>,
    #[serde(rename = "TxQLen", skip_serializing_if = "Option::is_none")]
    pub txqlen: Option<u32>,
    /// Slash path below `/proc/sys` and the value it had.
    #[serde(rename = "Sysctl", skip_serializing_if = "Vec::is_empty")]
    pub sysctls: Vec<(String, String)>,
}

impl Backup {
    pub fn is_empty(&self) -> bool {
        *self == Backup::default()
    }

    /// Keep the values `older` saved: a retried ADD after a killed one sees
    /// its own changes, and must not take them for the originals.
    pub fn keep_older(mut self, older: Backup) -> Backup {
        self.mac = older.mac.or(self.mac);
        self.promisc = older.promisc.or(self.promisc);
        self.mtu = older.mtu.or(self.mtu);
        self.allmulti = older.allmulti.or(self.allmulti);
        self.txqlen = older.txqlen.or(self.txqlen);
        for (path, value) in older.sysctls {
            match self.sysctls.iter_mut().find(|(p, _)| *p == path) {
                Some(saved) => saved.1 = value,
                None => self.sysctls.push((path, value)),
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_values_win_and_the_reference_layout_reads() {
        let older = Backup { mtu: Some(1500), sysctls: vec![("net/a".into(), "0".into())], ..Backup::default() };
        let newer = Backup {
            mtu: Some(9000),
            txqlen: Some(1000),
            sysctls: vec![("net/a".into(), "1".into()), ("net/b".into(), "2".into())],
            ..Backup::default()
        };
        let merged = newer.keep_older(older);
        assert_eq!(merged.mtu, Some(1500));
        assert_eq!(merged.txqlen, Some(1000));
        assert_eq!(merged.sysctls, [("net/a".to_string(), "0".to_string()), ("net/b".into(), "2".into())]);
        let reference: Backup =
            cni::config::decode_conf(serde_json::json!({"Mac": "aa:bb:cc:dd:ee:ff", "Promisc": false}), "").unwrap();
        assert_eq!(reference.mac.as_deref(), Some("aa:bb:cc:dd:ee:ff"));
        assert_eq!(reference.promisc, Some(false));
    }
}
