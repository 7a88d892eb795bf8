//! Our deterministic test vectors, written and checked by the engine itself (feature
//! `vectors`): [`check_dir`] replays every vector file in a folder against this
//! implementation, and [`write_dir`] writes ours. A second implementation proves itself by
//! replaying our files, and by writing its own from inputs of its choosing and having
//! `missive vectors check` replay them here: a file is checked by recomputing everything it
//! holds from its inputs alone.
//!
//! Each file names its format in a top-level `"missive_format"` field; PROTOCOL.md's sections say
//! what each field holds, and `vectors/README.md` lists the files. Refusals are written as
//! the typed error's name (`DecodeError::NonCanonical`, `CryptoError::Expired`).

mod client;
mod client_state;
mod conversation;
mod conversation_state;
mod credentials;
mod device;
mod identity;
mod json;
#[cfg(feature = "relay")]
mod live;
mod mailbox;
mod product;
mod records;
mod relay_bodies;
#[cfg(feature = "relay")]
mod relay_script;
mod sealed;
mod session;
mod session_state;
mod stored;
mod tokens;
mod xwing_hpke;

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Error;

/// Why a vector file did not check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The file could not be read.
    Read(String),
    /// The file is not JSON.
    Json(String),
    /// The file names a format this build does not know.
    UnknownFormat(String),
    /// An input is missing or malformed: `at` is its place, `wanted` what it should be.
    Input {
        /// Where the input sits (`cases[2].nonce`).
        at: String,
        /// What it should have been.
        wanted: &'static str,
    },
    /// A value the file gives differs from the one computed from its inputs.
    Mismatch {
        /// Where the value sits.
        at: String,
        /// What the file says.
        file: String,
        /// What the engine computed.
        computed: String,
    },
}

impl Failure {
    pub(crate) fn input(at: impl Into<String>, wanted: &'static str) -> Self {
        Self::Input {
            at: at.into(),
            wanted,
        }
    }

    pub(crate) fn mismatch(at: impl Into<String>, file: String, computed: String) -> Self {
        Self::Mismatch {
            at: at.into(),
            file,
            computed,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(e) => write!(f, "cannot read: {e}"),
            Self::Json(e) => write!(f, "not JSON: {e}"),
            Self::UnknownFormat(name) => write!(f, "unknown format {name:?}"),
            Self::Input { at, wanted } => write!(f, "{at}: should be {wanted}"),
            Self::Mismatch { at, file, computed } => {
                write!(
                    f,
                    "{at}: the file has {}, computed {}",
                    clip(file),
                    clip(computed)
                )
            }
        }
    }
}

/// A long hex value shortened to its first and last bytes.
fn clip(text: &str) -> String {
    if text.len() <= 72 {
        return text.to_owned();
    }
    let head: String = text.chars().take(40).collect();
    let tail: String = text.chars().skip(text.chars().count() - 24).collect();
    format!("{head}…{tail} ({} chars)", text.chars().count())
}

/// What became of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every value recomputed from the inputs equals the file's; `cases` were checked.
    Passed {
        /// The file's format.
        format: &'static str,
        /// How many cases it holds.
        cases: usize,
    },
    /// Not replayed by this command, and why (published vectors for a primitive, replayed by
    /// the test suite; or a format the suite replays in its own tests).
    Skipped(&'static str),
    /// Something differs or is malformed.
    Failed(Failure),
}

/// The outcome for one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The file, relative to the folder checked.
    pub path: PathBuf,
    /// What became of it.
    pub outcome: Outcome,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.outcome {
            Outcome::Passed { format, cases } => {
                write!(f, "ok    {path}: {format}, {cases} cases")
            }
            Outcome::Skipped(why) => write!(f, "skip  {path}: {why}"),
            Outcome::Failed(failure) => write!(f, "FAIL  {path}: {failure}"),
        }
    }
}

/// One format: where our file lives, its inputs, and how to recompute a whole file from them.
struct Format {
    name: &'static str,
    file: &'static str,
    inputs: fn() -> Value,
    recompute: fn(&Value) -> Result<Value, Failure>,
}

const FORMATS: &[Format] = &[
    Format {
        name: "pairwise",
        file: "client/pairwise.json",
        inputs: client::pairwise_inputs,
        recompute: client::pairwise_recompute,
    },
    Format {
        name: "first_post",
        file: "client/first_post.json",
        inputs: client::first_post_inputs,
        recompute: client::first_post_recompute,
    },
    Format {
        name: "sealed",
        file: "sealed/sealed.json",
        inputs: sealed::inputs,
        recompute: sealed::recompute,
    },
    Format {
        name: "product",
        file: "product/product.json",
        inputs: product::inputs,
        recompute: product::recompute,
    },
    Format {
        name: "relay_bodies",
        file: "relay/bodies.json",
        inputs: relay_bodies::inputs,
        recompute: relay_bodies::recompute,
    },
    #[cfg(feature = "relay")]
    Format {
        name: "relay_script",
        file: "relay/refusals.json",
        inputs: relay_script::inputs,
        recompute: relay_script::recompute,
    },
    Format {
        name: "mailbox",
        file: "relay/mailbox.json",
        inputs: mailbox::inputs,
        recompute: mailbox::recompute,
    },
    Format {
        name: "access",
        file: "access/access.json",
        inputs: credentials::inputs,
        recompute: credentials::recompute,
    },
    Format {
        name: "tokens",
        file: "access/tokens.json",
        inputs: tokens::inputs,
        recompute: tokens::recompute,
    },
    Format {
        name: "group",
        file: "conversation/three_member_group.json",
        inputs: conversation::three_member_inputs,
        recompute: conversation::group_recompute,
    },
    Format {
        name: "group",
        file: "conversation/membership_change.json",
        inputs: conversation::change_inputs,
        recompute: conversation::group_recompute,
    },
    Format {
        name: "first_message",
        file: "conversation/first_message_50.json",
        inputs: conversation::first_50_inputs,
        recompute: conversation::first_recompute,
    },
    Format {
        name: "first_message",
        file: "conversation/envelope_split.json",
        inputs: conversation::split_inputs,
        recompute: conversation::first_recompute,
    },
    Format {
        name: "device",
        file: "device/device.json",
        inputs: device::inputs,
        recompute: device::recompute,
    },
    Format {
        name: "session",
        file: "session/pqxdh_one_time_ratchet.json",
        inputs: session::one_time_inputs,
        recompute: session::recompute,
    },
    Format {
        name: "session",
        file: "session/pqxdh_last_resort.json",
        inputs: session::last_resort_inputs,
        recompute: session::recompute,
    },
    Format {
        name: "session",
        file: "session/pq_ratchet.json",
        inputs: session::pq_ratchet_inputs,
        recompute: session::recompute,
    },
    Format {
        name: "session_state",
        file: "session/state.json",
        inputs: session_state::inputs,
        recompute: session_state::recompute,
    },
    Format {
        name: "conversation_state",
        file: "conversation/state.json",
        inputs: conversation_state::inputs,
        recompute: conversation_state::recompute,
    },
    Format {
        name: "client_state",
        file: "client/state.json",
        inputs: client_state::inputs,
        recompute: client_state::recompute,
    },
    Format {
        name: "records",
        file: "client/records.json",
        inputs: records::inputs,
        recompute: records::recompute,
    },
    Format {
        name: "identity",
        file: "identity/identity.json",
        inputs: identity::inputs,
        recompute: identity::recompute,
    },
    Format {
        name: "xwing_hpke",
        file: "hpke/xwing_hpke.json",
        inputs: xwing_hpke::inputs,
        recompute: xwing_hpke::recompute,
    },
];

/// Published vectors of a primitive, which the test suite replays in its own tests: every file
/// of ours is checked by this command.
const REPLAYED_BY_TESTS: &[(&str, &str)] = &[
    (
        "third_party/",
        "published vectors for a primitive, replayed by the test suite",
    ),
    (
        "rfc/",
        "published vectors for a primitive, replayed by tests/primitive_vectors.rs",
    ),
];

/// Recomputes one vector file from its inputs and compares every value.
pub fn check_value(file: &Value) -> Result<Outcome, Failure> {
    let name = file
        .get("missive_format")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::input("missive_format", "the file's format name"))?;
    let format = FORMATS
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| Failure::UnknownFormat(name.to_owned()))?;
    let computed = (format.recompute)(file)?;
    json::compare(file, &computed)?;
    let cases = count_cases(&computed);
    Ok(Outcome::Passed {
        format: format.name,
        cases,
    })
}

/// The number of cases: the entries of every list among the file's outputs, or among its
/// top-level fields for a file laid out case by case (1 at least).
fn count_cases(file: &Value) -> usize {
    let outputs = file.get("outputs").unwrap_or(file).as_object();
    let lists = outputs.into_iter().flat_map(|o| o.values());
    let n: usize = lists.filter_map(Value::as_array).map(Vec::len).sum();
    n.max(1)
}

/// Checks one file; `relative` is its name within the folder checked.
pub fn check_file(path: &Path, relative: &Path) -> Report {
    let outcome = match std::fs::read_to_string(path) {
        Err(e) => Outcome::Failed(Failure::Read(e.to_string())),
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Err(e) => Outcome::Failed(Failure::Json(e.to_string())),
            Ok(value) if value.get("missive_format").is_none() => skipped(relative),
            Ok(value)
                if cfg!(not(feature = "relay")) && value["missive_format"] == "relay_script" =>
            {
                Outcome::Skipped("a script a relay answers: needs the relay feature")
            }
            Ok(value) => check_value(&value).unwrap_or_else(Outcome::Failed),
        },
    };
    Report {
        path: relative.to_owned(),
        outcome,
    }
}

fn skipped(relative: &Path) -> Outcome {
    let name = relative.to_string_lossy().replace('\\', "/");
    let known = REPLAYED_BY_TESTS
        .iter()
        .find(|(dir, _)| name.starts_with(dir));
    match known {
        Some((_, why)) => Outcome::Skipped(why),
        None => Outcome::Failed(Failure::input("missive_format", "the file's format name")),
    }
}

/// Checks every `*.json` file under `dir` (recursively, in name order), one report each.
///
/// # Errors
/// The folder (or one below it) cannot be listed.
pub fn check_dir(dir: &Path) -> std::io::Result<Vec<Report>> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    Ok(files
        .iter()
        .map(|path| check_file(path, path.strip_prefix(dir).unwrap_or(path)))
        .collect())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Our vector files, each with its place under `vectors/`, as this build writes them.
///
/// # Errors
/// One of our own inputs does not compute (a bug: the tests hold every file to this).
pub fn ours() -> Result<Vec<(&'static str, Value)>, Failure> {
    FORMATS
        .iter()
        .map(|f| Ok((f.file, (f.recompute)(&(f.inputs)())?)))
        .collect()
}

/// Our vector files' inputs: each file as it is before anything is computed (every leaf here
/// is an input; every other leaf of the file is computed from them).
pub fn our_inputs() -> Vec<(&'static str, Value)> {
    FORMATS.iter().map(|f| (f.file, (f.inputs)())).collect()
}

/// Writes our vector files under `dir`, as [`ours`] gives them.
///
/// # Errors
/// A file cannot be written, or one of our inputs does not compute.
pub fn write_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let files = ours().map_err(|f| std::io::Error::other(f.to_string()))?;
    let mut written = Vec::new();
    for (name, value) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let text = serde_json::to_string_pretty(&value).map_err(std::io::Error::other)?;
        std::fs::write(&path, text + "\n")?;
        written.push(path);
    }
    Ok(written)
}

/// The name a vector file gives a refusal: `DecodeError::NonCanonical`, `CryptoError::Expired`.
pub(crate) fn error_name(error: &Error) -> String {
    let debug = format!("{error:?}");
    let (outer, rest) = debug.split_once('(').unwrap_or((&debug, ""));
    let inner: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    format!("{outer}Error::{inner}")
}

/// A new file's skeleton: its format, description and inputs.
fn skeleton(format: &str, description: &str, inputs: Value) -> Value {
    serde_json::json!({ "missive_format": format, "description": description, "inputs": inputs })
}

/// The file recomputed: `missive_format`, `description` and `inputs` as given, then `outputs`.
fn with_outputs(file: &Value, outputs: Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in ["missive_format", "description", "inputs"] {
        if let Some(v) = file.get(key) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    out.insert("outputs".to_owned(), outputs);
    Value::Object(out)
}
