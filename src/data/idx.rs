//! Reader for the IDX format of MNIST / Fashion-MNIST (optionally gzip-compressed).
//!
//! Layout: magic `0x00 0x00 <type> <ndim>`, then `ndim` big-endian `u32` dimensions, then the
//! payload in row-major order. Only the unsigned-byte type (`0x08`) is accepted, which is what
//! the (Fashion-)MNIST files use.

use crate::error::{Error, Result};
use std::io::Read;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first (e.g. `[60000, 28, 28]` for images, `[60000]` for labels).
    pub dims: Vec<usize>,
    /// Row-major payload, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// Largest accepted decoded payload (1 GiB): guards against hostile headers.
const MAX_PAYLOAD: usize = 1 << 30;

/// Parses IDX bytes; gzip input (magic `1f 8b`) is decompressed first.
///
/// # Errors
/// [`Error::Idx`] on bad gzip data, wrong magic, an unsupported element type, or a payload
/// shorter or longer than the header promises.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray> {
    if bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_PAYLOAD as u64 + 1024)
            .read_to_end(&mut raw)
            .map_err(|e| Error::Idx(format!("gzip stream is corrupt or truncated: {e}")))?;
        return parse_raw(&raw);
    }
    parse_raw(bytes)
}

fn parse_raw(bytes: &[u8]) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(Error::Idx(format!("file is {} bytes, shorter than the 4-byte magic", bytes.len())));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::Idx(format!(
            "wrong magic number {:02x}{:02x}{:02x}{:02x}: an IDX file starts with two zero bytes",
            bytes[0], bytes[1], bytes[2], bytes[3]
        )));
    }
    if bytes[2] != 0x08 {
        return Err(Error::Idx(format!("element type 0x{:02x} is not supported (only 0x08, unsigned byte)", bytes[2])));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err(Error::Idx("zero dimensions".into()));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(Error::Idx(format!("truncated header: {ndim} dimensions need {header} bytes, got {}", bytes.len())));
    }
    let mut dims = Vec::with_capacity(ndim);
    let mut total: usize = 1;
    for d in 0..ndim {
        let o = 4 + 4 * d;
        let v = u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize;
        total = total
            .checked_mul(v)
            .filter(|t| *t <= MAX_PAYLOAD)
            .ok_or_else(|| Error::Idx(format!("dimensions {dims:?}x{v}... exceed the 1 GiB limit")))?;
        dims.push(v);
    }
    let payload = &bytes[header..];
    if payload.len() < total {
        return Err(Error::Idx(format!("truncated payload: header {dims:?} promises {total} bytes, file has {}", payload.len())));
    }
    if payload.len() > total {
        return Err(Error::Idx(format!("{} trailing bytes after the {total}-byte payload of {dims:?}", payload.len() - total)));
    }
    Ok(IdxArray { dims, data: payload.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parses_raw_and_gzip() {
        let raw = encode(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let a = parse_idx(&raw).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
        let mut gz = Vec::new();
        {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
            e.write_all(&raw).unwrap();
        }
        assert_eq!(parse_idx(&gz).unwrap(), a);
    }

    #[test]
    fn rejects_bad_files() {
        let raw = encode(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let msg = |b: &[u8]| match parse_idx(b) {
            Err(Error::Idx(m)) => m,
            other => panic!("expected Idx error, got {other:?}"),
        };
        assert!(msg(&raw[..raw.len() - 1]).contains("truncated payload"));
        assert!(msg(&raw[..6]).contains("truncated header"));
        assert!(msg(&[1, 0, 8, 1]).contains("magic"));
        assert!(msg(&[0, 0, 0x0d, 1, 0, 0, 0, 0]).contains("element type"));
        let mut long = raw.clone();
        long.push(9);
        assert!(msg(&long).contains("trailing"));
        assert!(msg(&[0x1f, 0x8b, 8, 0, 0, 0]).contains("gzip"));
        assert!(msg(&encode(&[u32::MAX, u32::MAX], &[])).contains("exceed"));
    }
}
