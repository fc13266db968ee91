//! Where each value sits in the YAML file, so that a rule broken deep inside the
//! spec can be reported as `eksscale.yaml:9:12: ...` instead of "somewhere".
//!
//! serde-saphyr records locations through its `Spanned<T>` wrapper; we
//! deserialize the document once into a small spanned tree and flatten it into
//! a map from dotted paths (`spec.nodeGroups[0].minSize`) to the location of
//! the value.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl From<Location> for Pos {
    fn from(l: Location) -> Self {
        Pos {
            line: l.line(),
            column: l.column(),
        }
    }
}

#[derive(Debug, Default)]
pub struct SpanIndex {
    values: HashMap<String, Pos>,
    /// Where the key of each mapping entry is (same paths as `values`).
    keys: HashMap<String, Pos>,
}

impl SpanIndex {
    /// Builds the index; returns an empty index if the text is not valid YAML
    /// (the typed parse reports that error with its own location).
    pub fn build(text: &str) -> Self {
        let mut index = SpanIndex::default();
        if let Ok(root) = serde_saphyr::from_str::<Spanned<Node>>(text) {
            index.walk(String::new(), &root);
        }
        index
    }

    fn walk(&mut self, path: String, node: &Spanned<Node>) {
        self.values.insert(path.clone(), node.referenced.into());
        match &node.value {
            Node::Map(entries) => {
                for (key, value) in entries {
                    let child = if path.is_empty() {
                        key.value.clone()
                    } else {
                        format!("{path}.{}", key.value)
                    };
                    self.keys.insert(child.clone(), key.referenced.into());
                    self.walk(child, value);
                }
            }
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(format!("{path}[{i}]"), item);
                }
            }
            Node::Scalar => {}
        }
    }

    /// Location of the value at `path`, or of the nearest ancestor present in
    /// the file (a defaulted field has no location of its own).
    pub fn locate(&self, path: &str) -> Option<Pos> {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.values.get(&p) {
                return Some(*pos);
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => return self.values.get("").copied(),
            }
        }
    }
}

impl SpanIndex {
    /// The path of the key (or, failing that, the value) at `pos`: the
    /// deepest one, so an error located at a scalar names its field.
    pub fn path_at(&self, pos: Pos) -> Option<&str> {
        fn deepest(m: &HashMap<String, Pos>, pos: Pos) -> Option<&str> {
            m.iter()
                .filter(|(p, at)| **at == pos && !p.is_empty())
                .map(|(p, _)| p.as_str())
                .max_by_key(|p| (p.matches(['.', '[']).count(), p.len()))
        }
        deepest(&self.keys, pos).or_else(|| deepest(&self.values, pos))
    }
}

/// A YAML document with locations, values reduced to their shape.
enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            let key = Spanned::new(key.value.0, key.referenced, key.defined);
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// A mapping key of any scalar type, as text.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_values_and_falls_back_to_parents() {
        let text = "metadata:\n  name: demo\nspec:\n  vpc:\n    zones: 1\n  nodeGroups:\n    - name: a\n      minSize: 5\n";
        let idx = SpanIndex::build(text);
        assert_eq!(
            idx.locate("metadata.name"),
            Some(Pos { line: 2, column: 9 })
        );
        assert_eq!(
            idx.locate("spec.vpc.zones"),
            Some(Pos {
                line: 5,
                column: 12
            })
        );
        assert_eq!(
            idx.locate("spec.nodeGroups[0].minSize"),
            Some(Pos {
                line: 8,
                column: 16
            })
        );
        // Not in the file: the nearest ancestor that is.
        assert_eq!(idx.locate("spec.vpc.cidr"), idx.locate("spec.vpc"));
        // And back: a position names the field there.
        assert_eq!(
            idx.path_at(Pos {
                line: 8,
                column: 16
            }),
            Some("spec.nodeGroups[0].minSize")
        );
        assert_eq!(
            idx.path_at(Pos { line: 5, column: 5 }),
            Some("spec.vpc.zones"),
            "a key's position names its field"
        );
    }
}
