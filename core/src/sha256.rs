//! The one streaming sha256: images are fingerprinted, and dist binaries verified, by it.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// 64 lowercase hex characters.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Streams a reader through sha256 in 1 MiB reads: bootstrap binaries are several MB (a debug
/// build ~280 MB), so they are never read into memory whole.
pub fn reader_hex(reader: impl Read) -> std::io::Result<String> {
    masked_reader_hex(reader, 0, |_| {})
}

/// As [`reader_hex`], with `mask` applied to the bytes before they are hashed: it may rewrite a
/// pattern of up to `span` bytes in place (a binary's git-commit slot, so that a commit which
/// leaves the code alone leaves the digest alone). The last `span - 1` bytes of each read are
/// held back, so a pattern split across two reads is masked whole.
pub fn masked_reader_hex(
    mut reader: impl Read,
    span: usize,
    mut mask: impl FnMut(&mut [u8]),
) -> std::io::Result<String> {
    let keep = span.saturating_sub(1);
    let mut hasher = Sha256::new();
    let mut window: Vec<u8> = Vec::with_capacity((1 << 20) + keep);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        window.extend_from_slice(&buf[..n]);
        if n == 0 {
            mask(&mut window);
            hasher.update(&window);
            break;
        }
        if window.len() > keep {
            let done = window.len() - keep;
            // Every pattern starting before `done` ends inside the window; one starting later
            // is masked again, whole, on the next round.
            mask(&mut window);
            hasher.update(&window[..done]);
            window.drain(..done);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

pub fn file_hex(path: &Path) -> std::io::Result<String> {
    reader_hex(std::fs::File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_matches_one_shot() {
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(reader_hex(&bytes[..]).unwrap(), hex(&bytes));
        let masked = masked_reader_hex(&bytes[..], 7, |_| {}).unwrap();
        assert_eq!(masked, hex(&bytes));
        assert_eq!(
            hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
