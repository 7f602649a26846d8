//! Decode JSON into serde types the way Go's `encoding/json` does.
//!
//! Real CNI configs rely on Go's rules: object keys match struct fields
//! case-insensitively (an exact match wins), a later duplicate key overwrites an
//! earlier one, and `null` leaves a field at its default. serde matches keys
//! exactly, so [`decode`] walks a `serde_json::Value` through a deserializer that
//! folds each object key onto the field list serde asks for. Errors carry the
//! path of the offending field (`ipam.ranges[0][0].subnet`) thanks to
//! `serde_path_to_error`.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A decoding failure: the dotted path of the field and serde's message.
#[derive(Debug)]
pub struct DecodeError {
    pub path: String,
    pub msg: String,
}

/// Decode `value` into `T` with Go's key matching. `root` prefixes the error path.
pub fn decode<T: DeserializeOwned>(value: Value, root: &str) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(GoValue(value)).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (root.is_empty(), inner.as_str()) {
            (true, _) => inner.clone(),
            (false, ".") => root.to_string(),
            (false, _) if inner.starts_with('[') => format!("{root}{inner}"),
            (false, _) => format!("{root}.{inner}"),
        };
        DecodeError { path, msg: e.into_inner().to_string() }
    })
}

/// Rename `map`'s keys to the struct's field names, Go style, dropping nulls.
fn fold_keys(map: Map<String, Value>, fields: &[&str]) -> Map<String, Value> {
    let mut out = Map::with_capacity(map.len());
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        let name = if fields.contains(&key.as_str()) {
            key
        } else {
            match fields.iter().find(|f| f.eq_ignore_ascii_case(&key)) {
                Some(f) => (*f).to_string(),
                None => key,
            }
        };
        // Go assigns keys in document order, so the last spelling wins.
        out.shift_remove(&name);
        out.insert(name, value);
    }
    out
}

struct GoValue(Value);

impl<'de> IntoDeserializer<'de, serde_json::Error> for GoValue {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

struct GoMap {
    iter: serde_json::map::IntoIter,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for GoMap {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(Value::String(k)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let v = self.value.take().ok_or_else(|| de::Error::custom("value is missing"))?;
        seed.deserialize(GoValue(v))
    }
}

struct GoSeq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for GoSeq {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|v| seed.deserialize(GoValue(v))).transpose()
    }
}

fn visit_map<'de, V: Visitor<'de>>(map: Map<String, Value>, visitor: V) -> Result<V::Value, serde_json::Error> {
    visitor.visit_map(GoMap { iter: map.into_iter(), value: None })
}

macro_rules! forward_to_value {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for GoValue {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visit_map(map, visitor),
            Value::Array(items) => visitor.visit_seq(GoSeq(items.into_iter())),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visit_map(fold_keys(map, fields), visitor),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visit_map(map, visitor),
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(GoSeq(items.into_iter())),
            other => other.deserialize_seq(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(GoValue(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    forward_to_value! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32 deserialize_f64
        deserialize_char deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_unit deserialize_identifier deserialize_ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct Inner {
        #[serde(rename = "rangeStart")]
        range_start: String,
    }

    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct Conf {
        #[serde(rename = "cniVersion")]
        cni_version: String,
        mtu: u32,
        ranges: Vec<Vec<Inner>>,
        inner: Option<Inner>,
    }

    #[test]
    fn keys_match_case_insensitively() {
        let c: Conf = decode(
            json!({"CNIVERSION": "1.0.0", "MTU": 9000, "Ranges": [[{"rangestart": "a"}]], "INNER": {"RANGESTART": "b"}}),
            "",
        )
        .unwrap();
        assert_eq!(c.cni_version, "1.0.0");
        assert_eq!(c.mtu, 9000);
        assert_eq!(c.ranges[0][0].range_start, "a");
        assert_eq!(c.inner.unwrap().range_start, "b");
    }

    #[test]
    fn later_duplicate_wins_and_null_is_absent() {
        let c: Conf = decode(json!({"mtu": 1, "MTU": 2, "cniVersion": null}), "").unwrap();
        assert_eq!(c.mtu, 2);
        assert_eq!(c.cni_version, "");
    }

    #[test]
    fn errors_carry_the_field_path() {
        let e = decode::<Conf>(json!({"ranges": [[{"rangeStart": 5}]]}), "ipam").unwrap_err();
        assert_eq!(e.path, "ipam.ranges[0][0].rangeStart");
        assert!(e.msg.contains("invalid type"), "{}", e.msg);
        let e = decode::<Conf>(json!({"mtu": -1}), "").unwrap_err();
        assert_eq!(e.path, "mtu");
    }
}
