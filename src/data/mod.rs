//! Data: IDX parsing, in-memory datasets, seeded shuffling and batching, training-time image
//! augmentation.

mod augment;
mod dataset;
mod idx;
mod rng;

pub use augment::{MAX_CROP_PADDING, batch_seed, random_crop_flip};
#[cfg(not(target_family = "wasm"))]
pub use dataset::load_fashion_mnist;
pub use dataset::{Dataset, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, Split, check_images, check_labels, mnist_from_bytes};
pub use idx::{IdxArray, parse_idx};
pub use rng::Rng;
