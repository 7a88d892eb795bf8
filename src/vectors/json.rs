//! Reading a vector file's inputs with typed failures, and comparing what a file says with
//! what the engine computes, naming the first field that differs.

use serde_json::{Map, Value};

use super::Failure;

/// Where a field sits, as a path string.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A value inside a vector file and where it sits (`cases[2].inputs.nonce`), so a malformed
/// input is reported by its place.
pub(crate) struct Place<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> Place<'a> {
    pub(crate) fn root(value: &'a Value) -> Self {
        Self {
            value,
            path: String::new(),
        }
    }

    /// The field `key`, which must be present.
    pub(crate) fn field(&self, key: &str) -> Result<Place<'a>, Failure> {
        let path = join(&self.path, key);
        match self.value.get(key) {
            Some(value) => Ok(Place { value, path }),
            None => Err(Failure::input(path, "a field that is missing")),
        }
    }

    /// The field `key`, or `None` if it is absent or null.
    pub(crate) fn optional(&self, key: &str) -> Option<Place<'a>> {
        match self.value.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(Place {
                value,
                path: join(&self.path, key),
            }),
        }
    }

    /// The items of a list.
    pub(crate) fn items(&self) -> Result<Vec<Place<'a>>, Failure> {
        let list = self
            .value
            .as_array()
            .ok_or_else(|| Failure::input(self.path.clone(), "a list"))?;
        Ok(list
            .iter()
            .enumerate()
            .map(|(i, value)| Place {
                value,
                path: format!("{}[{i}]", self.path),
            })
            .collect())
    }

    /// The items of the list at `key`.
    pub(crate) fn list(&self, key: &str) -> Result<Vec<Place<'a>>, Failure> {
        self.field(key)?.items()
    }

    /// Hex bytes.
    pub(crate) fn bytes(&self) -> Result<Vec<u8>, Failure> {
        let text = self.value.as_str();
        text.and_then(|t| hex::decode(t).ok())
            .ok_or_else(|| Failure::input(self.path.clone(), "lowercase hex"))
    }

    /// Hex bytes at `key`.
    pub(crate) fn hex(&self, key: &str) -> Result<Vec<u8>, Failure> {
        self.field(key)?.bytes()
    }

    /// Exactly `N` hex bytes at `key`.
    pub(crate) fn array<const N: usize>(&self, key: &str) -> Result<[u8; N], Failure> {
        let field = self.field(key)?;
        let bytes = field.bytes()?;
        bytes
            .try_into()
            .map_err(|_| Failure::input(field.path, "hex of the right length"))
    }

    /// Hex bytes at `key`, or `None` for null.
    pub(crate) fn hex_or_null(&self, key: &str) -> Result<Option<Vec<u8>>, Failure> {
        self.field(key)?;
        self.optional(key).map(|p| p.bytes()).transpose()
    }

    /// A whole number at `key`.
    pub(crate) fn u64(&self, key: &str) -> Result<u64, Failure> {
        let field = self.field(key)?;
        field
            .value
            .as_u64()
            .ok_or_else(|| Failure::input(field.path, "a whole number"))
    }

    /// A whole number at `key` that fits in `T`.
    pub(crate) fn int<T: TryFrom<u64>>(&self, key: &str) -> Result<T, Failure> {
        let n = self.u64(key)?;
        T::try_from(n).map_err(|_| Failure::input(join(&self.path, key), "a smaller number"))
    }

    /// A string at `key`.
    pub(crate) fn str(&self, key: &str) -> Result<&'a str, Failure> {
        let field = self.field(key)?;
        field
            .value
            .as_str()
            .ok_or_else(|| Failure::input(field.path, "a string"))
    }

    /// A boolean at `key`.
    pub(crate) fn bool(&self, key: &str) -> Result<bool, Failure> {
        let field = self.field(key)?;
        field
            .value
            .as_bool()
            .ok_or_else(|| Failure::input(field.path, "true or false"))
    }

    /// The value itself, to copy into what is recomputed.
    pub(crate) fn value(&self) -> &'a Value {
        self.value
    }

    /// Its path, for a failure found later.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }
}

/// Compares what a file says with what was computed from its inputs: every field of either
/// must be in the other and equal (keys named `description` or `name` are prose, not
/// compared).
pub(crate) fn compare(file: &Value, computed: &Value) -> Result<(), Failure> {
    compare_at("", file, computed)
}

fn compare_at(path: &str, file: &Value, computed: &Value) -> Result<(), Failure> {
    match (file, computed) {
        (Value::Object(f), Value::Object(c)) => compare_objects(path, f, c),
        (Value::Array(f), Value::Array(c)) => {
            if f.len() != c.len() {
                return Err(Failure::mismatch(
                    path,
                    format!("{} entries", f.len()),
                    format!("{} entries", c.len()),
                ));
            }
            for (i, (f, c)) in f.iter().zip(c).enumerate() {
                compare_at(&format!("{path}[{i}]"), f, c)?;
            }
            Ok(())
        }
        (f, c) if f == c => Ok(()),
        (f, c) => Err(Failure::mismatch(path, f.to_string(), c.to_string())),
    }
}

fn compare_objects(
    path: &str,
    file: &Map<String, Value>,
    computed: &Map<String, Value>,
) -> Result<(), Failure> {
    let prose = |k: &&String| *k == "description" || *k == "name";
    for (key, f) in file.iter().filter(|(k, _)| !prose(k)) {
        let here = join(path, key);
        match computed.get(key) {
            Some(c) => compare_at(&here, f, c)?,
            None => return Err(Failure::mismatch(here, short(f), "nothing".into())),
        }
    }
    for (key, c) in computed.iter().filter(|(k, _)| !prose(k)) {
        if !file.contains_key(key) {
            return Err(Failure::mismatch(
                join(path, key),
                "nothing".into(),
                short(c),
            ));
        }
    }
    Ok(())
}

fn short(v: &Value) -> String {
    v.to_string()
}

/// Lowercase hex, as every vector file writes bytes.
pub(crate) fn hex(bytes: impl AsRef<[u8]>) -> Value {
    Value::String(hex::encode(bytes))
}
