//! Pairwise sessions: prekey bundles, asynchronous setup and the Double Ratchet.
