//! Reading the files an operator names (a manifest, a CA bundle) with a bound.
//!
//! A path on the command line or in a manifest can name anything: `/dev/zero`, a
//! FIFO, a log file of many gigabytes. `std::fs::read` would grow its buffer for as
//! long as the file gives bytes; these reads stop one byte past the bound and say so.

use std::io::Read;
use std::path::Path;

/// The most bytes of a manifest the host reads: real manifests are a few KiB.
pub const MAX_MANIFEST: u64 = 1 << 20;

/// The most bytes of one `http.ca_files` bundle the host reads: the whole web PKI's
/// roots in PEM are about 220 KiB.
pub const MAX_CA_FILE: u64 = 4 << 20;

/// The most bytes of a component the host reads: the example connectors are well
/// under 1 MiB, and a JavaScript or Python component with its runtime some 30 MiB.
pub const MAX_COMPONENT: u64 = 256 << 20;

/// The most bytes of an HTTP recording (`--replay`) the host reads.
pub const MAX_TAPE: u64 = 256 << 20;

/// The contents of `path`, or an error (kind `FileTooLarge`) when it holds more than
/// `max` bytes; `what` names the kind of file in that error.
pub fn read_bounded(path: &Path, max: u64, what: &str) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("it is larger than {} ({max} bytes), the most the host reads of {what}", human(max)),
        ));
    }
    Ok(bytes)
}

/// `max` in KiB or MiB when it is a whole number of them.
fn human(max: u64) -> String {
    if max >= 1 << 20 && max.is_multiple_of(1 << 20) {
        format!("{} MiB", max >> 20)
    } else if max >= 1 << 10 && max.is_multiple_of(1 << 10) {
        format!("{} KiB", max >> 10)
    } else {
        format!("{max} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_past_the_bound_and_names_it() {
        let e = read_bounded(Path::new("/dev/zero"), 1 << 20, "a manifest").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge);
        assert_eq!(e.to_string(), "it is larger than 1 MiB (1048576 bytes), the most the host reads of a manifest");
        let path = std::env::temp_dir().join(format!("files-test-{}.toml", std::process::id()));
        std::fs::write(&path, "x".repeat(10)).unwrap();
        assert_eq!(read_bounded(&path, 10, "a manifest").unwrap().len(), 10);
        assert!(read_bounded(&path, 9, "a manifest").is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
