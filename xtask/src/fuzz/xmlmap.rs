//! Where the elements, text values and attributes of a (well-formed) seed document are, so
//! that mutations can aim at them.

/// One element of the document.
#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    /// Byte range of the whole element, `<name` to the end of its end tag.
    pub whole: std::ops::Range<usize>,
    /// Byte range of the start tag.
    pub start_tag: std::ops::Range<usize>,
    /// Byte range of the content (empty for `<x/>`).
    pub content: std::ops::Range<usize>,
    /// Byte range of the end tag (empty for `<x/>`).
    pub end_tag: std::ops::Range<usize>,
    pub parent: Option<usize>,
    /// Holds no child element.
    pub leaf: bool,
    /// Attributes: (name range, value range without quotes).
    pub attrs: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
}

/// The elements of `xml` in document order; `None` when it is not simple enough to map.
pub fn map(xml: &[u8]) -> Option<Vec<Element>> {
    let mut out: Vec<Element> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < xml.len() {
        if xml[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &xml[i..];
        if rest.starts_with(b"<?") {
            i += find(rest, b"?>")? + 2;
            continue;
        }
        if rest.starts_with(b"<!--") {
            i += find(rest, b"-->")? + 3;
            continue;
        }
        if rest.starts_with(b"<!") {
            i += find(rest, b">")? + 1;
            continue;
        }
        let end = i + tag_end(rest)?;
        if rest.starts_with(b"</") {
            let open = stack.pop()?;
            out[open].content.end = i;
            out[open].end_tag = i..end + 1;
            out[open].whole.end = end + 1;
            i = end + 1;
            continue;
        }
        let empty = xml[end - 1] == b'/';
        let tag_body_end = if empty { end - 1 } else { end };
        let name_end = (i + 1..tag_body_end)
            .find(|&k| xml[k].is_ascii_whitespace())
            .unwrap_or(tag_body_end);
        let name = String::from_utf8_lossy(&xml[i + 1..name_end]).into_owned();
        let attrs = attributes(xml, name_end, tag_body_end);
        let parent = stack.last().copied();
        if let Some(p) = parent {
            out[p].leaf = false;
        }
        out.push(Element {
            name,
            whole: i..end + 1,
            start_tag: i..end + 1,
            content: end + 1..end + 1,
            end_tag: end + 1..end + 1,
            parent,
            leaf: true,
            attrs,
        });
        if !empty {
            stack.push(out.len() - 1);
        }
        i = end + 1;
    }
    stack.is_empty().then_some(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The `>` ending the tag at the start of `b`, outside quotes.
fn tag_end(b: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (k, &c) in b.iter().enumerate() {
        match (quote, c) {
            (None, b'"' | b'\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, b'>') => return Some(k),
            _ => {}
        }
    }
    None
}

fn attributes(
    xml: &[u8],
    mut at: usize,
    end: usize,
) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    loop {
        while at < end && xml[at].is_ascii_whitespace() {
            at += 1;
        }
        let name_start = at;
        while at < end && xml[at] != b'=' && !xml[at].is_ascii_whitespace() {
            at += 1;
        }
        if at >= end || name_start == at {
            return out;
        }
        let name = name_start..at;
        while at < end && xml[at] != b'"' && xml[at] != b'\'' {
            at += 1;
        }
        if at >= end {
            return out;
        }
        let quote = xml[at];
        let value_start = at + 1;
        let Some(len) = xml[value_start..end].iter().position(|&c| c == quote) else {
            return out;
        };
        out.push((name, value_start..value_start + len));
        at = value_start + len + 1;
    }
}
