//! XML 1.0's `Char` production. quick-xml passes forbidden characters through, and a single
//! one makes Alma abort the whole job, so every value is checked before it is written.

/// True when `c` may appear in an XML 1.0 document:
/// `#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`.
pub fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\u{9}' | '\u{A}' | '\u{D}'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// The first character XML 1.0 forbids in `value`, with its 0-based character index.
pub fn first_illegal_xml_char(value: &str) -> Option<(usize, char)> {
    // Fast path, branch-free so it vectorizes: a `str` holds no surrogates, so the only
    // forbidden characters are C0 controls other than tab, LF and CR, and U+FFFE/U+FFFF,
    // whose UTF-8 starts with 0xEF. Text with neither byte is legal.
    let suspect = value.bytes().fold(false, |seen, b| {
        seen | (b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r') | (b == 0xEF)
    });
    if !suspect {
        return None;
    }
    value.chars().enumerate().find(|&(_, c)| !is_xml_char(c))
}

/// Whether `a` and `b` are equal, eight bytes at a time: for names and other short byte
/// strings, where a call to `memcmp` costs more than the compare.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let ((a8, a_rest), (b8, b_rest)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    a8.iter().zip(b8).all(|(x, y)| x == y) && a_rest.iter().zip(b_rest).all(|(x, y)| x == y)
}

/// True when `bytes` are all XML whitespace (space, tab, LF, CR). Branch-free per 64-byte
/// block, so it vectorizes: a gigabyte of indentation is checked at memory speed.
pub fn is_xml_whitespace(bytes: &[u8]) -> bool {
    bytes.chunks(64).all(|block| {
        block.iter().fold(true, |all, &b| {
            all & ((b == b' ') | (b == b'\t') | (b == b'\n') | (b == b'\r'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_char_production_at_its_edges() {
        for (c, ok) in [
            ('\u{0}', false),
            ('\u{8}', false),
            ('\u{9}', true),
            ('\u{B}', false),
            ('\u{1F}', false),
            ('\u{20}', true),
            ('\u{D7FF}', true),
            ('\u{E000}', true),
            ('\u{FFFD}', true),
            ('\u{FFFE}', false),
            ('\u{FFFF}', false),
            ('\u{10000}', true),
        ] {
            assert_eq!(is_xml_char(c), ok, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn finds_the_first_bad_character_by_char_index() {
        assert_eq!(
            first_illegal_xml_char("José\u{7}x\u{1}"),
            Some((4, '\u{7}'))
        );
        assert_eq!(first_illegal_xml_char("plain"), None);
        assert_eq!(first_illegal_xml_char("李\u{FFFE}"), Some((1, '\u{FFFE}')));
        // Every byte class of the fast path: legal non-ASCII, a 0xEF lead that is legal, DEL.
        assert_eq!(first_illegal_xml_char("Zoë Łódź 李 \u{7F}\t\r\n"), None);
        assert_eq!(first_illegal_xml_char("\u{F000}\u{FFFD}"), None);
        assert_eq!(first_illegal_xml_char("ab\u{FFFF}"), Some((2, '\u{FFFF}')));
        assert_eq!(first_illegal_xml_char("\u{1F}"), Some((0, '\u{1F}')));
    }
}
