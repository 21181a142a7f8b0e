//! Training-time image augmentation on the host, per gathered batch: torchvision's
//! `RandomCrop(size, padding = p)` (zero fill) followed by `RandomHorizontalFlip(0.5)`.
//!
//! Invariant: the random draws depend only on `(seed, epoch, batch index)` through
//! [`batch_seed`], never on a running generator, so a run resumed at an epoch boundary sees the
//! same crops and flips as an uninterrupted one, natively and in the browser alike.

use super::rng::Rng;

/// Largest accepted crop padding, in pixels.
pub const MAX_CROP_PADDING: usize = 32;

/// Seed of the augmentation draws of batch `batch` of epoch `epoch` of a run seeded `seed`.
pub fn batch_seed(seed: u64, epoch: usize, batch: usize) -> u64 {
    let a = Rng::new(seed ^ 0x5DEE_CE66_D1CE_4E5B).next_u64();
    let b = Rng::new(((epoch as u64) << 32) ^ batch as u64).next_u64();
    a ^ b.rotate_left(17)
}

/// Randomly crops (after zero-padding every side by `padding` pixels) and, with `flip`,
/// mirrors left-right with probability 1/2, each image of `images` (`[n, c, h, w]` row-major,
/// `n = images.len() / (c * h * w)`) in place.
///
/// Per image, in this order: row offset `dy` and column offset `dx`, each uniform in
/// `0..=2 * padding` (only when `padding > 0`), then the flip bit (only with `flip`). The output
/// pixel `(y, x)` is the padded input at `(y + dy, x + dx)`, i.e. input `(y + dy - p, x + dx - p)`
/// or 0 outside the image; the flip is applied to the crop.
pub fn random_crop_flip(images: &mut [f32], shape: [usize; 3], padding: usize, flip: bool, seed: u64) {
    let [c, h, w] = shape;
    let per = c * h * w;
    if per == 0 || (padding == 0 && !flip) {
        return;
    }
    let mut rng = Rng::new(seed);
    let mut src = vec![0.0f32; per];
    for img in images.chunks_exact_mut(per) {
        let (dy, dx) = if padding > 0 { (rng.below(2 * padding + 1), rng.below(2 * padding + 1)) } else { (padding, padding) };
        let mirror = flip && rng.below(2) == 1;
        if dy == padding && dx == padding && !mirror {
            continue;
        }
        src.copy_from_slice(img);
        // Source row/column of output (y, x): y + dy - p, x + dx - p (signed), mirrored x first.
        let (oy, ox) = (dy as isize - padding as isize, dx as isize - padding as isize);
        for ch in 0..c {
            let plane = &src[ch * h * w..(ch + 1) * h * w];
            let out = &mut img[ch * h * w..(ch + 1) * h * w];
            for y in 0..h {
                let sy = y as isize + oy;
                let row = &mut out[y * w..(y + 1) * w];
                if sy < 0 || sy >= h as isize {
                    row.fill(0.0);
                    continue;
                }
                let srow = &plane[sy as usize * w..(sy as usize + 1) * w];
                for (x, v) in row.iter_mut().enumerate() {
                    let xc = if mirror { w - 1 - x } else { x };
                    let sx = xc as isize + ox;
                    *v = if sx < 0 || sx >= w as isize { 0.0 } else { srow[sx as usize] };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: zero-pad to `[c, h + 2p, w + 2p]`, cut the window at `(dy, dx)`, then mirror.
    fn reference(img: &[f32], [c, h, w]: [usize; 3], p: usize, dy: usize, dx: usize, mirror: bool) -> Vec<f32> {
        let (ph, pw) = (h + 2 * p, w + 2 * p);
        let mut padded = vec![0.0f32; c * ph * pw];
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    padded[(ch * ph + y + p) * pw + x + p] = img[(ch * h + y) * w + x];
                }
            }
        }
        let mut out = vec![0.0f32; c * h * w];
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    out[(ch * h + y) * w + x] = padded[(ch * ph + y + dy) * pw + x + dx];
                }
            }
            if mirror {
                for y in 0..h {
                    out[(ch * h + y) * w..(ch * h + y + 1) * w].reverse();
                }
            }
        }
        out
    }

    fn random_images(n: usize, per: usize, seed: u64) -> Vec<f32> {
        let mut r = Rng::new(seed);
        (0..n * per).map(|_| (r.next_u64() >> 40) as f32 / (1u64 << 24) as f32 + 0.01).collect()
    }

    #[test]
    fn matches_pad_then_crop_then_flip() {
        for (shape, p, flip) in [([1, 7, 5], 2, true), ([3, 4, 6], 1, false), ([2, 5, 5], 0, true), ([1, 3, 4], 4, true)] {
            let per = shape.iter().product::<usize>();
            let n = 200;
            let x = random_images(n, per, 11);
            let mut got = x.clone();
            random_crop_flip(&mut got, shape, p, flip, 99);
            // Replay the documented draw order to get each image's offsets and flip bit.
            let mut rng = Rng::new(99);
            let mut seen_mirror = [false; 2];
            let mut seen_dx = vec![false; 2 * p + 1];
            for i in 0..n {
                let (dy, dx) = if p > 0 { (rng.below(2 * p + 1), rng.below(2 * p + 1)) } else { (0, 0) };
                let mirror = flip && rng.below(2) == 1;
                seen_mirror[mirror as usize] = true;
                seen_dx[dx] = true;
                let want = reference(&x[i * per..(i + 1) * per], shape, p, dy, dx, mirror);
                assert_eq!(&got[i * per..(i + 1) * per], &want[..], "image {i}, shape {shape:?}, p {p}");
            }
            assert!(seen_dx.iter().all(|&s| s), "200 draws cover every column offset of 0..={}", 2 * p);
            assert_eq!(seen_mirror, [true, flip], "flip {flip}");
        }
    }

    #[test]
    fn identity_when_off_and_seeds_differ_per_batch() {
        let x = random_images(8, 16, 3);
        let mut y = x.clone();
        random_crop_flip(&mut y, [1, 4, 4], 0, false, 5);
        assert_eq!(x, y);
        let (mut a, mut b) = (x.clone(), x.clone());
        random_crop_flip(&mut a, [1, 4, 4], 2, true, batch_seed(0, 1, 2));
        random_crop_flip(&mut b, [1, 4, 4], 2, true, batch_seed(0, 1, 2));
        assert_eq!(a, b, "same (seed, epoch, batch), same images");
        let mut c = x.clone();
        random_crop_flip(&mut c, [1, 4, 4], 2, true, batch_seed(0, 2, 1));
        assert_ne!(a, c, "another (epoch, batch), other draws");
        assert_ne!(batch_seed(0, 0, 1), batch_seed(0, 1, 0));
        assert_ne!(batch_seed(0, 0, 0), batch_seed(1, 0, 0));
    }
}
