//! The relay's SQLite store: the conformance suite every backend passes, and what only a
//! file on disk can show (acknowledged ciphertext leaves the file).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "relay")]

mod store_conformance;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use missive::mailbox::MailboxId;
use missive::relay::{Limits, RelayStore, SqliteStore};
use store_conformance::{Database, envelope};

/// A database file of its own in a temporary directory, removed with it.
struct File {
    dir: PathBuf,
}

impl File {
    fn fresh() -> Option<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("missive-store-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Some(Self { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.join("relay.db")
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Database for File {
    fn open(&self, limits: Limits) -> Arc<dyn RelayStore> {
        Arc::new(SqliteStore::open(&self.path(), limits).unwrap())
    }
}

conformance!(File::fresh());

#[test]
fn acknowledged_ciphertext_does_not_stay_in_the_database_file() {
    let file = File::fresh().unwrap();
    let (dir, path) = (file.dir.clone(), file.path());
    // One body inside a page, one spread over overflow pages that go to the free list.
    let small = b"ACKNOWLEDGED-CIPHERTEXT-".repeat(20);
    let large = b"LARGE-ACKNOWLEDGED-CIPHERTEXT-".repeat(4000);
    let kept = b"still-pending".repeat(20);
    {
        let s = SqliteStore::open(&path, Limits::default()).unwrap();
        let batch = [
            envelope(1, &small, &[1]),
            envelope(2, &large, &[1]),
            envelope(3, &kept, &[2]),
        ];
        assert_eq!(s.deliver(&batch, 0), vec![Ok(()), Ok(()), Ok(())]);
        assert_eq!(s.ack(&MailboxId([1; 16]), &[[1; 16], [2; 16]]), Ok(2));
    }
    // The last connection to close copies the WAL into the database and deletes it.
    let wal = dir.join("relay.db-wal");
    for _ in 0..100 {
        if !wal.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!wal.exists(), "the WAL outlived every connection");
    let file = std::fs::read(&path).unwrap();
    let holds = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
    assert!(holds(&kept), "the pending body is in the file");
    assert!(
        !holds(&small[..48]),
        "the small acknowledged body is still in the file"
    );
    assert!(
        !holds(&large[..60]),
        "the large acknowledged body is still in free pages"
    );
}
