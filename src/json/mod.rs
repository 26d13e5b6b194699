//! JSON exactly as Django's `JSONSerializer` writes and reads it.
//!
//! Signatures cover the serialized bytes, so tessera cannot use serde_json's output: Python
//! escapes every non-ASCII character (`\u00e9`, surrogate pairs above U+FFFF), spells floats
//! with `repr` (`1e+16`, `1e-05`, `100.0`), keeps integers exact at any size, keeps dict
//! insertion order, and reads the bytes as latin-1 with `NaN`/`Infinity` accepted. [`Value`]
//! holds what Python's `json` module can hold; it converts to and from any serde type
//! ([`Value::from_serialize`], [`Value::to_deserialize`]) through a serializer and deserializer
//! of its own, not serde_json, whose order and precision features would change every user's
//! serde_json with it.
//!
//! ```
//! use tessera::json::{self, Value};
//! let v: Value = json::from_slice(br#"{"b":1,"a":[1.0,1e16,"h\u00e9"]}"#).unwrap();
//! assert_eq!(json::to_string(&v), r#"{"b":1,"a":[1.0,1e+16,"h\u00e9"]}"#);
//! ```

use std::fmt::{self, Write as _};

use serde::de::{DeserializeOwned, Expected, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod de;
mod map;
mod scan;
mod ser;

pub use map::{IndexedMap, Map, MapHasher};

/// A value as Python's `json` module holds it.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// `null` (`None`).
    #[default]
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// An integer beyond 64 bits, as canonical decimal text (Python ints are unbounded).
    BigInt(String),
    /// A float, including NaN and the infinities that Python writes as `NaN`/`Infinity`.
    Float(f64),
    /// A string.
    Str(String),
    /// A string holding a lone UTF-16 surrogate (`"\ud800x"`), which Python's `str` allows and
    /// Rust's `String` cannot: its UTF-16 code units, so a value Django wrote is written back
    /// with the same bytes. Only the parser makes one; [`Value::as_str`] skips it, serde reads it
    /// with U+FFFD in place of each lone surrogate ([`Value::to_lossy_string`]).
    Utf16(Vec<u16>),
    /// An array (Python list).
    List(Vec<Value>),
    /// An object (Python dict), in insertion order.
    Dict(Map),
}

/// Why JSON text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JSONDecodeError: {message} (at byte {offset})")]
pub struct JsonError {
    /// What was expected or found.
    pub message: &'static str,
    /// Byte offset in the input.
    pub offset: usize,
}

/// Why a value could not be converted to or from a Rust type, worded as serde_json words it
/// (`invalid type: string "42", expected i64`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConvertError {
    message: String,
}

impl ConvertError {
    fn new(message: impl Into<String>) -> Self {
        ConvertError {
            message: message.into(),
        }
    }
}

impl serde::ser::Error for ConvertError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ConvertError::new(msg.to_string())
    }
}

impl serde::de::Error for ConvertError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ConvertError::new(msg.to_string())
    }
    fn invalid_type(unexp: Unexpected, exp: &dyn Expected) -> Self {
        ConvertError::new(format!("invalid type: {}, expected {exp}", Shown(unexp)))
    }
    fn invalid_value(unexp: Unexpected, exp: &dyn Expected) -> Self {
        ConvertError::new(format!("invalid value: {}, expected {exp}", Shown(unexp)))
    }
}

/// serde's description of an unexpected value, except that `()` is JSON's `null`.
struct Shown<'a>(Unexpected<'a>);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            Unexpected::Unit => f.write_str("null"),
            other => other.fmt(f),
        }
    }
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The text of a string, with U+FFFD in place of each lone surrogate of a
    /// [`Value::Utf16`]; `None` for a non-string.
    pub fn to_lossy_string(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Value::Str(s) => Some(std::borrow::Cow::Borrowed(s)),
            Value::Utf16(units) => Some(std::borrow::Cow::Owned(String::from_utf16_lossy(units))),
            _ => None,
        }
    }
    /// The integer, if this is one that fits in an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// The number as a float (ints converted), if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::BigInt(s) => s.parse().ok(),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
    /// The member `key` of a dict; `None` for a missing key or a non-dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict().and_then(|d| d.get(key))
    }
    /// The dict, if this is one.
    pub fn as_dict(&self) -> Option<&Map> {
        match self {
            Value::Dict(m) => Some(m),
            _ => None,
        }
    }
    /// Python truthiness: `None`, `False`, `0`, `0.0`, `""`, `[]` and `{}` are falsy.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::BigInt(_) => true,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Utf16(units) => !units.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Dict(d) => !d.is_empty(),
        }
    }

    /// Converts any serde-serializable value, as serde_json's `to_value` would, except that
    /// struct fields and map entries keep their order, integers beyond `i64` stay exact
    /// ([`Value::BigInt`]) and NaN/Infinity stay floats (Python writes them as `NaN`/`Infinity`).
    /// Map keys must be strings, integers, bools or chars (floats become Python's `repr`).
    ///
    /// A `serde_json::Value` converts this way too: `Value::from_serialize(&json_value)`.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Value, ConvertError> {
        value.serialize(ser::ValueSerializer)
    }

    /// Converts into any serde-deserializable type, as serde_json's `from_value` would:
    /// numbers convert across widths where they fit, an enum is a string or a single-key dict,
    /// `null` is `None`. An integer wider than 128 bits is an error except for a float target.
    ///
    /// For a `serde_json::Value`, use `value.to_deserialize::<serde_json::Value>()`: serde_json
    /// then holds NaN/Infinity as `null` and, without its `arbitrary_precision` feature,
    /// refuses integers beyond 64 bits.
    pub fn to_deserialize<T: DeserializeOwned>(&self) -> Result<T, ConvertError> {
        T::deserialize(self)
    }
}

macro_rules! from_scalar {
    ($($t:ty => $variant:ident),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::$variant(v.into()) }
        }
    )*};
}
from_scalar!(bool => Bool, i64 => Int, i32 => Int, u32 => Int, f64 => Float, String => Str, &str => Str);

static NULL: Value = Value::Null;

impl std::ops::Index<&str> for Value {
    type Output = Value;
    /// `value["key"]`: the member, or `Null` when it is missing (as serde_json does).
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Dict(m)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::BigInt(t) => match t.parse::<i128>() {
                Ok(i) => s.serialize_i128(i),
                Err(_) => s.serialize_f64(t.parse().unwrap_or(f64::NAN)),
            },
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(t) => s.serialize_str(t),
            Value::Utf16(units) => s.serialize_str(&String::from_utf16_lossy(units)),
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Dict(d) => d.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                Value::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
                Ok(Value::Int(i))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
                Ok(i64::try_from(u).map_or_else(|_| Value::BigInt(u.to_string()), Value::Int))
            }
            fn visit_i128<E>(self, i: i128) -> Result<Value, E> {
                Ok(i64::try_from(i).map_or_else(|_| Value::BigInt(i.to_string()), Value::Int))
            }
            fn visit_u128<E>(self, u: u128) -> Result<Value, E> {
                Ok(i64::try_from(u).map_or_else(|_| Value::BigInt(u.to_string()), Value::Int))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
                Ok(Value::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::Str(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Value, E> {
                Ok(Value::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
                let mut l = Vec::new();
                while let Some(v) = a.next_element()? {
                    l.push(v);
                }
                Ok(Value::List(l))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
                let mut m = Map::new();
                while let Some((k, v)) = a.next_entry::<String, Value>()? {
                    m.insert(k, v);
                }
                Ok(Value::Dict(m))
            }
        }
        d.deserialize_any(V).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Serializes as `json.dumps(v, separators=(",", ":"))` does: compact, ASCII only.
pub fn to_string(v: &Value) -> String {
    let mut out = String::with_capacity(64);
    write_value(&mut out, v);
    out
}

/// Serializes a dict without wrapping it in a [`Value`].
pub fn map_to_string(m: &Map) -> String {
    let mut out = String::with_capacity(16 + m.len() * 16);
    write_map(&mut out, m);
    out
}

fn write_map(out: &mut String, d: &Map) {
    out.push('{');
    for (i, (k, item)) in d.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_value(out, item);
    }
    out.push('}');
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::BigInt(s) => out.push_str(s),
        Value::Float(f) => write_float(out, *f),
        Value::Str(s) => write_str(out, s),
        Value::Utf16(units) => write_utf16(out, units),
        Value::List(l) => {
            out.push('[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Dict(d) => write_map(out, d),
    }
}

/// Writes a string with Python's `ensure_ascii` escaping.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        i += scan::plain_run(&bytes[i..], true, &ESCAPED);
        let Some(&b) = bytes.get(i) else { break };
        // `i` is always at a character boundary: ASCII bytes are passed one by one, and
        // everything else a whole character at a time.
        out.push_str(&s[start..i]);
        let c = if b < 0x80 {
            char::from(b)
        } else {
            s[i..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER)
        };
        i += c.len_utf8();
        start = i;
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The bytes [`write_str`] does not copy as they are: `"`, `\\`, and everything that is not
/// printable ASCII (Python's `ensure_ascii` escapes all of it).
const ESCAPED: [bool; 256] = {
    let mut table = [true; 256];
    let mut b = b' ';
    while b <= b'~' {
        table[b as usize] = b == b'"' || b == b'\\';
        b += 1;
    }
    table
};

/// Writes UTF-16 code units as Python's `ensure_ascii` writes a `str` that holds them: what
/// is not printable ASCII as `\uXXXX`, one escape per unit, lone surrogates included.
fn write_utf16(out: &mut String, units: &[u16]) {
    out.push('"');
    for &unit in units {
        match unit {
            0x22 => out.push_str("\\\""),
            0x5c => out.push_str("\\\\"),
            0x0a => out.push_str("\\n"),
            0x0d => out.push_str("\\r"),
            0x09 => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            0x20..=0x7e => out.push(unit as u8 as char),
            _ => {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out.push('"');
}

/// Writes a float as Python's `repr` does.
pub fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, as Python's repr does.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Nesting deeper than this is an error (Python raises `RecursionError` near 1000).
pub const MAX_DEPTH: usize = 512;

/// Parses bytes as Django does: decoded as latin-1, then Python's `json.loads`.
pub fn from_slice(input: &[u8]) -> Result<Value, JsonError> {
    parse(input, false, usize::MAX)
}

/// Parses UTF-8 text with Python's `json.loads` rules (ints and floats kept apart, integers of
/// any size, `NaN`/`Infinity`, key order kept): for JSON typed by a person or another program.
pub fn from_str(input: &str) -> Result<Value, JsonError> {
    parse(input.as_bytes(), true, usize::MAX)
}

/// As [`from_str`], but an error once more than `max_values` values (at any depth) have been
/// read, before they are all in memory: for input from a visitor, whose every `[]` (2 bytes)
/// becomes a 32-byte [`Value`].
///
/// ```
/// use tessera::json;
/// assert!(json::from_str_limited("[1, 2]", 3).is_ok());
/// assert!(json::from_str_limited("[1, 2, 3]", 3).is_err());
/// ```
pub fn from_str_limited(input: &str, max_values: usize) -> Result<Value, JsonError> {
    parse(input.as_bytes(), true, max_values)
}

fn parse(input: &[u8], utf8: bool, max_values: usize) -> Result<Value, JsonError> {
    // Text to slice runs of ASCII from without checking them again: the input itself when it
    // came as UTF-8, or bytes that are all ASCII (read the same as latin-1 or UTF-8).
    let text = if utf8 || input.is_ascii() {
        std::str::from_utf8(input).ok()
    } else {
        None
    };
    let mut p = Parser {
        s: input,
        text,
        pos: 0,
        utf8,
        values_left: max_values,
    };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != input.len() {
        return Err(p.err("Extra data"));
    }
    Ok(v)
}

/// The bytes that end a run of plain string text: `"`, `\\`, control characters and
/// everything past ASCII.
const ENDS_PLAIN_RUN: [bool; 256] = {
    let mut table = [true; 256];
    let mut b = 0x20;
    while b < 0x80 {
        table[b] = b == b'"' as usize || b == b'\\' as usize;
        b += 1;
    }
    table
};

struct Parser<'a> {
    s: &'a [u8],
    /// `s` as text, when it is known to be UTF-8.
    text: Option<&'a str>,
    pos: usize,
    /// Read non-ASCII bytes as UTF-8 (`from_str`) instead of latin-1 (`from_slice`).
    utf8: bool,
    /// How many more values may be read.
    values_left: usize,
}

impl Parser<'_> {
    fn err(&self, message: &'static str) -> JsonError {
        JsonError {
            message,
            offset: self.pos,
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("Nesting too deep"));
        }
        self.values_left = match self.values_left.checked_sub(1) {
            Some(left) => left,
            None => return Err(self.err("Too many values")),
        };
        match self.s.get(self.pos) {
            Some(b'"') => self.string_value(),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'n') if self.eat(b"null") => Ok(Value::Null),
            Some(b't') if self.eat(b"true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Value::Bool(false)),
            Some(b'N') if self.eat(b"NaN") => Ok(Value::Float(f64::NAN)),
            Some(b'I') if self.eat(b"Infinity") => Ok(Value::Float(f64::INFINITY)),
            Some(b'-') if self.s[self.pos..].starts_with(b"-Infinity") => {
                self.pos += 9;
                Ok(Value::Float(f64::NEG_INFINITY))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("Expecting value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.pos += 1;
        let mut map = Map::new();
        self.skip_ws();
        if self.eat(b"}") {
            return Ok(Value::Dict(map));
        }
        loop {
            if self.s.get(self.pos) != Some(&b'"') {
                return Err(self.err("Expecting property name enclosed in double quotes"));
            }
            let key = self.key()?;
            self.skip_ws();
            if !self.eat(b":") {
                return Err(self.err("Expecting ':' delimiter"));
            }
            self.skip_ws();
            let v = self.value(depth + 1)?;
            // A duplicate key keeps its first position and takes the last value, as a dict.
            map.insert(key, v);
            self.skip_ws();
            if self.eat(b"}") {
                return Ok(Value::Dict(map));
            }
            if !self.eat(b",") {
                return Err(self.err("Expecting ',' delimiter"));
            }
            self.skip_ws();
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.pos += 1;
        let mut list = Vec::new();
        self.skip_ws();
        if self.eat(b"]") {
            return Ok(Value::List(list));
        }
        loop {
            list.push(self.value(depth + 1)?);
            self.skip_ws();
            if self.eat(b"]") {
                return Ok(Value::List(list));
            }
            if !self.eat(b",") {
                return Err(self.err("Expecting ',' delimiter"));
            }
            self.skip_ws();
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while let Some(b'0'..=b'9') = p.s.get(p.pos) {
                p.pos += 1;
            }
            p.pos - from
        };
        self.eat(b"-");
        match self.s.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => {
                self.pos = start;
                return Err(self.err("Expecting value"));
            }
        }
        let int_end = self.pos;
        let mut is_float = false;
        if self.s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                // Python's number regex does not take the '.', so the '.' is extra data.
                self.pos -= 1;
            } else {
                is_float = true;
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.pos) {
            let before = self.pos;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.s.get(self.pos) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                self.pos = before;
            } else {
                is_float = true;
            }
        }
        // The slice is ASCII digits and signs only.
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("0");
        if is_float {
            return Ok(Value::Float(text.parse().unwrap_or(f64::NAN)));
        }
        let text = &text[..int_end - start];
        Ok(match text.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::BigInt(text.to_owned()),
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .s
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("Invalid \\uXXXX escape"))?;
        let mut n = 0u32;
        for &b in h {
            let d = (b as char)
                .to_digit(16)
                .ok_or_else(|| self.err("Invalid \\uXXXX escape"))?;
            n = n * 16 + d;
        }
        self.pos += 4;
        Ok(n)
    }

    /// A string value: a [`Value::Str`], or a [`Value::Utf16`] when it holds a lone surrogate.
    fn string_value(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        let mut text = String::new();
        match self.string_into(&mut text)? {
            Complete::Yes => Ok(Value::Str(text)),
            Complete::LoneSurrogate => {
                // Rare: read it again as UTF-16 code units, which can hold it.
                self.pos = start;
                let mut units = Vec::new();
                self.string_into(&mut units)?;
                Ok(Value::Utf16(units))
            }
        }
    }

    /// A dict key, which is a Rust `String`: a lone surrogate in it becomes U+FFFD.
    fn key(&mut self) -> Result<String, JsonError> {
        let start = self.pos;
        let mut text = String::new();
        match self.string_into(&mut text)? {
            Complete::Yes => Ok(text),
            Complete::LoneSurrogate => {
                self.pos = start;
                let mut units = Vec::new();
                self.string_into(&mut units)?;
                Ok(String::from_utf16_lossy(&units))
            }
        }
    }

    /// Reads the string at `self.pos` (its opening quote) into `out`, or stops at the first
    /// lone surrogate that `out` cannot hold.
    fn string_into<S: StrSink>(&mut self, out: &mut S) -> Result<Complete, JsonError> {
        self.pos += 1;
        loop {
            // Copy the longest run of plain ASCII in one go.
            let run_start = self.pos;
            let rest = self.s.get(run_start..).unwrap_or_default();
            self.pos += scan::plain_run(rest, false, &ENDS_PLAIN_RUN);
            if self.pos > run_start {
                // Bytes 0x20..0x80 are ASCII, hence valid UTF-8.
                let run = match self.text {
                    Some(text) => text.get(run_start..self.pos).unwrap_or_default(),
                    None => std::str::from_utf8(&self.s[run_start..self.pos]).unwrap_or_default(),
                };
                out.push_str(run);
            }
            let Some(&b) = self.s.get(self.pos) else {
                return Err(self.err("Unterminated string starting at"));
            };
            self.pos += 1;
            match b {
                b'"' => return Ok(Complete::Yes),
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Err(self.err("Unterminated string starting at"));
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push_char('"'),
                        b'\\' => out.push_char('\\'),
                        b'/' => out.push_char('/'),
                        b'b' => out.push_char('\u{8}'),
                        b'f' => out.push_char('\u{c}'),
                        b'n' => out.push_char('\n'),
                        b'r' => out.push_char('\r'),
                        b't' => out.push_char('\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xd800..0xdc00).contains(&cp)
                                && self.s[self.pos..].starts_with(b"\\u")
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let low = self.hex4()?;
                                if (0xdc00..0xe000).contains(&low) {
                                    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                                } else {
                                    self.pos = save;
                                }
                            }
                            match char::from_u32(cp) {
                                Some(c) => out.push_char(c),
                                // Only a surrogate has no char: `\uXXXX` is below 0x110000.
                                None => {
                                    if !out.push_lone_surrogate(cp as u16) {
                                        return Ok(Complete::LoneSurrogate);
                                    }
                                }
                            }
                        }
                        _ => return Err(self.err("Invalid \\escape")),
                    }
                }
                0..=0x1f => return Err(self.err("Invalid control character at")),
                0x80.. if self.utf8 => {
                    // The input came from a &str, so a run of non-ASCII bytes is valid UTF-8.
                    let start = self.pos - 1;
                    while let Some(0x80..) = self.s.get(self.pos) {
                        self.pos += 1;
                    }
                    match std::str::from_utf8(&self.s[start..self.pos]) {
                        Ok(run) => out.push_str(run),
                        Err(_) => return Err(self.err("Invalid UTF-8")),
                    }
                }
                // Latin-1: every byte is the code point of the same number.
                _ => out.push_char(b as char),
            }
        }
    }
}

/// Whether a string was read to its end.
enum Complete {
    Yes,
    /// It holds a lone surrogate, which the sink could not take.
    LoneSurrogate,
}

/// Where the parser puts a string's characters: a `String` (the usual case) or UTF-16 code
/// units (for the rare string with a lone surrogate, which Python allows and `String` cannot).
trait StrSink {
    fn push_str(&mut self, s: &str);
    fn push_char(&mut self, c: char);
    /// Takes a lone surrogate, or says it cannot.
    fn push_lone_surrogate(&mut self, unit: u16) -> bool;
}

impl StrSink for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
    fn push_char(&mut self, c: char) {
        self.push(c);
    }
    fn push_lone_surrogate(&mut self, _: u16) -> bool {
        false
    }
}

impl StrSink for Vec<u16> {
    fn push_str(&mut self, s: &str) {
        self.extend(s.encode_utf16());
    }
    fn push_char(&mut self, c: char) {
        let mut units = [0u16; 2];
        self.extend_from_slice(c.encode_utf16(&mut units));
    }
    fn push_lone_surrogate(&mut self, unit: u16) -> bool {
        self.push(unit);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use std::collections::{BTreeMap, HashMap};
    use std::fmt::Debug;

    /// Integers are written as Python's `json.dumps` writes them (its `int.__repr__`, what
    /// `Display` gives), at the edges too, and read back the same.
    #[test]
    fn integers_are_written_as_python_writes_them() {
        for i in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            1_700_000_000,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let text = to_string(&Value::Int(i));
            assert_eq!(text, i.to_string());
            assert_eq!(parse(&text), Value::Int(i));
        }
    }

    /// `x` to a `Value` and back, checking the value in between.
    fn round_trip<T>(x: &T, want: Value)
    where
        T: Serialize + DeserializeOwned + PartialEq + Debug,
    {
        let v = Value::from_serialize(x).unwrap();
        assert_eq!(v, want, "{x:?}");
        assert_eq!(&v.to_deserialize::<T>().unwrap(), x);
    }

    fn parse(text: &str) -> Value {
        from_str(text).unwrap()
    }

    fn err<T: DeserializeOwned + Debug>(v: &Value) -> String {
        v.to_deserialize::<T>().unwrap_err().to_string()
    }

    #[test]
    fn struct_fields_keep_their_order() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Cart {
            zebra: u8,
            apple: String,
            mango: Vec<bool>,
        }
        let cart = Cart {
            zebra: 1,
            apple: "a".into(),
            mango: vec![true],
        };
        round_trip(&cart, parse(r#"{"zebra":1,"apple":"a","mango":[true]}"#));
        let v = Value::from_serialize(&cart).unwrap();
        assert_eq!(to_string(&v), r#"{"zebra":1,"apple":"a","mango":[true]}"#);
        // Fields may come in any order, and unknown ones are skipped.
        let shuffled = parse(r#"{"mango":[],"x":{"y":[1]},"apple":"b","zebra":2}"#);
        assert_eq!(shuffled.to_deserialize::<Cart>().unwrap().apple, "b");
    }

    #[test]
    fn integers_beyond_64_bits_round_trip() {
        let big = |s: &str| Value::BigInt(s.into());
        round_trip(&u64::MAX, big("18446744073709551615"));
        round_trip(&(i64::MAX as u64), Value::Int(i64::MAX));
        round_trip(&i64::MIN, Value::Int(i64::MIN));
        round_trip(&i128::MIN, big("-170141183460469231731687303715884105728"));
        round_trip(&i128::MAX, big("170141183460469231731687303715884105727"));
        round_trip(&(-(1i128 << 64)), big("-18446744073709551616"));
        round_trip(&u128::MAX, big("340282366920938463463374607431768211455"));
        round_trip(&5i128, Value::Int(5));
        round_trip(&vec![u64::MAX, 1], parse("[18446744073709551615,1]"));
        // Parsed text gives the same BigInt, which reads into narrower types when it fits.
        assert_eq!(
            parse("18446744073709551615")
                .to_deserialize::<u64>()
                .unwrap(),
            u64::MAX
        );
        assert_eq!(
            parse("18446744073709551616")
                .to_deserialize::<u128>()
                .unwrap(),
            1 << 64
        );
        assert_eq!(
            parse("18446744073709551616")
                .to_deserialize::<f64>()
                .unwrap(),
            1.8446744073709552e19
        );
        assert_eq!(
            err::<u64>(&parse("18446744073709551616")),
            "invalid value: integer `18446744073709551616`, expected u64"
        );
        let huge = parse(&format!("1{}", "0".repeat(40)));
        assert_eq!(
            err::<i64>(&huge),
            format!("invalid value: integer `1{}`, expected i64", "0".repeat(40))
        );
        assert_eq!(
            err::<u128>(&huge),
            format!(
                "integer `1{}` is too large: Rust integers hold at most 128 bits",
                "0".repeat(40)
            )
        );
        assert_eq!(huge.to_deserialize::<f64>().unwrap(), 1e40);
        assert!(parse(&"9".repeat(400)).to_deserialize::<f64>().is_err());
        assert!(Value::BigInt("12x".into()).to_deserialize::<i64>().is_err());
        // u64 beyond i64 also survives serde's buffering (untagged, flatten).
        #[derive(Deserialize, PartialEq, Debug)]
        #[serde(untagged)]
        enum Id {
            Num(u64),
            Text(String),
        }
        assert_eq!(
            parse("18446744073709551615")
                .to_deserialize::<Id>()
                .unwrap(),
            Id::Num(u64::MAX)
        );
        assert_eq!(
            parse(r#""x""#).to_deserialize::<Id>().unwrap(),
            Id::Text("x".into())
        );
    }

    #[test]
    fn internally_tagged_enum() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        #[serde(tag = "kind")]
        enum Shape {
            Circle { r: f64 },
            Square { side: u32 },
            Empty,
        }
        round_trip(
            &Shape::Circle { r: 1.5 },
            parse(r#"{"kind":"Circle","r":1.5}"#),
        );
        round_trip(
            &Shape::Square { side: 2 },
            parse(r#"{"kind":"Square","side":2}"#),
        );
        round_trip(&Shape::Empty, parse(r#"{"kind":"Empty"}"#));
        let parsed = parse(r#"{"kind":"Circle","r":1.5}"#);
        assert_eq!(
            parsed.to_deserialize::<Shape>().unwrap(),
            Shape::Circle { r: 1.5 }
        );
        // An int where a float is declared, and the tag anywhere in the dict.
        let parsed = parse(r#"{"r":2,"kind":"Circle"}"#);
        assert_eq!(
            parsed.to_deserialize::<Shape>().unwrap(),
            Shape::Circle { r: 2.0 }
        );
        assert!(parse(r#"{"kind":"Hexagon"}"#)
            .to_deserialize::<Shape>()
            .is_err());
    }

    #[test]
    fn externally_tagged_variants_as_serde_json_writes_them() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        enum E {
            Unit,
            Newtype(i32),
            Tuple(i32, String),
            Struct { b: bool, a: Option<u8> },
        }
        round_trip(&E::Unit, parse(r#""Unit""#));
        round_trip(&E::Newtype(-3), parse(r#"{"Newtype":-3}"#));
        round_trip(&E::Tuple(1, "x".into()), parse(r#"{"Tuple":[1,"x"]}"#));
        round_trip(
            &E::Struct { b: true, a: None },
            parse(r#"{"Struct":{"b":true,"a":null}}"#),
        );
        round_trip(
            &vec![E::Unit, E::Newtype(0)],
            parse(r#"["Unit",{"Newtype":0}]"#),
        );
        assert_eq!(
            parse(r#"{"Unit":null}"#).to_deserialize::<E>().unwrap(),
            E::Unit
        );
        assert_eq!(
            err::<E>(&parse(r#"{"Unit":null,"Newtype":1}"#)),
            "invalid value: map, expected map with a single key"
        );
        assert_eq!(
            err::<E>(&parse("3")),
            "invalid type: integer `3`, expected string or map"
        );
        assert!(parse(r#""Newtype""#).to_deserialize::<E>().is_err());
        assert!(parse(r#""Nope""#).to_deserialize::<E>().is_err());
    }

    #[test]
    fn options_units_chars_and_newtypes() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Unit;
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Meters(f64);
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Pair(char, ());

        round_trip(&Some(3), Value::Int(3));
        round_trip(&None::<i32>, Value::Null);
        round_trip(&Some("s".to_owned()), Value::Str("s".into()));
        round_trip(&Unit, Value::Null);
        round_trip(&(), Value::Null);
        round_trip(&Meters(2.5), Value::Float(2.5));
        round_trip(&'é', Value::Str("é".into()));
        round_trip(&Pair('\u{1f600}', ()), parse(r#"["\ud83d\ude00",null]"#));
        assert!(Value::Str("ab".into()).to_deserialize::<char>().is_err());
        // Bytes serialize as a list of ints and read back from one.
        struct Bytes<'a>(&'a [u8]);
        impl Serialize for Bytes<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        let v = Value::from_serialize(&Bytes(b"\x00\xff")).unwrap();
        assert_eq!(v, parse("[0,255]"));
        assert_eq!(v.to_deserialize::<Vec<u8>>().unwrap(), [0, 255]);
    }

    #[test]
    fn nested_collections() {
        let mut inner = HashMap::new();
        inner.insert("k".to_owned(), vec![vec![1u8], vec![]]);
        round_trip(&vec![inner], parse(r#"[{"k":[[1],[]]}]"#));

        // Integer, bool and char keys become their text, and read back from it.
        let mut ints = BTreeMap::new();
        ints.insert(-2i32, vec![Some(1.5)]);
        ints.insert(10, vec![None]);
        round_trip(&ints, parse(r#"{"-2":[1.5],"10":[null]}"#));
        let bools: BTreeMap<bool, char> = [(false, 'f'), (true, 't')].into();
        round_trip(&bools, parse(r#"{"false":"f","true":"t"}"#));
        let chars: BTreeMap<char, u64> = [('a', u64::MAX)].into();
        round_trip(&chars, parse(r#"{"a":18446744073709551615}"#));
        let wide: BTreeMap<u128, ()> = [(u128::MAX, ())].into();
        round_trip(
            &wide,
            parse(r#"{"340282366920938463463374607431768211455":null}"#),
        );
        assert_eq!(
            err::<HashMap<u8, i32>>(&parse(r#"{"x":1}"#)),
            r#"invalid type: string "x", expected u8"#
        );

        // A float key is written as Python's json.dumps writes it.
        struct FloatKeys;
        impl Serialize for FloatKeys {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map([(1e16, 1), (0.5, 2), (f64::NAN, 3)])
            }
        }
        let v = Value::from_serialize(&FloatKeys).unwrap();
        assert_eq!(to_string(&v), r#"{"1e+16":1,"0.5":2,"NaN":3}"#);

        let bad: HashMap<Vec<u8>, i32> = [(vec![1], 1)].into();
        assert_eq!(
            Value::from_serialize(&bad).unwrap_err().to_string(),
            "a map key must be a string, number, bool or char, not a sequence"
        );
    }

    #[test]
    fn flatten_and_untagged() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Inner {
            b: i64,
            c: Option<String>,
        }
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Outer {
            a: u8,
            #[serde(flatten)]
            inner: Inner,
            #[serde(flatten)]
            rest: BTreeMap<String, Value>,
        }
        let outer = Outer {
            a: 1,
            inner: Inner {
                b: -2,
                c: Some("c".into()),
            },
            rest: [("z".to_owned(), parse("[1.5,{}]"))].into(),
        };
        round_trip(&outer, parse(r#"{"a":1,"b":-2,"c":"c","z":[1.5,{}]}"#));

        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        #[serde(untagged)]
        enum Any {
            Int(i64),
            Float(f64),
            Text(String),
            List(Vec<Any>),
            Map(BTreeMap<String, Any>),
        }
        let any = parse(r#"[1,-1,2.5,"s",{"k":[]}]"#);
        let read: Any = any.to_deserialize().unwrap();
        assert_eq!(Value::from_serialize(&read).unwrap(), any);
    }

    #[test]
    fn numbers_convert_across_widths_as_serde_json_allows() {
        assert_eq!(Value::Int(3).to_deserialize::<f64>().unwrap(), 3.0);
        assert_eq!(Value::Int(-3).to_deserialize::<f32>().unwrap(), -3.0);
        assert_eq!(Value::Float(0.5).to_deserialize::<f32>().unwrap(), 0.5);
        assert_eq!(Value::Int(-128).to_deserialize::<i8>().unwrap(), -128);
        assert_eq!(Value::Int(255).to_deserialize::<u8>().unwrap(), 255);
        assert_eq!(Value::Int(7).to_deserialize::<i128>().unwrap(), 7);
        assert_eq!(
            err::<u8>(&Value::Int(256)),
            "invalid value: integer `256`, expected u8"
        );
        assert_eq!(
            err::<u32>(&Value::Int(-1)),
            "invalid value: integer `-1`, expected u32"
        );
        assert_eq!(
            err::<i64>(&Value::Float(1.5)),
            "invalid type: floating point `1.5`, expected i64"
        );
    }

    #[test]
    fn mismatches_are_worded_as_serde_json_words_them() {
        assert_eq!(
            err::<i64>(&Value::Str("42".into())),
            r#"invalid type: string "42", expected i64"#
        );
        assert_eq!(err::<i64>(&Value::Null), "invalid type: null, expected i64");
        assert_eq!(
            err::<String>(&Value::Int(42)),
            "invalid type: integer `42`, expected a string"
        );
        assert_eq!(
            err::<bool>(&parse("[]")),
            "invalid type: sequence, expected a boolean"
        );
        assert_eq!(
            err::<(u8, u8)>(&parse("[1,2,3]")),
            "invalid length 3, expected fewer elements in array"
        );
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Need {
            a: u8,
        }
        assert_eq!(err::<Need>(&parse("{}")), "missing field `a`");
        assert_eq!(
            err::<Need>(&parse(r#"{"a":"1"}"#)),
            r#"invalid type: string "1", expected u8"#
        );
    }

    #[test]
    fn non_finite_floats_stay_floats() {
        let nan = Value::from_serialize(&f64::NAN).unwrap();
        assert!(matches!(nan, Value::Float(f) if f.is_nan()));
        assert_eq!(to_string(&nan), "NaN");
        assert!(nan.to_deserialize::<f64>().unwrap().is_nan());
        round_trip(&f64::INFINITY, Value::Float(f64::INFINITY));
        round_trip(
            &vec![f32::NEG_INFINITY],
            Value::List(vec![Value::Float(f64::NEG_INFINITY)]),
        );
    }

    #[test]
    fn values_convert_to_themselves_and_lend_strings() {
        let v = parse(r#"{"b":[1,-2,2.5e-7,"h\u00e9",null,true,{}],"a":18446744073709551616}"#);
        assert_eq!(Value::from_serialize(&v).unwrap(), v);
        assert_eq!(v.to_deserialize::<Value>().unwrap(), v);
        // The deserializer is public on `&Value`, so borrowing types can read from it.
        let s = Value::Str("lent".into());
        let lent: &str = Deserialize::deserialize(&s).unwrap();
        assert_eq!(lent, "lent");
    }

    #[test]
    fn serde_json_number_and_raw_value_tokens_are_parsed() {
        // serde_json's Number (arbitrary_precision) and RawValue serialize as a private struct
        // holding JSON text; this one does the same.
        struct Token(&'static str, &'static str);
        impl Serialize for Token {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct(self.0, 1)?;
                st.serialize_field(self.0, self.1)?;
                st.end()
            }
        }
        let num = "$serde_json::private::Number";
        let raw = "$serde_json::private::RawValue";
        let v = |t| Value::from_serialize(&t).unwrap();
        assert_eq!(
            v(Token(num, "123456789012345678901234")),
            parse("123456789012345678901234")
        );
        assert_eq!(v(Token(num, "1.5")), Value::Float(1.5));
        assert_eq!(v(Token(raw, r#"{"b":1,"a":2}"#)), parse(r#"{"b":1,"a":2}"#));
        assert!(Value::from_serialize(&Token(raw, "{")).is_err());
    }

    fn float(f: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, f);
        s
    }

    #[test]
    fn python_float_repr() {
        for (f, want) in [
            (100.0, "100.0"),
            (0.0001, "0.0001"),
            (-0.0, "-0.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (5e-324, "5e-324"),
            (2.5, "2.5"),
            (-517.667, "-517.667"),
            (123.456e5, "12345600.0"),
        ] {
            assert_eq!(float(f), want, "{f:e}");
        }
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        for bad in [
            &b""[..],
            b"{",
            b"[1,",
            b"\"\\u12",
            b"-",
            b"tru",
            b"{\"a\" 1}",
            b"1 2",
        ] {
            assert!(from_slice(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(100_000);
        assert!(from_slice(deep.as_bytes()).is_err());
    }

    #[test]
    fn surrogates_and_latin1() {
        assert_eq!(
            from_slice(b"\"\\ud83d\\ude00\"").unwrap(),
            Value::Str("\u{1f600}".into())
        );
        assert_eq!(
            from_slice(b"\"\xc3\xa9\"").unwrap(),
            Value::Str("Ã©".into())
        );
        assert_eq!(
            to_string(&Value::Str("\u{1f600}\u{7f}".into())),
            r#""\ud83d\ude00\u007f""#
        );
    }

    #[test]
    fn lone_surrogates_are_written_back_as_read() {
        let lone = from_slice(br#""\ud800x""#).unwrap();
        assert_eq!(lone, Value::Utf16(vec![0xd800, u16::from(b'x')]));
        assert_eq!(from_str(r#""\ud800x""#).unwrap(), lone);
        // Every other character of such a string keeps its bytes too, pairs included.
        for text in [
            r#""\ud800x\udfff""#,
            r#""a\u00e9\ud83d\ude00\udc00\"\\\n\u0000\t""#,
            r#""\udfff\ud800""#,
        ] {
            assert_eq!(to_string(&from_str(text).unwrap()), text);
        }
        assert_eq!(
            to_string(&from_str(r#"{"k":["\ud83d","\ude00x"]}"#).unwrap()),
            r#"{"k":["\ud83d","\ude00x"]}"#
        );
        // serde and as_str see the text with U+FFFD in place of the lone half.
        assert_eq!(lone.to_deserialize::<String>().unwrap(), "\u{fffd}x");
        assert_eq!(lone.to_lossy_string().as_deref(), Some("\u{fffd}x"));
        assert_eq!(lone.as_str(), None);
        assert!(lone.is_truthy());
        // A key is a Rust String: its lone surrogate becomes U+FFFD.
        let keyed = from_str(r#"{"\ud800":1}"#).unwrap();
        assert_eq!(keyed.get("\u{fffd}"), Some(&Value::Int(1)));
    }
}
