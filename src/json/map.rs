//! [`Map`], the JSON object: a Python dict's insertion order, with a fast hasher.
//!
//! Every load of a session parses its dict, and every `get` looks a key up in it. With the
//! standard library's SipHash, hashing those short keys cost more than the rest of a small
//! session's parse; foldhash is several times cheaper, and it is seeded at random per process,
//! so the keys an app stores cannot be chosen to collide. The data reaches a parser only after
//! its signature has been checked in any case.

use std::fmt;
use std::ops::{Deref, DerefMut};

use indexmap::IndexMap;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Value;

/// The hasher of [`Map`]'s index.
pub type MapHasher = foldhash::fast::RandomState;

/// The insertion-ordered map inside a [`Map`].
pub type IndexedMap = IndexMap<String, Value, MapHasher>;

/// An insertion-ordered JSON object, as a Python dict.
///
/// It derefs to an [`IndexMap`], so every `IndexMap` method works on it (`insert`, `get`,
/// `shift_remove`, `entry`, `iter`, …); it collects from and iterates into `(String, Value)`
/// pairs.
///
/// ```
/// use tessera::json::{Map, Value};
/// let mut map = Map::new();
/// map.insert("n".to_owned(), Value::from(1));
/// assert_eq!(map.get("n"), Some(&Value::Int(1)));
/// let copy: Map = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
/// assert_eq!(copy, map);
/// ```
#[derive(Default, PartialEq)]
pub struct Map(IndexedMap);

impl Map {
    /// About how many bytes the dict holds on the heap: its entries and index, then every key
    /// and value with its allocations. An estimate, for budgets of memory (the memory store's,
    /// the decoded-session cache's).
    pub(crate) fn heap_bytes(&self) -> usize {
        const VALUE: usize = std::mem::size_of::<Value>();
        fn value(v: &Value) -> usize {
            match v {
                Value::Str(s) | Value::BigInt(s) => s.capacity(),
                Value::Utf16(units) => units.capacity() * 2,
                Value::List(items) => {
                    items.capacity() * VALUE + items.iter().map(value).sum::<usize>()
                }
                Value::Dict(map) => map.heap_bytes(),
                _ => 0,
            }
        }
        // IndexMap: an entries vector (key, value, hash) and an index table.
        self.capacity() * (std::mem::size_of::<String>() + VALUE + 16)
            + self
                .iter()
                .map(|(k, v)| k.capacity() + value(v))
                .sum::<usize>()
    }

    /// An empty map; it allocates nothing until the first insert.
    pub fn new() -> Self {
        Map::default()
    }

    /// An empty map with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Map(IndexMap::with_capacity_and_hasher(
            capacity,
            MapHasher::default(),
        ))
    }

    /// The `IndexMap` itself.
    pub fn into_inner(self) -> IndexedMap {
        self.0
    }
}

impl Clone for Map {
    fn clone(&self) -> Self {
        Map(self.0.clone())
    }

    /// Reuses this map's allocations, as `IndexMap`'s own `clone_from` does (the memory store
    /// writes a save over the stored dict this way).
    fn clone_from(&mut self, source: &Self) {
        self.0.clone_from(&source.0);
    }
}

impl Deref for Map {
    type Target = IndexedMap;

    fn deref(&self) -> &IndexedMap {
        &self.0
    }
}

impl DerefMut for Map {
    fn deref_mut(&mut self) -> &mut IndexedMap {
        &mut self.0
    }
}

impl fmt::Debug for Map {
    /// As a map: `{"n": Int(1)}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<IndexedMap> for Map {
    fn from(map: IndexedMap) -> Self {
        Map(map)
    }
}

impl From<IndexMap<String, Value>> for Map {
    /// From an `IndexMap` as `IndexMap::new()` makes it (what `Map` was before it had a hasher
    /// of its own), in its order.
    fn from(map: IndexMap<String, Value>) -> Self {
        map.into_iter().collect()
    }
}

impl<const N: usize> From<[(String, Value); N]> for Map {
    fn from(pairs: [(String, Value); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl FromIterator<(String, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(pairs: I) -> Self {
        Map(IndexMap::from_iter(pairs))
    }
}

impl Extend<(String, Value)> for Map {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, pairs: I) {
        self.0.extend(pairs);
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = indexmap::map::IntoIter<String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a String, &'a Value);
    type IntoIter = indexmap::map::Iter<'a, String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a mut Map {
    type Item = (&'a String, &'a mut Value);
    type IntoIter = indexmap::map::IterMut<'a, String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

impl Serialize for Map {
    /// As a map, in its order.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Map {
    /// An object; anything else is refused.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Dict(map) => Ok(map),
            _ => Err(serde::de::Error::custom(
                "invalid type: expected a JSON object",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What users of the old `IndexMap` alias wrote still reads the same: building, order,
    /// equality, indexing, `Debug`, and iterating by value, reference and mutable reference.
    #[test]
    fn reads_as_the_ordered_map_it_was() {
        let mut map = Map::with_capacity(2);
        map.insert("b".into(), Value::from(1));
        map.insert("a".into(), Value::from("x"));
        assert_eq!(map.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(map["a"], Value::from("x"));
        assert_eq!(format!("{map:?}"), r#"{"b": Int(1), "a": Str("x")}"#);
        for (_, v) in &mut map {
            *v = Value::Null;
        }
        assert!((&map).into_iter().all(|(_, v)| *v == Value::Null));
        let pairs: Vec<(String, Value)> = map.clone().into_iter().collect();
        assert_eq!(Map::from_iter(pairs), map);
        let standard: IndexMap<String, Value> =
            [("b".to_owned(), Value::Null), ("a".to_owned(), Value::Null)].into();
        assert_eq!(Map::from(standard), map);
        assert_ne!(Map::from([("a".to_owned(), Value::Null)]), map);
    }

    /// A `Map` goes through serde as the object it is, in its order, and only an object comes
    /// back as one.
    #[test]
    fn serde_sees_an_ordered_object() {
        let map = Map::from([
            ("b".to_owned(), Value::from(1)),
            ("a".to_owned(), Value::from("x")),
        ]);
        let value = Value::from_serialize(&map).unwrap();
        assert_eq!(super::super::to_string(&value), r#"{"b":1,"a":"x"}"#);
        assert_eq!(value.to_deserialize::<Map>().unwrap(), map);
        let refused = Value::List(vec![]).to_deserialize::<Map>().unwrap_err();
        assert!(
            refused.to_string().contains("expected a JSON object"),
            "{refused}"
        );
    }
}
