//! The envelope ids remembered to drop duplicates (delivery is at least once): the last
//! [`MAX_SEEN`] or so, kept in [`CHUNKS`] chunks of [`CHUNK`] so that remembering one id
//! changes one chunk's record, not the whole window.

use std::collections::{BTreeSet, HashMap};

use crate::envelope::EnvelopeId;

/// Ids per chunk.
pub(super) const CHUNK: u64 = 64;
/// Chunks kept: the window holds between `(CHUNKS - 1) * CHUNK` and `CHUNKS * CHUNK` ids.
pub(super) const CHUNKS: u64 = super::MAX_SEEN as u64 / CHUNK;

pub(super) struct Seen {
    /// Each id and the count it was remembered at.
    ids: HashMap<EnvelopeId, u64>,
    /// The ring of chunks: chunk `c` holds ids remembered at counts `base .. base + CHUNK`
    /// with `(base / CHUNK) % CHUNKS == c`.
    chunks: Vec<(u64, Vec<EnvelopeId>)>,
    /// Ids remembered ever.
    count: u64,
    touched: BTreeSet<u8>,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            ids: HashMap::new(),
            chunks: (0..CHUNKS).map(|c| (c * CHUNK, Vec::new())).collect(),
            count: 0,
            touched: BTreeSet::new(),
        }
    }
}

impl Seen {
    pub(super) fn contains(&self, id: &EnvelopeId) -> bool {
        self.ids.contains_key(id)
    }

    pub(super) fn remember(&mut self, id: EnvelopeId) {
        let at = self.count;
        let c = ((at / CHUNK) % CHUNKS) as usize;
        let Some((base, ids)) = self.chunks.get_mut(c) else {
            return;
        };
        if at.is_multiple_of(CHUNK) {
            for old in ids.drain(..) {
                if self.ids.get(&old).is_some_and(|&n| n < at) {
                    self.ids.remove(&old);
                }
            }
            *base = at;
        }
        ids.push(id);
        self.ids.insert(id, at);
        self.count += 1;
        self.touched.insert(c as u8);
    }

    /// Every id, oldest first.
    pub(super) fn in_order(&self) -> Vec<EnvelopeId> {
        let mut chunks: Vec<&(u64, Vec<EnvelopeId>)> = self.chunks.iter().collect();
        chunks.sort_by_key(|(base, _)| *base);
        chunks
            .into_iter()
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect()
    }

    /// Chunk `c` as saved: its base count and ids.
    pub(super) fn chunk(&self, c: u8) -> Option<(u64, &[EnvelopeId])> {
        let (base, ids) = self.chunks.get(usize::from(c))?;
        (!ids.is_empty()).then_some((*base, ids.as_slice()))
    }

    pub(super) fn take_touched(&mut self) -> BTreeSet<u8> {
        core::mem::take(&mut self.touched)
    }

    pub(super) fn touch_all(&mut self) {
        self.touched.extend((0..CHUNKS).map(|c| c as u8));
    }

    /// Restores saved chunks; `None` if one is not where its base puts it, or too long.
    pub(super) fn from_chunks(saved: Vec<(u8, u64, Vec<EnvelopeId>)>) -> Option<Self> {
        let mut seen = Self::default();
        for (c, base, ids) in saved {
            let fits = base.is_multiple_of(CHUNK) && (base / CHUNK) % CHUNKS == u64::from(c);
            if !fits || ids.is_empty() || ids.len() as u64 > CHUNK {
                return None;
            }
            for (i, id) in ids.iter().enumerate() {
                seen.ids.insert(*id, base + i as u64);
            }
            seen.count = seen.count.max(base + ids.len() as u64);
            *seen.chunks.get_mut(usize::from(c))? = (base, ids);
        }
        Some(seen)
    }
}

impl FromIterator<EnvelopeId> for Seen {
    fn from_iter<I: IntoIterator<Item = EnvelopeId>>(iter: I) -> Self {
        let mut seen = Self::default();
        iter.into_iter().for_each(|id| seen.remember(id));
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> EnvelopeId {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&n.to_be_bytes());
        EnvelopeId(bytes)
    }

    #[test]
    fn the_window_forgets_a_chunk_at_a_time_and_restores_from_its_chunks() {
        let total = CHUNKS * CHUNK + 10;
        let mut seen: Seen = (0..total).map(id).collect();
        // The oldest chunk gave way to the last ten ids: the 54 after it are still there.
        assert!(!seen.contains(&id(CHUNK - 1)) && seen.contains(&id(CHUNK)));
        assert!(seen.contains(&id(total - 1)));
        let order = seen.in_order();
        assert_eq!(order.first(), Some(&id(CHUNK)));
        assert_eq!(order.len() as u64, total - CHUNK);
        assert_eq!(seen.take_touched().len() as u64, CHUNKS);
        seen.remember(id(total));
        assert_eq!(seen.take_touched(), BTreeSet::from([0]));

        let saved = (0..CHUNKS as u8)
            .filter_map(|c| seen.chunk(c).map(|(b, ids)| (c, b, ids.to_vec())))
            .collect();
        let mut again = Seen::from_chunks(saved).unwrap();
        assert_eq!(again.in_order(), seen.in_order());
        again.remember(id(total + 1));
        seen.remember(id(total + 1));
        assert_eq!(again.in_order(), seen.in_order());
        assert!(Seen::from_chunks(vec![(1, 0, vec![id(0)])]).is_none());
        assert!(Seen::from_chunks(vec![(0, 0, Vec::new())]).is_none());
    }
}
