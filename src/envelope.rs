//! The relay-facing envelope: recipient mailboxes, expiry and a padded ciphertext.
