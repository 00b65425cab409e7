//! The stable codes `check` gives, besides the record-level ones of
//! `alma_user_model` (schema conformance, `E-MANDATORY`, `E-CHAR`, `W-INTERNAL`,
//! `E-CODE-VALUE`, `E-CASE`). `E-` codes are errors (Alma rejects the record or the file),
//! `W-` codes warnings. `docs/troubleshooting.md` maps each to Alma's job-report messages.

/// The path is not a `.zip`, a folder or an `.xml` file.
pub const NOT_ZIP: &str = "E-NOT-ZIP";
/// An `.xml` file given on its own: Alma loads only zips.
pub const NOT_ZIPPED: &str = "W-NOT-ZIPPED";
/// A folder without any `.zip` file.
pub const NO_ZIP: &str = "E-NO-ZIP";
/// A file in a folder that Alma ignores (not `.zip`).
pub const IGNORED_FILE: &str = "W-IGNORED-FILE";
/// The zip's structure is damaged (truncated, offsets wrong, CRC mismatch).
pub const ZIP_CORRUPT: &str = "E-ZIP-CORRUPT";
/// An entry uses a compression method other than deflate or stored.
pub const ZIP_METHOD: &str = "E-ZIP-METHOD";
/// A stored entry with a data descriptor (Java's `ZipInputStream` refuses it).
pub const ZIP_DESCRIPTOR: &str = "E-ZIP-DESCRIPTOR";
/// An encrypted entry.
pub const ZIP_ENCRYPTED: &str = "E-ZIP-ENCRYPTED";
/// An entry's data does not match the CRC its local header or data descriptor gives
/// (`ZipInputStream`: "invalid entry CRC").
pub const ZIP_CRC: &str = "E-ZIP-CRC";
/// An entry's data does not match the sizes its local header or data descriptor gives
/// (`ZipInputStream`: "invalid entry size", "invalid entry compressed size").
pub const ZIP_SIZE: &str = "E-ZIP-SIZE";
/// An entry name that is not UTF-8 (`ZipFile`: "invalid CEN header (bad entry name)").
pub const ZIP_NAME: &str = "E-ZIP-NAME";
/// `ZipInputStream` reads other XML entries (or other bytes) than the central directory
/// lists.
pub const ZIP_STREAM: &str = "E-ZIP-STREAM";
/// Entries that share a local header or whose data overlap (read once).
pub const ZIP_OVERLAP: &str = "E-ZIP-OVERLAP";
/// The central directory's CRC or sizes disagree with the data; Java does not check them.
pub const ZIP_HEADERS: &str = "W-ZIP-HEADERS";
/// No `.xml` entry in the zip.
pub const ZIP_NO_XML: &str = "E-ZIP-NO-XML";
/// More than 50 XML files in one zip.
pub const ZIP_TOO_MANY_XML: &str = "E-ZIP-TOO-MANY-XML";
/// A zip entry that is not `.xml` (Alma ignores it).
pub const ZIP_OTHER_ENTRY: &str = "W-ZIP-OTHER-ENTRY";
/// A byte limit was reached (zip bomb, giant token); the rest was not read.
pub const LIMIT: &str = "E-LIMIT";
/// A UTF-8 byte-order mark before `<?xml` (Java skips it).
pub const BOM: &str = "W-BOM";
/// Bytes before `<?xml` or the first tag ("Content is not allowed in prolog").
pub const PROLOG: &str = "E-PROLOG";
/// An encoding Java cannot read (an unknown name, UTF-16 declared on 8-bit bytes, a byte
/// US-ASCII lacks).
pub const ENCODING: &str = "E-ENCODING";
/// An encoding other than UTF-8 that Java reads (ISO-8859-1, US-ASCII, windows-1252, UTF-16).
pub const ENCODING_OTHER: &str = "W-ENCODING";
/// Bytes that are not UTF-8 ("Invalid byte 1 of 1-byte UTF-8 sequence").
pub const UTF8: &str = "E-UTF8";
/// A control character XML 1.0 forbids.
pub const CHAR: &str = "E-CHAR";
/// The XML is not well-formed ("Could not parse file").
pub const XML: &str = "E-XML";
/// The XML declaration is broken (no version, an unsupported version, a bad pseudo-attribute).
pub const XML_DECL: &str = "E-XML-DECL";
/// A processing instruction Java refuses: no target, the reserved target `xml` (a second
/// declaration, or one after a comment or space).
pub const XML_PI: &str = "E-XML-PI";
/// A comment holding `--`, or not opened with `<!--`.
pub const XML_COMMENT: &str = "E-XML-COMMENT";
/// `]]>` in text.
pub const XML_CDATA: &str = "E-XML-CDATA";
/// A namespace prefix that is not bound, or a binding XML forbids.
pub const NAMESPACE: &str = "E-NAMESPACE";
/// The DOCTYPE Java refuses (DTDs are disallowed).
pub const DOCTYPE: &str = "E-DOCTYPE";
/// A reference to an entity other than the five predefined ones.
pub const ENTITY: &str = "E-ENTITY";
/// The same match ID on two users of one run.
pub const DUP_MATCH_ID: &str = "E-DUP-MATCH-ID";
/// A user without the configured match ID.
pub const NO_MATCH_ID: &str = "E-NO-MATCH-ID";
/// An identifier value used twice in the feed or within one user.
pub const ID_TAKEN_IN_FEED: &str = "E-ID-TAKEN-IN-FEED";
/// A field the mandatory-field profile requires is missing.
pub const MANDATORY: &str = "E-MANDATORY";
/// No email, or none marked preferred.
pub const NO_PREFERRED_EMAIL: &str = "W-NO-PREFERRED-EMAIL";
/// No address, or none marked preferred.
pub const NO_PREFERRED_ADDRESS: &str = "W-NO-PREFERRED-ADDRESS";
/// A purge date before the expiry date: the purge job can delete a user who is still valid.
pub const PURGE_BEFORE_EXPIRY: &str = "W-PURGE-BEFORE-EXPIRY";
/// No expiry date: the user never expires unless the user group has a default.
pub const NO_EXPIRY: &str = "W-NO-EXPIRY";
/// With swap-all, a field the feed leaves empty clears the value Alma has.
pub const BLANKS_FIELD: &str = "W-BLANKS-FIELD";
