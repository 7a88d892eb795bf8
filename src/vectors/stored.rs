//! What the state-at-rest formats share (`session_state`, `conversation_state`): a file of
//! cases, each a stored state and the steps run on it, and the state saved again.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::json::{Place, hex};
use super::{Failure, error_name, skeleton, with_outputs};
use crate::error::Error;

/// A saved state longer than this is given by its SHA-256 and length.
const SHORT_STATE: usize = 4096;

/// A saved state as the outputs give it: its bytes, or their SHA-256 and length.
pub(super) fn saved(bytes: &[u8]) -> Value {
    if bytes.len() <= SHORT_STATE {
        json!({"bytes": hex(bytes)})
    } else {
        json!({"sha256": hex(Sha256::digest(bytes)), "length": bytes.len()})
    }
}

/// The file with every case's outputs recomputed by `run_case`.
pub(super) fn recompute(
    file: &Value,
    run_case: fn(&Place<'_>) -> Result<Value, Failure>,
) -> Result<Value, Failure> {
    let inputs = Place::root(file).field("inputs")?;
    let cases = inputs
        .list("cases")?
        .iter()
        .map(run_case)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(with_outputs(file, json!({ "cases": cases })))
}

/// A file's skeleton from our cases (a case naming the error, should one not compute: the
/// tests then fail on it).
pub(super) fn inputs(format: &str, description: &str, cases: Result<Vec<Value>, Error>) -> Value {
    let cases = cases.unwrap_or_else(|e| vec![json!({"error": error_name(&e)})]);
    skeleton(format, description, json!({ "cases": cases }))
}
