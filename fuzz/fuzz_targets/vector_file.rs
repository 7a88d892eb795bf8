#![no_main]
//! `missive vectors check` reads files someone else wrote: whatever JSON it is handed (any
//! text, or one of our files with bytes changed anywhere) gives a typed outcome, never a panic.
//! The files edited are those that check within a few seconds in the unoptimised fuzz build;
//! the others' code paths are the same readers of inputs. `identity/identity.json` is left
//! out: its fingerprints iterate SHA-512 5,200 times each, about a minute an execution here
//! (its decoder is fuzzed by `decode_identity`).

use libfuzzer_sys::fuzz_target;
use missive::vectors;
use serde_json::Value;

const FILES: [&str; 9] = [
    include_str!("../../vectors/relay/bodies.json"),
    include_str!("../../vectors/relay/mailbox.json"),
    include_str!("../../vectors/client/pairwise.json"),
    include_str!("../../vectors/client/first_post.json"),
    include_str!("../../vectors/access/access.json"),
    include_str!("../../vectors/session/state.json"),
    include_str!("../../vectors/conversation/state.json"),
    include_str!("../../vectors/conversation/three_member_group.json"),
    include_str!("../../vectors/session/pqxdh_last_resort.json"),
];

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        let _ = vectors::check_value(&value);
        return;
    }
    // One of our files, with bytes set at the places the input names (3 bytes an edit: a
    // position scaled to the file's length, and the new byte).
    let Some((&pick, edits)) = data.split_first() else {
        return;
    };
    let mut text = FILES[usize::from(pick) % FILES.len()].as_bytes().to_vec();
    for edit in edits.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) * text.len() / 65_536;
        text[at] = edit[2];
    }
    if let Ok(value) = serde_json::from_slice::<Value>(&text) {
        let _ = vectors::check_value(&value);
    }
});
