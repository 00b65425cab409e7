//! The mutation classes: one change each, from a flipped bit to a damaged zip header.
//! Every class is a function of a random stream and a seed document, so a run is
//! reproducible from `--seed`.

use super::rng::Rng;
use super::seeds::Seed;
use super::xmlmap::{self, Element};
use super::zipmodel::{self, Descriptor, Entry, Zip};

/// What a class changes: the XML (then zipped as `users.xml`) or the zip itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Xml,
    Zip,
}

/// One mutation class.
pub struct Class {
    pub name: &'static str,
    pub kind: Kind,
    xml: Option<XmlMutation>,
    zip: Option<ZipMutation>,
}

type XmlMutation = fn(&mut Rng, &[u8], &[Element]) -> Option<(Vec<u8>, String)>;
type ZipMutation = fn(&mut Rng, &[u8]) -> Option<(Vec<u8>, String)>;

/// One mutant.
#[derive(Debug, Clone)]
pub struct Mutant {
    pub class: &'static str,
    pub seed: String,
    pub what: String,
    /// The file given to both sides (named `*.zip`).
    pub file: Vec<u8>,
    /// The mutated XML, for XML classes (the file is it, zipped).
    pub xml: Option<Vec<u8>>,
}

const fn xml(name: &'static str, f: XmlMutation) -> Class {
    Class {
        name,
        kind: Kind::Xml,
        xml: Some(f),
        zip: None,
    }
}

const fn zip(name: &'static str, f: ZipMutation) -> Class {
    Class {
        name,
        kind: Kind::Zip,
        xml: None,
        zip: Some(f),
    }
}

/// Every class, in the order the table lists them.
pub const CLASSES: &[Class] = &[
    xml("bit-flip", bit_flip),
    xml("byte-set", byte_set),
    xml("byte-insert", byte_insert),
    xml("byte-delete", byte_delete),
    xml("truncate", truncate),
    xml("span-copy", span_copy),
    xml("xml-decl", xml_decl),
    xml("prolog", prolog),
    xml("pi", pi),
    xml("comment", comment),
    xml("cdata", cdata),
    xml("char-ref", char_ref),
    xml("entity-ref", entity_ref),
    xml("raw-char", raw_char),
    xml("invalid-utf8", invalid_utf8),
    xml("utf16-length", utf16_length),
    xml("length", length),
    xml("attr-insert", attr_insert),
    xml("attr-value", attr_value),
    xml("namespace", namespace),
    xml("element-delete", element_delete),
    xml("element-duplicate", element_duplicate),
    xml("element-rename", element_rename),
    xml("element-insert", element_insert),
    xml("element-swap", element_swap),
    xml("date-value", date_value),
    xml("typed-value", typed_value),
    xml("text-value", text_value),
    xml("encoding", encoding),
    xml("whitespace", whitespace),
    xml("root", root),
    xml("doctype", doctype),
    xml("structure", structure),
    xml("tag-syntax", tag_syntax),
    zip("zip-bit-flip", zip_bit_flip),
    zip("zip-local-field", zip_local_field),
    zip("zip-central-field", zip_central_field),
    zip("zip-crc", zip_crc),
    zip("zip-sizes", zip_sizes),
    zip("zip-end-record", zip_end_record),
    zip("zip-descriptor", zip_descriptor),
    zip("zip64", zip64),
    zip("zip-name", zip_name),
    zip("zip-entries", zip_entries),
    zip("zip-method", zip_method),
    zip("zip-truncate", zip_truncate),
    zip("not-a-zip", not_a_zip),
];

/// The XML as the single entry of a deflated zip.
pub fn zipped(xml: &[u8]) -> Vec<u8> {
    Zip::of(&[(b"users.xml", xml)]).bytes()
}

impl Class {
    /// A mutant of `seed`, or `None` when the class finds nothing to change in it.
    pub fn mutate(&self, rng: &mut Rng, seed: &Seed) -> Option<Mutant> {
        match self.kind {
            Kind::Xml => {
                let map = xmlmap::map(&seed.xml)?;
                let (xml, what) = (self.xml?)(rng, &seed.xml, &map)?;
                Some(Mutant {
                    class: self.name,
                    seed: seed.name.clone(),
                    what,
                    file: zipped(&xml),
                    xml: Some(xml),
                })
            }
            Kind::Zip => {
                let (file, what) = (self.zip?)(rng, &seed.xml)?;
                Some(Mutant {
                    class: self.name,
                    seed: seed.name.clone(),
                    what,
                    file,
                    xml: None,
                })
            }
        }
    }
}

// ---- helpers ---------------------------------------------------------------------------

fn splice(xml: &[u8], range: std::ops::Range<usize>, with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(xml.len() + with.len());
    out.extend_from_slice(&xml[..range.start]);
    out.extend_from_slice(with);
    out.extend_from_slice(&xml[range.end..]);
    out
}

fn insert(xml: &[u8], at: usize, with: &[u8]) -> Vec<u8> {
    splice(xml, at..at, with)
}

fn show(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let mut out: String = s.chars().take(60).flat_map(char::escape_debug).collect();
    if s.chars().count() > 60 {
        out.push_str(&format!("...({} bytes)", bytes.len()));
    }
    out
}

/// A random element other than the root (the root when there is nothing else).
fn element<'m>(rng: &mut Rng, map: &'m [Element]) -> &'m Element {
    if map.len() > 1 {
        &map[1 + rng.below(map.len() - 1)]
    } else {
        &map[0]
    }
}

/// A random leaf element.
fn leaf<'m>(rng: &mut Rng, map: &'m [Element]) -> Option<&'m Element> {
    let leaves: Vec<&Element> = map
        .iter()
        .filter(|e| e.leaf && e.parent.is_some())
        .collect();
    (!leaves.is_empty()).then(|| leaves[rng.below(leaves.len())])
}

/// A random leaf whose name is one of `names`.
fn named_leaf<'m>(rng: &mut Rng, map: &'m [Element], names: &[&str]) -> Option<&'m Element> {
    let found: Vec<&Element> = map
        .iter()
        .filter(|e| e.leaf && names.contains(&e.name.as_str()))
        .collect();
    (!found.is_empty()).then(|| found[rng.below(found.len())])
}

/// A place between markup: just after a random tag.
fn markup_gap(rng: &mut Rng, map: &[Element]) -> usize {
    let e = element(rng, map);
    if rng.chance(1, 2) {
        e.start_tag.end
    } else {
        e.whole.end
    }
}

/// A position inside a random text value or attribute value.
fn value_spot(rng: &mut Rng, map: &[Element]) -> Option<(usize, &'static str)> {
    let with_attrs: Vec<&Element> = map.iter().filter(|e| !e.attrs.is_empty()).collect();
    if !with_attrs.is_empty() && rng.chance(1, 3) {
        let e = with_attrs[rng.below(with_attrs.len())];
        let (_, value) = &e.attrs[rng.below(e.attrs.len())];
        return Some((value.start + rng.below(value.len() + 1), "attribute"));
    }
    let l = leaf(rng, map)?;
    Some((l.content.start + rng.below(l.content.len() + 1), "text"))
}

fn decl_end(xml: &[u8]) -> usize {
    if xml.starts_with(b"<?xml") {
        xml.windows(2).position(|w| w == b"?>").map_or(0, |i| i + 2)
    } else {
        0
    }
}

fn rename(xml: &[u8], e: &Element, name: &str) -> Vec<u8> {
    let name_at = e.start_tag.start + 1;
    let old_len = e.name.len();
    if e.end_tag.is_empty() {
        return splice(xml, name_at..name_at + old_len, name.as_bytes());
    }
    let end_name = e.end_tag.start + 2;
    let mut out = splice(xml, end_name..end_name + old_len, name.as_bytes());
    out = splice(&out, name_at..name_at + old_len, name.as_bytes());
    out
}

fn set_text(xml: &[u8], e: &Element, text: &[u8]) -> Vec<u8> {
    if e.end_tag.is_empty() {
        // `<x/>`: open it.
        let tag = &xml[e.start_tag.clone()];
        let open = format!("{}>", String::from_utf8_lossy(&tag[..tag.len() - 2]));
        let mut with = open.into_bytes();
        with.extend_from_slice(text);
        with.extend_from_slice(format!("</{}>", e.name).as_bytes());
        return splice(xml, e.whole.clone(), &with);
    }
    splice(xml, e.content.clone(), text)
}

fn interesting_byte(rng: &mut Rng) -> u8 {
    *rng.pick(&[
        b'<', b'>', b'&', b'"', b'\'', b'/', b'=', b'?', b'!', b'-', b']', b' ', 0, 1, 0x0B, 0xC3,
        0xFF, 0x80, b':', b'x', b'\n', b'\r', b'\t', b'Z', b'0', b'9', 0xE2, 0x7F,
    ])
}

// ---- XML classes -----------------------------------------------------------------------

fn bit_flip(rng: &mut Rng, xml: &[u8], _: &[Element]) -> Option<(Vec<u8>, String)> {
    let at = rng.below(xml.len());
    let bit = rng.below(8);
    let mut out = xml.to_vec();
    out[at] ^= 1 << bit;
    Some((out, format!("bit {bit} of byte {at}")))
}

fn byte_set(rng: &mut Rng, xml: &[u8], _: &[Element]) -> Option<(Vec<u8>, String)> {
    let at = rng.below(xml.len());
    let b = if rng.chance(1, 2) {
        interesting_byte(rng)
    } else {
        rng.next_u64() as u8
    };
    let mut out = xml.to_vec();
    out[at] = b;
    Some((out, format!("byte {at} = 0x{b:02X}")))
}

fn byte_insert(rng: &mut Rng, xml: &[u8], _: &[Element]) -> Option<(Vec<u8>, String)> {
    let at = rng.below(xml.len() + 1);
    let b = if rng.chance(2, 3) {
        interesting_byte(rng)
    } else {
        rng.next_u64() as u8
    };
    Some((insert(xml, at, &[b]), format!("0x{b:02X} inserted at {at}")))
}

fn byte_delete(rng: &mut Rng, xml: &[u8], _: &[Element]) -> Option<(Vec<u8>, String)> {
    let at = rng.below(xml.len());
    let most = if rng.chance(1, 4) { 12 } else { 1 };
    let n = 1 + rng.below(most);
    let end = (at + n).min(xml.len());
    Some((
        splice(xml, at..end, b""),
        format!("bytes {at}..{end} deleted"),
    ))
}

fn truncate(rng: &mut Rng, xml: &[u8], _: &[Element]) -> Option<(Vec<u8>, String)> {
    let at = rng.below(xml.len());
    Some((xml[..at].to_vec(), format!("cut at {at} of {}", xml.len())))
}

fn span_copy(rng: &mut Rng, xml: &[u8], _: &[Element]) -> Option<(Vec<u8>, String)> {
    let from = rng.below(xml.len());
    let len = 1 + rng.below(200.min(xml.len() - from));
    let to = rng.below(xml.len() + 1);
    let span = xml[from..from + len].to_vec();
    Some((
        insert(xml, to, &span),
        format!("bytes {from}..{} copied to {to}", from + len),
    ))
}

const DECLS: &[&str] = &[
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"maybe\"?>",
    "<?xml encoding=\"UTF-8\"?>",
    "<?xml version=\"2.0\"?>",
    "<?xml version=\"1.1\"?>",
    "<?xml version=\"1.1\" encoding=\"UTF-8\"?>",
    "<?xml version=\"1.0\" foo=\"bar\"?>",
    "<?xml version='1.0' encoding='UTF-8'?>",
    "<?xml version=\"1.0\" standalone=\"yes\"?>",
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>",
    "<?xml version=\"1.0\" standalone=\"no\" encoding=\"UTF-8\"?>",
    "<?xml encoding=\"UTF-8\" version=\"1.0\"?>",
    "<?xmlversion=\"1.0\"?>",
    "<?xml version=\"1.0\"encoding=\"UTF-8\"?>",
    "<?xml ?>",
    "<?xml?>",
    "<?XML version=\"1.0\"?>",
    "<?Xml version=\"1.0\"?>",
    "<?xml version=\"1.0\" ?>",
    "<?xml  version = \"1.0\"  encoding = 'UTF-8' ?>",
    "<?xml version=\"1.0\" encoding=\"\"?>",
    "<?xml version=\"1.0\" encoding=\"UTF-9\"?>",
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
    "<?xml version=\"1.0\" encoding=\"UTF8\"?>",
    "<?xml version=\"1.0\" encoding=\"8-UTF\"?>",
    "<?xml version=\"1.0\" encoding=\"UTF-8 \"?>",
    "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
    "<?xml version=\"1.0\" encoding=\"US-ASCII\"?>",
    "<?xml version=\"1.0\" encoding=\"ascii\"?>",
    "<?xml version=\"1.0\" encoding=\"latin1\"?>",
    "<?xml version=\"1.0\" encoding=\"windows-1252\"?>",
    "<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
    "<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?>",
    "<?xml version=\"1.0\"",
    "<?xml version=\"1.0\">",
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\" standalone=\"yes\"?>",
    "<?xml version=\"1.0\" version=\"1.0\"?>",
    "<?xml version=\"1.0\"?><?xml version=\"1.0\"?>",
    "",
    "<?xml\tversion=\"1.0\"?>",
    "<?xml\nversion=\"1.0\"\nencoding=\"UTF-8\"?>",
    "<?xml version=\"1.0 \"?>",
    "<?xml version=\"1.\"?>",
    "<?xml version=\"1.0\" encoding=\"UTF-8\"? >",
    "<?xml version=\"1.0\" standalone=\"YES\"?>",
    "<?xml version=\"1.0\" standalone='yes'?>",
    "<?xml version=\"1.0\" encoding=UTF-8?>",
    "<?xml version=\"1.0\" encoding=\"UTF-8'?>",
    "<?xml version=\"1.0\" encoding=\"-UTF8\"?>",
    "<?xml version=\"1.0\" encoding=\"UTF_8\"?>",
];

fn xml_decl(rng: &mut Rng, xml: &[u8], _: &[Element]) -> Option<(Vec<u8>, String)> {
    let decl = rng.pick(DECLS);
    let end = decl_end(xml);
    Some((
        splice(xml, 0..end, decl.as_bytes()),
        format!("declaration {}", show(decl.as_bytes())),
    ))
}

fn prolog(rng: &mut Rng, xml: &[u8], _: &[Element]) -> Option<(Vec<u8>, String)> {
    let what = *rng.pick(&[
        "<!-- c -->",
        "<?pi x?>",
        "<?xml version=\"1.0\"?>",
        " ",
        "\n",
        "\r\n",
        "\t",
        "x",
        "\u{FEFF}",
        "\u{FEFF}\u{FEFF}",
        "\0",
        "<!-- c -->\n",
        "\u{A0}",
        "]]>",
        "<users/>",
    ]);
    let at = if rng.chance(1, 2) { 0 } else { decl_end(xml) };
    Some((
        insert(xml, at, what.as_bytes()),
        format!("{} inserted at {at}", show(what.as_bytes())),
    ))
}

fn pi(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let what = *rng.pick(&[
        "<? ?>",
        "<?XML x?>",
        "<?xml x?>",
        "<?Xml?>",
        "<?xml-stylesheet href=\"a.xsl\"?>",
        "<?t?>",
        "<?t data?>",
        "<?t\tdata?>",
        "<?1t?>",
        "<?t data",
        "<?t-x?>",
        "<?t:x?>",
        "<??>",
        "<?t data?",
        "<?target ?>",
        "<?t \u{E9}?>",
        "<?t \u{1}?>",
        "<?t \u{FFFE}?>",
        "<?xmlfoo?>",
        "<?t?x?>",
    ]);
    let at = markup_gap(rng, map);
    Some((
        insert(xml, at, what.as_bytes()),
        format!("{} at {at}", show(what.as_bytes())),
    ))
}

fn comment(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let long = || format!("<!-- {} -->", "c".repeat(2 << 20));
    let what = match rng.below(16) {
        0 => "<!-- ok -->".to_owned(),
        1 => "<!---->".into(),
        2 => "<!-- a -- b -->".into(),
        3 => "<!-- x --->".into(),
        4 => "<!-- \u{FFFE} -->".into(),
        5 => "<!-- \u{FFFF} -->".into(),
        6 => "<!-- \u{1} -->".into(),
        7 => long(),
        8 => "<!- x ->".into(),
        9 => "<!-- unterminated".into(),
        10 => "<!--->".into(),
        11 => "<!-- - -->".into(),
        12 => "<!--\u{85}\u{2028}-->".into(),
        13 => "<!-- \u{1F600} \u{D7FF} -->".into(),
        14 => "<!--\t\r\n-->".into(),
        _ => "<!-- a \u{0}b -->".into(),
    };
    let at = if rng.chance(1, 3) {
        value_spot(rng, map).map_or(0, |(at, _)| at)
    } else {
        markup_gap(rng, map)
    };
    Some((
        insert(xml, at, what.as_bytes()),
        format!("comment {} at {at}", show(what.as_bytes())),
    ))
}

fn cdata(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let l = leaf(rng, map)?;
    let text = xml[l.content.clone()].to_vec();
    let (with, what): (Vec<u8>, &str) = match rng.below(9) {
        0 => (
            [b"<![CDATA[".as_slice(), &text, b"]]>"].concat(),
            "text wrapped in CDATA",
        ),
        1 => ([text.as_slice(), b"]]>"].concat(), "]]> in text"),
        2 => (
            [b"a]]]]><![CDATA[>b".as_slice()].concat(),
            "split CDATA end",
        ),
        3 => (b"<![CDATA[x".to_vec(), "unterminated CDATA"),
        4 => (b"<![cdata[x]]>".to_vec(), "lowercase CDATA"),
        5 => (
            "<![CDATA[\u{FFFE}]]>".as_bytes().to_vec(),
            "U+FFFE in CDATA",
        ),
        6 => (b"<![CDATA[<&>]]>".to_vec(), "markup in CDATA"),
        7 => (b"<![CDATA[]]>".to_vec(), "empty CDATA"),
        _ => (
            [text.as_slice(), b"<![CDATA[ ]]>"].concat(),
            "CDATA blank after the text",
        ),
    };
    if rng.chance(1, 4) {
        // In element-only content instead.
        let parent = &map[l.parent?];
        let at = parent.start_tag.end;
        return Some((
            insert(xml, at, b"<![CDATA[ x ]]>"),
            format!("CDATA in <{}>'s element content", parent.name),
        ));
    }
    Some((set_text(xml, l, &with), format!("{what} in <{}>", l.name)))
}

fn char_ref(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let (at, place) = value_spot(rng, map)?;
    let what = *rng.pick(&[
        "&#0;",
        "&#1;",
        "&#x8;",
        "&#9;",
        "&#xA;",
        "&#xD;",
        "&#x1F;",
        "&#x20;",
        "&#x7F;",
        "&#x85;",
        "&#xD7FF;",
        "&#xD800;",
        "&#xDFFF;",
        "&#xE000;",
        "&#xFFFD;",
        "&#xFFFE;",
        "&#xFFFF;",
        "&#x10000;",
        "&#x10FFFF;",
        "&#x110000;",
        "&#99999999999;",
        "&#;",
        "&#x;",
        "&#xZ;",
        "&#12",
        "&#X41;",
        "&#x41;",
        "&#65;",
        "&#x1F600;",
        "&# 65;",
        "&#-1;",
        "&#x0000041;",
        "&#xffff;",
    ]);
    Some((
        insert(xml, at, what.as_bytes()),
        format!("{what} in an {place} value at {at}"),
    ))
}

fn entity_ref(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let (at, place) = value_spot(rng, map)?;
    let what = *rng.pick(&[
        "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&nbsp;", "&foo;", "&", "& ", "&amp", "&#38;",
        "&AMP;", "&lt", "&;", "&a b;", "&1a;", "&a:b;", "&é;",
    ]);
    Some((
        insert(xml, at, what.as_bytes()),
        format!("{what} in an {place} value at {at}"),
    ))
}

const CHARS: &[char] = &[
    '\0',
    '\u{1}',
    '\u{8}',
    '\u{B}',
    '\u{C}',
    '\u{1B}',
    '\u{1F}',
    '\u{7F}',
    '\u{80}',
    '\u{85}',
    '\u{9F}',
    '\u{A0}',
    '\u{2028}',
    '\u{FEFF}',
    '\u{FFFD}',
    '\u{FFFE}',
    '\u{FFFF}',
    '\u{1F600}',
    '\u{10FFFF}',
    '\u{E000}',
    '\u{D7FF}',
    '\u{301}',
    '\t',
    '\r',
    '\n',
    '\u{200B}',
    '\u{202E}',
];

fn raw_char(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let c = *rng.pick(CHARS);
    let (at, place) = if rng.chance(1, 5) {
        (markup_gap(rng, map), "markup")
    } else {
        value_spot(rng, map)?
    };
    let mut buf = [0u8; 4];
    Some((
        insert(xml, at, c.encode_utf8(&mut buf).as_bytes()),
        format!("U+{:04X} in {place} at {at}", c as u32),
    ))
}

fn invalid_utf8(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let seqs: [&[u8]; 15] = [
        &[0x80],
        &[0xBF],
        &[0xC0, 0x80],
        &[0xC1, 0xBF],
        &[0xE0, 0x80, 0x80],
        &[0xED, 0xA0, 0x80],
        &[0xF4, 0x90, 0x80, 0x80],
        &[0xF5, 0x80, 0x80, 0x80],
        &[0xFF],
        &[0xFE],
        &[0xC3],
        &[0xE2, 0x82],
        &[0xE9],
        &[0xF0, 0x9F, 0x98],
        &[0xEF, 0xBF, 0xBE],
    ];
    let seq = *rng.pick(&seqs);
    let (at, place) = if rng.chance(1, 4) {
        (markup_gap(rng, map), "markup")
    } else {
        value_spot(rng, map)?
    };
    Some((
        insert(xml, at, seq),
        format!("bytes {seq:02X?} in {place} at {at}"),
    ))
}

/// Lengths around every maxLength of the schema.
const LENGTHS: &[usize] = &[
    2, 3, 4, 5, 9, 10, 11, 19, 20, 21, 25, 26, 49, 50, 51, 127, 128, 254, 255, 256, 300, 301, 599,
    600, 601, 999, 1000, 1001, 1999, 2000, 2001, 2049, 3999, 4000, 4001,
];

fn utf16_length(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let n = *rng.pick(LENGTHS);
    let c = *rng.pick(&['\u{1F600}', '\u{10348}', '\u{E9}', '\u{4E2D}']);
    let mut value: String =
        std::iter::repeat_n(c, n / if c > '\u{FFFF}' { 2 } else { 1 }).collect();
    if rng.chance(1, 3) {
        value.push('x');
    }
    with_value(
        rng,
        xml,
        map,
        &value,
        &format!("{n} units of U+{:04X}", c as u32),
    )
}

fn length(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let n = *rng.pick(LENGTHS);
    let value = "x".repeat(n);
    with_value(rng, xml, map, &value, &format!("{n} ASCII characters"))
}

/// Sets a random leaf's text or attribute's value to `value`.
fn with_value(
    rng: &mut Rng,
    xml: &[u8],
    map: &[Element],
    value: &str,
    what: &str,
) -> Option<(Vec<u8>, String)> {
    let with_attrs: Vec<&Element> = map.iter().filter(|e| !e.attrs.is_empty()).collect();
    if !with_attrs.is_empty() && rng.chance(1, 3) {
        let e = with_attrs[rng.below(with_attrs.len())];
        let (name, range) = &e.attrs[rng.below(e.attrs.len())];
        let attr = String::from_utf8_lossy(&xml[name.clone()]).into_owned();
        return Some((
            splice(xml, range.clone(), value.as_bytes()),
            format!("{what} in <{} {attr}>", e.name),
        ));
    }
    let l = leaf(rng, map)?;
    Some((
        set_text(xml, l, value.as_bytes()),
        format!("{what} in <{}>", l.name),
    ))
}

fn attr_insert(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let e = if rng.chance(1, 4) {
        &map[0]
    } else {
        element(rng, map)
    };
    let long = format!("desc=\"{}\"", "d".repeat(4001));
    let long255 = format!("desc=\"{}\"", "d".repeat(256));
    let dup = e
        .attrs
        .first()
        .map(|(n, v)| {
            format!(
                "{}=\"{}\"",
                String::from_utf8_lossy(&xml[n.clone()]),
                String::from_utf8_lossy(&xml[v.clone()])
            )
        })
        .unwrap_or_else(|| "desc=\"a\" desc=\"b\"".into());
    let attr: String = match rng.below(36) {
        0 => "desc=\"x\"".into(),
        1 => long,
        2 => "desc=\"&#x1;\"".into(),
        3 => "desc=\"a&#x1F600;b\"".into(),
        4 => "desc=\"\"".into(),
        5 => "preferred=\"true\"".into(),
        6 => "preferred=\"maybe\"".into(),
        7 => "segment_type=\"Internal\"".into(),
        8 => "segment_type=\"ExternalXYZ\"".into(),
        9 => "link=\"x\"".into(),
        10 => "xmlns=\"urn:example\"".into(),
        11 => "xmlns=\"\"".into(),
        12 => "xmlns:p=\"urn:p\"".into(),
        13 => "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
               xsi:noNamespaceSchemaLocation=\"rest_users.xsd\""
            .into(),
        14 => "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
               xsi:schemaLocation=\"urn:x x.xsd\""
            .into(),
        15 => "xsi:noNamespaceSchemaLocation=\"x.xsd\"".into(),
        16 => "xmlns:q=\"urn:q\" q:extra=\"1\"".into(),
        17 => "xml:lang=\"en\"".into(),
        18 => "xml:space=\"preserve\"".into(),
        19 => "foo=\"bar\"".into(),
        20 => "total_record_count=\"1\"".into(),
        21 => dup,
        22 => "foo".into(),
        23 => "foo=bar".into(),
        24 => "a=\"1\"b=\"2\"".into(),
        25 => "desc='single'".into(),
        26 => "desc=\"<\"".into(),
        27 => "desc=\"a&b\"".into(),
        28 => "desc=\"&amp;&lt;\"".into(),
        29 => "desc=\"tab\tnl\n\"".into(),
        30 => "xmlns:xml=\"http://www.w3.org/XML/1998/namespace\"".into(),
        31 => "xmlns:xml=\"urn:x\"".into(),
        32 => "xmlns:p=\"\"".into(),
        33 => "xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" \
               i:noNamespaceSchemaLocation=\"x.xsd\""
            .into(),
        34 => long255,
        _ => "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:nil=\"false\"".into(),
    };
    let at = e.start_tag.start + 1 + e.name.len();
    Some((
        insert(xml, at, format!(" {attr}").as_bytes()),
        format!("<{} {}>", e.name, show(attr.as_bytes())),
    ))
}

fn attr_value(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let with_attrs: Vec<&Element> = map.iter().filter(|e| !e.attrs.is_empty()).collect();
    if with_attrs.is_empty() {
        return None;
    }
    let e = with_attrs[rng.below(with_attrs.len())];
    let (name, range) = &e.attrs[rng.below(e.attrs.len())];
    let value: String = match rng.below(18) {
        0 => String::new(),
        1 => " true ".into(),
        2 => "TRUE".into(),
        3 => "1".into(),
        4 => "0".into(),
        5 => "yes".into(),
        6 => "true".into(),
        7 => "false".into(),
        8 => "a<b".into(),
        9 => "a&b".into(),
        10 => "a&amp;b".into(),
        11 => "\t".into(),
        12 => "x".repeat(11),
        13 => "x".repeat(256),
        14 => "x".repeat(4001),
        15 => "\u{1F600}".repeat(128),
        16 => "&#0;".into(),
        _ => "&#x9;\u{A0}".into(),
    };
    let attr = String::from_utf8_lossy(&xml[name.clone()]).into_owned();
    Some((
        splice(xml, range.clone(), value.as_bytes()),
        format!("<{} {attr}=\"{}\">", e.name, show(value.as_bytes())),
    ))
}

fn namespace(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let e = if rng.chance(1, 3) {
        &map[0]
    } else {
        element(rng, map)
    };
    let at = e.start_tag.start + 1 + e.name.len();
    Some(match rng.below(9) {
        0 => {
            let out = rename(xml, e, &format!("p:{}", e.name));
            let at = e.start_tag.start + 3 + e.name.len();
            (
                insert(&out, at, b" xmlns:p=\"urn:p\""),
                format!("<p:{}> with p bound", e.name),
            )
        }
        1 => (
            rename(xml, e, &format!("p:{}", e.name)),
            format!("<p:{}> with p unbound", e.name),
        ),
        2 => (
            insert(xml, at, b" xmlns=\"urn:x\""),
            format!("default namespace on <{}>", e.name),
        ),
        3 => (
            insert(xml, at, b" xmlns=\"\""),
            format!("empty default namespace on <{}>", e.name),
        ),
        4 => (
            insert(xml, at, b" xmlns:p=\"\""),
            format!("prefix unbound on <{}>", e.name),
        ),
        5 => (
            insert(
                xml,
                at,
                b" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"string255Length\"",
            ),
            format!("xsi:type on <{}>", e.name),
        ),
        6 => {
            let out = rename(xml, e, &format!("xsi:{}", e.name));
            let at = e.start_tag.start + 5 + e.name.len();
            (
                insert(
                    &out,
                    at,
                    b" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
                ),
                format!("<xsi:{}>", e.name),
            )
        }
        7 => (
            insert(xml, at, b" xmlns:p=\"urn:p\" p:desc=\"x\""),
            format!("p:desc on <{}>", e.name),
        ),
        _ => (
            insert(xml, at, b" xmlns=\"urn:x\" xmlns:a=\"urn:a\""),
            format!("two namespaces on <{}>", e.name),
        ),
    })
}

fn element_delete(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let e = element(rng, map);
    Some((
        splice(xml, e.whole.clone(), b""),
        format!("<{}> removed", e.name),
    ))
}

fn element_duplicate(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let e = element(rng, map);
    let copy = xml[e.whole.clone()].to_vec();
    Some((
        insert(xml, e.whole.end, &copy),
        format!("<{}> twice", e.name),
    ))
}

fn element_rename(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let e = element(rng, map);
    let other = element(rng, map).name.clone();
    let long = "a".repeat(1001);
    let name: String = match rng.below(12) {
        0 => "foo".into(),
        1 => other,
        2 => "pref_full_name".into(),
        3 => e.name.to_uppercase(),
        4 => format!("{}-x", e.name),
        5 => format!("1{}", e.name),
        6 => format!("{}\u{FC}", e.name),
        7 => long,
        8 => "user".into(),
        9 => "researcher".into(),
        10 => format!("{}.", e.name),
        _ => format!("_{}", e.name),
    };
    Some((
        rename(xml, e, &name),
        format!("<{}> renamed <{}>", e.name, show(name.as_bytes())),
    ))
}

fn fragments() -> Vec<String> {
    let x = |n: usize| "x".repeat(n);
    vec![
        "<password>pw</password>".into(),
        format!("<password>{}</password>", x(256)),
        "<force_password_change>TRUE</force_password_change>".into(),
        "<force_password_change>FALSE</force_password_change>".into(),
        format!("<full_name>{}</full_name>", x(601)),
        "<full_name><b/></full_name>".into(),
        "<user_roles><user_role><status>ACTIVE</status><bogus/></user_role></user_roles>".into(),
        "<user_roles><user_role><parameters><parameter><type>x</type><type>y</type>\
         </parameter></parameters></user_role></user_roles>"
            .into(),
        "<user_roles><user_role><expiry_date>2026-02-30</expiry_date></user_role></user_roles>"
            .into(),
        "<user_roles/>".into(),
        "<proxy_for_users><proxy_for_user><full_name>a</full_name><primary_id>b</primary_id>\
         </proxy_for_user></proxy_for_users>"
            .into(),
        "<proxy_for_users><proxy_for_user><primary_id>b</primary_id><full_name>a</full_name>\
         </proxy_for_user></proxy_for_users>"
            .into(),
        "<researcher><researcher_first_name>a</researcher_first_name><bogus/></researcher>".into(),
        "<researcher><researcher_keywords><researcher_keyword/></researcher_keywords>\
         </researcher>"
            .into(),
        format!(
            "<researcher><researcher_engagement_types>{}</researcher_engagement_types>\
             </researcher>",
            "<researcher_engagement_type/>".repeat(6)
        ),
        format!(
            "<researcher><auto_capture>{}</auto_capture></researcher>",
            x(21)
        ),
        "<researcher><researcher_honors><researcher_honor><title>t</title>\
         <organization_code>c</organization_code></researcher_honor></researcher_honors>\
         </researcher>"
            .into(),
        "<requests link=\"x\">5</requests>".into(),
        "<requests>five</requests>".into(),
        "<loans desc=\"x\">1</loans>".into(),
        "<fees>1.5e3</fees>".into(),
        "<fees>1,5</fees>".into(),
        "<is_researcher>yes</is_researcher>".into(),
        "<is_researcher>1</is_researcher>".into(),
        "<pref_full_name>A B</pref_full_name>".into(),
        "<pref_full_name><x/></pref_full_name>".into(),
        "<source_link_id><x/></source_link_id>".into(),
        "<linking_id>l</linking_id>".into(),
        "<status_date>2026-01-01</status_date>".into(),
        "<status_date/>".into(),
        "<last_patron_activity_date>x</last_patron_activity_date>".into(),
        "<user_statistics><user_statistic><statistic_category>A</statistic_category>\
         <category_type>B</category_type></user_statistic></user_statistics>"
            .into(),
        "<user_notes><user_note><note_type>A</note_type><user_viewable>true</user_viewable>\
         </user_note></user_notes>"
            .into(),
        "<user_blocks><user_block><block_description>x</block_description>\
         <created_date>2026-01-01</created_date></user_block></user_blocks>"
            .into(),
        "<library_notices><library_notice><value>maybe</value></library_notice>\
         </library_notices>"
            .into(),
        format!(
            "<rs_libraries><rs_library><code>{}</code></rs_library></rs_libraries>",
            x(51)
        ),
        "<contact_info><phones/><emails/></contact_info>".into(),
        "<user_identifiers><user_identifier><value>v</value><id_type>T</id_type>\
         </user_identifier></user_identifiers>"
            .into(),
        "<bogus>x</bogus>".into(),
        "<user><primary_id>nested</primary_id></user>".into(),
        "<birth_date>1999-01-01</birth_date>".into(),
        "<expiry_date>2020-01-01Z</expiry_date>".into(),
        "<purge_date>2019-01-01Z</purge_date>".into(),
        "<account_type>INTERNAL</account_type>".into(),
        "<email><email_address>a@b.c</email_address></email>".into(),
        "<address_types/>".into(),
        "<primary_id>dup</primary_id>".into(),
    ]
}

fn element_insert(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let all = fragments();
    let frag = &all[rng.below(all.len())];
    // Mostly into a <user>, where the fragments belong.
    let users: Vec<&Element> = map.iter().filter(|e| e.name == "user").collect();
    let at = if !users.is_empty() && rng.chance(3, 4) {
        let u = users[rng.below(users.len())];
        if rng.chance(1, 2) {
            u.start_tag.end
        } else {
            u.content.end
        }
    } else {
        markup_gap(rng, map)
    };
    Some((
        insert(xml, at, frag.as_bytes()),
        format!("{} inserted at {at}", show(frag.as_bytes())),
    ))
}

fn element_swap(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let pairs: Vec<(usize, usize)> = (1..map.len())
        .filter_map(|i| {
            let next = (i + 1..map.len()).find(|&j| map[j].parent == map[i].parent)?;
            (map[next].whole.start >= map[i].whole.end).then_some((i, next))
        })
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let (a, b) = pairs[rng.below(pairs.len())];
    let (a, b) = (&map[a], &map[b]);
    let mut out = xml[..a.whole.start].to_vec();
    out.extend_from_slice(&xml[b.whole.clone()]);
    out.extend_from_slice(&xml[a.whole.end..b.whole.start]);
    out.extend_from_slice(&xml[a.whole.clone()]);
    out.extend_from_slice(&xml[b.whole.end..]);
    Some((out, format!("<{}> and <{}> swapped", a.name, b.name)))
}

const DATE_NAMES: &[&str] = &[
    "birth_date",
    "expiry_date",
    "purge_date",
    "status_date",
    "last_patron_activity_date",
    "start_date",
    "end_date",
    "engagement_end_date",
    "created_date",
];

fn date_value(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let e = named_leaf(rng, map, DATE_NAMES)?;
    let value = *rng.pick(&[
        "-2026-01-01",
        "12026-01-01",
        "0000-01-01",
        "02026-01-01",
        "2026-02-29",
        "2024-02-29",
        "2100-02-29",
        "2000-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-04-31",
        "2026-1-01",
        "2026-01-01Z",
        "2026-01-01+14:00",
        "2026-01-01+14:01",
        "2026-01-01-13:59",
        "2026-01-01+15:00",
        "2026-01-01z",
        "2026-01-01 ",
        " 2026-01-01",
        "\n2026-01-01\t",
        "",
        " ",
        "2026-01-01T00:00:00Z",
        "26-01-01",
        "-0001-03-01",
        "-10000-01-01",
        "2147483647-01-01",
        "99999999999-01-01",
        "2026-01-01+00:00",
        "+2026-01-01",
        "\u{FF12}026-01-01",
        "2026-01-01+1:00",
        "2026-01-01T10:00:00.5",
        "2026-01-01T24:00:00Z",
        "2026-01-01T24:00:01Z",
        "2026-01-01T23:59:60Z",
        "2026-01-01T10:00Z",
        "2026-01-01T10:00:00.Z",
        "2026-01-01t10:00:00Z",
        "2026-01-01 10:00:00Z",
        "-0001-12-31T10:00:00-14:00",
        "2026-01-01T10:00:00+14:30",
        "2026-02-29T10:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-01-01\u{A0}",
    ]);
    Some((
        set_text(xml, e, value.as_bytes()),
        format!("<{}>{}</{}>", e.name, show(value.as_bytes()), e.name),
    ))
}

fn typed_value(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let booleans = &[
        "is_researcher",
        "user_viewable",
        "popup_note",
        "value",
        "previous_affiliated",
        "suppress_from_public_portal",
    ];
    let ints = &["requests", "loans", "from_year", "to_year"];
    let values: &[&str] = &[
        "true",
        "false",
        "1",
        "0",
        "TRUE",
        "True",
        "yes",
        " true",
        "true ",
        "",
        "  ",
        "2",
        "-0",
        "t",
        "+1",
        "-1",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "1.0",
        "1e3",
        " 7 ",
        "007",
        "\u{663}",
        "1.5",
        "+1.5",
        ".5",
        "5.",
        "1e5",
        "1E-5",
        "INF",
        "-INF",
        "+INF",
        "NaN",
        "nan",
        "inf",
        "1e",
        "1.2.3",
        "0x10",
        "1f",
        "1d",
        "3.4e39",
        "-",
        ".",
        "1_000",
    ];
    let e = named_leaf(rng, map, booleans)
        .filter(|_| rng.chance(1, 2))
        .or_else(|| named_leaf(rng, map, ints))
        .or_else(|| named_leaf(rng, map, &["fees"]))
        .or_else(|| named_leaf(rng, map, booleans))?;
    let value = *rng.pick(values);
    Some((
        set_text(xml, e, value.as_bytes()),
        format!("<{}>{}</{}>", e.name, show(value.as_bytes()), e.name),
    ))
}

fn text_value(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let e = leaf(rng, map)?;
    let value: String = match rng.below(14) {
        0 => String::new(),
        1 => " ".into(),
        2 => "  padded  ".into(),
        3 => "a\tb".into(),
        4 => "a\nb".into(),
        5 => "a\r\nb".into(),
        6 => "<".into(),
        7 => ">".into(),
        8 => "&amp;".into(),
        9 => "x".repeat(3000),
        10 => "\u{E9}".repeat(300),
        11 => "a<b/>c".into(),
        12 => "INTERNAL".into(),
        _ => "x".repeat(2 << 20),
    };
    Some((
        set_text(xml, e, value.as_bytes()),
        format!("<{}>{}</{}>", e.name, show(value.as_bytes()), e.name),
    ))
}

fn with_declared(xml: &[u8], encoding: &str) -> Vec<u8> {
    let decl = format!("<?xml version=\"1.0\" encoding=\"{encoding}\"?>");
    splice(xml, 0..decl_end(xml), decl.as_bytes())
}

fn encoding(rng: &mut Rng, xml: &[u8], _: &[Element]) -> Option<(Vec<u8>, String)> {
    let text = String::from_utf8_lossy(xml).into_owned();
    let latin1 = |s: &str| -> Vec<u8> {
        s.chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect()
    };
    let ascii = |s: &str| -> Vec<u8> {
        s.chars()
            .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
            .collect()
    };
    let utf16 = |s: &str, le: bool, bom: bool| -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if le { &[0xFF, 0xFE] } else { &[0xFE, 0xFF] });
        }
        for u in s.encode_utf16() {
            out.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        out
    };
    let cp1252 = |s: &str| encoding_rs::WINDOWS_1252.encode(s).0.into_owned();
    Some(match rng.below(16) {
        0 => (
            with_declared(xml, "ISO-8859-1"),
            "ISO-8859-1 declared, UTF-8 bytes".into(),
        ),
        1 => (
            latin1(&String::from_utf8_lossy(&with_declared(xml, "ISO-8859-1"))),
            "transcoded to ISO-8859-1 and declared".into(),
        ),
        2 => (
            with_declared(xml, "US-ASCII"),
            "US-ASCII declared, UTF-8 bytes".into(),
        ),
        3 => (
            ascii(&String::from_utf8_lossy(&with_declared(xml, "US-ASCII"))),
            "transcoded to US-ASCII and declared".into(),
        ),
        4 => (
            with_declared(xml, "windows-1252"),
            "windows-1252 declared".into(),
        ),
        5 => (
            cp1252(&String::from_utf8_lossy(&with_declared(
                xml,
                "windows-1252",
            ))),
            "transcoded to windows-1252 and declared".into(),
        ),
        6 => (
            cp1252(&text),
            "transcoded to windows-1252, not declared".into(),
        ),
        7 => (
            utf16(
                &String::from_utf8_lossy(&with_declared(xml, "UTF-16")),
                true,
                true,
            ),
            "UTF-16LE with BOM".into(),
        ),
        8 => (
            utf16(
                &String::from_utf8_lossy(&with_declared(xml, "UTF-16")),
                false,
                true,
            ),
            "UTF-16BE with BOM".into(),
        ),
        9 => (
            utf16(
                &String::from_utf8_lossy(&with_declared(xml, "UTF-16LE")),
                true,
                false,
            ),
            "UTF-16LE without BOM".into(),
        ),
        10 => (
            with_declared(xml, "UTF-16"),
            "UTF-16 declared, UTF-8 bytes".into(),
        ),
        11 => (with_declared(xml, "UTF-32"), "UTF-32 declared".into()),
        12 => (
            with_declared(xml, "x-unknown"),
            "an unknown encoding declared".into(),
        ),
        13 => (
            [&[0xEF, 0xBB, 0xBF][..], &with_declared(xml, "ISO-8859-1")].concat(),
            "UTF-8 BOM with ISO-8859-1 declared".into(),
        ),
        14 => (with_declared(xml, "Latin1"), "Latin1 declared".into()),
        _ => (
            latin1(&text),
            "transcoded to ISO-8859-1, not declared".into(),
        ),
    })
}

fn whitespace(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let text = String::from_utf8_lossy(xml);
    Some(match rng.below(10) {
        0 => (
            text.replace('\n', "\r\n").into_bytes(),
            "CRLF line ends".into(),
        ),
        1 => (text.replace('\n', "\r").into_bytes(), "CR line ends".into()),
        2 => {
            let e = element(rng, map);
            let at = if e.leaf { e.whole.end } else { e.start_tag.end };
            (
                insert(xml, at, " \n\t".repeat(700_000).as_bytes()),
                format!("2 MB of whitespace between elements at {at}"),
            )
        }
        3 => {
            let l = leaf(rng, map)?;
            (
                insert(xml, l.content.start, " ".repeat(2 << 20).as_bytes()),
                format!("2 MB of spaces in <{}>", l.name),
            )
        }
        4 => (
            text.replace("  ", "\t").into_bytes(),
            "tab indentation".into(),
        ),
        5 => {
            let mut out = String::new();
            let mut last_gt = false;
            for c in text.chars() {
                if last_gt && c.is_whitespace() {
                    continue;
                }
                last_gt = c == '>';
                out.push(c);
            }
            (out.into_bytes(), "whitespace between tags removed".into())
        }
        6 => {
            let at = markup_gap(rng, map);
            (
                insert(xml, at, "\u{A0}".as_bytes()),
                format!("NBSP at {at}"),
            )
        }
        7 => {
            let at = markup_gap(rng, map);
            (insert(xml, at, b"\x0C"), format!("form feed at {at}"))
        }
        8 => {
            let at = markup_gap(rng, map);
            (
                insert(xml, at, "\u{2028}\u{85}".as_bytes()),
                format!("U+2028 and U+0085 at {at}"),
            )
        }
        _ => (
            insert(xml, decl_end(xml), b"\n\n  \t\n"),
            "whitespace after the declaration".into(),
        ),
    })
}

fn root(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let r = &map[0];
    let at = r.start_tag.start + 1 + r.name.len();
    Some(match rng.below(18) {
        0 => (rename(xml, r, "userRecords"), "root <userRecords>".into()),
        1 => (rename(xml, r, "user"), "root <user>".into()),
        2 => (rename(xml, r, "Users"), "root <Users>".into()),
        3 => (rename(xml, r, "foo"), "root <foo>".into()),
        4 => (rename(xml, r, "users"), "root <users>".into()),
        5 => (
            insert(xml, at, b" total_record_count=\"x\""),
            "total_record_count x".into(),
        ),
        6 => (
            insert(xml, at, b" total_record_count=\"-1\""),
            "total_record_count -1".into(),
        ),
        7 => (
            insert(xml, at, b" total_record_count=\"99999999999999999999\""),
            "total_record_count overflow".into(),
        ),
        8 => (
            insert(xml, at, b" total_record_count=\"\""),
            "total_record_count empty".into(),
        ),
        9 => (
            insert(xml, at, b" total_record_count=\" 1000 \""),
            "total_record_count 1000".into(),
        ),
        10 => (
            insert(xml, r.whole.end, b"<users/>"),
            "a second root element".into(),
        ),
        11 => (insert(xml, r.whole.end, b"x"), "text after the root".into()),
        12 => (
            insert(xml, r.whole.end, b"<!-- c --><?pi?>\n"),
            "comment and PI after the root".into(),
        ),
        13 => (xml[..r.whole.start].to_vec(), "no root element".into()),
        14 => (
            splice(xml, r.whole.clone(), b"<users/>"),
            "empty root <users/>".into(),
        ),
        15 => (
            insert(xml, r.whole.start, b"text"),
            "text before the root".into(),
        ),
        16 => (rename(xml, r, "researcher"), "root <researcher>".into()),
        _ => (
            splice(xml, r.whole.clone(), b"<users></users>"),
            "empty root <users></users>".into(),
        ),
    })
}

fn doctype(rng: &mut Rng, xml: &[u8], _: &[Element]) -> Option<(Vec<u8>, String)> {
    let what = *rng.pick(&[
        "<!DOCTYPE users>",
        "<!DOCTYPE users [<!ENTITY e \"x\">]>",
        "<!DOCTYPE users SYSTEM \"users.dtd\">",
        "<!doctype users>",
        "<!DOCTYPE users PUBLIC \"-//X//Y\" \"y.dtd\">",
    ]);
    let at = decl_end(xml);
    Some((
        insert(xml, at, what.as_bytes()),
        format!("{what} after the declaration"),
    ))
}

fn structure(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let e = element(rng, map);
    let other = element(rng, map);
    Some(match rng.below(8) {
        0 if !e.end_tag.is_empty() => (
            splice(xml, e.end_tag.clone(), b""),
            format!("</{}> removed", e.name),
        ),
        1 => (
            splice(xml, e.start_tag.clone(), b""),
            format!("<{}> start tag removed", e.name),
        ),
        2 if !e.end_tag.is_empty() => (
            splice(
                xml,
                e.end_tag.clone(),
                format!("</{}>", other.name).as_bytes(),
            ),
            format!("</{}> closes <{}>", other.name, e.name),
        ),
        3 => (
            insert(xml, e.whole.end, b"</user>"),
            "an extra </user>".into(),
        ),
        4 if !e.end_tag.is_empty() => (
            insert(
                xml,
                e.content.start,
                b"<user><primary_id>n</primary_id></user>",
            ),
            format!("a <user> inside <{}>", e.name),
        ),
        5 if !e.end_tag.is_empty() => {
            let tag = &xml[e.start_tag.clone()];
            let empty = [&tag[..tag.len() - 1], b"/>"].concat();
            (
                splice(xml, e.whole.clone(), &empty),
                format!("<{}/> without its content", e.name),
            )
        }
        6 if e.end_tag.is_empty() => {
            let tag = &xml[e.start_tag.clone()];
            let open = [&tag[..tag.len() - 2], b">"].concat();
            (
                splice(xml, e.start_tag.clone(), &open),
                format!("<{}/> left open", e.name),
            )
        }
        _ => (
            insert(xml, e.whole.end, format!("</{}>", e.name).as_bytes()),
            format!("</{}> twice", e.name),
        ),
    })
}

fn tag_syntax(rng: &mut Rng, xml: &[u8], map: &[Element]) -> Option<(Vec<u8>, String)> {
    let e = element(rng, map);
    let name_end = e.start_tag.start + 1 + e.name.len();
    Some(match rng.below(11) {
        0 => (
            insert(xml, e.start_tag.start + 1, b" "),
            format!("< {}>", e.name),
        ),
        1 if !e.end_tag.is_empty() => (
            insert(xml, e.end_tag.end - 1, b" "),
            format!("</{} >", e.name),
        ),
        2 if !e.end_tag.is_empty() => (
            insert(xml, e.end_tag.start + 2, b" "),
            format!("</ {}>", e.name),
        ),
        3 => (
            insert(xml, name_end, b" a=\"1\"b=\"2\""),
            format!("<{} a=\"1\"b=\"2\">", e.name),
        ),
        4 => (
            insert(xml, name_end, b"\n\t"),
            format!("<{}\\n\\t>", e.name),
        ),
        5 => (insert(xml, name_end, b" ="), format!("<{} =>", e.name)),
        6 => (insert(xml, name_end, b":"), format!("<{}:>", e.name)),
        7 => (insert(xml, name_end, b"/ "), format!("<{}/ >", e.name)),
        8 if !e.end_tag.is_empty() => (
            insert(xml, e.end_tag.end - 1, b"\r\n"),
            format!("</{}\\r\\n>", e.name),
        ),
        9 => (insert(xml, name_end, b"<"), format!("<{}<>", e.name)),
        _ => (
            insert(xml, name_end, "\u{85}".as_bytes()),
            format!("<{}\\u{{85}}>", e.name),
        ),
    })
}

// ---- zip classes -----------------------------------------------------------------------

/// A small seed's XML as one deflated entry, for the header classes.
fn model(xml: &[u8]) -> Zip {
    Zip::of(&[(b"users.xml", xml)])
}

fn zip_bit_flip(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    let (mut bytes, layout) = model(xml).write();
    // Headers are small: aim at them half of the time.
    let at = if rng.chance(1, 2) {
        let starts = [layout.locals[0], layout.centrals[0], layout.end];
        let base = *rng.pick(&starts);
        (base + rng.below(46)).min(bytes.len() - 1)
    } else {
        rng.below(bytes.len())
    };
    let bit = rng.below(8);
    bytes[at] ^= 1 << bit;
    Some((bytes, format!("bit {bit} of byte {at}")))
}

fn damage_fields(rng: &mut Rng, f: &mut zipmodel::Fields) -> String {
    match rng.below(10) {
        0 => {
            f.signature ^= 1 << rng.below(32);
            "signature".into()
        }
        1 => {
            f.version = *rng.pick(&[0, 10, 45, 63, 0xFFFF]);
            format!("version {}", f.version)
        }
        2 => {
            let bit = *rng.pick(&[0, 1, 2, 3, 6, 11, 13]);
            f.flags ^= 1 << bit;
            format!("flag bit {bit}")
        }
        3 => {
            f.method = *rng.pick(&[0, 1, 6, 9, 12, 14, 93, 98, 99]);
            format!("method {}", f.method)
        }
        4 => {
            f.time = rng.next_u64() as u16;
            f.date = rng.next_u64() as u16;
            "time and date".into()
        }
        5 => {
            f.crc ^= 1 << rng.below(32);
            "CRC".into()
        }
        6 | 7 => {
            let which = rng.below(2);
            let delta = *rng.pick(&[1i64, -1, 100, -100]);
            let v = if which == 0 {
                &mut f.csize
            } else {
                &mut f.size
            };
            *v = (i64::from(*v) + delta).max(0) as u32;
            format!("{} {delta:+}", ["compressed size", "size"][which])
        }
        8 => {
            let which = rng.below(2);
            let v = if which == 0 {
                &mut f.csize
            } else {
                &mut f.size
            };
            *v = *rng.pick(&[0, 0xFFFF_FFFF]);
            format!("{} {}", ["compressed size", "size"][which], *v)
        }
        _ => {
            f.crc = 0;
            "CRC 0".into()
        }
    }
}

fn two_entries(xml: &[u8]) -> Zip {
    Zip::of(&[
        (b"users.xml", xml),
        (b"readme.txt", b"generated by a test\n"),
    ])
}

fn zip_local_field(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut z = if rng.chance(1, 3) {
        two_entries(xml)
    } else {
        model(xml)
    };
    let i = rng.below(z.entries.len());
    let what = if rng.chance(1, 6) {
        let mut extra = vec![0x55, 0x54, 5, 0, 1, 2, 3, 4, 5];
        if rng.chance(1, 2) {
            extra.truncate(6);
        }
        z.entries[i].local_extra = extra;
        "an extra field".into()
    } else {
        damage_fields(rng, &mut z.entries[i].local)
    };
    Some((z.bytes(), format!("local header of entry {i}: {what}")))
}

fn zip_central_field(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut z = if rng.chance(1, 3) {
        two_entries(xml)
    } else {
        model(xml)
    };
    let i = rng.below(z.entries.len());
    let what = match rng.below(8) {
        0 => {
            let delta = *rng.pick(&[1i64, -1, 4, 30, 1000]);
            z.entries[i].offset = Some(delta.max(0) as u32);
            format!("local header offset {delta}")
        }
        1 => {
            z.entries[i].offset = Some(0xFFFF_FFFF);
            "local header offset 0xFFFFFFFF".into()
        }
        2 => {
            z.entries[i].comment = b"a comment".to_vec();
            "a comment".into()
        }
        3 => {
            z.entries[i].central_extra = vec![0x55, 0x54, 9, 0, 1];
            "an extra field longer than the record".into()
        }
        _ => damage_fields(rng, &mut z.entries[i].central),
    };
    Some((z.bytes(), format!("central header of entry {i}: {what}")))
}

fn zip_crc(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut z = model(xml);
    let e = &mut z.entries[0];
    let bad = e.local.crc ^ 0x0100_0000;
    Some(match rng.below(4) {
        0 => {
            e.local.crc = bad;
            e.central.crc = bad;
            (z.bytes(), "CRC wrong in both headers".into())
        }
        1 => {
            e.local.crc = bad;
            (z.bytes(), "CRC wrong in the local header".into())
        }
        2 => {
            e.central.crc = bad;
            (z.bytes(), "CRC wrong in the central header".into())
        }
        _ => {
            let mut e2 = Entry::new(b"users.xml", xml, 8).with_descriptor(Descriptor::Signed);
            e2.descriptor_fields.0 ^= 1;
            (
                Zip::new(vec![e2]).bytes(),
                "CRC wrong in the data descriptor".into(),
            )
        }
    })
}

fn zip_sizes(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut z = model(xml);
    let e = &mut z.entries[0];
    let delta = *rng.pick(&[1i64, -1, 7, -7]);
    let adj = |v: u32| (i64::from(v) + delta).max(0) as u32;
    let which = rng.below(6);
    match which {
        0 => {
            e.local.size = adj(e.local.size);
            e.central.size = adj(e.central.size);
        }
        1 => {
            e.local.csize = adj(e.local.csize);
            e.central.csize = adj(e.central.csize);
        }
        2 => e.local.size = adj(e.local.size),
        3 => e.local.csize = adj(e.local.csize),
        4 => e.central.size = adj(e.central.size),
        _ => e.central.csize = adj(e.central.csize),
    }
    let what = [
        "size in both headers",
        "compressed size in both headers",
        "size in the local header",
        "compressed size in the local header",
        "size in the central header",
        "compressed size in the central header",
    ][which];
    Some((z.bytes(), format!("{what} {delta:+}")))
}

fn zip_end_record(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut z = if rng.chance(1, 2) {
        two_entries(xml)
    } else {
        model(xml)
    };
    let n = z.entries.len() as u16;
    let (_, layout) = z.write();
    let cd_size = (layout.end - layout.centrals[0]) as u32;
    let cd_offset = layout.centrals[0] as u32;
    let what: String = match rng.below(14) {
        0 => {
            z.end_entries = Some(n + 1);
            z.end_entries_disk = Some(n + 1);
            "entry count +1".into()
        }
        1 => {
            z.end_entries = Some(n - 1);
            z.end_entries_disk = Some(n - 1);
            "entry count -1".into()
        }
        2 => {
            z.end_entries_disk = Some(0);
            "entries on this disk 0".into()
        }
        3 => {
            z.end_cd_size = Some(cd_size + 1);
            "central directory size +1".into()
        }
        4 => {
            z.end_cd_size = Some(cd_size - 1);
            "central directory size -1".into()
        }
        5 => {
            z.end_cd_offset = Some(cd_offset + 1);
            "central directory offset +1".into()
        }
        6 => {
            z.end_cd_offset = Some(cd_offset - 1);
            "central directory offset -1".into()
        }
        7 => {
            z.comment = b"zip comment".to_vec();
            z.end_comment_len = Some(rng.below(20) as u16);
            "comment length wrong".into()
        }
        8 => {
            z.comment = b"zip comment".to_vec();
            "a zip comment".into()
        }
        9 => {
            let n = *rng.pick(&[1usize, 2, 22, 100, 70_000]);
            z.trailer = vec![b'j'; n];
            format!("{n} bytes of junk after the end record")
        }
        10 => {
            z.prefix = b"#!/bin/sh\nexit 0\n".to_vec();
            "a prefix, offsets not adjusted".into()
        }
        11 => {
            z.prefix = b"#!/bin/sh\nexit 0\n".to_vec();
            z.offset_shift = z.prefix.len() as i64;
            "a prefix, offsets adjusted".into()
        }
        12 => {
            z.end_signature ^= 0x100;
            "end record signature".into()
        }
        _ => {
            let mut fake = vec![0x50, 0x4B, 0x05, 0x06];
            fake.extend_from_slice(&[0; 18]);
            z.trailer = fake;
            "a second end record after the first".into()
        }
    };
    Some((z.bytes(), what))
}

fn zip_descriptor(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    let deflated = |d| Entry::new(b"users.xml", xml, 8).with_descriptor(d);
    let (entry, what): (Entry, &str) = match rng.below(9) {
        0 => (deflated(Descriptor::Signed), "a signed descriptor"),
        1 => (deflated(Descriptor::Unsigned), "an unsigned descriptor"),
        2 => (
            Entry::new(b"users.xml", xml, 0).with_descriptor(Descriptor::Signed),
            "a stored entry with a descriptor",
        ),
        3 => (
            deflated(Descriptor::Missing),
            "the descriptor flag without a descriptor",
        ),
        4 => {
            let mut e = deflated(Descriptor::Signed);
            e.descriptor_fields.1 += 1;
            (e, "a descriptor with the wrong compressed size")
        }
        5 => {
            let mut e = deflated(Descriptor::Signed);
            e.descriptor_fields.2 -= 1;
            (e, "a descriptor with the wrong size")
        }
        6 => {
            let mut e = Entry::new(b"users.xml", xml, 8);
            e.descriptor = Descriptor::Signed;
            (e, "a descriptor without the flag")
        }
        7 => {
            let mut e = deflated(Descriptor::Signed);
            e.local.crc = e.central.crc;
            e.local.csize = e.central.csize;
            e.local.size = e.central.size;
            (e, "a descriptor and sizes in the local header too")
        }
        _ => {
            let mut e = deflated(Descriptor::Signed);
            e.central.flags &= !8;
            (e, "the descriptor flag in the local header only")
        }
    };
    let mut entries = vec![entry];
    if rng.chance(1, 3) {
        entries.push(Entry::new(b"notes.txt", b"second entry\n", 8));
    }
    Some((Zip::new(entries).bytes(), what.into()))
}

fn zip64(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut z = model(xml);
    let e = &mut z.entries[0];
    let what = match rng.below(8) {
        0 => {
            e.offset = Some(0xFFFF_FFFF);
            e.central_extra = zipmodel::zip64_extra(&[0]);
            "ZIP64 extra field with the local-header offset"
        }
        1 => {
            let (size, csize) = (u64::from(e.central.size), u64::from(e.central.csize));
            e.central.size = 0xFFFF_FFFF;
            e.central.csize = 0xFFFF_FFFF;
            e.central_extra = zipmodel::zip64_extra(&[size, csize]);
            "ZIP64 sizes in the central header"
        }
        2 => {
            let (size, csize) = (u64::from(e.local.size), u64::from(e.local.csize));
            e.local.size = 0xFFFF_FFFF;
            e.local.csize = 0xFFFF_FFFF;
            e.local_extra = zipmodel::zip64_extra(&[size, csize]);
            "ZIP64 sizes in the local header"
        }
        3 => {
            e.central_extra = zipmodel::zip64_extra(&[u64::from(e.central.size)]);
            "a ZIP64 extra field nothing needs"
        }
        4 => {
            z.zip64_end = true;
            "a ZIP64 end record and locator"
        }
        5 => {
            e.offset = Some(0xFFFF_FFFF);
            let mut extra = zipmodel::zip64_extra(&[0]);
            extra[2] = 7;
            extra.pop();
            e.central_extra = extra;
            "a ZIP64 extra field of 7 bytes"
        }
        6 => {
            e.offset = Some(0xFFFF_FFFF);
            "local-header offset 0xFFFFFFFF without a ZIP64 field"
        }
        _ => {
            e.offset = Some(0xFFFF_FFFF);
            e.central_extra = zipmodel::zip64_extra(&[7]);
            "ZIP64 extra field with a wrong local-header offset"
        }
    };
    Some((z.bytes(), what.into()))
}

fn zip_name(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    let long = format!("{}.xml", "n".repeat(1000));
    let names: &[&[u8]] = &[
        b"users\xFF.xml",
        b"users\x81.xml",
        b"../../evil.xml",
        b"/abs/users.xml",
        b"a\\b.xml",
        b"dir/users.xml",
        b"users.XML",
        b"users.xml ",
        b"users.xml\0",
        b"users\n0 error(s)\n.xml",
        b"\x1b[31musers\x1b[0m.xml",
        long.as_bytes(),
        b"",
        b"users.xml/",
        "\u{202E}lmx.sresu.xml".as_bytes(),
        "usérs.xml".as_bytes(),
    ];
    let name = *rng.pick(names);
    let mut z = Zip::of(&[(name, xml)]);
    let e = &mut z.entries[0];
    let flag = rng.below(3);
    if flag == 1 {
        e.local.flags |= 1 << 11;
        e.central.flags |= 1 << 11;
    }
    let what = if flag == 2 {
        e.local_name = Some(b"other.xml".to_vec());
        format!(
            "name {:?}, local header says other.xml",
            String::from_utf8_lossy(name)
        )
    } else {
        format!(
            "name {:?}{}",
            String::from_utf8_lossy(name),
            if flag == 1 { " (UTF-8 flag)" } else { "" }
        )
    };
    Some((z.bytes(), what))
}

fn zip_entries(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    let one = || Entry::new(b"users.xml", xml, 8);
    Some(match rng.below(11) {
        0 => {
            let mut second = one();
            second.name = b"again.xml".to_vec();
            second.shares = Some(0);
            (
                Zip::new(vec![one(), second]).bytes(),
                "two entries, one local header".into(),
            )
        }
        1 => {
            let mut entries = vec![one()];
            for i in 0..rng.below(600).max(2) {
                let mut e = one();
                e.name = format!("copy{i}.xml").into_bytes();
                e.shares = Some(0);
                entries.push(e);
            }
            let n = entries.len();
            (
                Zip::new(entries).bytes(),
                format!("{n} entries, one local header"),
            )
        }
        2 => {
            let entries: Vec<Entry> = (0..51)
                .map(|i| Entry::new(format!("u{i}.xml").as_bytes(), xml, 8))
                .collect();
            (Zip::new(entries).bytes(), "51 XML entries".into())
        }
        3 => (
            Zip::of(&[(b"users.txt", xml)]).bytes(),
            "no .xml entry".into(),
        ),
        4 => (
            Zip::of(&[(b"users.xml", xml), (b"readme.txt", b"x")]).bytes(),
            "an .xml and a .txt entry".into(),
        ),
        5 => (
            Zip::of(&[(b"users.xml", b"")]).bytes(),
            "an empty .xml entry".into(),
        ),
        6 => {
            let mut hidden = Entry::new(b"hidden.xml", xml, 8);
            hidden.hidden = true;
            (
                Zip::new(vec![hidden, one()]).bytes(),
                "an entry in the stream but not in the central directory".into(),
            )
        }
        7 => {
            let mut z = Zip::of(&[(b"a.xml", xml), (b"b.xml", xml)]);
            z.entries.swap(0, 1);
            let (bytes, _) = z.write();
            (bytes, "the same users in two entries".into())
        }
        8 => (
            Zip::of(&[(b"users.xml", xml), (b"users.xml", xml)]).bytes(),
            "two entries with the same name".into(),
        ),
        9 => (
            Zip::of(&[(b"dir/", b""), (b"dir/users.xml", xml)]).bytes(),
            "a directory entry".into(),
        ),
        _ => {
            let mut z = Zip::of(&[(b"users.xml", xml)]);
            z.entries[0].local_extra = vec![0xCA, 0xFE, 0, 0];
            (z.bytes(), "the JAR marker extra field".into())
        }
    })
}

fn zip_method(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut z = model(xml);
    let which = rng.below(7);
    let e = &mut z.entries[0];
    let what = match which {
        0 => {
            z = Zip::new(vec![Entry::new(b"users.xml", xml, 0)]);
            "stored".to_owned()
        }
        1..=3 => {
            let m = *rng.pick(&[1, 9, 12, 14, 93, 99]);
            if which != 3 {
                e.local.method = m;
            }
            if which != 2 {
                e.central.method = m;
            }
            format!(
                "method {m} in {}",
                ["", "both headers", "the local header", "the central header"][which]
            )
        }
        4 => {
            e.local.flags |= 1;
            e.central.flags |= 1;
            "encrypted flag in both headers".into()
        }
        5 => {
            e.local.flags |= 1;
            "encrypted flag in the local header".into()
        }
        _ => {
            e.central.flags |= 1;
            "encrypted flag in the central header".into()
        }
    };
    Some((z.bytes(), what))
}

fn zip_truncate(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut bytes = model(xml).bytes();
    Some(match rng.below(4) {
        0 => {
            let at = rng.below(bytes.len());
            bytes.truncate(at);
            (bytes, format!("cut at {at}"))
        }
        1 => {
            let n = 1 + rng.below(30);
            let len = bytes.len();
            bytes.truncate(len.saturating_sub(n));
            (bytes, format!("last {n} bytes cut"))
        }
        2 => {
            let n = 1 + rng.below(300);
            bytes.extend((0..n).map(|i| (i * 7) as u8));
            (bytes, format!("{n} bytes appended"))
        }
        _ => {
            let other = model(b"<users/>").bytes();
            bytes.extend(other);
            (bytes, "another zip appended".into())
        }
    })
}

fn not_a_zip(rng: &mut Rng, xml: &[u8]) -> Option<(Vec<u8>, String)> {
    Some(match rng.below(6) {
        0 => (xml.to_vec(), "plain XML named .zip".into()),
        1 => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut gz, xml).ok()?;
            (gz.finish().ok()?, "gzip named .zip".into())
        }
        2 => (Vec::new(), "an empty file".into()),
        3 => (b"PK".to_vec(), "just PK".into()),
        4 => (
            (0..200)
                .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "random bytes".into(),
        ),
        _ => (
            Zip::of(&[(b"inner.zip", &model(xml).bytes())]).bytes(),
            "a zip inside the zip".into(),
        ),
    })
}
