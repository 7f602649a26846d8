//! Spec versions this crate speaks, and comparisons between them.

use crate::Error;

/// Every version railcni plugins accept, oldest first.
pub const SUPPORTED: [&str; 7] = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The version railcni implements natively.
pub const CURRENT: &str = "1.1.0";

/// A config without `cniVersion` is 0.1.0, as libcni decodes it.
pub const IMPLICIT: &str = "0.1.0";

/// A parsed `major.minor.patch`, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    pub const V0_1_0: Version = Version(0, 1, 0);
    pub const V0_3_0: Version = Version(0, 3, 0);
    pub const V0_4_0: Version = Version(0, 4, 0);
    pub const V1_0_0: Version = Version(1, 0, 0);
    pub const V1_1_0: Version = Version(1, 1, 0);

    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = s.split('.').map(|p| p.parse::<u32>().ok());
        let v = Version(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(v)
    }

    /// The version of a config, which must be one railcni supports exactly.
    pub fn supported(s: &str) -> Result<Version, Error> {
        match Version::parse(s) {
            Some(v) if SUPPORTED.contains(&s) => Ok(v),
            _ => Err(Error::IncompatibleVersion {
                field: "cniVersion".into(),
                msg: format!("{s:?} is not supported; supported versions are {}", SUPPORTED.join(", ")),
            }),
        }
    }

    /// Refuse a verb that the config's version does not have (CHECK < 0.4.0, GC/STATUS < 1.1.0).
    pub fn require(self, min: Version, verb: &str) -> Result<(), Error> {
        if self >= min {
            return Ok(());
        }
        Err(Error::IncompatibleVersion {
            field: "cniVersion".into(),
            msg: format!("{verb} needs cniVersion {min} or later, config has {self}"),
        })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        assert!(Version::parse("0.3.1").unwrap() < Version::V0_4_0);
        assert!(Version::parse("1.1.0").unwrap() > Version::V1_0_0);
        assert_eq!(Version::parse("1.0"), None);
        assert_eq!(Version::parse("1.0.0.0"), None);
        assert_eq!(Version::parse("a.b.c"), None);
    }

    #[test]
    fn only_listed_versions_are_supported() {
        assert!(Version::supported("0.3.1").is_ok());
        let e = Version::supported("0.5.0").unwrap_err();
        assert_eq!(e.code(), 1);
        assert!(e.to_string().contains("cniVersion"));
    }
}
