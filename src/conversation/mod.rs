//! Conversations: roster-bound per-recipient keys, sender chains and multi-recipient fan-out.
