//! Values damaged before they reached the extract: UTF-8 text decoded a second time as
//! windows-1252 or Latin-1 ("mojibake": `Ã©` for `é`, `â€™` for `’`), and C1 control
//! characters; and characters that do not show, in keys. Found, never repaired: the config
//! decides whether the person is rejected or loaded as the extract has them.

/// What windows-1252 decodes bytes 0x80 to 0x9F to (the five bytes it leaves undefined
/// decode to the C1 control of the same number, as in Latin-1).
const CP1252_HIGH: [char; 32] = [
    '\u{20ac}', '\u{81}', '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2c6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8d}', '\u{17d}', '\u{8f}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}', '\u{153}', '\u{9d}', '\u{17e}', '\u{178}',
];

/// The byte windows-1252 (or Latin-1) decodes to `c`, if one does.
fn byte_of(c: char) -> Option<u8> {
    match u32::from(c) {
        0..=0x7F => None,
        0x80..=0xFF => Some(c as u8),
        // The characters of CP1252_HIGH lie between U+0152 and U+2122.
        0x152..=0x2122 => CP1252_HIGH
            .iter()
            .position(|&h| h == c)
            .map(|i| 0x80 + i as u8),
        _ => None,
    }
}

/// Whether the bytes of `value` could hold either finding (both need a byte 0xC2 or 0xC3):
/// most values do not, and are passed over at once.
pub(crate) fn suspect(value: &[u8]) -> bool {
    value.iter().any(|&b| b == 0xC2 || b == 0xC3)
}

/// Whether `value` holds UTF-8 decoded twice: a character that is a UTF-8 lead byte in
/// windows-1252 or Latin-1, followed by characters that are the continuation bytes it needs,
/// the bytes together a valid UTF-8 character.
pub fn mojibake(value: &str) -> bool {
    if !suspect(value.as_bytes()) {
        return false;
    }
    value.char_indices().any(|(at, c)| {
        let Some(lead) = byte_of(c) else {
            return false;
        };
        let need = match lead {
            0xC2..=0xDF => 1,
            0xE0..=0xEF => 2,
            0xF0..=0xF4 => 3,
            _ => return false,
        };
        let mut bytes = [lead, 0, 0, 0];
        let mut next = value[at + c.len_utf8()..].chars();
        for byte in bytes.iter_mut().take(need + 1).skip(1) {
            match next.next().and_then(byte_of) {
                Some(b @ 0x80..=0xBF) => *byte = b,
                _ => return false,
            }
        }
        std::str::from_utf8(&bytes[..=need]).is_ok()
    })
}

/// Whether `value` holds a C1 control character (U+0080 to U+009F).
pub fn c1_control(value: &str) -> bool {
    value
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1]))
}

/// Whether `key` (before it is trimmed) holds a character that does not show: a control
/// (C0 but the tab, DEL, C1), a format character (zero-width, bidirectional marks, U+FEFF),
/// a noncharacter or U+FFFD. What `E-READ-KEY-CHAR` rejects in an extract's key column: two
/// keys that look alike but differ in such a character are two records.
pub fn invisible(key: &str) -> bool {
    crate::read::invisible_in(key)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{c1_control, mojibake};

    /// `text` as UTF-8 read back as windows-1252: what a second decoding upstream makes.
    fn twice(text: &str) -> String {
        encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(text.as_bytes())
            .0
            .into_owned()
    }

    #[test]
    fn double_encoded_text_is_found_and_plain_text_is_not() {
        for damaged in [
            "JÃ¼rgen",
            "Nguyá»…n",
            "O\u{e2}\u{20ac}\u{2122}Brien",
            "RenÃ©e",
            "Ã‰lodie",
        ] {
            assert!(mojibake(damaged), "{damaged}");
        }
        for plain in [
            "Jürgen",
            "Nguyễn",
            "O’Brien",
            "Renée",
            "Élodie",
            "ÅSTRÖM",
            "Ãlvaro",
            "",
            "Smith",
        ] {
            assert!(!mojibake(plain), "{plain}");
        }
        assert!(c1_control("a\u{85}b"));
        assert!(!c1_control("a\u{a0}b…"));
    }

    proptest! {
        /// Any text with a character beyond ASCII that windows-1252 can write, decoded a
        /// second time, is found.
        #[test]
        fn any_latin_text_decoded_twice_is_found(
            text in "[a-zA-Z ]{0,5}[àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÉÖÜßœŒšŠ€“”’][a-zA-Z àéü]{0,5}",
        ) {
            prop_assert!(mojibake(&twice(&text)), "{}", twice(&text));
        }
    }
}
