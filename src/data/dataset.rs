//! In-memory image classification datasets: validated images in `[0, 1]` plus integer labels.

use super::idx::{IdxArray, parse_idx};
use super::rng::Rng;
use crate::error::{Error, Result};

/// Images `[n, c, h, w]` as `f32` (row-major, one image after another) and labels in
/// `0..num_classes`.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Image data, `n * c * h * w` values.
    pub images: Vec<f32>,
    /// One label per image.
    pub labels: Vec<u32>,
    /// `[c, h, w]` of one image.
    pub image_shape: [usize; 3],
    /// Number of classes; every label is below it.
    pub num_classes: usize,
}

impl Dataset {
    /// Builds a dataset, checking lengths, finiteness and label range.
    ///
    /// # Errors
    /// [`Error::Shape`] when `images.len() != labels.len() * c * h * w` or a dimension is zero,
    /// [`Error::NonFinite`] on NaN/Inf pixels, [`Error::Dataset`] on a label `>= num_classes`.
    pub fn new(images: Vec<f32>, labels: Vec<u32>, image_shape: [usize; 3], num_classes: usize) -> Result<Self> {
        let per = image_shape.iter().product::<usize>();
        if per == 0 {
            return Err(Error::Shape(format!("image shape {image_shape:?} has a zero dimension")));
        }
        if num_classes < 2 {
            return Err(Error::Config(format!("num_classes = {num_classes}; need at least 2")));
        }
        check_images(&images, labels.len(), image_shape)?;
        check_labels(&labels, num_classes)?;
        Ok(Self { images, labels, image_shape, num_classes })
    }

    /// Builds a dataset from decoded IDX images `[n, h, w]` (bytes scaled to `[0, 1]`) and labels `[n]`.
    ///
    /// # Errors
    /// [`Error::Dataset`] when the counts differ or the arrays have the wrong rank.
    pub fn from_idx(images: &IdxArray, labels: &IdxArray, num_classes: usize) -> Result<Self> {
        if images.dims.len() != 3 {
            return Err(Error::Dataset(format!("images must be [n, h, w], got dims {:?}", images.dims)));
        }
        if labels.dims.len() != 1 {
            return Err(Error::Dataset(format!("labels must be [n], got dims {:?}", labels.dims)));
        }
        if images.dims[0] != labels.dims[0] {
            return Err(Error::Dataset(format!("image/label count mismatch: {} images, {} labels", images.dims[0], labels.dims[0])));
        }
        let pixels = images.data.iter().map(|&b| b as f32 / 255.0).collect();
        let labels = labels.data.iter().map(|&l| l as u32).collect();
        Self::new(pixels, labels, [1, images.dims[1], images.dims[2]], num_classes)
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the dataset has no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image (`c * h * w`).
    pub fn image_len(&self) -> usize {
        self.image_shape.iter().product()
    }

    /// The examples `range` as a new dataset (clamped to the available length).
    pub fn slice(&self, start: usize, end: usize) -> Self {
        let end = end.min(self.len());
        let start = start.min(end);
        let per = self.image_len();
        Self {
            images: self.images[start * per..end * per].to_vec(),
            labels: self.labels[start..end].to_vec(),
            image_shape: self.image_shape,
            num_classes: self.num_classes,
        }
    }

    /// The images zero-padded (centred) to `size × size` (e.g. 28 → 32 for the 32×32 models).
    /// Returns a copy unchanged when the images are already at least that large.
    pub fn pad_to(&self, size: usize) -> Self {
        let [c, h, w] = self.image_shape;
        if h >= size && w >= size {
            return self.clone();
        }
        let (top, left) = ((size - h) / 2, (size - w) / 2);
        let mut images = vec![0.0; self.len() * c * size * size];
        for (i, img) in self.images.chunks_exact(c * h * w).enumerate() {
            for ch in 0..c {
                for y in 0..h {
                    let src = &img[(ch * h + y) * w..][..w];
                    let dst = ((i * c + ch) * size + top + y) * size + left;
                    images[dst..dst + w].copy_from_slice(src);
                }
            }
        }
        Self { images, labels: self.labels.clone(), image_shape: [c, size, size], num_classes: self.num_classes }
    }

    /// Copies the examples at `indices` into one contiguous batch `(images, labels)`.
    pub fn gather(&self, indices: &[usize]) -> (Vec<f32>, Vec<u32>) {
        let per = self.image_len();
        let mut x = Vec::with_capacity(indices.len() * per);
        let mut y = Vec::with_capacity(indices.len());
        for &i in indices {
            x.extend_from_slice(&self.images[i * per..(i + 1) * per]);
            y.push(self.labels[i]);
        }
        (x, y)
    }

    /// Index batches for one epoch: a seeded shuffle of `0..len` cut into chunks of
    /// `batch_size` (the last one may be smaller).
    pub fn epoch_batches(&self, batch_size: usize, seed: u64) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        Rng::new(seed).shuffle(&mut order);
        order.chunks(batch_size.max(1)).map(|c| c.to_vec()).collect()
    }
}

/// Checks that `images` holds exactly `n` images of `image_shape`, all finite.
///
/// # Errors
/// [`Error::Shape`] on a length mismatch, [`Error::NonFinite`] on NaN/Inf.
pub fn check_images(images: &[f32], n: usize, image_shape: [usize; 3]) -> Result<()> {
    let per = image_shape.iter().product::<usize>();
    if images.len() != n * per {
        return Err(Error::Shape(format!("{} image values for {n} images of shape {image_shape:?} (expected {})", images.len(), n * per)));
    }
    if let Some(i) = images.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("image value {} at index {i}", images[i])));
    }
    Ok(())
}

/// Checks that every label is below `num_classes`.
///
/// # Errors
/// [`Error::Dataset`] naming the first bad label and its index.
pub fn check_labels(labels: &[u32], num_classes: usize) -> Result<()> {
    match labels.iter().enumerate().find(|(_, l)| **l as usize >= num_classes) {
        Some((i, l)) => Err(Error::Dataset(format!("label {l} at index {i} is not below num_classes = {num_classes}"))),
        None => Ok(()),
    }
}

/// Which half of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training split (60 000 images for Fashion-MNIST).
    Train,
    /// The test split (10 000 images).
    Test,
}

/// Where Debian's `dataset-fashion-mnist` package installs the IDX files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST class names, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Builds a (Fashion-)MNIST dataset from the bytes of an images file and a labels file
/// (IDX, raw or gzip).
pub fn mnist_from_bytes(images: &[u8], labels: &[u8]) -> Result<Dataset> {
    Dataset::from_idx(&parse_idx(images)?, &parse_idx(labels)?, 10)
}

/// Loads a Fashion-MNIST split from `dir` (files `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`).
#[cfg(not(target_family = "wasm"))]
pub fn load_fashion_mnist(dir: &std::path::Path, split: Split) -> Result<Dataset> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let read = |stem: &str| -> Result<Vec<u8>> {
        for name in [format!("{prefix}-{stem}-ubyte.gz"), format!("{prefix}-{stem}-ubyte")] {
            let p = dir.join(&name);
            if p.exists() {
                return std::fs::read(&p).map_err(|source| Error::Io { path: p.display().to_string(), source });
            }
        }
        let p = dir.join(format!("{prefix}-{stem}-ubyte.gz"));
        Err(Error::Io {
            path: p.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not found (install Debian's dataset-fashion-mnist or pass --data DIR)",
            ),
        })
    };
    mnist_from_bytes(&read("images-idx3")?, &read("labels-idx1")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_inputs() {
        assert!(matches!(Dataset::new(vec![0.0; 5], vec![0], [1, 2, 2], 10), Err(Error::Shape(_))));
        assert!(matches!(Dataset::new(vec![f32::NAN; 4], vec![0], [1, 2, 2], 10), Err(Error::NonFinite(_))));
        assert!(matches!(Dataset::new(vec![0.0; 4], vec![10], [1, 2, 2], 10), Err(Error::Dataset(_))));
        assert!(matches!(Dataset::new(vec![], vec![], [1, 0, 2], 10), Err(Error::Shape(_))));
        let d = Dataset::new((0..8).map(|v| v as f32).collect(), vec![1, 2], [1, 2, 2], 10).unwrap();
        assert_eq!(d.gather(&[1]), (vec![4.0, 5.0, 6.0, 7.0], vec![2]));
        let b = d.epoch_batches(1, 3);
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn count_mismatch_is_reported() {
        let images = IdxArray { dims: vec![2, 1, 1], data: vec![0, 255] };
        let labels = IdxArray { dims: vec![3], data: vec![0, 1, 2] };
        let e = Dataset::from_idx(&images, &labels, 10).unwrap_err();
        assert!(e.to_string().contains("2 images, 3 labels"), "{e}");
    }
}
