//! Data augmentation by small random pixel shifts of image samples: [`RandomShift`].
//!
//! Each sample of a training batch is an image of `height × width` pixels stored row by row in
//! its column (feature `r · width + c` is pixel `(r, c)`: the layout of IDX image files). Before
//! the step, every image of the batch is moved by its own offset `(dy, dx)`, each drawn
//! uniformly from `−max_shift..=max_shift`: pixel `(r, c)` takes the value of pixel
//! `(r − dy, c − dx)`, and the pixels that come from outside the image are 0 (the background of
//! MNIST-like images scaled to [0, 1]).
//!
//! The offsets of a step come from a random stream that depends on the seed and the step only,
//! and sample k of the batch takes the k-th 64-bit word of it (its low half gives `dy`, its high
//! half `dx`): the same seed gives the same shifts for any thread count, across a resumed run
//! (the step count is part of the trainer's state), and in a process that gathers only a part
//! of the batch (distributed training) as in one that gathers all of it.

use nn_core::Float;
use nn_core::rng::{ChaCha8Rng, RngCore, SeedableRng};
use nn_linalg::MatMut;

use crate::Error;

/// Random shifts of image samples by up to `max_shift` pixels in each direction, applied by
/// [`Trainer::run_epoch`](crate::Trainer::run_epoch) and [`Trainer::fit`](crate::Trainer::fit)
/// to the batches they gather (see [`TrainConfig::with_random_shift`](crate::TrainConfig::with_random_shift)).
///
/// ```
/// use nn_train::RandomShift;
///
/// let shift = RandomShift::new(28, 28, 2)?;
/// assert_eq!((shift.height(), shift.width(), shift.max_shift()), (28, 28, 2));
/// assert!(RandomShift::new(28, 28, 28).is_err()); // a shift must leave some of the image
/// # Ok::<(), nn_train::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RandomShift {
    height: usize,
    width: usize,
    max_shift: usize,
}

impl RandomShift {
    /// Shifts of `height × width` images by up to `max_shift` pixels up, down, left or right.
    ///
    /// # Errors
    /// [`Error::ImageShape`] unless `height ≥ 1`, `width ≥ 1`, `height × width` fits in a
    /// `usize`, and `1 ≤ max_shift < min(height, width)`.
    pub fn new(height: usize, width: usize, max_shift: usize) -> Result<Self, Error> {
        let bad = |expected| Err(Error::ImageShape { height, width, max_shift, expected });
        if height == 0 || width == 0 {
            return bad("a height and a width of at least 1 pixel");
        }
        if height.checked_mul(width).is_none() {
            return bad("height × width within the platform's usize");
        }
        if max_shift == 0 || max_shift >= height.min(width) {
            return bad("a maximum shift from 1 to min(height, width) − 1 pixels");
        }
        Ok(RandomShift { height, width, max_shift })
    }

    /// Rows of an image.
    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }

    /// Columns of an image.
    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    /// The largest shift, in pixels, in each direction.
    #[must_use]
    pub fn max_shift(&self) -> usize {
        self.max_shift
    }

    /// The number of features of an image: `height × width`.
    #[must_use]
    pub fn n_features(&self) -> usize {
        self.height * self.width
    }

    /// Checks that samples of `n_features` features are images of this shape.
    ///
    /// # Errors
    /// [`Error::ImageFeatures`] if `n_features ≠ height × width`.
    pub fn check_features(&self, n_features: usize) -> Result<(), Error> {
        if n_features == self.n_features() {
            Ok(())
        } else {
            Err(Error::ImageFeatures { height: self.height, width: self.width, n_features })
        }
    }

    /// Shifts every column of `x` (features × samples, each column one image) by its own random
    /// offset: column j is sample `first_sample + j` of the batch of step `step`, and takes that
    /// sample's offsets in the stream of `(seed, step)` (so a part of a batch, given its first
    /// sample, moves exactly as it does within the whole batch). No allocation.
    ///
    /// # Errors
    /// [`Error::ImageFeatures`] if the columns are not `height × width` long, and a
    /// [`nn_linalg::ShapeError`] (in [`Error::Core`]) for a view whose columns are not
    /// contiguous.
    pub fn apply<T: Float>(
        &self,
        x: MatMut<'_, T>,
        seed: u64,
        step: u64,
        first_sample: usize,
    ) -> Result<(), Error> {
        self.check_features(x.nrows())?;
        let mut rng = shift_rng(seed, step);
        // Two 32-bit words per sample.
        rng.set_word_pos(2 * first_sample as u128);
        // max_shift < min(height, width), and height × width fits in a usize: no overflow.
        let span = (2 * self.max_shift + 1) as u128;
        let max = self.max_shift as isize;
        // A 32-bit half to 0..span by a multiply-high (no rejection, so every sample takes one
        // word pair; the bias is below span / 2^32).
        let offset = |half: u64| ((u128::from(half) * span) >> 32) as isize - max;
        // Columns of the batch buffers are contiguous; `cols_mut` fails only for other layouts.
        nn_linalg::cols_mut(x, |_, image| {
            let word = rng.next_u64();
            let (dy, dx) = (offset(word & 0xffff_ffff), offset(word >> 32));
            shift_image(image, self.width, dy, dx);
        })
        .map_err(|e| Error::Core(e.into()))
    }
}

/// The random stream of the shifts of a step: a function of the seed and the step only.
fn shift_rng(seed: u64, step: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7368_6966_7470_7821);
    rng.set_stream(step);
    rng
}

/// Moves the image `image` (rows of `width` pixels) by `dy` rows down and `dx` columns right, in
/// place: pixel `(r, c)` becomes the old pixel `(r − dy, c − dx)`, or 0 where that is outside.
/// `|dy|` and `|dx|` must be below the height and the width.
pub(crate) fn shift_image<T: Float>(image: &mut [T], width: usize, dy: isize, dx: isize) {
    let height = image.len() / width;
    let (h, w) = (height as isize, width as isize);
    // The source of destination index d is d − (dy·w + dx). When it lies before d (offset > 0),
    // destinations are written from the last to the first, so that every source is read before
    // it is overwritten; otherwise from the first to the last.
    let offset = dy * w + dx;
    let value = |image: &[T], r: isize, c: isize| {
        let (sr, sc) = (r - dy, c - dx);
        if (0..h).contains(&sr) && (0..w).contains(&sc) {
            image[(sr * w + sc) as usize]
        } else {
            T::ZERO
        }
    };
    if offset > 0 {
        for r in (0..h).rev() {
            for c in (0..w).rev() {
                image[(r * w + c) as usize] = value(image, r, c);
            }
        }
    } else if offset < 0 {
        for r in 0..h {
            for c in 0..w {
                image[(r * w + c) as usize] = value(image, r, c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use nn_linalg::Mat;

    use super::*;

    /// The 3 × 4 image with pixel (r, c) = 10 r + c + 1.
    fn image() -> Vec<f64> {
        (0..3).flat_map(|r| (0..4).map(move |c| f64::from(10 * r + c + 1))).collect()
    }

    fn shifted(dy: isize, dx: isize) -> Vec<f64> {
        let mut v = image();
        shift_image(&mut v, 4, dy, dx);
        v
    }

    #[test]
    fn a_tiny_image_moves_exactly_with_zeros_coming_in() {
        // The image:   1  2  3  4 / 11 12 13 14 / 21 22 23 24.
        assert_eq!(shifted(0, 0), image());
        assert_eq!(shifted(1, 0), [0., 0., 0., 0., 1., 2., 3., 4., 11., 12., 13., 14.]);
        assert_eq!(shifted(-1, 0), [11., 12., 13., 14., 21., 22., 23., 24., 0., 0., 0., 0.]);
        assert_eq!(shifted(0, 1), [0., 1., 2., 3., 0., 11., 12., 13., 0., 21., 22., 23.]);
        assert_eq!(shifted(0, -2), [3., 4., 0., 0., 13., 14., 0., 0., 23., 24., 0., 0.]);
        assert_eq!(shifted(1, -1), [0., 0., 0., 0., 2., 3., 4., 0., 12., 13., 14., 0.]);
        assert_eq!(shifted(-2, 3), [0., 0., 0., 21., 0., 0., 0., 0., 0., 0., 0., 0.]);
        assert_eq!(shifted(2, 3), [0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 1.]);
    }

    #[test]
    fn a_batch_gets_one_offset_per_image_all_offsets_occur_and_the_stream_is_reproducible() {
        let shift = RandomShift::new(3, 4, 1).unwrap();
        let n = 400;
        let original = Mat::<f64>::from_fn(12, n, |i, _| image()[i]);
        let mut x = original.clone();
        shift.apply(x.as_mut(), 7, 3, 0).unwrap();
        let mut seen = [[false; 3]; 3];
        for j in 0..n {
            let col = x.col_as_slice(j);
            let offsets: Vec<(isize, isize)> = (-1..=1)
                .flat_map(|dy| (-1..=1).map(move |dx| (dy, dx)))
                .filter(|&(dy, dx)| col == shifted(dy, dx).as_slice())
                .collect();
            assert_eq!(offsets.len(), 1, "column {j} is not one shift of the image: {col:?}");
            let (dy, dx) = offsets[0];
            seen[(dy + 1) as usize][(dx + 1) as usize] = true;
        }
        assert!(seen.iter().flatten().all(|&s| s), "{seen:?}");
        let mut again = original.clone();
        shift.apply(again.as_mut(), 7, 3, 0).unwrap();
        assert_eq!(again, x);
        let mut next_step = original.clone();
        shift.apply(next_step.as_mut(), 7, 4, 0).unwrap();
        assert_ne!(next_step, x);
        let mut other_seed = original.clone();
        shift.apply(other_seed.as_mut(), 8, 3, 0).unwrap();
        assert_ne!(other_seed, x);
        // A part of the batch, given its first sample, moves as it does in the whole batch (a
        // process of a distributed run gathers only its shards' samples).
        for (start, len) in [(0, 1), (1, 7), (133, 267), (399, 1)] {
            let mut part = original.as_ref().subcols(start, len).to_owned();
            shift.apply(part.as_mut(), 7, 3, start).unwrap();
            assert_eq!(part, x.as_ref().subcols(start, len).to_owned(), "{start}..+{len}");
        }
    }

    #[test]
    fn bad_shapes_are_refused_with_what_was_expected() {
        for (h, w, s) in [(0, 4, 1), (4, 0, 1), (4, 4, 0), (4, 4, 4), (2, 9, 2), (usize::MAX, 2, 1)]
        {
            let found = RandomShift::new(h, w, s);
            assert!(
                matches!(found, Err(Error::ImageShape { height, width, max_shift, .. })
                    if (height, width, max_shift) == (h, w, s)),
                "{h}×{w} ±{s}: {found:?}"
            );
        }
        assert!(RandomShift::new(2, 9, 1).is_ok());
        let shift = RandomShift::new(3, 4, 1).unwrap();
        let mut x = Mat::<f32>::zeros(13, 2);
        assert_eq!(
            shift.apply(x.as_mut(), 0, 0, 0),
            Err(Error::ImageFeatures { height: 3, width: 4, n_features: 13 })
        );
        let e = RandomShift::new(28, 28, 28).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid image shape 28 × 28 with shifts up to 28 pixels: expected a maximum shift from 1 to min(height, width) − 1 pixels"
        );
    }
}
