//! Well-formedness as the JDK's parser (Xerces, namespace aware) judges it, over the bytes
//! the guard hands out: the XML declaration, processing instructions, comments, CDATA,
//! references, names, tags and attributes, namespace bindings, and what may stand outside
//! the root element. The first violation is where Java stops and rejects the whole file, so
//! the scanner reports it (with Java's words) and the guard stops the input there.
//!
//! It is a resumable state machine: bytes arrive in chunks of any size. Text, comments and
//! CDATA are skipped with `memchr`; only tags, references and the declaration are buffered
//! (tags are bounded by the guard's token limit).

use alma_user_model::chars::same_bytes;

use super::codes;

/// The JDK's limit on the length of a name (`jdk.xml.maxXMLNameLimit`).
const MAX_NAME: usize = 1000;
/// The JDK's limit on attributes per element (`jdk.xml.elementAttributeLimit`).
const MAX_ATTRIBUTES: usize = 10_000;
/// Longest entity reference buffered (longer ones are reported).
const MAX_REFERENCE: usize = 64;
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// A violation: a code and a message that quotes Java's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WfError {
    pub code: &'static str,
    pub message: String,
}

fn java(code: &'static str, java: impl AsRef<str>, advice: &str) -> WfError {
    WfError {
        code,
        message: format!(
            "\"{}\" (Java's XML parser); Alma's loader stops here and rejects the whole file: \
             {advice}",
            java.as_ref()
        ),
    }
}

fn markup(java_text: impl AsRef<str>) -> WfError {
    java(
        codes::XML,
        java_text,
        "fix the program that wrote the XML (the position is where Java stops)",
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Before the root element.
    Prolog,
    /// Inside the root element.
    Content,
    /// After the root element.
    Epilog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing read yet: an XML declaration may follow.
    Start,
    /// Between markup: whitespace before or after the root, text inside it.
    Text,
    /// After `<`.
    Lt,
    /// After `<!`; the byte count matched of `--`, `[CDATA[` or `DOCTYPE`.
    Bang(u8),
    /// In a comment; `dashes` trailing `-` seen.
    Comment(u8),
    /// In CDATA; `brackets` trailing `]` seen.
    CData(u8),
    /// Buffering a processing instruction's target.
    PiTarget,
    /// In a PI's data; whether the last byte was `?`.
    PiData(bool),
    /// Right after a PI's target and `?`: only `>` may follow.
    PiEnd,
    /// Buffering the XML declaration (after `<?xml` and a space).
    Decl,
    /// Buffering a start tag; the open quote, if inside a value.
    StartTag(Option<u8>),
    /// Buffering an end tag.
    EndTag,
    /// Buffering a reference in text.
    Ref,
    /// A violation was reported; nothing more is looked at.
    Failed,
}

/// The scanner; see the module docs.
#[derive(Clone)]
pub(crate) struct XmlScanner {
    state: State,
    place: Place,
    /// The buffered token (tag, reference, declaration, PI target).
    buf: Vec<u8>,
    /// Open elements' names, concatenated, and where each starts and how many namespace
    /// bindings it made.
    names: Vec<u8>,
    /// The last start tag's attributes: (name, value) ranges into it.
    attrs: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    open: Vec<(usize, usize)>,
    /// Namespace bindings in scope: (prefix, uri).
    bindings: Vec<(String, String)>,
    /// Trailing `]` in text (for `]]>`).
    brackets: u8,
    /// The current text node holds something other than whitespace.
    text_nonblank: bool,
    /// Names of the elements whose content is elements only (their whitespace is ignorable).
    containers: fn(&str) -> bool,
    /// The first `<` of the file was just read: `<?xml` here is the declaration.
    decl_possible: bool,
    /// Namespace bindings the last start tag made.
    bindings_made: usize,
    /// The longest tag or text node (bytes); comments and PIs may be `COMMENT_FACTOR` times
    /// longer.
    limit: u64,
    /// Bytes of the current text node (text, references and CDATA between two tags).
    text_len: u64,
    /// Bytes of the current comment or PI.
    comment_len: u64,
    /// Where the violation a step reports is, when not where the step started.
    error_at: Option<usize>,
    /// Tests: every tag takes the exact path (the oracle of [`Self::plain_tag`]).
    #[cfg(test)]
    exact_only: bool,
}

/// How much longer than a token a comment or processing instruction may be.
pub(crate) const COMMENT_FACTOR: u64 = 64;

/// A token over its limit; the message says which kind (see the guard).
fn over_limit(what: &str) -> WfError {
    WfError {
        code: codes::LIMIT,
        message: what.to_owned(),
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_name_start(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c,
            '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// The name at the start of `s` (its length in bytes; 0 when there is none).
fn name_len(s: &str) -> usize {
    let b = s.as_bytes();
    let ascii_name = |c: u8, start: bool| {
        c.is_ascii_alphabetic()
            || c == b'_'
            || c == b':'
            || (!start && (c.is_ascii_digit() || c == b'-' || c == b'.'))
    };
    match b.first() {
        Some(&c) if c < 0x80 && !ascii_name(c, true) => return 0,
        Some(&c) if c < 0x80 => {
            let n = 1 + b[1..].iter().take_while(|&&c| ascii_name(c, false)).count();
            if b.get(n).is_none_or(|&c| c < 0x80) {
                return n;
            }
        }
        _ => {}
    }
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if is_name_start(c) => {}
        _ => return 0,
    }
    chars
        .find(|&(_, c)| !is_name_char(c))
        .map_or(s.len(), |(i, _)| i)
}

/// Where text ends (`<`, `&`, or a `]` that may start `]]>`): a value or an indentation's
/// first bytes are looked at a word at a time, the rest with a vector search.
fn text_stop(text: &[u8]) -> Option<usize> {
    const HEAD: usize = 32;
    let head = &text[..text.len().min(HEAD)];
    if let Some(at) = find_any(head, 0, [b'<', b'&', b']']) {
        return Some(at);
    }
    let tail = text.get(HEAD..).filter(|tail| !tail.is_empty())?;
    memchr::memchr3(b'<', b'&', b']', tail).map(|at| HEAD + at)
}

/// Whether a text run is whitespace only: a value's first byte says it is not, indentation
/// (short) is read byte by byte.
fn is_blank(run: &[u8]) -> bool {
    match run.len() {
        0 => true,
        1..64 => run.iter().all(|&b| is_space(b)),
        _ => is_space(run[0]) && alma_user_model::chars::is_xml_whitespace(run),
    }
}

fn skip_spaces(s: &str) -> (usize, bool) {
    let n = s.bytes().take_while(|&b| is_space(b)).count();
    (n, n > 0)
}

/// [`NAME_BYTES`]: an ASCII byte that may start a name.
const NAME_START: u8 = 1;
/// [`NAME_BYTES`]: an ASCII byte that may be in a name.
const NAME_CHAR: u8 = 2;
/// [`NAME_BYTES`]: an ASCII byte that may be in a name other than `:` (a name of these needs
/// no namespace processing).
const PLAIN_CHAR: u8 = 4;
/// What each ASCII byte may be in a name (non-ASCII bytes: nothing; they are read as
/// characters).
static NAME_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        if b == b':' {
            table[c] = NAME_START | NAME_CHAR;
        } else if b.is_ascii_alphabetic() || b == b'_' {
            table[c] = NAME_START | NAME_CHAR | PLAIN_CHAR;
        } else if b.is_ascii_digit() || b == b'-' || b == b'.' {
            table[c] = NAME_CHAR | PLAIN_CHAR;
        }
        c += 1;
    }
    table
};

/// The name at the start of `b` (its length in bytes; 0 when there is none): ASCII names
/// byte by byte, others through their characters.
fn name_len_bytes(b: &[u8]) -> usize {
    let ascii = match b.first() {
        Some(&c) if NAME_BYTES[usize::from(c)] & NAME_START != 0 => {
            1 + b[1..]
                .iter()
                .take_while(|&&c| NAME_BYTES[usize::from(c)] & NAME_CHAR != 0)
                .count()
        }
        _ => 0,
    };
    if b.get(ascii).is_none_or(|&c| c < 0x80) {
        return ascii;
    }
    // A non-ASCII character in the name: the whole name by characters.
    let end = b
        .iter()
        .position(|&c| {
            c < 0x80 && !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'-' | b'.'))
        })
        .unwrap_or(b.len());
    match std::str::from_utf8(&b[..end]) {
        Ok(s) => name_len(s),
        Err(e) => name_len(std::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or_default()),
    }
}

fn too_long_bytes(name: &[u8]) -> Option<WfError> {
    if name.len() <= MAX_NAME {
        return None;
    }
    too_long(&String::from_utf8_lossy(name))
}

/// A namespace name (the value of `xmlns` or `xmlns:p`) longer than JAXP's name limit: the
/// JDK holds namespace names to it too (fuzz-check, seed 9001: a 2,049-character `xmlns:xsi`
/// on the root was fatal for Java and passed), counted as Java counts them, in UTF-16 units
/// of the value with its references replaced and its line ends normalized (1,000 `é` or 500
/// emoji pass, 1,001 `é` or 501 emoji do not).
fn too_long_uri(value: &[u8]) -> Option<WfError> {
    // A unit takes at least a byte.
    if value.len() <= MAX_NAME {
        return None;
    }
    let text = String::from_utf8_lossy(value);
    let mut units = 0usize;
    let mut rest = &*text;
    while let Some(c) = rest.chars().next() {
        let mut step = c.len_utf8();
        units += match c {
            '&' => {
                // The value's references were checked: each ends with `;`.
                let end = rest.find(';').unwrap_or(rest.len() - 1);
                step = end + 1;
                char_ref_digits(&rest[1..end])
                    .and_then(|(digits, radix)| u32::from_str_radix(digits, radix).ok())
                    .and_then(char::from_u32)
                    .map_or(1, char::len_utf16)
            }
            '\r' if rest[1..].starts_with('\n') => {
                step = 2;
                1
            }
            c => c.len_utf16(),
        };
        rest = &rest[step..];
    }
    (units > MAX_NAME).then(|| {
        name_limit(
            units,
            "a namespace name this long is not one Alma's files use; fix the program that \
             wrote the XML",
        )
    })
}

/// JAXP's error for a name (or namespace name) of `length` over [`MAX_NAME`].
fn name_limit(length: usize, advice: &str) -> WfError {
    java(
        codes::XML,
        format!(
            "JAXP00010005: The length of entity \"[xml]\" is \"{}\" that exceeds the \"{}\" \
             limit set by \"FEATURE_SECURE_PROCESSING\".",
            thousands(length),
            thousands(MAX_NAME)
        ),
        advice,
    )
}

/// `n` with thousands separated by commas, as Java prints counts in its limit messages.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Whether `c` may appear in an XML 1.0 document.
fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Checks a reference's body (between `&` and `;`): a character reference to a character
/// XML allows, or one of the five predefined entities.
/// The digits and radix of a character reference's body (`#65`, `#x41`); `None` for an
/// entity name.
fn char_ref_digits(body: &str) -> Option<(&str, u32)> {
    let number = body.strip_prefix('#')?;
    Some(match number.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (number, 10),
    })
}

fn check_reference(body: &str) -> Result<(), WfError> {
    if let Some((digits, radix)) = char_ref_digits(body) {
        let valid_digits = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
        if !valid_digits {
            let what = if radix == 16 {
                "A hexadecimal representation must immediately follow the \"&#x\" in a \
                 character reference."
            } else {
                "A decimal representation must immediately follow the \"&#\" in a character \
                 reference."
            };
            return Err(markup(what));
        }
        let value = u32::from_str_radix(digits, radix).unwrap_or(u32::MAX);
        if !is_xml_char(value) {
            return Err(java(
                codes::CHAR,
                format!("Character reference \"&{body}\" is an invalid XML character."),
                "XML 1.0 forbids this character even written as a reference; remove it at \
                 the source",
            ));
        }
        return Ok(());
    }
    if name_len(body) != body.len() || body.is_empty() {
        return Err(markup(
            "The entity name must immediately follow the '&' in the entity reference.",
        ));
    }
    if matches!(body, "amp" | "lt" | "gt" | "quot" | "apos") {
        return Ok(());
    }
    Err(java(
        codes::ENTITY,
        format!("The entity \"{body}\" was referenced, but not declared."),
        "only &amp; &lt; &gt; &quot; &apos; and character references exist without a DTD; \
         write the character itself (UTF-8) or a character reference",
    ))
}

/// Checks an attribute value's references and `<`.
fn check_value(element: &str, attr: &str, value: &str) -> Result<(), WfError> {
    if memchr::memchr2(b'<', b'&', value.as_bytes()).is_none() {
        return Ok(());
    }
    if value.contains('<') {
        return Err(markup(format!(
            "The value of attribute \"{attr}\" associated with an element type \"{element}\" \
             must not contain the '<' character."
        )));
    }
    let mut rest = value;
    while let Some(at) = rest.find('&') {
        let after = &rest[at + 1..];
        let Some(end) = after.find(';') else {
            return Err(markup(format!(
                "The reference to entity \"{}\" must end with the ';' delimiter.",
                &after[..name_len(after)]
            )));
        };
        check_reference(&after[..end])?;
        rest = &after[end + 1..];
    }
    Ok(())
}

/// A name split at its colon, as namespace processing requires (`prefix:local`).
fn qname(name: &str) -> Result<(Option<&str>, &str), WfError> {
    match name.split_once(':') {
        None => Ok((None, name)),
        Some((prefix, local))
            if !prefix.is_empty()
                && !local.is_empty()
                && !local.contains(':')
                && name_len(local) == local.len() =>
        {
            Ok((Some(prefix), local))
        }
        Some(_) => Err(java(
            codes::NAMESPACE,
            format!(
                "Element or attribute \"{name}\" do not match QName production: \
                 QName::=(NCName':')?NCName."
            ),
            "names may hold at most one colon, between a namespace prefix and the name",
        )),
    }
}

fn too_long(name: &str) -> Option<WfError> {
    if name.len() <= MAX_NAME {
        return None;
    }
    let n = name.chars().count();
    (n > MAX_NAME).then(|| {
        name_limit(
            n,
            "a name this long is not an Alma element; fix the program that wrote the XML",
        )
    })
}

impl XmlScanner {
    /// A scanner; `containers` says which elements hold elements only, `limit` is the
    /// longest tag or text node.
    pub fn new(containers: fn(&str) -> bool, limit: u64) -> Self {
        XmlScanner {
            state: State::Start,
            place: Place::Prolog,
            buf: Vec::new(),
            names: Vec::new(),
            attrs: Vec::new(),
            open: Vec::new(),
            bindings: Vec::new(),
            brackets: 0,
            text_nonblank: false,
            containers,
            decl_possible: false,
            bindings_made: 0,
            limit,
            text_len: 0,
            comment_len: 0,
            error_at: None,
            #[cfg(test)]
            exact_only: false,
        }
    }

    /// True between markup inside the root element, where a child element may start: the
    /// state in which the check's splitter hands an element's bytes to another scanner.
    pub fn between_children(&self) -> bool {
        self.state == State::Text && self.place == Place::Content && !self.open.is_empty()
    }

    /// Whether the elements open here are those open in `other` (same depth and namespace
    /// scopes): between children, the only state a child element's scan depends on, besides
    /// the text counters its `<` resets.
    pub fn same_scope(&self, other: &XmlScanner) -> bool {
        self.between_children()
            && other.between_children()
            && self.open == other.open
            && self.names == other.names
            && self.bindings == other.bindings
    }

    /// The longest text run, in bytes, that is not over the limit.
    pub fn text_limit(&self) -> u64 {
        self.limit
    }

    /// Takes the state `self` had between children (see [`between_children`]) for scanning
    /// one child element's bytes, keeping this scanner's buffers.
    ///
    /// [`between_children`]: Self::between_children
    pub fn restart_from(&mut self, from: &XmlScanner) {
        self.state = from.state;
        self.place = from.place;
        self.names.clone_from(&from.names);
        self.open.clone_from(&from.open);
        self.bindings.clone_from(&from.bindings);
        self.brackets = from.brackets;
        self.text_nonblank = from.text_nonblank;
        self.containers = from.containers;
        self.decl_possible = from.decl_possible;
        self.limit = from.limit;
        self.text_len = from.text_len;
        self.comment_len = from.comment_len;
        self.error_at = None;
        self.buf.clear();
    }

    /// Steps over a child element that another scanner, restarted from this one, scanned
    /// whole without a violation, ending in [`same_scope`](Self::same_scope): what its `<`
    /// and its end tag's `>` did to this state.
    pub fn skip_child(&mut self) {
        self.brackets = 0;
        self.text_nonblank = false;
        self.text_len = 0;
    }

    fn in_container(&self) -> bool {
        self.open.last().is_some_and(|&(start, _)| {
            std::str::from_utf8(&self.names[start..]).is_ok_and(self.containers)
        })
    }

    /// Scans `bytes` (valid UTF-8 except where the guard already reported a byte); the first
    /// violation and its index in `bytes`.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<(usize, WfError)> {
        let mut i = 0;
        while i < bytes.len() {
            let step = match self.state {
                State::Failed => return None,
                State::Start => {
                    self.state = State::Text;
                    if bytes[i] == b'<' {
                        self.state = State::Lt;
                        self.decl_possible = true;
                        Ok(i + 1)
                    } else {
                        Ok(i)
                    }
                }
                State::Text => self.text(bytes, i),
                State::Comment(d) => self.comment(bytes, i, d),
                State::CData(b) => self.cdata(bytes, i, b),
                State::PiData(q) => self.pi_data(bytes, i, q),
                State::StartTag(quote) => self.tag_run(bytes, i, quote),
                State::EndTag => self.end_tag_run(bytes, i),
                _ => self.byte(bytes[i]).map(|()| i + 1),
            };
            match step {
                Ok(next) => i = next,
                Err(e) => {
                    self.state = State::Failed;
                    let at = self.error_at.take().unwrap_or(i);
                    return Some((at.min(bytes.len().saturating_sub(1)), e));
                }
            }
        }
        None
    }

    fn text(&mut self, bytes: &[u8], from: usize) -> Result<usize, WfError> {
        let rest = &bytes[from..];
        let stop = text_stop(rest);
        let run = &rest[..stop.unwrap_or(rest.len())];
        self.text_len += run.len() as u64;
        if !run.is_empty() {
            if self.brackets >= 2 && run[0] == b'>' {
                return Err(cdata_end());
            }
            self.brackets = 0;
            if !(self.text_nonblank || is_blank(run)) {
                self.text_nonblank = true;
                if self.place != Place::Content {
                    return Err(self.outside_root());
                }
            }
            self.check_text_len()?;
        }
        let Some(at) = stop else {
            return Ok(bytes.len());
        };
        let at = from + at;
        match bytes[at] {
            b'<' => {
                self.brackets = 0;
                self.text_nonblank = false;
                if let Some(next) = self.plain_tag(bytes, at) {
                    self.text_len = 0;
                    return Ok(next);
                }
                // Most tags lie whole in the chunk: read in place, without buffering.
                if let Some(end) = whole_tag(bytes, at + 1) {
                    let inner = &bytes[at + 1..end];
                    let done = match inner.first() {
                        Some(b'/') if self.place == Place::Content => {
                            Some(self.end_tag(&inner[1..]))
                        }
                        Some(&c)
                            if (c.is_ascii_alphabetic() || c == b'_')
                                && self.place != Place::Epilog =>
                        {
                            Some(self.start_tag(inner))
                        }
                        _ => None,
                    };
                    if let Some(done) = done {
                        self.text_len = 0;
                        if done.is_err() {
                            // Reported at the tag's `>`, as when the tag came in pieces.
                            self.error_at = Some(end);
                        }
                        done?;
                        return Ok(end + 1);
                    }
                }
                self.state = State::Lt;
            }
            b'&' => {
                if self.place != Place::Content {
                    return Err(self.outside_root());
                }
                self.brackets = 0;
                self.buf.clear();
                self.state = State::Ref;
            }
            _ => {
                if self.place != Place::Content {
                    return Err(self.outside_root());
                }
                self.text_nonblank = true;
                self.brackets = self.brackets.saturating_add(1);
                // `]]` then `>` later in this chunk is caught at the run's first byte.
                if self.brackets >= 2 && bytes.get(at + 1) == Some(&b'>') {
                    return Err(cdata_end());
                }
            }
        }
        Ok(at + 1)
    }

    /// The tags Alma's files are made of, read in one pass when they lie whole in `bytes`
    /// from its `<` at `lt`: `<name>` and `<name/>` with a name of ASCII letters, digits,
    /// `_`, `-` and `.`, and the end tag of the element open. Does what the exact path
    /// (`whole_tag`, then `start_tag` or `end_tag`) does with them and returns where the
    /// next byte is; `None` for any other tag, which then takes the exact path.
    fn plain_tag(&mut self, bytes: &[u8], lt: usize) -> Option<usize> {
        #[cfg(test)]
        if self.exact_only {
            return None;
        }
        match *bytes.get(lt + 1)? {
            b'/' if self.place == Place::Content => {
                let &(start, made) = self.open.last()?;
                let name = &self.names[start..];
                let end = lt + 2 + name.len();
                if !same_bytes(bytes.get(lt + 2..end)?, name) || *bytes.get(end)? != b'>' {
                    return None;
                }
                self.names.truncate(start);
                self.open.pop();
                self.close_scope(made);
                if self.open.is_empty() {
                    self.place = Place::Epilog;
                }
                Some(end + 1)
            }
            c if (c.is_ascii_alphabetic() || c == b'_') && self.place != Place::Epilog => {
                let from = lt + 1;
                let len = 1 + bytes[from + 1..]
                    .iter()
                    .take_while(|&&b| NAME_BYTES[usize::from(b)] & PLAIN_CHAR != 0)
                    .count();
                let after = from + len;
                let (empty, next) = match bytes.get(after..)? {
                    [b'>', ..] => (false, after + 1),
                    [b'/', b'>', ..] => (true, after + 2),
                    _ => return None,
                };
                if len > MAX_NAME {
                    return None;
                }
                self.bindings_made = 0;
                self.open_element(&bytes[from..after], empty);
                Some(next)
            }
            _ => None,
        }
    }

    /// A text value over the limit (whitespace between elements is not a value).
    #[inline]
    fn check_text_len(&self) -> Result<(), WfError> {
        if self.text_len > self.limit
            && (self.text_nonblank || (self.place == Place::Content && !self.in_container()))
        {
            return Err(over_limit("text"));
        }
        Ok(())
    }

    fn check_comment_len(&self) -> Result<(), WfError> {
        if self.comment_len > self.limit.saturating_mul(COMMENT_FACTOR) {
            return Err(over_limit("comment"));
        }
        Ok(())
    }

    fn outside_root(&self) -> WfError {
        match self.place {
            Place::Epilog => markup("Content is not allowed in trailing section."),
            _ => java(
                codes::PROLOG,
                "Content is not allowed in prolog.",
                "the file must start with <?xml (or the root element); remove whatever the \
                 producing script writes first",
            ),
        }
    }

    fn comment(&mut self, bytes: &[u8], from: usize, dashes: u8) -> Result<usize, WfError> {
        let mut dashes = dashes;
        let mut i = from;
        loop {
            if dashes == 0 {
                match memchr::memchr(b'-', &bytes[i..]) {
                    Some(k) => i += k,
                    None => {
                        self.state = State::Comment(0);
                        self.comment_len += (bytes.len() - from) as u64;
                        self.check_comment_len()?;
                        return Ok(bytes.len());
                    }
                }
            }
            let Some(&b) = bytes.get(i) else {
                self.state = State::Comment(dashes);
                self.comment_len += (bytes.len() - from) as u64;
                self.check_comment_len()?;
                return Ok(bytes.len());
            };
            match (dashes, b) {
                (2, b'>') => {
                    self.state = State::Text;
                    return Ok(i + 1);
                }
                (2, _) => {
                    return Err(java(
                        codes::XML_COMMENT,
                        "The string \"--\" is not permitted within comments.",
                        "a comment may not hold \"--\"; fix or remove the comment",
                    ));
                }
                (_, b'-') => dashes += 1,
                _ => dashes = 0,
            }
            i += 1;
        }
    }

    fn cdata(&mut self, bytes: &[u8], from: usize, brackets: u8) -> Result<usize, WfError> {
        let mut brackets = brackets;
        let mut i = from;
        loop {
            if brackets == 0 {
                match memchr::memchr(b']', &bytes[i..]) {
                    Some(k) => i += k,
                    None => {
                        self.state = State::CData(0);
                        self.text_len += (bytes.len() - from) as u64;
                        self.check_text_len()?;
                        return Ok(bytes.len());
                    }
                }
            }
            let Some(&b) = bytes.get(i) else {
                self.state = State::CData(brackets);
                self.text_len += (bytes.len() - from) as u64;
                self.check_text_len()?;
                return Ok(bytes.len());
            };
            match b {
                b'>' if brackets >= 2 => {
                    self.state = State::Text;
                    self.text_nonblank = true;
                    self.text_len += (i + 1 - from) as u64;
                    self.check_text_len()?;
                    return Ok(i + 1);
                }
                b']' => brackets = brackets.saturating_add(1),
                _ => brackets = 0,
            }
            i += 1;
        }
    }

    fn pi_data(&mut self, bytes: &[u8], from: usize, question: bool) -> Result<usize, WfError> {
        let mut question = question;
        let mut i = from;
        loop {
            if !question {
                match memchr::memchr(b'?', &bytes[i..]) {
                    Some(k) => i += k,
                    None => {
                        self.state = State::PiData(false);
                        self.comment_len += (bytes.len() - from) as u64;
                        self.check_comment_len()?;
                        return Ok(bytes.len());
                    }
                }
            }
            let Some(&b) = bytes.get(i) else {
                self.state = State::PiData(question);
                self.comment_len += (bytes.len() - from) as u64;
                self.check_comment_len()?;
                return Ok(bytes.len());
            };
            match b {
                b'>' if question => {
                    self.state = State::Text;
                    return Ok(i + 1);
                }
                b'?' => question = true,
                _ => question = false,
            }
            i += 1;
        }
    }

    /// A start tag's bytes up to the next quote or `>`, buffered in one go.
    fn tag_run(&mut self, bytes: &[u8], from: usize, quote: Option<u8>) -> Result<usize, WfError> {
        let rest = &bytes[from..];
        let stop = match quote {
            Some(q) => memchr::memchr(q, rest),
            None => memchr::memchr3(b'>', b'"', b'\'', rest),
        };
        let run = &rest[..stop.unwrap_or(rest.len())];
        if quote.is_none() && memchr::memchr(b'<', run).is_some() {
            let name =
                String::from_utf8_lossy(&self.buf).into_owned() + &String::from_utf8_lossy(run);
            let name = &name[..name_len(&name)];
            return Err(markup(format!(
                "Element type \"{name}\" must be followed by either attribute specifications, \
                 \">\" or \"/>\"."
            )));
        }
        self.buf.extend_from_slice(run);
        if self.buf.len() as u64 > self.limit {
            return Err(over_limit("tag"));
        }
        let Some(at) = stop else {
            return Ok(bytes.len());
        };
        let at = from + at;
        if let Err(e) = self.byte(bytes[at]) {
            self.error_at = Some(at);
            return Err(e);
        }
        Ok(at + 1)
    }

    /// An end tag's bytes up to `>`, buffered in one go.
    fn end_tag_run(&mut self, bytes: &[u8], from: usize) -> Result<usize, WfError> {
        let rest = &bytes[from..];
        let stop = memchr::memchr(b'>', rest);
        self.buf
            .extend_from_slice(&rest[..stop.unwrap_or(rest.len())]);
        if self.buf.len() as u64 > self.limit {
            return Err(over_limit("tag"));
        }
        let Some(at) = stop else {
            return Ok(bytes.len());
        };
        let at = from + at;
        if let Err(e) = self.byte(bytes[at]) {
            self.error_at = Some(at);
            return Err(e);
        }
        Ok(at + 1)
    }

    /// One byte of markup being buffered.
    fn byte(&mut self, b: u8) -> Result<(), WfError> {
        match self.state {
            State::Lt => self.after_lt(b),
            State::PiEnd => {
                if b != b'>' {
                    return Err(java(
                        codes::XML_PI,
                        "White space is required between the processing instruction target \
                         and data.",
                        "write processing instructions as <?target data?>, or remove them",
                    ));
                }
                self.state = State::Text;
                Ok(())
            }
            State::Bang(n) => self.bang(n, b),
            State::PiTarget => self.pi_target(b),
            State::Decl => {
                self.buf.push(b);
                if self.buf.ends_with(b"?>") {
                    let decl = std::mem::take(&mut self.buf);
                    self.declaration(&decl[..decl.len() - 2])?;
                    self.state = State::Text;
                } else if self.buf.len() > 64 * 1024 {
                    return Err(java(
                        codes::XML_DECL,
                        "The XML declaration must end with \"?>\".",
                        "start the file with <?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                    ));
                }
                Ok(())
            }
            State::StartTag(quote) => {
                match (quote, b) {
                    (Some(q), _) if b == q => self.state = State::StartTag(None),
                    (Some(_), _) => {}
                    (None, b'"' | b'\'') => self.state = State::StartTag(Some(b)),
                    (None, b'>') => {
                        let tag = std::mem::take(&mut self.buf);
                        self.text_len = 0;
                        let done = self.start_tag(&tag);
                        self.buf = tag;
                        self.buf.clear();
                        done?;
                        self.state = State::Text;
                        return Ok(());
                    }
                    (None, b'<') => {
                        let name = String::from_utf8_lossy(&self.buf);
                        let name = &name[..name_len(&name)];
                        return Err(markup(format!(
                            "Element type \"{name}\" must be followed by either attribute \
                             specifications, \">\" or \"/>\"."
                        )));
                    }
                    _ => {}
                }
                self.buf.push(b);
                if self.buf.len() as u64 > self.limit {
                    return Err(over_limit("tag"));
                }
                Ok(())
            }
            State::EndTag => {
                if b == b'>' {
                    let tag = std::mem::take(&mut self.buf);
                    self.text_len = 0;
                    let done = self.end_tag(&tag);
                    self.buf = tag;
                    self.buf.clear();
                    done?;
                    self.state = State::Text;
                    return Ok(());
                }
                self.buf.push(b);
                if self.buf.len() as u64 > self.limit {
                    return Err(over_limit("tag"));
                }
                Ok(())
            }
            State::Ref => {
                if b == b';' {
                    let body = String::from_utf8_lossy(&self.buf).into_owned();
                    self.buf.clear();
                    check_reference(&body)?;
                    self.text_nonblank = true;
                    self.text_len += body.len() as u64 + 2;
                    self.check_text_len()?;
                    self.state = State::Text;
                    return Ok(());
                }
                let ends_name = !(b.is_ascii_alphanumeric()
                    || matches!(b, b'#' | b'_' | b'-' | b'.' | b':')
                    || b >= 0x80);
                if ends_name || self.buf.len() > MAX_REFERENCE {
                    let body = String::from_utf8_lossy(&self.buf).into_owned();
                    if body.is_empty() {
                        return Err(markup(
                            "The entity name must immediately follow the '&' in the entity \
                             reference.",
                        ));
                    }
                    if body.starts_with('#') {
                        return Err(markup(
                            "The character reference must end with the ';' delimiter.",
                        ));
                    }
                    return Err(markup(format!(
                        "The reference to entity \"{body}\" must end with the ';' delimiter."
                    )));
                }
                self.buf.push(b);
                Ok(())
            }
            State::Start | State::Text | State::Comment(_) | State::CData(_) | State::PiData(_) => {
                unreachable!("handled in feed")
            }
            State::Failed => Ok(()),
        }
    }

    fn after_lt(&mut self, b: u8) -> Result<(), WfError> {
        self.buf.clear();
        if b != b'?' {
            self.decl_possible = false;
        }
        match b {
            b'?' => self.state = State::PiTarget,
            b'!' => self.state = State::Bang(0),
            b'/' => {
                if self.place != Place::Content {
                    return Err(self.bad_markup());
                }
                self.state = State::EndTag;
            }
            _ => {
                // The name is checked when the tag is complete.
                if self.place == Place::Epilog {
                    return Err(markup(
                        "The markup in the document following the root element must be \
                         well-formed.",
                    ));
                }
                self.state = State::StartTag(None);
                self.buf.push(b);
            }
        }
        Ok(())
    }

    fn bad_markup(&self) -> WfError {
        match self.place {
            Place::Prolog => {
                markup("The markup in the document preceding the root element must be well-formed.")
            }
            Place::Content => markup(
                "The content of elements must consist of well-formed character data or markup.",
            ),
            Place::Epilog => {
                markup("The markup in the document following the root element must be well-formed.")
            }
        }
    }

    fn bang(&mut self, n: u8, b: u8) -> Result<(), WfError> {
        const COMMENT: &[u8] = b"--";
        const CDATA: &[u8] = b"[CDATA[";
        const DOCTYPE: &[u8] = b"DOCTYPE";
        self.buf.push(b);
        let so_far = &self.buf[..];
        if COMMENT.starts_with(so_far) {
            if so_far == COMMENT {
                self.comment_len = 0;
                self.state = State::Comment(0);
            } else {
                self.state = State::Bang(n + 1);
            }
            return Ok(());
        }
        if CDATA.starts_with(so_far) {
            if self.place != Place::Content {
                return Err(self.bad_markup());
            }
            if so_far == CDATA {
                self.state = State::CData(0);
                self.text_nonblank = true;
            } else {
                self.state = State::Bang(n + 1);
            }
            return Ok(());
        }
        if DOCTYPE.starts_with(so_far) {
            if so_far == DOCTYPE {
                if self.place != Place::Prolog {
                    return Err(self.bad_markup());
                }
                return Err(java(
                    codes::DOCTYPE,
                    "DOCTYPE is disallowed when the feature \
                     \"http://apache.org/xml/features/disallow-doctype-decl\" set to true.",
                    "Alma's files have no <!DOCTYPE>; remove it",
                ));
            }
            self.state = State::Bang(n + 1);
            return Ok(());
        }
        if n == 1 && self.buf[0] == b'-' {
            return Err(java(
                codes::XML_COMMENT,
                "The comment must start with \"<!--\".",
                "write comments as <!-- ... -->, or remove them",
            ));
        }
        Err(self.bad_markup())
    }

    fn pi_target(&mut self, b: u8) -> Result<(), WfError> {
        if is_space(b) || b == b'?' {
            let at_start = std::mem::take(&mut self.decl_possible);
            let target = String::from_utf8_lossy(&self.buf).into_owned();
            if target.is_empty() {
                return Err(java(
                    codes::XML_PI,
                    "The processing instruction must begin with the name of the target.",
                    "write processing instructions as <?target data?>, or remove them",
                ));
            }
            if name_len(&target) != target.len() {
                return Err(java(
                    codes::XML_PI,
                    "White space is required between the processing instruction target and \
                     data.",
                    "write processing instructions as <?target data?>, or remove them",
                ));
            }
            if let Some(e) = too_long(&target) {
                return Err(e);
            }
            if target.eq_ignore_ascii_case("xml") {
                if target == "xml" && at_start && is_space(b) {
                    self.buf.clear();
                    self.state = State::Decl;
                    return Ok(());
                }
                return Err(java(
                    codes::XML_PI,
                    "The processing instruction target matching \"[xX][mM][lL]\" is not \
                     allowed.",
                    "an XML declaration (<?xml ...?>) may only be the very first thing in the \
                     file, written in lower case, once; remove the others and anything before \
                     it",
                ));
            }
            self.comment_len = 0;
            self.state = if b == b'?' {
                State::PiEnd
            } else {
                State::PiData(false)
            };
            return Ok(());
        }
        self.buf.push(b);
        if self.buf.len() as u64 > self.limit {
            return Err(over_limit("tag"));
        }
        if let Ok(text) = std::str::from_utf8(&self.buf)
            && name_len(text) != text.len()
        {
            let message = if text.len() == 1 || name_len(text) == 0 {
                "The processing instruction must begin with the name of the target."
            } else {
                "White space is required between the processing instruction target and data."
            };
            return Err(java(
                codes::XML_PI,
                message,
                "write processing instructions as <?target data?>, or remove them",
            ));
        }
        Ok(())
    }
}

/// The `>` ending a tag whose content starts at `from`, outside quoted values, when the tag
/// lies whole in `bytes` and holds no `<` outside quotes.
fn whole_tag(bytes: &[u8], from: usize) -> Option<usize> {
    // A word at a time: tags are short, shorter than what vector searches pay to start.
    let mut at = from;
    loop {
        let i = find_any(bytes, at, [b'>', b'<', b'"', b'\''])?;
        match bytes[i] {
            b'>' => return Some(i),
            b'<' => return None,
            quote => at = find_any(bytes, i + 1, [quote])? + 1,
        }
    }
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `word` equal to `c`; exact up to the first such byte (a
/// borrow may mark bytes above it, which the callers never look at).
fn bytes_equal(word: u64, c: u8) -> u64 {
    let x = word ^ (LOW_BITS * u64::from(c));
    x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS
}

/// The first byte of `bytes` from `from` on that is one of `set`, eight bytes at a time.
fn find_any<const N: usize>(bytes: &[u8], from: usize, set: [u8; N]) -> Option<usize> {
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let hits = set.iter().fold(0, |hits, &c| hits | bytes_equal(word, c));
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes
        .get(at..)?
        .iter()
        .position(|b| set.contains(b))
        .map(|i| at + i)
}

fn cdata_end() -> WfError {
    java(
        codes::XML_CDATA,
        "The character sequence \"]]>\" must not appear in content unless used to mark the end \
         of a CDATA section.",
        "write \"]]>\" in text as \"]]&gt;\"",
    )
}

fn decl_error(java_text: impl AsRef<str>) -> WfError {
    java(
        codes::XML_DECL,
        java_text,
        "start the file with <?xml version=\"1.0\" encoding=\"UTF-8\"?>",
    )
}

impl XmlScanner {
    /// The XML declaration's pseudo-attributes (between `<?xml ` and `?>`), as Xerces reads
    /// them: version first, then encoding, then standalone; quoted values; spaces between.
    fn declaration(&mut self, decl: &[u8]) -> Result<(), WfError> {
        let decl = String::from_utf8_lossy(decl);
        let mut rest: &str = &decl;
        // 0: version expected, 1: encoding or standalone, 2: standalone, 3: done.
        let mut state = 0;
        let mut saw_space = true;
        let mut found = false;
        loop {
            let (n, _) = skip_spaces(rest);
            if n > 0 {
                saw_space = true;
            }
            rest = &rest[n..];
            if rest.is_empty() {
                break;
            }
            found = true;
            let len = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
                .count();
            if len == 0 {
                return Err(decl_error("A pseudo attribute name is expected."));
            }
            let name = &rest[..len];
            if !matches!(name, "version" | "encoding" | "standalone") {
                return Err(decl_error("A pseudo attribute name is expected."));
            }
            rest = &rest[len..];
            let (n, _) = skip_spaces(rest);
            rest = &rest[n..];
            let Some(after_eq) = rest.strip_prefix('=') else {
                return Err(decl_error(format!(
                    "The ' = ' character must follow \"{name}\" in the XML declaration."
                )));
            };
            rest = after_eq;
            let (n, _) = skip_spaces(rest);
            rest = &rest[n..];
            let quote = match rest.chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => {
                    return Err(decl_error(format!(
                        "The value following \"{name}\" in the XML declaration must be a \
                         quoted string."
                    )));
                }
            };
            rest = &rest[1..];
            let Some(end) = rest.find(quote) else {
                return Err(decl_error("A pseudo attribute name is expected."));
            };
            let value = &rest[..end];
            rest = &rest[end + 1..];
            if value.contains('<') || value.contains('&') {
                return Err(decl_error("A pseudo attribute name is expected."));
            }
            let space_needed = |what: &str| {
                decl_error(format!(
                    "White space is required before the {what} pseudo attribute in the XML \
                     declaration."
                ))
            };
            match (state, name) {
                (0, "version") => {
                    if !saw_space {
                        return Err(space_needed("version"));
                    }
                    if value != "1.0" && value != "1.1" {
                        return Err(decl_error(format!(
                            "XML version \"{value}\" is not supported, only XML 1.0 is \
                             supported."
                        )));
                    }
                    state = 1;
                }
                (0, _) => {
                    return Err(decl_error(
                        "The version is required in the XML declaration.",
                    ));
                }
                (1, "encoding") => {
                    if !saw_space {
                        return Err(space_needed("encoding"));
                    }
                    state = 2;
                }
                (1 | 2, "standalone") => {
                    if !saw_space {
                        return Err(space_needed("standalone"));
                    }
                    if value != "yes" && value != "no" {
                        return Err(decl_error(format!(
                            "The standalone document declaration value must be \"yes\" or \
                             \"no\", not \"{value}\"."
                        )));
                    }
                    state = 3;
                }
                (1, _) => {
                    return Err(decl_error(
                        "The encoding declaration is required in the text declaration.",
                    ));
                }
                (2, _) => {
                    return Err(decl_error(
                        "The standalone document declaration must have a value of \"yes\" or \
                         \"no\".",
                    ));
                }
                _ => return Err(decl_error("No more pseudo attributes are allowed.")),
            }
            saw_space = false;
        }
        if !found || state == 0 {
            return Err(decl_error(
                "The version is required in the XML declaration.",
            ));
        }
        Ok(())
    }

    fn binding(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, uri)| uri.as_str())
    }

    /// A start tag's content (between `<` and `>`), read as bytes (the guard hands out
    /// UTF-8; text is made only for names with a colon and for messages).
    fn start_tag(&mut self, tag: &[u8]) -> Result<(), WfError> {
        let (body, empty) = match tag.strip_suffix(b"/") {
            Some(body) => (body, true),
            None => (tag, false),
        };
        let len = name_len_bytes(body);
        if len == 0 {
            return Err(self.bad_markup());
        }
        let name = &body[..len];
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if let Some(e) = too_long_bytes(name) {
            return Err(e);
        }
        if len == body.len() && !name.contains(&b':') {
            // A tag without attributes or prefix (most of them): nothing more to check.
            self.bindings_made = 0;
            self.open_element(name, empty);
            return Ok(());
        }
        let mut rest = &body[len..];
        // (name, value) ranges into `body`, reused from tag to tag.
        let mut attrs = std::mem::take(&mut self.attrs);
        attrs.clear();
        let followed = || {
            markup(format!(
                "Element type \"{}\" must be followed by either attribute specifications, \
                 \">\" or \"/>\".",
                text(name)
            ))
        };
        let result = loop {
            let n = rest.iter().take_while(|&&b| is_space(b)).count();
            let space = n > 0;
            rest = &rest[n..];
            if rest.is_empty() {
                break Ok(());
            }
            if !space {
                break Err(followed());
            }
            let alen = name_len_bytes(rest);
            if alen == 0 {
                break Err(followed());
            }
            let attr_at = body.len() - rest.len();
            let attr = &rest[..alen];
            if let Some(e) = too_long_bytes(attr) {
                break Err(e);
            }
            rest = &rest[alen..];
            rest = &rest[rest.iter().take_while(|&&b| is_space(b)).count()..];
            let Some(after) = rest.strip_prefix(b"=") else {
                break Err(markup(format!(
                    "Attribute name \"{}\" associated with an element type \"{}\" must be \
                     followed by the ' = ' character.",
                    text(attr),
                    text(name)
                )));
            };
            rest = &after[after.iter().take_while(|&&b| is_space(b)).count()..];
            let quote = match rest.first() {
                Some(&q @ (b'"' | b'\'')) => q,
                _ => {
                    break Err(markup(format!(
                        "Open quote is expected for attribute \"{}\" associated with an  \
                         element type  \"{}\".",
                        text(attr),
                        text(name)
                    )));
                }
            };
            rest = &rest[1..];
            // Values are short: a word at a time beats a vector search's start-up.
            let Some(end) = find_any(rest, 0, [quote]) else {
                break Err(markup(format!(
                    "Open quote is expected for attribute \"{}\" associated with an  \
                     element type  \"{}\".",
                    text(attr),
                    text(name)
                )));
            };
            let value_at = body.len() - rest.len();
            let value = &rest[..end];
            rest = &rest[end + 1..];
            if find_any(value, 0, [b'<', b'&']).is_some()
                && let Err(e) = check_value(&text(name), &text(attr), &text(value))
            {
                break Err(e);
            }
            if (attr == b"xmlns" || attr.starts_with(b"xmlns:"))
                && let Some(e) = too_long_uri(value)
            {
                break Err(e);
            }
            if attrs.iter().any(
                |(a, _): &(std::ops::Range<usize>, std::ops::Range<usize>)| {
                    same_bytes(&body[a.clone()], attr)
                },
            ) {
                break Err(markup(format!(
                    "Attribute \"{}\" was already specified for element \"{}\".",
                    text(attr),
                    text(name)
                )));
            }
            attrs.push((attr_at..attr_at + alen, value_at..value_at + end));
            if attrs.len() > MAX_ATTRIBUTES {
                break Err(markup(format!(
                    "JAXP00010002:  Element \"{}\" has more than \"{limit}\" attributes, \
                     \"{limit}\" is the limit imposed by the JDK.",
                    text(name),
                    limit = thousands(MAX_ATTRIBUTES)
                )));
            }
        };
        let plain = !name.contains(&b':')
            && attrs
                .iter()
                .all(|(a, _)| !body[a.clone()].contains(&b':') && &body[a.clone()] != b"xmlns");
        let result = result.and_then(|()| {
            if plain {
                // No prefix and no declaration: nothing for namespace processing to check.
                self.bindings_made = 0;
                Ok(())
            } else {
                let owned: Vec<(String, String)> = attrs
                    .iter()
                    .map(|(a, v)| (text(&body[a.clone()]), text(&body[v.clone()])))
                    .collect();
                let pairs: Vec<(&str, &str)> = owned
                    .iter()
                    .map(|(a, v)| (a.as_str(), v.as_str()))
                    .collect();
                self.namespaces(&text(name), &pairs)
            }
        });
        self.attrs = attrs;
        result?;
        self.open_element(name, empty);
        Ok(())
    }

    /// A start tag that passed its checks: opens the element (or closes it, when empty).
    fn open_element(&mut self, name: &[u8], empty: bool) {
        if self.place == Place::Prolog {
            self.place = Place::Content;
        }
        if empty {
            self.close_scope(self.bindings_made);
            if self.open.is_empty() {
                self.place = Place::Epilog;
            }
        } else {
            let start = self.names.len();
            self.names.extend_from_slice(name);
            self.open.push((start, self.bindings_made));
        }
    }

    /// Namespace well-formedness of a start tag: bindings, prefixes bound, no duplicate
    /// expanded attribute names. Leaves the bindings made in `bindings_made`.
    fn namespaces(&mut self, element: &str, attrs: &[(&str, &str)]) -> Result<(), WfError> {
        let ns_error = |text: String| {
            java(
                codes::NAMESPACE,
                text,
                "declare every prefix used (xmlns:p=\"...\") or leave the prefix out: Alma's \
                 elements have no namespace",
            )
        };
        let before = self.bindings.len();
        for (attr, value) in attrs {
            let (prefix, local) = qname(attr)?;
            match (prefix, local) {
                (None, "xmlns") => {
                    if *value == XML_NS || *value == XMLNS_NS {
                        return Err(ns_error(format!(
                            "The namespace name \"{value}\" cannot be bound to the default \
                             namespace."
                        )));
                    }
                    self.bindings.push((String::new(), (*value).to_owned()));
                }
                (Some("xmlns"), local) => {
                    if value.is_empty() {
                        return Err(ns_error(format!(
                            "The value of the attribute \"prefix=\"xmlns\",localpart=\"{local}\",\
                             rawname=\"{attr}\"\" is invalid. Prefixed namespace bindings may \
                             not be empty."
                        )));
                    }
                    if local == "xmlns"
                        || (local == "xml") != (*value == XML_NS)
                        || *value == XMLNS_NS
                    {
                        return Err(ns_error(format!(
                            "The prefix \"{local}\" cannot be bound to the namespace \"{value}\"."
                        )));
                    }
                    self.bindings.push((local.to_owned(), (*value).to_owned()));
                }
                _ => {}
            }
        }
        self.bindings_made = self.bindings.len() - before;
        let (prefix, _) = qname(element)?;
        if let Some(prefix) = prefix {
            if prefix == "xmlns" {
                return Err(ns_error(format!(
                    "Element \"{element}\" cannot have \"xmlns\" as its prefix."
                )));
            }
            if self.binding(prefix).is_none() {
                return Err(ns_error(format!(
                    "The prefix \"{prefix}\" for element \"{element}\" is not bound."
                )));
            }
        }
        let mut expanded: Vec<(String, &str)> = Vec::new();
        for (attr, _) in attrs {
            let (prefix, local) = qname(attr)?;
            let uri = match prefix {
                None if local == "xmlns" => XMLNS_NS.to_owned(),
                None => String::new(),
                Some("xmlns") => XMLNS_NS.to_owned(),
                Some(p) => match self.binding(p) {
                    Some(uri) => uri.to_owned(),
                    None => {
                        return Err(ns_error(format!(
                            "The prefix \"{p}\" for attribute \"{attr}\" associated with an \
                             element type \"{element}\" is not bound."
                        )));
                    }
                },
            };
            if !uri.is_empty() && expanded.iter().any(|(u, l)| *u == uri && *l == local) {
                return Err(ns_error(format!(
                    "Attribute \"{local}\" bound to namespace \"{uri}\" was already specified \
                     for element \"{element}\"."
                )));
            }
            expanded.push((uri, local));
        }
        Ok(())
    }

    fn close_scope(&mut self, made: usize) {
        let keep = self.bindings.len().saturating_sub(made);
        self.bindings.truncate(keep);
    }

    /// An end tag's content (between `</` and `>`).
    fn end_tag(&mut self, tag: &[u8]) -> Result<(), WfError> {
        let len = name_len_bytes(tag);
        let name = &tag[..len];
        let rest = &tag[len..];
        let Some(&(start, made)) = self.open.last() else {
            return Err(self.bad_markup());
        };
        let open = &self.names[start..];
        if len == 0 || open != name {
            let open = String::from_utf8_lossy(open);
            return Err(markup(format!(
                "The element type \"{open}\" must be terminated by the matching end-tag \
                 \"</{open}>\"."
            )));
        }
        if !rest.iter().all(|&b| is_space(b)) {
            return Err(markup(format!(
                "The end-tag for element type \"{}\" must end with a '>' delimiter.",
                String::from_utf8_lossy(name)
            )));
        }
        self.names.truncate(start);
        self.open.pop();
        self.close_scope(made);
        if self.open.is_empty() {
            self.place = Place::Epilog;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::XmlScanner;

    fn scanner() -> XmlScanner {
        XmlScanner::new(alma_user_model::schema::is_container, 1 << 20)
    }

    /// The verdict (the violation's code) on `doc` fed whole.
    fn whole(doc: &[u8]) -> Option<&'static str> {
        scanner().feed(doc).map(|(_, e)| e.code)
    }

    /// The verdict on `doc` fed in pieces cut at `cuts`.
    fn in_pieces(doc: &[u8], cuts: &[usize]) -> Option<&'static str> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (doc.len() + 1)).collect();
        cuts.sort_unstable();
        let mut s = scanner();
        let mut from = 0;
        for to in cuts.into_iter().chain([doc.len()]) {
            if let Some((_, e)) = s.feed(&doc[from..to]) {
                return Some(e.code);
            }
            from = to;
        }
        None
    }

    /// The verdict the check's splitter and workers reach on `doc`, whose children of the
    /// root are cut at `children` (byte ranges of whole elements): the splitter scans around
    /// them, a restarted scanner each child.
    fn split(doc: &[u8], children: &[std::ops::Range<usize>]) -> Option<&'static str> {
        let mut s = scanner();
        let mut child = scanner();
        let mut from = 0;
        for range in children {
            if s.feed(&doc[from..range.start]).is_some() || !s.between_children() {
                return Some("splitter");
            }
            child.restart_from(&s);
            if child.feed(&doc[range.clone()]).is_some() || !child.same_scope(&s) {
                return Some("child");
            }
            s.skip_child();
            from = range.end;
        }
        s.feed(&doc[from..]).map(|(_, e)| e.code)
    }

    /// Pieces of users, some of them what Java refuses.
    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "<a>v</a>",
            "<b x=\"1\" y='2'/>",
            "<c>&amp;&#x41;</c>",
            "<!-- note -->",
            "<?pi data?>",
            "<![CDATA[x]]>",
            "<p:d xmlns:p=\"urn:p\" p:z=\"1\">w</p:d>",
            "\n  ",
            "]]>",
            "<e a=\"1\" a=\"2\"/>",
            "<q:f/>",
            "&nope;",
            "<g></h>",
            "<-bad/>",
            "<!-- a -- b -->",
            "<i a=\"<\"/>",
        ])
    }

    /// The scanner's state, as far as a later step or the splitter can see it.
    fn state_of(s: &XmlScanner) -> String {
        format!(
            "{:?} {:?} {:?} {:?} {:?} {} {} {} {} {} {}",
            s.state,
            s.place,
            s.names,
            s.open,
            s.bindings,
            s.brackets,
            s.text_nonblank,
            s.decl_possible,
            s.bindings_made,
            s.text_len,
            s.comment_len
        )
    }

    /// What `doc` cut at `cuts` gives (each violation with its index and message, and the
    /// state after), with the fast tags or only the exact path.
    fn outcome(doc: &[u8], cuts: &[usize], exact_only: bool) -> (Vec<String>, String) {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (doc.len() + 1)).collect();
        cuts.sort_unstable();
        let mut s = scanner();
        s.exact_only = exact_only;
        let mut from = 0;
        let mut seen = Vec::new();
        for to in cuts.into_iter().chain([doc.len()]) {
            if let Some((at, e)) = s.feed(&doc[from..to]) {
                seen.push(format!("{from}+{at}: {} {}", e.code, e.message));
            }
            seen.push(state_of(&s));
            from = to;
        }
        (seen, state_of(&s))
    }

    /// `text_stop` before it looked a word at a time.
    fn text_stop_oracle(text: &[u8]) -> Option<usize> {
        text.iter().position(|&b| matches!(b, b'<' | b'&' | b']'))
    }

    /// `whole_tag` before it looked a word at a time.
    fn whole_tag_oracle(bytes: &[u8], from: usize) -> Option<usize> {
        let mut quote = None;
        for (i, &b) in bytes.iter().enumerate().skip(from) {
            match (quote, b) {
                (Some(q), _) if b == q => quote = None,
                (Some(_), _) => {}
                (None, b'>') => return Some(i),
                (None, b'<') => return None,
                (None, b'"' | b'\'') => quote = Some(b),
                (None, _) => {}
            }
        }
        None
    }

    /// Bytes of tags and text: the markup bytes the scanner looks for, names (ASCII,
    /// non-ASCII, with colons, digits first), spaces of every kind.
    fn markup_bytes() -> impl Strategy<Value = Vec<u8>> {
        let atom = prop::sample::select(vec![
            "<",
            ">",
            "/",
            "\"",
            "'",
            "&",
            ";",
            "]",
            "]]>",
            "=",
            " ",
            "\t",
            "\r\n",
            "\n",
            "a",
            "user",
            "é",
            "名",
            "1",
            ":",
            "-",
            ".",
            "_",
            "x:y",
            "&amp;",
            "&nope;",
            "</a>",
            "</user>",
            "<a>",
            "<a/>",
            "<é/>",
            "<1a>",
            "<a:b:c>",
            "abcdefghij",
            "\u{7f}",
        ]);
        prop::collection::vec(atom, 0..40).prop_map(|atoms| atoms.concat().into_bytes())
    }

    /// A name of Alma's kind, or one the fast tags leave to the exact path.
    fn tag_name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_][a-z0-9_.-]{0,12}",
            "[a-zA-Z_:][a-zA-Z0-9_:.-]{0,6}",
            "[a-zé名_][a-zé名0-9\u{300}.-]{0,5}",
            "[0-9.-][a-z]{0,3}",
            Just("a".repeat(1001)),
            Just("é".repeat(600)),
        ]
    }

    /// Pieces of a document around tags whose names come from [`tag_name`].
    fn doc_piece() -> impl Strategy<Value = String> {
        prop_oneof![
            tag_name().prop_map(|n| format!("<{n}>")),
            tag_name().prop_map(|n| format!("<{n}/>")),
            tag_name().prop_map(|n| format!("</{n}>")),
            tag_name().prop_map(|n| format!("</{n} >")),
            tag_name().prop_map(|n| format!("<{n} a=\"1\">")),
            tag_name().prop_map(|n| format!("<{n}\t/>")),
            (tag_name(), "[ -~é]{0,8}").prop_map(|(n, v)| format!("<{n} v='{v}'>text</{n}>")),
            (tag_name(), "[a-z ]{0,8}").prop_map(|(n, t)| format!("<{n}>{t}</{n}>")),
            (
                tag_name(),
                prop::sample::select(vec![">", " >", "\t>", "/>", "x>", ">>", ""])
            )
                .prop_map(|(n, end)| format!("<{n}>]]</{n}{end}")),
            prop::sample::select(vec![
                "\n  ",
                "\r\n",
                "v",
                "&amp;",
                "&#x41;",
                "&nope;",
                "]]>",
                "]]",
                "]",
                ">",
                "&",
                "<!-- c -->",
                "<![CDATA[x]]>",
                "<?pi d?>",
                "<!DOCTYPE x>",
                "<a x=\">\"/>",
                "<a x=\"<\"/>",
                "<a x='1' x='2'/>",
                "<p:q xmlns:p=\"urn:p\"/>",
                "</",
                "<",
                "<a",
                "</a",
                "<a/",
                "<a/b>",
            ])
            .prop_map(str::to_owned),
        ]
    }

    /// The JDK holds namespace names to its 1,000 name limit, in UTF-16 units of the value as
    /// normalized; each case as `java` (CheckReference, the fuzz-check reference) decided it.
    #[test]
    fn namespace_names_are_held_to_javas_name_limit() {
        let x = |n: usize| "x".repeat(n);
        let cases = [
            (x(1000), false),
            (x(1001), true),
            ("\u{e9}".repeat(1000), false),
            ("\u{e9}".repeat(1001), true),
            ("\u{1F600}".repeat(500), false),
            ("\u{1F600}".repeat(501), true),
            (format!("\u{1F600}{}", x(999)), true),
            (format!("{}{}", x(995), "&#x78;".repeat(5)), false),
            (format!("{}{}", x(995), "&#x78;".repeat(6)), true),
            (format!("{}&amp;", x(1000)), true),
            (format!("{}&#x1F600;", x(999)), true),
            (format!("{}\r\n", x(999)), false),
            (format!("{}\r\n", x(1000)), true),
        ];
        for attr in ["xmlns", "xmlns:q"] {
            for (uri, too_long) in &cases {
                let doc = format!("<users><user {attr}=\"{uri}\"><a/></user></users>");
                let expected = too_long.then_some(super::codes::XML);
                assert_eq!(
                    whole(doc.as_bytes()),
                    expected,
                    "{attr}, {} bytes",
                    uri.len()
                );
                let cuts = [9, 700, 1500];
                assert_eq!(
                    in_pieces(doc.as_bytes(), &cuts),
                    expected,
                    "{attr} in pieces"
                );
            }
        }
        // Other attributes' values are not names.
        let doc = format!("<users><user a=\"{}\"><a/></user></users>", x(3000));
        assert_eq!(whole(doc.as_bytes()), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn word_searches_find_what_byte_loops_find(bytes in markup_bytes(), from in 0usize..64) {
            prop_assert_eq!(super::text_stop(&bytes), text_stop_oracle(&bytes));
            prop_assert_eq!(super::whole_tag(&bytes, from), whole_tag_oracle(&bytes, from));
            let from = from.min(bytes.len());
            prop_assert_eq!(
                super::find_any(&bytes, from, [b'"']),
                memchr::memchr(b'"', &bytes[from..]).map(|i| from + i)
            );
            prop_assert_eq!(
                super::find_any(&bytes, from, [b'<', b'&']),
                memchr::memchr2(b'<', b'&', &bytes[from..]).map(|i| from + i)
            );
        }

        /// Fed whole or in pieces, with the fast tags or only the exact path: the same
        /// violations (index and message) and the same state after.
        #[test]
        fn fast_tags_do_what_the_exact_path_does(
            pieces in prop::collection::vec(doc_piece(), 0..24),
            root_attr in any::<bool>(),
            root_end in prop::sample::select(vec!["</users>\n", "</users >x", "</users>>", "</users"]),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let mut doc = String::from("<?xml version=\"1.0\"?>\n");
            doc.push_str(if root_attr { "<users xmlns:p=\"urn:p\">" } else { "<users>" });
            for p in &pieces {
                doc.push_str(p);
            }
            doc.push_str(root_end);
            let doc = doc.as_bytes();
            prop_assert_eq!(outcome(doc, &[], false), outcome(doc, &[], true));
            prop_assert_eq!(outcome(doc, &cuts, false), outcome(doc, &cuts, true));
        }

        #[test]
        fn pieces_scan_as_the_whole(
            users in prop::collection::vec(prop::collection::vec(piece(), 0..6), 1..6),
            cuts in prop::collection::vec(any::<usize>(), 0..6),
        ) {
            let mut doc = String::from("<?xml version=\"1.0\"?>\n<users xmlns:r=\"urn:r\">\n");
            let mut children = Vec::new();
            for user in users {
                let start = doc.len();
                doc.push_str("<user r:n=\"1\">");
                for p in user {
                    doc.push_str(p);
                }
                doc.push_str("</user>");
                children.push(start..doc.len());
                doc.push_str("\n  ");
            }
            doc.push_str("</users>\n");
            let doc = doc.as_bytes();
            let verdict = whole(doc);
            prop_assert_eq!(in_pieces(doc, &cuts), verdict);
            // Split along the users: clean exactly when the whole is (a violation found in
            // a part sends the document to the serial path, which reports it).
            prop_assert_eq!(split(doc, &children).is_none(), verdict.is_none());
        }
    }
}
