//! Fuzz tests of every parser of user files (issues 13 and 15), one test binary: exports through
//! the inference engines (`export`), IDX files and training checkpoints (`data`). Random
//! mutations from a seeded [`mutate::Mutator`] must give typed errors or valid results, never a
//! panic. `FUZZ_CASES=N` changes the number of cases (see each module).

mod data;
mod export;
mod mutate;
