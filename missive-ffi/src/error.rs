//! Errors as they cross the boundary: one exception type whose variants are the engine's error
//! families, each with the engine's own variant name (`kind`), so an app matches on the same
//! kinds a Rust caller does; plus arguments of the wrong shape and the internal error a panic
//! becomes.

use std::any::Any;
use std::fmt;

/// Why a call failed. `kind` is the engine's variant (`NoSession`, `NonCanonical`), `detail`
/// its description in English, for logs.
#[derive(Debug, PartialEq, Eq, uniffi::Error)]
pub enum MissiveError {
    /// Malformed input (`missive::DecodeError`).
    Decode { kind: String, detail: String },
    /// Failed authentication: forged, tampered, replayed or not for us (`CryptoError`).
    Crypto { kind: String, detail: String },
    /// The call does not fit the state it was made in (`UsageError`).
    Usage { kind: String, detail: String },
    /// A product rule forbids it (`PolicyError`).
    Policy { kind: String, detail: String },
    /// The client's store failed, or holds what does not authenticate (`StoreError`).
    Store { kind: String, detail: String },
    /// A device list or link was refused (`DeviceError`).
    Device { kind: String, detail: String },
    /// An argument of the wrong shape (a mailbox id that is not 16 bytes, a key not 32).
    Argument { detail: String },
    /// A bug inside the engine (a panic, caught at the boundary). The client that raised it
    /// refuses every later call: load it again from its store, which holds its last save.
    Internal { detail: String },
}

impl fmt::Display for MissiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode { kind, detail }
            | Self::Crypto { kind, detail }
            | Self::Usage { kind, detail }
            | Self::Policy { kind, detail }
            | Self::Store { kind, detail }
            | Self::Device { kind, detail } => write!(f, "{kind}: {detail}"),
            Self::Argument { detail } => write!(f, "bad argument: {detail}"),
            Self::Internal { detail } => write!(f, "internal error: {detail}"),
        }
    }
}

impl std::error::Error for MissiveError {}

/// The variant's name out of its `Debug` form (`NoSession`, from `NoSession` or
/// `Invalid { what: .. }`).
fn variant<E: fmt::Debug>(e: &E) -> String {
    let debug = format!("{e:?}");
    debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn parts<E: fmt::Debug + fmt::Display>(e: &E) -> (String, String) {
    (variant(e), e.to_string())
}

impl From<missive::Error> for MissiveError {
    fn from(e: missive::Error) -> Self {
        use missive::Error as E;
        match e {
            E::Decode(e) => e.into(),
            E::Crypto(e) => {
                let (kind, detail) = parts(&e);
                Self::Crypto { kind, detail }
            }
            E::Usage(e) => {
                let (kind, detail) = parts(&e);
                Self::Usage { kind, detail }
            }
            E::Policy(e) => {
                let (kind, detail) = parts(&e);
                Self::Policy { kind, detail }
            }
            E::Store(e) => e.into(),
            E::Device(e) => {
                let (kind, detail) = parts(&e);
                Self::Device { kind, detail }
            }
            other => Self::Internal {
                detail: format!("an error this binding does not know: {other}"),
            },
        }
    }
}

impl From<missive::DecodeError> for MissiveError {
    fn from(e: missive::DecodeError) -> Self {
        let (kind, detail) = parts(&e);
        Self::Decode { kind, detail }
    }
}

impl From<missive::client::StoreError> for MissiveError {
    fn from(e: missive::client::StoreError) -> Self {
        let (kind, detail) = parts(&e);
        Self::Store { kind, detail }
    }
}

/// An argument that does not have the shape the call needs.
pub(crate) fn argument(detail: impl Into<String>) -> MissiveError {
    MissiveError::Argument {
        detail: detail.into(),
    }
}

/// What a caught panic said, for [`MissiveError::Internal`].
pub(crate) fn panicked(payload: &(dyn Any + Send)) -> MissiveError {
    let said = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned());
    MissiveError::Internal {
        detail: format!("the engine panicked: {said}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use missive::{CryptoError, DecodeError};

    #[test]
    fn each_family_keeps_the_engines_variant_name() {
        let e: MissiveError = missive::Error::Crypto(CryptoError::NoSession).into();
        assert!(matches!(&e, MissiveError::Crypto { kind, .. } if kind == "NoSession"));
        let e: MissiveError = missive::Error::Decode(DecodeError::Invalid { what: "x" }).into();
        assert!(matches!(&e, MissiveError::Decode { kind, .. } if kind == "Invalid"));
        let e: MissiveError = missive::client::StoreError::Tampered.into();
        assert!(matches!(&e, MissiveError::Store { kind, .. } if kind == "Tampered"));
    }

    #[test]
    fn a_panic_says_what_it_said() {
        let caught = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
        assert_eq!(
            panicked(&*caught),
            MissiveError::Internal {
                detail: "the engine panicked: boom".into()
            }
        );
    }
}
