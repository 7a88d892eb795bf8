//! The vector files the engine writes and checks itself (`missive::vectors`, PROTOCOL.md §8.1–8.2,
//! §9.2, §9.4): every file in `vectors/` replays, ours are exactly what this build writes, and a
//! copy changed anywhere (an output, an input, a field removed or added) fails, naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use missive::vectors::{self, Failure, Outcome};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

#[test]
fn every_file_in_vectors_replays_or_says_which_tests_replay_it() {
    let reports = vectors::check_dir(&vectors_dir()).unwrap();
    let mut checked = Vec::new();
    for report in &reports {
        match &report.outcome {
            Outcome::Passed { format, cases } => {
                assert!(*cases > 1, "{report}");
                checked.push((report.path.clone(), *format));
            }
            Outcome::Skipped(why) => assert!(
                why.starts_with("replayed by") || why.starts_with("published"),
                "{report}"
            ),
            Outcome::Failed(_) => panic!("{report}"),
        }
    }
    let ours: Vec<PathBuf> = vectors::ours()
        .unwrap()
        .iter()
        .map(|(name, _)| PathBuf::from(name))
        .collect();
    let found: Vec<PathBuf> = checked.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(found.len(), ours.len(), "{checked:?}");
    for name in ours {
        assert!(found.contains(&name), "{} was not checked", name.display());
    }
}

#[test]
fn our_files_are_exactly_what_this_build_writes() {
    for (name, value) in vectors::ours().unwrap() {
        let text = std::fs::read_to_string(vectors_dir().join(name)).unwrap();
        let on_disk: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            on_disk, value,
            "{name}: run `missive vectors write vectors`"
        );
        assert_eq!(
            text,
            serde_json::to_string_pretty(&value).unwrap() + "\n",
            "{name}"
        );
    }
}

/// Every leaf of `value` with its path, as the checker names places.
fn leaves(value: &Value, path: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(v, here, out);
            }
        }
        Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                leaves(v, format!("{path}[{i}]"), out);
            }
        }
        leaf => out.push((path, leaf.clone())),
    }
}

/// The value at a path `a.b[2].c`, as the checker names places (empty: the whole).
fn at_path<'a>(value: &'a mut Value, path: &str) -> &'a mut Value {
    let mut at = value;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, Some(rest)),
            None => (part, None),
        };
        at = &mut at[key];
        if let Some(rest) = index {
            for i in rest.split('[') {
                at = &mut at[i.trim_end_matches(']').parse::<usize>().unwrap()];
            }
        }
    }
    at
}

/// `value` with the leaf at `path` replaced.
fn replaced(value: &Value, path: &str, new: Value) -> Value {
    let mut out = value.clone();
    *at_path(&mut out, path) = new;
    out
}

/// A changed leaf: one hex digit, a number or a flag, or a different string.
fn changed(leaf: &Value) -> Option<Value> {
    Some(match leaf {
        Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit()) => {
            let mut digits: Vec<char> = s.chars().collect();
            let last = digits.len() - 1;
            digits[last] = if digits[last] == '0' { '1' } else { '0' };
            Value::String(digits.into_iter().collect())
        }
        Value::String(s) => Value::String(format!("{s}x")),
        Value::Number(n) => Value::from(n.as_u64()? ^ 1),
        Value::Bool(b) => Value::Bool(!b),
        Value::Null => Value::from(0),
        _ => return None,
    })
}

/// The paths of a file's inputs: the leaves of the file before anything is computed.
fn input_paths(name: &str) -> Vec<String> {
    let (_, skeleton) = vectors::our_inputs()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap();
    all_leaves(&skeleton).into_iter().map(|(p, _)| p).collect()
}

fn is_prose(path: &str) -> bool {
    path.ends_with("description") || path.ends_with(".name") || path == "missive_format"
}

/// Every leaf of a file with its path.
fn all_leaves(file: &Value) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    leaves(file, String::new(), &mut all);
    all
}

/// At most `n` of `leaves`, spread evenly from the first to the last: a transcript of a
/// hundred messages repeats its fields a hundred times, and each change recomputes it whole.
fn spread(leaves: Vec<(String, Value)>, n: usize) -> Vec<(String, Value)> {
    let step = leaves.len().div_ceil(n).max(1);
    let last = leaves.len().saturating_sub(1);
    leaves
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i == last)
        .map(|(_, leaf)| leaf)
        .collect()
}

/// How many leaves of one file the change tests try.
const TRIED: usize = 250;

#[test]
fn every_output_changed_anywhere_is_named_as_a_mismatch() {
    for (name, file) in vectors::ours().unwrap() {
        let inputs = input_paths(name);
        let outputs: Vec<_> = all_leaves(&file)
            .into_iter()
            .filter(|(p, _)| !inputs.contains(p) && !is_prose(p))
            .collect();
        let outputs = spread(outputs, TRIED);
        assert!(outputs.len() > 1, "{name}");
        for (path, leaf) in outputs {
            let bad = replaced(&file, &path, changed(&leaf).unwrap());
            match vectors::check_value(&bad) {
                Err(Failure::Mismatch { at, .. }) => assert_eq!(at, path, "{name}"),
                other => panic!("{name}: {path} changed gives {other:?}"),
            }
        }
    }
}

/// Whether the input at `path` feeds a step (or a state) whose output is a refusal: one refused
/// before its bytes are authenticated (a replay, a gap too long, a small-order key, an unknown
/// version) is refused alike with another byte changed.
fn refused_where_changed(file: &Value, path: &str) -> bool {
    let Some(rest) = path.strip_prefix("inputs.cases[") else {
        return false;
    };
    let Some((case, rest)) = rest.split_once(']') else {
        return false;
    };
    let output = &file["outputs"]["cases"][case.parse::<usize>().unwrap()];
    if rest == ".state" {
        return output["loaded"] != "ok";
    }
    // An edit of a store's rows (`client/records.json`) is refused before anything is decoded,
    // or never read (a record no leaf lists): another byte of it is answered alike.
    if rest.starts_with(".put") || rest == ".key" {
        return true;
    }
    let step = rest
        .strip_prefix(".steps[")
        .and_then(|r| r.split_once(']'))
        .map(|(n, _)| n.parse::<usize>().unwrap());
    step.is_some_and(|n| output["steps"][n].get("error").is_some())
}

#[test]
fn every_input_changed_anywhere_fails() {
    for (name, file) in vectors::ours().unwrap() {
        let mut mismatches = 0;
        let inputs = input_paths(name);
        assert!(!inputs.is_empty(), "{name}");
        let leaves = all_leaves(&file)
            .into_iter()
            .filter(|(p, _)| inputs.contains(p) && !is_prose(p))
            .collect();
        for (path, leaf) in spread(leaves, TRIED) {
            let Some(new) = changed(&leaf) else { continue };
            match vectors::check_value(&replaced(&file, &path, new)) {
                Err(Failure::Mismatch { .. }) => mismatches += 1,
                Err(Failure::Input { .. }) => {}
                // What a verification is presented with, where a body is opened, which byte is
                // changed: another wrong one is refused alike (and a valid proof stays valid
                // a second later).
                Ok(_) if refused_where_changed(&file, &path) => {}
                Ok(_)
                    if path.starts_with("inputs.verifications")
                        || path.starts_with("inputs.refusals")
                        || path.starts_with("refusals")
                        || path.starts_with("decodings")
                        || path.ends_with("open_at")
                        || path.ends_with("flip")
                        // A request of a script changed may be answered alike: another nonce,
                        // another byte of a body the relay cannot read.
                        || path.starts_with("inputs.steps")
                        || path.starts_with("inputs.relay")
                        // An ML-KEM seed's last digit is in z, FIPS 203's implicit-rejection
                        // seed: only a ciphertext that fails to decapsulate would show it.
                        || path.contains("kem_seed")
                        // Drawn by the prekey owner, but a bundle with a one-time prekey does
                        // not carry the last-resort prekey.
                        || path.ends_with("bob_last_resort_secret")
                        // A replay is refused before its bytes are authenticated, tampered or
                        // not.
                        || path.ends_with(".tamper") => {}
                other => panic!("{name}: {path} changed gives {other:?}"),
            }
        }
        assert!(mismatches >= 3, "{name}: {mismatches}");
    }
}

#[test]
fn a_field_removed_or_added_fails() {
    for (name, file) in vectors::ours().unwrap() {
        // An output leaf's field removed, and a field added beside it.
        let inputs = input_paths(name);
        let (path, _) = all_leaves(&file)
            .into_iter()
            .find(|(p, _)| !inputs.contains(p) && !is_prose(p) && !p.ends_with(']'))
            .unwrap();
        let (parent, field) = path.rsplit_once('.').unwrap_or(("", &path));
        let mut removed = file.clone();
        let mut added = file.clone();
        for (copy, remove) in [(&mut removed, true), (&mut added, false)] {
            let object = at_path(copy, parent).as_object_mut().unwrap();
            if remove {
                object.remove(field);
            } else {
                object.insert("extra".into(), Value::from(1));
            }
        }
        assert!(
            matches!(vectors::check_value(&removed), Err(Failure::Mismatch { at, .. }) if at == path),
            "{name}: {path}"
        );
        let extra = if parent.is_empty() {
            "extra".to_owned()
        } else {
            format!("{parent}.extra")
        };
        assert!(
            matches!(vectors::check_value(&added), Err(Failure::Mismatch { at, .. }) if at == extra),
            "{name}"
        );
        let mut unknown = file.clone();
        unknown["missive_format"] = Value::from("no such format");
        assert_eq!(
            vectors::check_value(&unknown),
            Err(Failure::UnknownFormat("no such format".into()))
        );
        let mut no_format = file.clone();
        no_format.as_object_mut().unwrap().remove("missive_format");
        assert!(
            matches!(vectors::check_value(&no_format), Err(Failure::Input { .. })),
            "{name}"
        );
    }
}

#[test]
fn a_folder_holding_a_corrupted_copy_reports_that_file() {
    let dir = std::env::temp_dir().join(format!("missive-vectors-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let written = vectors::write_dir(&dir).unwrap();
    assert_eq!(written.len(), vectors::ours().unwrap().len());
    let ours = vectors::ours().unwrap();
    let (name, file) = ours
        .iter()
        .find(|(n, _)| *n == "sealed/sealed.json")
        .unwrap();
    let text = serde_json::to_string_pretty(file).unwrap();
    // One hex digit of the first body changed.
    let body = file["outputs"]["cases"][0]["body"].as_str().unwrap();
    let mut bad_body = body.to_owned();
    bad_body.replace_range(10..11, if &body[10..11] == "0" { "1" } else { "0" });
    std::fs::write(dir.join(name), text.replace(body, &bad_body)).unwrap();
    std::fs::write(dir.join("not-json.json"), "{").unwrap();
    let reports = vectors::check_dir(&dir).unwrap();
    let outcome = |n: &str| {
        &reports
            .iter()
            .find(|r| r.path == Path::new(n))
            .unwrap()
            .outcome
    };
    assert!(
        matches!(outcome(name), Outcome::Failed(Failure::Mismatch { at, .. }) if at == "outputs.cases[0].body"),
        "{reports:?}"
    );
    assert!(matches!(
        outcome("not-json.json"),
        Outcome::Failed(Failure::Json(_))
    ));
    let line = reports
        .iter()
        .find(|r| r.path == Path::new(name))
        .unwrap()
        .to_string();
    assert!(
        line.starts_with(&format!(
            "FAIL  {name}: outputs.cases[0].body: the file has"
        )),
        "{line}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "cli")]
#[test]
fn the_command_prints_one_line_per_file_and_fails_on_a_bad_one() {
    use std::process::Command;
    let exe = env!("CARGO_BIN_EXE_missive");
    let out = Command::new(exe)
        .args(["vectors", "check"])
        .arg(vectors_dir())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    let files = vectors::check_dir(&vectors_dir()).unwrap().len();
    assert_eq!(text.lines().count(), files + 1, "{text}");
    assert!(
        text.contains("ok    sealed/sealed.json: sealed, "),
        "{text}"
    );
    assert!(
        text.lines().last().unwrap().ends_with("0 failed, ") || text.contains(" 0 failed,"),
        "{text}"
    );

    let dir = std::env::temp_dir().join(format!("missive-vectors-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(exe)
        .args(["vectors", "write"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mailbox = dir.join("relay/mailbox.json");
    let text = std::fs::read_to_string(&mailbox).unwrap();
    std::fs::write(
        &mailbox,
        text.replacen(
            "\"result\": \"ok\"",
            "\"result\": \"CryptoError::Expired\"",
            1,
        ),
    )
    .unwrap();
    let out = Command::new(exe)
        .args(["vectors", "check"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  relay/mailbox.json: outputs.verifications[0].result"),
        "{text}"
    );
    assert!(text.contains("ok    sealed/sealed.json"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
