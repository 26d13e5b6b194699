//! The serde `Serializer` behind [`Value::from_serialize`]: it builds a [`Value`] directly.
//!
//! Going through `serde_json::Value` instead would need serde_json's `preserve_order` and
//! `arbitrary_precision` features, and Cargo would turn them on for every user's serde_json.
//! Building the value here keeps struct fields and map entries in order, integers beyond `i64`
//! exact and NaN/Infinity as floats, as Python's `json` holds them. Everything else follows
//! serde_json's `to_value`: enums externally tagged, bytes as a list of ints, `None` as null.

use std::fmt::Display;

use serde::ser::{self, Impossible, Serialize};

use super::{from_str, write_float, ConvertError, Map, Value};

/// Preallocate at most this many items: a size hint comes from the type and may be wrong.
const MAX_PREALLOC: usize = 1024;

/// serde_json's `Number` (with `arbitrary_precision`) and `RawValue` serialize as a struct of
/// this name whose single field, of the same name, holds JSON text; it is parsed, not kept as
/// a dict, so a user's `serde_json::Value` converts right whatever features their build has.
const JSON_TEXT_TOKENS: [&str; 2] = [
    "$serde_json::private::Number",
    "$serde_json::private::RawValue",
];

fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ConvertError> {
    value.serialize(ValueSerializer)
}

/// An `Int` when it fits in 64 bits, else a `BigInt` of the decimal text.
fn int<N: TryInto<i64> + Display + Copy>(n: N) -> Value {
    n.try_into()
        .map_or_else(|_| Value::BigInt(n.to_string()), Value::Int)
}

fn capacity(hint: Option<usize>) -> usize {
    hint.unwrap_or(0).min(MAX_PREALLOC)
}

/// `{"Variant": content}`, serde_json's externally tagged form.
fn tagged(variant: &str, content: Value) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert(variant.to_owned(), content);
    Value::Dict(map)
}

/// Serializes any serde value into a [`Value`].
pub(super) struct ValueSerializer;

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ConvertError;
    type SerializeSeq = ListBuilder;
    type SerializeTuple = ListBuilder;
    type SerializeTupleStruct = ListBuilder;
    type SerializeTupleVariant = VariantListBuilder;
    type SerializeMap = DictBuilder;
    type SerializeStruct = StructBuilder;
    type SerializeStructVariant = VariantStructBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value, ConvertError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ConvertError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ConvertError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ConvertError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ConvertError> {
        Ok(Value::Int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, ConvertError> {
        Ok(int(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ConvertError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ConvertError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ConvertError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ConvertError> {
        Ok(int(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, ConvertError> {
        Ok(int(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ConvertError> {
        Ok(Value::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ConvertError> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, ConvertError> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ConvertError> {
        Ok(Value::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ConvertError> {
        Ok(Value::List(
            v.iter().map(|b| Value::Int(i64::from(*b))).collect(),
        ))
    }
    fn serialize_none(self) -> Result<Value, ConvertError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ConvertError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, ConvertError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ConvertError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, ConvertError> {
        Ok(Value::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, ConvertError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, ConvertError> {
        Ok(tagged(variant, to_value(value)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<ListBuilder, ConvertError> {
        Ok(ListBuilder(Vec::with_capacity(capacity(len))))
    }
    fn serialize_tuple(self, len: usize) -> Result<ListBuilder, ConvertError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<ListBuilder, ConvertError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantListBuilder, ConvertError> {
        Ok(VariantListBuilder {
            variant,
            items: Vec::with_capacity(capacity(Some(len))),
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<DictBuilder, ConvertError> {
        Ok(DictBuilder {
            map: Map::with_capacity(capacity(len)),
            key: None,
        })
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<StructBuilder, ConvertError> {
        Ok(StructBuilder {
            name,
            fields: Map::with_capacity(capacity(Some(len))),
        })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantStructBuilder, ConvertError> {
        Ok(VariantStructBuilder {
            variant,
            fields: Map::with_capacity(capacity(Some(len))),
        })
    }
}

/// A sequence, tuple or tuple struct: a list.
pub(super) struct ListBuilder(Vec<Value>);

impl ser::SerializeSeq for ListBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        self.0.push(to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ConvertError> {
        Ok(Value::List(self.0))
    }
}

impl ser::SerializeTuple for ListBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, ConvertError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for ListBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, ConvertError> {
        ser::SerializeSeq::end(self)
    }
}

/// A tuple variant: `{"Variant": [items]}`.
pub(super) struct VariantListBuilder {
    variant: &'static str,
    items: Vec<Value>,
}

impl ser::SerializeTupleVariant for VariantListBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        self.items.push(to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ConvertError> {
        Ok(tagged(self.variant, Value::List(self.items)))
    }
}

/// A map: a dict in the order the entries come, keys made text by [`KeySerializer`].
pub(super) struct DictBuilder {
    map: Map,
    /// The key given to `serialize_key`, waiting for its value.
    key: Option<String>,
}

impl ser::SerializeMap for DictBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ConvertError> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ConvertError::new("a map value was given before its key"))?;
        self.map.insert(key, to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ConvertError> {
        Ok(Value::Dict(self.map))
    }
}

/// A struct: a dict of its fields in declaration order.
pub(super) struct StructBuilder {
    name: &'static str,
    fields: Map,
}

impl ser::SerializeStruct for StructBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ConvertError> {
        self.fields.insert(key.to_owned(), to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ConvertError> {
        if JSON_TEXT_TOKENS.contains(&self.name) {
            if let (1, Some(Value::Str(text))) = (self.fields.len(), self.fields.get(self.name)) {
                return from_str(text).map_err(|e| {
                    ConvertError::new(format!("{} holds invalid JSON: {e}", self.name))
                });
            }
        }
        Ok(Value::Dict(self.fields))
    }
}

/// A struct variant: `{"Variant": {fields}}`.
pub(super) struct VariantStructBuilder {
    variant: &'static str,
    fields: Map,
}

impl ser::SerializeStructVariant for VariantStructBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ConvertError> {
        self.fields.insert(key.to_owned(), to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ConvertError> {
        Ok(tagged(self.variant, Value::Dict(self.fields)))
    }
}

fn key_error(what: &str) -> ConvertError {
    ConvertError::new(format!(
        "a map key must be a string, number, bool or char, not {what}"
    ))
}

/// Turns a map key into the text JSON needs. Strings, chars, integers and bools become their
/// text as serde_json makes them; floats become Python's `repr` (`1e+16`, `NaN`), as Python's
/// `json.dumps` writes a float key; a unit variant is its name. Anything else is an error.
struct KeySerializer;

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = ConvertError;
    type SerializeSeq = Impossible<String, ConvertError>;
    type SerializeTuple = Impossible<String, ConvertError>;
    type SerializeTupleStruct = Impossible<String, ConvertError>;
    type SerializeTupleVariant = Impossible<String, ConvertError>;
    type SerializeMap = Impossible<String, ConvertError>;
    type SerializeStruct = Impossible<String, ConvertError>;
    type SerializeStructVariant = Impossible<String, ConvertError>;

    fn serialize_bool(self, v: bool) -> Result<String, ConvertError> {
        Ok(if v { "true" } else { "false" }.to_owned())
    }
    fn serialize_i8(self, v: i8) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, v: f32) -> Result<String, ConvertError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<String, ConvertError> {
        let mut out = String::new();
        write_float(&mut out, v);
        Ok(out)
    }
    fn serialize_char(self, v: char) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, ConvertError> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, ConvertError> {
        Err(key_error("bytes"))
    }
    fn serialize_none(self) -> Result<String, ConvertError> {
        Err(key_error("None"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, ConvertError> {
        Err(key_error("an Option"))
    }
    fn serialize_unit(self) -> Result<String, ConvertError> {
        Err(key_error("()"))
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<String, ConvertError> {
        Err(key_error(&format!("the unit struct {name}")))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, ConvertError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, ConvertError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> Result<String, ConvertError> {
        Err(key_error(&format!("the variant {name}::{variant}")))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, ConvertError> {
        Err(key_error("a sequence"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, ConvertError> {
        Err(key_error("a tuple"))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, ConvertError> {
        Err(key_error(&format!("the tuple struct {name}")))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, ConvertError> {
        Err(key_error(&format!("the variant {name}::{variant}")))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, ConvertError> {
        Err(key_error("a map"))
    }
    fn serialize_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, ConvertError> {
        Err(key_error(&format!("the struct {name}")))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, ConvertError> {
        Err(key_error(&format!("the variant {name}::{variant}")))
    }
}
