//! The two loop shapes of the CPU kernels, on rayon natively and sequential in wasm (one
//! thread): results do not depend on which.

/// `f(i, block_i)` for the consecutive `block`-sized chunks of `out` (the last may be shorter).
#[cfg_attr(not(feature = "train"), allow(dead_code))]
pub(crate) fn blocks(out: &mut [f32], block: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(block).enumerate().for_each(|(i, o)| f(i, o));
    }
    #[cfg(target_family = "wasm")]
    {
        out.chunks_mut(block).enumerate().for_each(|(i, o)| f(i, o));
    }
}

/// `[f(0), f(1), …, f(n − 1)]`, in order.
pub(crate) fn map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().map(f).collect()
    }
    #[cfg(target_family = "wasm")]
    {
        (0..n).map(f).collect()
    }
}
