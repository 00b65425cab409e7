//! Reading and decoding extract files.

use std::path::Path;

use crate::ExtractError;

/// A file decoded to UTF-8, with a warning when a fallback encoding was used.
#[derive(Debug)]
pub struct DecodedFile {
    /// The text, BOM stripped.
    pub text: String,
    /// Set when the file was not UTF-8 and the fallback decoded it.
    pub warning: Option<String>,
}

/// Decides the encoding per file: UTF-8 (BOM stripped) when the whole file is valid,
/// otherwise the configured fallback, otherwise an error naming line, offset and bytes.
pub fn decode_file(path: &Path, fallback: Option<&str>) -> Result<DecodedFile, ExtractError> {
    let bytes = std::fs::read(path).map_err(|source| ExtractError::Io {
        path: path.to_owned(),
        source,
    })?;
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    match std::str::from_utf8(body) {
        Ok(text) => Ok(DecodedFile {
            text: text.to_owned(),
            warning: None,
        }),
        Err(e) => {
            let offset = e.valid_up_to();
            let line = body[..offset].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            let bad_len = e.error_len().unwrap_or(body.len() - offset).max(1);
            let bad = &body[offset..(offset + bad_len).min(body.len())];
            let hex: Vec<String> = bad.iter().map(|b| format!("0x{b:02X}")).collect();
            let file_offset = (offset + (bytes.len() - body.len())) as u64;
            let Some(label) = fallback else {
                return Err(ExtractError::NotUtf8 {
                    path: path.to_owned(),
                    line,
                    offset: file_offset,
                    bytes: hex.join(" "),
                });
            };
            let encoding = encoding_rs::Encoding::for_label(label.as_bytes())
                .ok_or_else(|| ExtractError::UnknownEncoding(label.to_owned()))?;
            let (text, _) = encoding.decode_without_bom_handling(body);
            Ok(DecodedFile {
                text: text.into_owned(),
                warning: Some(format!(
                    "{}: not UTF-8 (first invalid bytes {} at line {line}, byte offset {file_offset}); decoded as {}",
                    path.display(),
                    hex.join(" "),
                    encoding.name()
                )),
            })
        }
    }
}
