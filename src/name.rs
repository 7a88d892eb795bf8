//! Account names (PROTOCOL.md §8.3.1): the one spelling the directory keys a person on.
//!
//! A name typed on a phone and the same name typed on a laptop may arrive as different code
//! points (`ë` precomposed, or `e` and a combining diaeresis). Names are therefore kept in
//! Unicode Normalization Form C, and a name that could hide what it says from a reader
//! (control and bidirectional formatting characters, space at either end) is refused.

use unicode_normalization::UnicodeNormalization;

/// Longest account name, in bytes of its NFC form.
pub const MAX_NAME_LEN: usize = 64;

/// Why a name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    TooLong,
    /// The bytes are not UTF-8.
    NotUtf8,
    /// The name holds a control or invisible formatting character (which could rewrite a
    /// terminal or reorder what a reader sees).
    Control,
    /// The name begins or ends with white space.
    Space,
    /// The name is not in Normalization Form C (only [`check`] refuses this; [`normalize`]
    /// converts it).
    NotNormalized,
}

impl core::fmt::Display for NameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Empty => "an account name cannot be empty",
            Self::TooLong => "an account name is at most 64 bytes",
            Self::NotUtf8 => "an account name must be UTF-8",
            Self::Control => "an account name cannot hold control or formatting characters",
            Self::Space => "an account name cannot begin or end with a space",
            Self::NotNormalized => "an account name must be in Unicode NFC",
        })
    }
}

impl std::error::Error for NameError {}

/// `name` in the one spelling the directory uses (NFC), or why it cannot be a name.
pub fn normalize(name: &str) -> Result<String, NameError> {
    let nfc: String = name.nfc().collect();
    allowed(&nfc)?;
    Ok(nfc)
}

/// Checks that `name` is a name as the directory stores it: UTF-8, already NFC, and allowed.
/// The relay refuses any other (a client must [`normalize`] first).
pub fn check(name: &[u8]) -> Result<&str, NameError> {
    let text = core::str::from_utf8(name).map_err(|_| NameError::NotUtf8)?;
    allowed(text)?;
    if unicode_normalization::is_nfc(text) {
        Ok(text)
    } else {
        Err(NameError::NotNormalized)
    }
}

fn allowed(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    if name.chars().any(is_hidden) {
        return Err(NameError::Control);
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err(NameError::Space);
    }
    Ok(())
}

/// Control characters (Cc), and the invisible ones that change how text around them reads:
/// zero-width spaces and joiners, directional marks, embeddings, overrides and isolates,
/// word joiners and invisible operators, and the byte-order mark. Names may not hold them,
/// and a client escapes them in any text it prints.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{061C}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_a_name_are_one_name() {
        let composed = "zo\u{eb}";
        let decomposed = "zoe\u{308}";
        assert_ne!(composed, decomposed);
        assert_eq!(normalize(decomposed).unwrap(), composed);
        assert_eq!(normalize(composed).unwrap(), composed);
        assert_eq!(check(composed.as_bytes()), Ok(composed));
        assert_eq!(check(decomposed.as_bytes()), Err(NameError::NotNormalized));
    }

    #[test]
    fn names_that_hide_what_they_say_are_refused() {
        assert_eq!(normalize(""), Err(NameError::Empty));
        assert_eq!(normalize("a".repeat(65).as_str()), Err(NameError::TooLong));
        assert_eq!(normalize(&"a".repeat(64)).map(|n| n.len()), Ok(64));
        for bad in [
            "bob\u{1b}[2J",
            "bob\n",
            "a\u{0}b",
            "a\u{7f}",
            "\u{202E}evil",
            "a\u{200B}b",
            "a\u{200F}",
            "a\u{2066}b",
            "a\u{2069}",
            "\u{FEFF}bob",
            "a\u{061C}",
        ] {
            assert_eq!(normalize(bad), Err(NameError::Control), "{bad:?}");
        }
        assert_eq!(normalize(" bob"), Err(NameError::Space));
        assert_eq!(normalize("bob "), Err(NameError::Space));
        assert_eq!(normalize("Ana María"), Ok("Ana María".into()));
        // Just outside each refused range.
        for fine in [
            "a\u{200A}b",
            "a\u{2010}",
            "a\u{2029}b",
            "a\u{202F}b",
            "a\u{205F}b",
            "a\u{206A}",
            "a\u{FEFE}",
            "a\u{061B}",
            "a\u{061D}",
        ] {
            assert_eq!(normalize(fine).as_deref(), Ok(fine), "{fine:?}");
        }
        assert_eq!(check(&[0xff, 0x61]), Err(NameError::NotUtf8));
        assert_eq!(check(b""), Err(NameError::Empty));
        assert_eq!(check(b"bob\x1b"), Err(NameError::Control));
    }

    #[test]
    fn each_refusal_says_what_was_wrong() {
        let said = |e: NameError| e.to_string();
        assert_eq!(said(NameError::Empty), "an account name cannot be empty");
        assert_eq!(
            said(NameError::TooLong),
            "an account name is at most 64 bytes"
        );
        assert_eq!(said(NameError::NotUtf8), "an account name must be UTF-8");
        assert_eq!(
            said(NameError::Control),
            "an account name cannot hold control or formatting characters"
        );
        assert_eq!(
            said(NameError::Space),
            "an account name cannot begin or end with a space"
        );
        assert_eq!(
            said(NameError::NotNormalized),
            "an account name must be in Unicode NFC"
        );
    }

    #[test]
    fn the_length_limit_counts_the_normalized_bytes() {
        // 32 decomposed "ë" are 96 bytes but 64 once composed.
        let long = "e\u{308}".repeat(32);
        assert_eq!(normalize(&long).map(|n| n.len()), Ok(64));
    }
}
