//! A sanity check of a network config before it goes into the node's config
//! dir: the runtime picks the first file there by name, so a broken one
//! would take the node's pod networking down. The plugins check the rest.

use serde_json::Value;

/// `bytes` must be a JSON object with `cniVersion` and `name`, and either a
/// non-empty `plugins` list of objects with a `type` (`.conflist`) or a
/// `type` of its own (`.conf`, `.json`).
pub fn check(bytes: &[u8]) -> Result<(), String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    for key in ["cniVersion", "name"] {
        if obj.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(format!("{key} is missing or not a string"));
        }
    }
    let has_type = |p: &Value| p.get("type").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
    match obj.get("plugins") {
        Some(Value::Array(list)) if !list.is_empty() => match list.iter().position(|p| !has_type(p)) {
            Some(i) => Err(format!("plugins[{i}].type is missing")),
            None => Ok(()),
        },
        Some(_) => Err("plugins must be a non-empty list".to_string()),
        None if has_type(&v) => Ok(()),
        None => Err("neither plugins nor type is set".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_conflist_and_conf() {
        check(br#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"}]}"#).unwrap();
        check(br#"{"cniVersion":"1.0.0","name":"n","type":"macvlan"}"#).unwrap();
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(check(b"{").unwrap_err().starts_with("not JSON"));
        assert_eq!(check(b"[]").unwrap_err(), "not a JSON object");
        assert_eq!(check(br#"{"name":"n","type":"x"}"#).unwrap_err(), "cniVersion is missing or not a string");
        assert_eq!(
            check(br#"{"cniVersion":"1.0.0","name":"n","plugins":[]}"#).unwrap_err(),
            "plugins must be a non-empty list"
        );
        assert_eq!(
            check(br#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"a"},{}]}"#).unwrap_err(),
            "plugins[1].type is missing"
        );
        assert_eq!(check(br#"{"cniVersion":"1.0.0","name":"n"}"#).unwrap_err(), "neither plugins nor type is set");
    }
}
