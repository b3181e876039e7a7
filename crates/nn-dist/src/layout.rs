//! The gradient as one flat vector cut into pieces ("chunks") that travel and are added one after
//! the other: each chunk holds whole columns of one layer's ∂J/∂Θ, column-major.

use nn_core::{Float, Gradients, Network};
use nn_train::LocalShards;

use crate::Error;

/// The largest number of chunks: two message tags per chunk stay below the group's reserved tags.
pub(crate) const MAX_CHUNKS: usize = 14_000;

/// Columns `col0..col0 + ncols` of layer `layer` (each of `nrows` entries), at `offset` in the
/// flat vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub(crate) layer: usize,
    pub(crate) col0: usize,
    pub(crate) ncols: usize,
    pub(crate) nrows: usize,
    pub(crate) offset: usize,
}

impl Chunk {
    pub(crate) fn len(&self) -> usize {
        self.nrows * self.ncols
    }
}

/// The chunks of a network's gradient, in order (layer after layer, column after column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) chunks: Vec<Chunk>,
    /// The number of entries of the whole gradient.
    pub(crate) len: usize,
}

impl Layout {
    /// Chunks of about `chunk_elems` entries (at least one column each) for `net`'s gradient.
    pub(crate) fn new<T: Float>(net: &Network<T>, chunk_elems: usize) -> Result<Layout, Error> {
        let mut chunks = Vec::new();
        let mut offset = 0;
        for (layer, dense) in net.layers().iter().enumerate() {
            let (nrows, n_cols) = (dense.n_outputs(), dense.n_inputs() + 1);
            let per_chunk = (chunk_elems / nrows.max(1)).max(1);
            let mut col0 = 0;
            while col0 < n_cols {
                let ncols = per_chunk.min(n_cols - col0);
                chunks.push(Chunk { layer, col0, ncols, nrows, offset });
                offset += nrows * ncols;
                col0 += ncols;
            }
        }
        if chunks.len() > MAX_CHUNKS {
            return Err(Error::TooManyChunks {
                chunk_elems,
                chunks: chunks.len(),
                max: MAX_CHUNKS,
            });
        }
        Ok(Layout { chunks, len: offset })
    }

    /// Whether every local gradient has the layout's shape.
    pub(crate) fn fits<T: Float>(&self, shards: &LocalShards<'_, T>) -> bool {
        (0..shards.len()).filter_map(|i| shards.gradients(i)).all(|g| {
            self.chunks.iter().all(|c| {
                g.layer(c.layer)
                    .is_some_and(|m| m.nrows() == c.nrows && m.ncols() >= c.col0 + c.ncols)
            }) && g.n_layers() == self.chunks.last().map_or(0, |c| c.layer + 1)
        })
    }

    /// Cuts `buf` (of `self.len` entries) into the chunks' slices.
    pub(crate) fn split_mut<'a, E>(&self, buf: &'a mut [E]) -> Vec<&'a mut [E]> {
        let mut out = Vec::with_capacity(self.chunks.len());
        let mut rest = buf;
        for c in &self.chunks {
            let n = c.len().min(rest.len());
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(n);
            out.push(head);
            rest = tail;
        }
        out
    }

    /// Chunk `k` of the running sum: `incoming` (the sum of all earlier shards, from the previous
    /// rank) plus the local shards in order, or the local shards alone when nothing comes before
    /// them; written to `dst`. The additions are exactly those of the single-process left fold
    /// `((g₀ + g₁) + g₂) + …`: for each entry, the running sum is the left operand and the next
    /// shard's entry the right one. `false` if a gradient does not have the layout's shape.
    pub(crate) fn fold_chunk<T: Float>(
        &self,
        k: usize,
        incoming: Option<&[T]>,
        shards: &LocalShards<'_, T>,
        dst: &mut [T],
    ) -> bool {
        let Some(c) = self.chunks.get(k) else { return false };
        if dst.len() != c.len() || incoming.is_some_and(|i| i.len() != c.len()) {
            return false;
        }
        let mut sources = (0..shards.len()).filter_map(|i| shards.gradients(i));
        let mut ok = true;
        let mut first = true;
        for g in sources.by_ref() {
            let Some(cols) = chunk_cols(g, c) else { return false };
            for (j, src) in cols.enumerate() {
                let d = &mut dst[j * c.nrows..(j + 1) * c.nrows];
                match (first, incoming) {
                    (true, Some(inc)) => {
                        let inc = &inc[j * c.nrows..(j + 1) * c.nrows];
                        for ((x, &a), &b) in d.iter_mut().zip(inc).zip(src) {
                            *x = a + b;
                        }
                    }
                    (true, None) => d.copy_from_slice(src),
                    (false, _) => {
                        for (x, &b) in d.iter_mut().zip(src) {
                            *x += b;
                        }
                    }
                }
            }
            first = false;
        }
        if first {
            // No local shard had samples: the running sum passes through unchanged.
            match incoming {
                Some(inc) => dst.copy_from_slice(inc),
                None => {
                    dst.fill(T::ZERO);
                    ok = false;
                }
            }
        }
        ok
    }

    /// Copies the flat `src` into `total` and tells whether every entry is finite; `None` if
    /// `total` does not have the layout's shape.
    pub(crate) fn unpack<T: Float>(&self, src: &[T], total: &mut Gradients<T>) -> Option<bool> {
        if src.len() != self.len {
            return None;
        }
        let mut finite = true;
        for c in &self.chunks {
            let layer = total.layer_mut(c.layer)?;
            if layer.nrows() != c.nrows || layer.ncols() < c.col0 + c.ncols {
                return None;
            }
            let part = &src[c.offset..c.offset + c.len()];
            nn_linalg::cols_mut(layer.subcols_mut(c.col0, c.ncols), |j, col| {
                col.copy_from_slice(&part[j * c.nrows..(j + 1) * c.nrows]);
                for x in col.iter() {
                    finite &= x.is_finite();
                }
            })
            .ok()?;
        }
        Some(finite)
    }
}

/// The columns of chunk `c` in `g`, if `g` has the chunk's shape.
fn chunk_cols<'g, T: Float>(
    g: &'g Gradients<T>,
    c: &Chunk,
) -> Option<impl ExactSizeIterator<Item = &'g [T]> + 'g> {
    let m = g.layer(c.layer)?;
    if m.nrows() != c.nrows || m.ncols() < c.col0 + c.ncols {
        return None;
    }
    nn_linalg::cols(m.subcols(c.col0, c.ncols))
}

#[cfg(test)]
mod tests {
    use nn_core::rng::{ChaCha8Rng, SeedableRng};
    use nn_core::{Activation, Loss, Network};

    use super::Layout;

    #[test]
    fn chunks_tile_the_gradient_in_whole_columns_of_one_layer() {
        let net: Network<f32> = Network::builder(7, Loss::SoftmaxCrossEntropy)
            .layer(5, Activation::Relu)
            .layer(3, Activation::Identity)
            .build(&mut ChaCha8Rng::seed_from_u64(0))
            .unwrap();
        for chunk_elems in [1, 4, 5, 11, 40, 1000] {
            let layout = Layout::new(&net, chunk_elems).unwrap();
            assert_eq!(layout.len, net.n_params());
            let mut offset = 0;
            let mut next_col = [0usize; 2];
            for c in &layout.chunks {
                assert_eq!(c.offset, offset);
                assert_eq!(c.col0, next_col[c.layer]);
                assert!(c.ncols >= 1 && (c.ncols == 1 || c.len() <= chunk_elems));
                next_col[c.layer] += c.ncols;
                offset += c.len();
            }
            assert_eq!(next_col, [8, 6]);
            let mut buf = vec![0u8; layout.len];
            let lens: Vec<usize> = layout.split_mut(&mut buf).iter().map(|s| s.len()).collect();
            assert_eq!(lens, layout.chunks.iter().map(super::Chunk::len).collect::<Vec<_>>());
        }
    }
}
