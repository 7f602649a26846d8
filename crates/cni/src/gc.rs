//! GC's input: the attachments the runtime still considers valid.

use crate::{Error, Request};
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
struct GcArgs {
    #[serde(rename = "cni.dev/valid-attachments")]
    valid: Option<Vec<Attachment>>,
    /// The name before the spec renamed it; libcni sends both.
    #[serde(rename = "cni.dev/attachments")]
    legacy: Option<Vec<Attachment>>,
}

/// One still-valid attachment.
#[derive(Deserialize, Default, Debug, Clone, PartialEq, Eq, Hash)]
#[serde(default)]
pub struct Attachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

/// The valid attachments, or `None` if the runtime sent neither key (then
/// nothing may be collected: a missing list is not an empty one).
pub fn valid_attachments(req: &Request) -> Result<Option<Vec<Attachment>>, Error> {
    let args: GcArgs = req.decode()?;
    Ok(args.valid.or(args.legacy))
}
