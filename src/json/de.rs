//! The serde `Deserializer` behind [`Value::to_deserialize`], reading a borrowed [`Value`].
//!
//! It follows serde_json's deserializer for `&serde_json::Value`, so types read a [`Value`]
//! as they read JSON: numbers convert across widths where they fit, an enum is a string or a
//! single-key dict, `null` is `None`, and `deserialize_any` (used by internally tagged and
//! untagged enums and by `flatten`) visits each variant as its own kind. Strings and keys are
//! lent, not copied, so a type that borrows (`&str` fields) can read a `&Value` too.

use indexmap::map::Iter as DictIter;
use serde::de::{
    self, DeserializeSeed, EnumAccess, Expected, MapAccess, SeqAccess, Unexpected, VariantAccess,
    Visitor,
};
use serde::forward_to_deserialize_any;

use super::{ConvertError, Map, Value};

/// `invalid type: <what v is>, expected <exp>`, the error serde_json gives.
fn invalid_type(v: &Value, exp: &dyn Expected) -> ConvertError {
    let unexpected = match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Int(i) => Unexpected::Signed(*i),
        Value::BigInt(s) => {
            return ConvertError::new(format!("invalid type: integer `{s}`, expected {exp}"))
        }
        Value::Float(f) => Unexpected::Float(*f),
        Value::Str(s) => Unexpected::Str(s),
        Value::Utf16(_) => Unexpected::Other("string"),
        Value::List(_) => Unexpected::Seq,
        Value::Dict(_) => Unexpected::Map,
    };
    de::Error::invalid_type(unexpected, exp)
}

/// An `Int` as serde_json visits a JSON integer: `u64` when not negative, else `i64`.
fn visit_int<'de, V: Visitor<'de>>(i: i64, visitor: V) -> Result<V::Value, ConvertError> {
    match u64::try_from(i) {
        Ok(u) => visitor.visit_u64(u),
        Err(_) => visitor.visit_i64(i),
    }
}

/// A `BigInt` as the narrowest integer that holds it. 64 bits come first because serde's
/// buffering for tagged and untagged enums and `flatten` cannot hold 128-bit integers.
fn visit_big<'de, V: Visitor<'de>>(s: &str, visitor: V) -> Result<V::Value, ConvertError> {
    if let Ok(u) = s.parse::<u64>() {
        visitor.visit_u64(u)
    } else if let Ok(i) = s.parse::<i64>() {
        visitor.visit_i64(i)
    } else if let Ok(u) = s.parse::<u128>() {
        visitor.visit_u128(u)
    } else if let Ok(i) = s.parse::<i128>() {
        visitor.visit_i128(i)
    } else {
        Err(big_error(s))
    }
}

/// Optional `-` then ASCII digits: what a `BigInt` should hold.
fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn big_error(s: &str) -> ConvertError {
    if is_decimal(s) {
        ConvertError::new(format!(
            "integer `{s}` is too large: Rust integers hold at most 128 bits"
        ))
    } else {
        ConvertError::new(format!("BigInt {s:?} is not a decimal integer"))
    }
}

/// A `BigInt` read as a float, as Python's `float(int)` does (which fails past `f64::MAX`).
fn big_to_f64(s: &str) -> Result<f64, ConvertError> {
    match s.parse::<f64>() {
        Ok(f) if is_decimal(s) && f.is_finite() => Ok(f),
        Ok(_) if is_decimal(s) => Err(ConvertError::new(format!(
            "integer `{s}` is too large to convert to a float"
        ))),
        _ => Err(big_error(s)),
    }
}

fn visit_list<'de, V: Visitor<'de>>(
    list: &'de [Value],
    visitor: V,
) -> Result<V::Value, ConvertError> {
    let mut access = ListAccess { iter: list.iter() };
    let out = visitor.visit_seq(&mut access)?;
    if access.iter.len() == 0 {
        Ok(out)
    } else {
        Err(de::Error::invalid_length(
            list.len(),
            &"fewer elements in array",
        ))
    }
}

fn visit_dict<'de, V: Visitor<'de>>(dict: &'de Map, visitor: V) -> Result<V::Value, ConvertError> {
    let mut access = DictAccess {
        iter: dict.iter(),
        value: None,
    };
    let out = visitor.visit_map(&mut access)?;
    if access.iter.len() == 0 {
        Ok(out)
    } else {
        Err(de::Error::invalid_length(
            dict.len(),
            &"fewer elements in map",
        ))
    }
}

/// The typed number methods: a number goes the `deserialize_any` way and the primitive
/// visitor converts or refuses it (`300` for a `u8`); anything else is the wrong type.
macro_rules! deserialize_number {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
            match self {
                Value::Int(_) | Value::BigInt(_) | Value::Float(_) => self.deserialize_any(visitor),
                _ => Err(invalid_type(self, &visitor)),
            }
        }
    )*};
}

/// As [`deserialize_number!`], for targets of at most 64 bits: a `BigInt` beyond 64 bits is
/// refused as out of range for the target (`expected u64`) without trying 128 bits.
macro_rules! deserialize_narrow {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
            match self {
                Value::BigInt(s)
                    if s.parse::<i64>().is_err() && s.parse::<u64>().is_err() && is_decimal(s) =>
                {
                    let shown = format!("integer `{s}`");
                    Err(de::Error::invalid_value(Unexpected::Other(&shown), &visitor))
                }
                Value::Int(_) | Value::BigInt(_) | Value::Float(_) => self.deserialize_any(visitor),
                _ => Err(invalid_type(self, &visitor)),
            }
        }
    )*};
}

/// Float targets also take a `BigInt` of any size, rounded, as Python's `float()` would.
macro_rules! deserialize_float {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
            match self {
                Value::BigInt(s) => visitor.visit_f64(big_to_f64(s)?),
                Value::Int(_) | Value::Float(_) => self.deserialize_any(visitor),
                _ => Err(invalid_type(self, &visitor)),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &'de Value {
    type Error = ConvertError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visit_int(*i, visitor),
            Value::BigInt(s) => visit_big(s, visitor),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Utf16(units) => visitor.visit_string(String::from_utf16_lossy(units)),
            Value::List(l) => visit_list(l, visitor),
            Value::Dict(d) => visit_dict(d, visitor),
        }
    }

    deserialize_narrow! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
    }
    deserialize_number! { deserialize_i128 deserialize_u128 }
    deserialize_float! { deserialize_f32 deserialize_f64 }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self {
            Value::Bool(b) => visitor.visit_bool(*b),
            _ => Err(invalid_type(self, &visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self {
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Utf16(units) => visitor.visit_string(String::from_utf16_lossy(units)),
            _ => Err(invalid_type(self, &visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        self.deserialize_str(visitor)
    }

    /// Bytes are a string or a list of ints (how they serialize), as in serde_json.
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self {
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Utf16(units) => visitor.visit_string(String::from_utf16_lossy(units)),
            Value::List(l) => visit_list(l, visitor),
            _ => Err(invalid_type(self, &visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self {
            Value::Null => visitor.visit_unit(),
            _ => Err(invalid_type(self, &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self {
            Value::List(l) => visit_list(l, visitor),
            _ => Err(invalid_type(self, &visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self {
            Value::Dict(d) => visit_dict(d, visitor),
            _ => Err(invalid_type(self, &visitor)),
        }
    }

    /// A struct is a dict of its fields, or a list of them in order (serde_json takes both).
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        match self {
            Value::Dict(d) => visit_dict(d, visitor),
            Value::List(l) => visit_list(l, visitor),
            _ => Err(invalid_type(self, &visitor)),
        }
    }

    /// A unit variant is its name; any other variant is `{"Variant": content}`.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        match self {
            Value::Str(variant) => visitor.visit_enum(EnumRef {
                variant,
                content: None,
            }),
            Value::Dict(d) => {
                let mut entries = d.iter();
                match (entries.next(), entries.next()) {
                    (Some((variant, content)), None) => visitor.visit_enum(EnumRef {
                        variant,
                        content: Some(content),
                    }),
                    _ => Err(de::Error::invalid_value(
                        Unexpected::Map,
                        &"map with a single key",
                    )),
                }
            }
            _ => Err(invalid_type(self, &"string or map")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        visitor.visit_unit()
    }
}

/// The items of a list, lent one by one.
struct ListAccess<'de> {
    iter: std::slice::Iter<'de, Value>,
}

impl<'de> SeqAccess<'de> for ListAccess<'de> {
    type Error = ConvertError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ConvertError> {
        self.iter.next().map(|v| seed.deserialize(v)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// The entries of a dict, in order; keys go through [`KeyDeserializer`].
struct DictAccess<'de> {
    iter: DictIter<'de, String, Value>,
    /// The value of the key just read.
    value: Option<&'de Value>,
}

impl<'de> MapAccess<'de> for DictAccess<'de> {
    type Error = ConvertError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ConvertError> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(KeyDeserializer { key }).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, ConvertError> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(ConvertError::new(
                "a map value was asked for before its key",
            )),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// An enum: the variant's name and, unless it is a unit variant, its content.
struct EnumRef<'de> {
    variant: &'de str,
    content: Option<&'de Value>,
}

impl<'de> EnumAccess<'de> for EnumRef<'de> {
    type Error = ConvertError;
    type Variant = VariantRef<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantRef<'de>), ConvertError> {
        let key = KeyDeserializer { key: self.variant };
        let variant = seed.deserialize(key)?;
        Ok((
            variant,
            VariantRef {
                content: self.content,
            },
        ))
    }
}

struct VariantRef<'de> {
    content: Option<&'de Value>,
}

impl<'de> VariantAccess<'de> for VariantRef<'de> {
    type Error = ConvertError;

    fn unit_variant(self) -> Result<(), ConvertError> {
        match self.content {
            None | Some(Value::Null) => Ok(()),
            Some(other) => Err(invalid_type(other, &"unit variant")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ConvertError> {
        match self.content {
            Some(content) => seed.deserialize(content),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        match self.content {
            Some(Value::List(l)) => visit_list(l, visitor),
            Some(other) => Err(invalid_type(other, &"tuple variant")),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        match self.content {
            Some(Value::Dict(d)) => visit_dict(d, visitor),
            Some(other) => Err(invalid_type(other, &"struct variant")),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}

/// Integer map keys are parsed from the key's text, as serde_json does; a key that does not
/// parse is refused as the string it is.
macro_rules! deserialize_key_number {
    ($($method:ident => $ty:ty, $visit:ident;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
            match self.key.parse::<$ty>() {
                Ok(n) => visitor.$visit(n),
                Err(_) => Err(de::Error::invalid_type(Unexpected::Str(self.key), &visitor)),
            }
        }
    )*};
}

/// A dict key or a variant name: text that may stand for a number, bool or unit variant.
struct KeyDeserializer<'de> {
    key: &'de str,
}

impl<'de> de::Deserializer<'de> for KeyDeserializer<'de> {
    type Error = ConvertError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        visitor.visit_borrowed_str(self.key)
    }

    deserialize_key_number! {
        deserialize_i8 => i64, visit_i64;
        deserialize_i16 => i64, visit_i64;
        deserialize_i32 => i64, visit_i64;
        deserialize_i64 => i64, visit_i64;
        deserialize_i128 => i128, visit_i128;
        deserialize_u8 => u64, visit_u64;
        deserialize_u16 => u64, visit_u64;
        deserialize_u32 => u64, visit_u64;
        deserialize_u64 => u64, visit_u64;
        deserialize_u128 => u128, visit_u128;
        // Also reads the `NaN`, `Infinity` and `1e+16` that float keys are written as.
        deserialize_f32 => f64, visit_f64;
        deserialize_f64 => f64, visit_f64;
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.key {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => Err(de::Error::invalid_type(Unexpected::Str(self.key), &visitor)),
        }
    }

    /// A key is never null.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        visitor.visit_newtype_struct(self)
    }

    /// An enum key is a unit variant's name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        visitor.visit_enum(EnumRef {
            variant: self.key,
            content: None,
        })
    }

    forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}
