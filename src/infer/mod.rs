//! Inference of deployed multiplication-free models with integers only (issue 13). So far:
//! the integer softmax ([`shiftmax`]) for their probabilities.

pub mod shiftmax;
