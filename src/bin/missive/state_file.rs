//! The command-line client's state file: the engine's state sealed under a key derived from
//! a passphrase, so a copied or altered file gives nothing away and loads nothing.
//!
//! Layout (every header byte is bound into the seal as associated data, so a flipped byte
//! anywhere is refused):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `MSVSTATE` |
//! | 1 | version: 2 (1, read only, sealed the engine's state whole) |
//! | 1 | key source: 1 Argon2id of a passphrase, 2 a raw key (`MISSIVE_STATE_KEY`) |
//! | 12 | Argon2id memory (KiB), passes, lanes: u32 little-endian each (zero for a raw key) |
//! | 16 | salt |
//! | 12 | nonce, fresh for every save |
//! | rest | ChaCha20-Poly1305, with its tag, of: the engine's records (PROTOCOL.md §9.6; postcard, a map from row key to sealed record), then the message history (postcard, [`Record`]s oldest first) |
//!
//! The engine seals each record itself, under a storage key derived from the same key; this
//! file seals them again, with the history, so the file shows nothing but its length.
//!
//! A file without the magic is a state saved in the clear by an earlier version. It is read
//! only by `missive seal`, which seals it: accepting one anywhere else would let whoever can
//! write the file swap in a state of their own.

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use missive::client::{ClientStore, RowKey, StorageKey, StoreError};
use missive::crypto::aead::{AeadKey, NONCE_LEN, TAG_LEN};
use rand::RngExt;
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"MSVSTATE";
const VERSION: u8 = 2;
/// Files that sealed the engine's state whole; read, converted by the next save.
const VERSION_WHOLE: u8 = 1;
const HEADER_LEN: usize = 8 + 1 + 1 + 12 + 16 + NONCE_LEN;
const ARGON2ID: u8 = 1;
const RAW_KEY: u8 = 2;
/// RFC 9106's second recommended setting, with one lane: 64 MiB and three passes.
const MEMORY_KIB: u32 = 64 * 1024;
const PASSES: u32 = 3;
const LANES: u32 = 1;
/// What a header may ask for before its seal is checked: a flipped byte must not make the
/// client allocate gigabytes or run for minutes before refusing the file.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_PASSES: u32 = 16;
const MAX_LANES: u32 = 16;

/// Where the key comes from.
enum Secret {
    Passphrase(Zeroizing<String>),
    Key(Zeroizing<[u8; 32]>),
}

/// How the file's key is made: its source byte, Argon2id's costs and the salt.
#[derive(Clone, Copy)]
struct Params {
    source: u8,
    memory_kib: u32,
    passes: u32,
    lanes: u32,
    salt: [u8; 16],
}

impl Params {
    fn fresh(source: u8) -> Self {
        let (memory_kib, passes, lanes) = if source == ARGON2ID {
            (MEMORY_KIB, PASSES, LANES)
        } else {
            (0, 0, 0)
        };
        Self {
            source,
            memory_kib,
            passes,
            lanes,
            salt: rand::rng().random(),
        }
    }

    fn header(&self, nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
        let mut h = Vec::with_capacity(HEADER_LEN);
        h.extend_from_slice(MAGIC);
        h.extend([VERSION, self.source]);
        for v in [self.memory_kib, self.passes, self.lanes] {
            h.extend(v.to_le_bytes());
        }
        h.extend(self.salt);
        h.extend(nonce);
        h
    }

    /// The parameters and nonce of a sealed file's header.
    fn parse(header: &[u8]) -> Result<(Self, [u8; NONCE_LEN]), String> {
        let u32_at = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        if header[8] != VERSION && header[8] != VERSION_WHOLE {
            return Err(format!(
                "version {} is not one this client reads",
                header[8]
            ));
        }
        let params = Self {
            source: header[9],
            memory_kib: u32_at(10),
            passes: u32_at(14),
            lanes: u32_at(18),
            salt: header[22..38].try_into().map_err(|_| "truncated")?,
        };
        let nonce = header[38..HEADER_LEN].try_into().map_err(|_| "truncated")?;
        Ok((params, nonce))
    }

    fn key(&self, secret: &Secret) -> Result<Zeroizing<[u8; 32]>, String> {
        match (self.source, secret) {
            (RAW_KEY, Secret::Key(key)) => Ok(key.clone()),
            (ARGON2ID, Secret::Passphrase(phrase)) => {
                if self.memory_kib > MAX_MEMORY_KIB
                    || self.passes > MAX_PASSES
                    || self.lanes > MAX_LANES
                {
                    return Err("its header asks for more work than a state file may".into());
                }
                let params =
                    argon2::Params::new(self.memory_kib, self.passes, self.lanes, Some(32))
                        .map_err(|e| format!("its header is not valid Argon2id: {e}"))?;
                let kdf =
                    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
                let mut key = Zeroizing::new([0u8; 32]);
                kdf.hash_password_into(phrase.as_bytes(), &self.salt, &mut key[..])
                    .map_err(|e| format!("deriving its key: {e}"))?;
                Ok(key)
            }
            (RAW_KEY, Secret::Passphrase(_)) => Err(
                "it is sealed with a raw key: set MISSIVE_STATE_KEY".into(),
            ),
            (ARGON2ID, Secret::Key(_)) => Err(
                "it is sealed with a passphrase: set MISSIVE_PASSPHRASE (and not MISSIVE_STATE_KEY)"
                    .into(),
            ),
            (other, _) => Err(format!("key source {other} is not one this client knows")),
        }
    }
}

/// Messages kept in the history, the oldest dropped first.
const MAX_HISTORY: usize = 10_000;

/// A message in the history.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Record {
    /// Unix seconds.
    pub(crate) at: u64,
    /// The other side: an account name, a group's or several recipients' label.
    pub(crate) with: String,
    /// Whether we sent it.
    pub(crate) sent: bool,
    /// What a person reads.
    pub(crate) text: String,
}

/// What version 1 sealed: the engine's state whole, and the history.
#[derive(serde::Serialize, serde::Deserialize)]
struct SealedWhole {
    #[serde(with = "serde_bytes")]
    state: Vec<u8>,
    history: Vec<Record>,
}

impl Drop for SealedWhole {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.state);
    }
}

/// What is sealed: the engine's records and the history.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed {
    rows: BTreeMap<RowKey, serde_bytes::ByteBuf>,
    history: Vec<Record>,
}

/// One user's state file, with the key that opens it.
pub(crate) struct StateFile {
    path: PathBuf,
    params: Params,
    key: AeadKey,
    storage: StorageKey,
    rows: BTreeMap<RowKey, serde_bytes::ByteBuf>,
    /// The engine's state saved whole by an earlier version (in the clear, or version 1).
    whole: Option<Zeroizing<Vec<u8>>>,
    history: Vec<Record>,
    /// Held while a command that changes the state runs; `None` for one that only looks.
    lock: Option<std::fs::File>,
}

impl StateFile {
    fn new(path: &Path, params: Params, key: &[u8; 32], lock: Option<std::fs::File>) -> Self {
        Self {
            path: path.to_owned(),
            params,
            key: AeadKey::new(key),
            storage: StorageKey::new(key),
            rows: BTreeMap::new(),
            whole: None,
            history: Vec::new(),
            lock,
        }
    }
}

/// Takes the lock beside the state file at `path`, so that two commands (a chat view and a
/// `send` in another terminal) never both load the state and the later save undoes the other's
/// ratchet steps. The lock goes with the process, however it ends.
fn lock(path: &Path) -> Result<std::fs::File, String> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&name)
        .map_err(|e| format!("{}: {e}", Path::new(&name).display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "{}: in use by another missive command (a chat view?); try again once it ends",
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("{}: {e}", Path::new(&name).display())),
    }
}

impl StateFile {
    /// A new state file at `path` (not written until the first save).
    pub(crate) fn create(path: &Path) -> Result<Self, String> {
        if path.exists() {
            return Err(format!("{} exists already", path.display()));
        }
        let lock = lock(path)?;
        let secret = secret(path, true)?;
        let params = Params::fresh(source(&secret));
        let key = params
            .key(&secret)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self::new(path, params, &key, Some(lock)))
    }

    /// The state file at `path`, its key derived from the passphrase or key in the
    /// environment (or typed, on a terminal), locked until it is dropped. With
    /// `clear_allowed`, a state saved in the clear by an earlier version is read, to be sealed
    /// by the next save.
    pub(crate) fn open(path: &Path, clear_allowed: bool) -> Result<Self, String> {
        let lock = lock(path)?;
        Self::read(path, clear_allowed, Some(lock))
    }

    /// The state file at `path` to look at, not to change (saving it fails): commands that
    /// only show what it holds run beside one that holds the lock.
    pub(crate) fn view(path: &Path) -> Result<Self, String> {
        Self::read(path, false, None)
    }

    fn read(path: &Path, clear_allowed: bool, lock: Option<std::fs::File>) -> Result<Self, String> {
        let fail = |e: String| format!("{}: {e}", path.display());
        let bytes = match std::fs::read(path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(fail("no such file (run `init` first)".into()));
            }
            Err(e) => return Err(fail(e.to_string())),
        };
        let magic_so_far = &bytes[..bytes.len().min(MAGIC.len())];
        if bytes.len() < HEADER_LEN + TAG_LEN && MAGIC.starts_with(magic_so_far) {
            return Err(fail("truncated: shorter than a header and a tag".into()));
        }
        if !bytes.starts_with(MAGIC) {
            if !clear_allowed {
                return Err(fail(format!(
                    "not a sealed state file (a state saved in the clear by an earlier version \
                     is sealed once with `missive seal --state {}`)",
                    path.display()
                )));
            }
            let secret = secret(path, true)?;
            let params = Params::fresh(source(&secret));
            let key = params.key(&secret).map_err(fail)?;
            let mut file = Self::new(path, params, &key, lock);
            file.whole = Some(bytes);
            return Ok(file);
        }
        let (header, sealed) = bytes.split_at(HEADER_LEN);
        let (params, nonce) = Params::parse(header).map_err(fail)?;
        let secret = secret(path, false)?;
        let key = params.key(&secret).map_err(fail)?;
        let mut file = Self::new(path, params, &key, lock);
        let mut plain = Zeroizing::new(sealed.to_vec());
        file.key
            .open_in_place(&nonce, header, &mut plain)
            .map_err(|_| fail("wrong passphrase or key, or the file was altered".into()))?;
        let undecodable = |_| fail("its contents do not decode".into());
        if header[8] == VERSION_WHOLE {
            let mut opened: SealedWhole = postcard::from_bytes(&plain).map_err(undecodable)?;
            file.whole = Some(Zeroizing::new(std::mem::take(&mut opened.state)));
            file.history = std::mem::take(&mut opened.history);
        } else {
            let opened: Sealed = postcard::from_bytes(&plain).map_err(undecodable)?;
            file.rows = opened.rows;
            file.history = opened.history;
        }
        Ok(file)
    }

    /// Messages kept, oldest first.
    pub(crate) fn history(&self) -> &[Record] {
        &self.history
    }

    /// Keeps `record` (saved with the next save of the state).
    pub(crate) fn keep(&mut self, record: Record) {
        self.history.push(record);
        let over = self.history.len().saturating_sub(MAX_HISTORY);
        self.history.drain(..over);
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl ClientStore for StateFile {
    fn key(&self) -> &StorageKey {
        &self.storage
    }

    fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.rows.get(row).map(|v| v.to_vec()))
    }

    fn legacy(&self) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        Ok(self.whole.clone())
    }

    /// Writes the whole file again (a new file, then renamed over the old): a command-line
    /// user's state is small, and the file stays one sealed unit.
    fn commit(
        &mut self,
        check: &RowKey,
        expected: Option<&[u8]>,
        changes: &[(RowKey, Option<Vec<u8>>)],
    ) -> Result<(), StoreError> {
        if self.lock.is_none() {
            return Err(StoreError::Backend);
        }
        // The lock keeps other commands out; this catches a client loaded before another
        // save of this file.
        if self.rows.get(check).map(|v| v.as_slice()) != expected {
            return Err(StoreError::Conflict);
        }
        let mut rows = self.rows.clone();
        for (row, value) in changes {
            match value {
                Some(v) => rows.insert(*row, serde_bytes::ByteBuf::from(v.clone())),
                None => rows.remove(row),
            };
        }
        let mut nonce = [0u8; NONCE_LEN];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut nonce);
        let mut file = self.params.header(&nonce);
        let mut sealed = Sealed {
            rows,
            history: std::mem::take(&mut self.history),
        };
        let plain = postcard::to_allocvec(&sealed).map(Zeroizing::new);
        self.history = std::mem::take(&mut sealed.history);
        let plain = plain.map_err(|_| StoreError::Backend)?;
        file.extend(self.key.seal(&nonce, &file, &plain));
        let tmp = self.path.with_extension("tmp");
        write_private(&tmp, &file).map_err(|_| StoreError::Backend)?;
        std::fs::rename(&tmp, &self.path).map_err(|_| StoreError::Backend)?;
        self.rows = sealed.rows;
        self.whole = None;
        Ok(())
    }
}

fn source(secret: &Secret) -> u8 {
    match secret {
        Secret::Passphrase(_) => ARGON2ID,
        Secret::Key(_) => RAW_KEY,
    }
}

/// The key or passphrase: `MISSIVE_STATE_KEY` (64 hex digits, for scripts that keep a key
/// elsewhere), else `MISSIVE_PASSPHRASE`, else typed on the terminal (twice for a new file).
fn secret(path: &Path, new: bool) -> Result<Secret, String> {
    if let Ok(hex_key) = std::env::var("MISSIVE_STATE_KEY") {
        let key = Zeroizing::new(hex::decode(hex_key.trim()).unwrap_or_default());
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| "MISSIVE_STATE_KEY must be 64 hex digits (32 bytes)".to_owned())?;
        return Ok(Secret::Key(Zeroizing::new(key)));
    }
    if let Ok(phrase) = std::env::var("MISSIVE_PASSPHRASE") {
        return passphrase(Zeroizing::new(phrase));
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(format!(
            "{}: no passphrase: set MISSIVE_PASSPHRASE (or MISSIVE_STATE_KEY), or run in a terminal",
            path.display()
        ));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| format!("reading the passphrase: {e}"))
    };
    let phrase = ask(&format!("passphrase for {}: ", path.display()))?;
    if new && *ask("again: ")? != *phrase {
        return Err("the passphrases differ".into());
    }
    passphrase(phrase)
}

fn passphrase(phrase: Zeroizing<String>) -> Result<Secret, String> {
    if phrase.is_empty() {
        return Err("the passphrase is empty".into());
    }
    Ok(Secret::Passphrase(phrase))
}

/// Writes `bytes` to `path`, readable by the owner only, and waits until they are on disk.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
