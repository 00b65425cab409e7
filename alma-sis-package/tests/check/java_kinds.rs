//! Issue 24's kinds, one minimal reproducer each: files the JDK rejects that `check` used to
//! pass (each now an error with a code that names the cause as Java words it), and files the
//! JDK loads that `check` used to reject (each now passes, or only warns). The messages are
//! snapshots; where a JDK is installed, the Java reference of `cargo xtask fuzz-check`
//! confirms each verdict independently.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use alma_sis_package::check::CheckOptions;
use alma_user_model::Severity;

use super::run_check;
use crate::support::tool_available;

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// A document of one valid user with `extra` before `</user>` and `root_attrs` on the root.
fn doc_with(decl: &str, root_attrs: &str, extra: &str) -> Vec<u8> {
    format!(
        "{decl}<users{root_attrs}>\n<user><primary_id>k1</primary_id>\
         <expiry_date>2027-06-30Z</expiry_date>{extra}</user>\n</users>\n"
    )
    .into_bytes()
}

fn doc(extra: &str) -> Vec<u8> {
    doc_with(DECL, "", extra)
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(bytes);
    h.finalize()
}

/// One deflated entry, written field by field so a test can damage one.
struct ZipSpec<'a> {
    name: &'a [u8],
    data: &'a [u8],
    local_crc_xor: u32,
    central_crc_xor: u32,
    local_csize_delta: i64,
    /// Sizes and CRC in a data descriptor (flag 3); `Some(xor)` damages its CRC.
    descriptor: Option<u32>,
    /// Flag 3 set but no descriptor written.
    descriptor_missing: bool,
    /// The central header's offset as 0xFFFFFFFF, the real one in a ZIP64 extra field.
    zip64_offset: bool,
    trailer: &'a [u8],
}

impl<'a> ZipSpec<'a> {
    fn new(data: &'a [u8]) -> Self {
        ZipSpec {
            name: b"users.xml",
            data,
            local_crc_xor: 0,
            central_crc_xor: 0,
            local_csize_delta: 0,
            descriptor: None,
            descriptor_missing: false,
            zip64_offset: false,
            trailer: b"",
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(self.data).expect("in memory");
        let payload = enc.finish().expect("in memory");
        let crc = crc32(self.data);
        let (csize, size) = (payload.len() as u32, self.data.len() as u32);
        let streamed = self.descriptor.is_some() || self.descriptor_missing;
        let flags: u16 = if streamed { 8 } else { 0 };
        let mut out = Vec::new();
        let put16 = |o: &mut Vec<u8>, v: u16| o.extend_from_slice(&v.to_le_bytes());
        let put32 = |o: &mut Vec<u8>, v: u32| o.extend_from_slice(&v.to_le_bytes());
        put32(&mut out, 0x0403_4b50);
        put16(&mut out, 20);
        put16(&mut out, flags);
        put16(&mut out, 8);
        put32(&mut out, 0);
        if streamed {
            put32(&mut out, 0);
            put32(&mut out, 0);
            put32(&mut out, 0);
        } else {
            put32(&mut out, crc ^ self.local_crc_xor);
            put32(&mut out, (i64::from(csize) + self.local_csize_delta) as u32);
            put32(&mut out, size);
        }
        put16(&mut out, self.name.len() as u16);
        put16(&mut out, 0);
        out.extend_from_slice(self.name);
        out.extend_from_slice(&payload);
        if let Some(xor) = self.descriptor {
            put32(&mut out, 0x0807_4b50);
            put32(&mut out, crc ^ xor);
            put32(&mut out, csize);
            put32(&mut out, size);
        }
        let cd = out.len() as u32;
        let extra: Vec<u8> = if self.zip64_offset {
            let mut e = Vec::new();
            put16(&mut e, 1);
            put16(&mut e, 8);
            e.extend_from_slice(&0u64.to_le_bytes());
            e
        } else {
            Vec::new()
        };
        put32(&mut out, 0x0201_4b50);
        put16(&mut out, 20);
        put16(&mut out, 20);
        put16(&mut out, flags);
        put16(&mut out, 8);
        put32(&mut out, 0);
        put32(&mut out, crc ^ self.central_crc_xor);
        put32(&mut out, csize);
        put32(&mut out, size);
        put16(&mut out, self.name.len() as u16);
        put16(&mut out, extra.len() as u16);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put32(&mut out, 0);
        put32(&mut out, if self.zip64_offset { u32::MAX } else { 0 });
        out.extend_from_slice(self.name);
        out.extend_from_slice(&extra);
        let cd_len = out.len() as u32 - cd;
        put32(&mut out, 0x0605_4b50);
        put32(&mut out, 0);
        put16(&mut out, 1);
        put16(&mut out, 1);
        put32(&mut out, cd_len);
        put32(&mut out, cd);
        put16(&mut out, 0);
        out.extend_from_slice(self.trailer);
        out
    }
}

fn zipped(xml: &[u8]) -> Vec<u8> {
    ZipSpec::new(xml).bytes()
}

/// What the JDK says about each zip (`None`: it loads them), through the Java reference of
/// `cargo xtask fuzz-check`; `None` for all when no JDK is installed.
fn jdk_verdicts(paths: &[PathBuf]) -> Option<Vec<Option<String>>> {
    if !tool_available("java", "-version") {
        return None;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let xsd = root.join("../shared/alma/xsd/rest_users.xsd");
    let mut child = Command::new("java")
        .arg(root.join("xtask/java/CheckReference.java"))
        .arg(&xsd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("java starts");
    let list: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(list.as_bytes())
        .expect("java reads");
    let out = child.wait_with_output().expect("java runs");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let mut verdicts = Vec::new();
    let mut current: Option<Option<String>> = None;
    for line in text.lines() {
        let kind = line.split('\t').next().unwrap_or_default();
        match kind {
            "FILE" => current = Some(None),
            "END" => verdicts.extend(current.take()),
            "Z" | "F" | "S" => {
                if let Some(v @ None) = current.as_mut() {
                    *v = Some(line.to_owned());
                }
            }
            _ => {}
        }
    }
    assert_eq!(verdicts.len(), paths.len(), "{text}");
    Some(verdicts)
}

/// One case: a file, the error codes `check` must give (empty: it passes) and the warning
/// codes it must give besides.
struct Case {
    name: &'static str,
    file: Vec<u8>,
    errors: &'static [&'static str],
    warnings: &'static [&'static str],
}

fn case(
    name: &'static str,
    file: Vec<u8>,
    errors: &'static [&'static str],
    warnings: &'static [&'static str],
) -> Case {
    Case {
        name,
        file,
        errors,
        warnings,
    }
}

/// Runs the cases: codes exactly, the JDK's verdict when a JDK is there, and the finding
/// lines as a snapshot named `snapshot`.
fn run(cases: Vec<Case>, snapshot: &str) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let paths: Vec<PathBuf> = cases
        .iter()
        .map(|c| {
            let path = dir.path().join(format!("{}.zip", c.name));
            std::fs::write(&path, &c.file).expect("writable");
            path
        })
        .collect();
    let mut listing = String::new();
    for (c, path) in cases.iter().zip(&paths) {
        let (found, _) = run_check(path, &CheckOptions::default());
        let codes = |severity| {
            let mut v: Vec<&str> = found
                .iter()
                .filter(|f| f.finding.severity == severity)
                .map(|f| f.finding.code.as_str())
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let all: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            codes(Severity::Error),
            c.errors,
            "{}:\n{}",
            c.name,
            all.join("\n")
        );
        let warnings = codes(Severity::Warning);
        for w in c.warnings {
            assert!(
                warnings.contains(w),
                "{}: no {w} in\n{}",
                c.name,
                all.join("\n")
            );
        }
        for f in &found {
            if c.errors.contains(&f.finding.code.as_str())
                || c.warnings.contains(&f.finding.code.as_str())
            {
                let line = f.to_string();
                let line = line.replace(&format!("{}/", dir.path().display()), "");
                listing.push_str(&line);
                listing.push('\n');
            }
        }
    }
    if let Some(verdicts) = jdk_verdicts(&paths) {
        for (c, verdict) in cases.iter().zip(verdicts) {
            assert_eq!(
                verdict.is_some(),
                !c.errors.is_empty(),
                "{}: the JDK says {verdict:?}",
                c.name
            );
        }
    }
    insta::assert_snapshot!(snapshot, listing);
}

#[test]
fn what_the_jdk_rejects_is_an_error() {
    let user_roles = "<user_roles><user_role><status>ACTIVE</status><bogus/></user_role>\
                      </user_roles>";
    let proxies = "<proxy_for_users><proxy_for_user><full_name>A</full_name>\
                   <primary_id>p</primary_id></proxy_for_user></proxy_for_users>";
    let emoji = format!("<last_name>{}</last_name>", "\u{1F600}".repeat(128));
    let long_desc = format!("<status desc=\"{}\">ACTIVE</status>", "d".repeat(4001));
    let full_name = format!("<full_name>{}</full_name>", "f".repeat(601));
    let cases = vec![
        // A broken XML declaration.
        case(
            "standalone-maybe",
            zipped(&doc_with(
                "<?xml version=\"1.0\" standalone=\"maybe\"?>\n",
                "",
                "",
            )),
            &["E-XML-DECL"],
            &[],
        ),
        case(
            "no-version",
            zipped(&doc_with("<?xml encoding=\"UTF-8\"?>\n", "", "")),
            &["E-XML-DECL"],
            &[],
        ),
        case(
            "version-2.0",
            zipped(&doc_with("<?xml version=\"2.0\"?>\n", "", "")),
            &["E-XML-DECL"],
            &[],
        ),
        case(
            "stray-pseudo-attribute",
            zipped(&doc_with("<?xml version=\"1.0\" foo=\"bar\"?>\n", "", "")),
            &["E-XML-DECL"],
            &[],
        ),
        // A comment or a second declaration before <?xml, <?XML ...?>, a PI with no target.
        case(
            "comment-before-declaration",
            zipped(&[b"<!-- made by a script -->".as_slice(), &doc("")].concat()),
            &["E-XML-PI"],
            &[],
        ),
        case(
            "second-declaration",
            zipped(&[DECL.as_bytes(), &doc("")].concat()),
            &["E-XML-PI"],
            &[],
        ),
        case(
            "upper-case-declaration",
            zipped(&doc_with("<?XML version=\"1.0\"?>\n", "", "")),
            &["E-XML-PI"],
            &[],
        ),
        case(
            "pi-without-target",
            zipped(&doc("<? ?>")),
            &["E-XML-PI"],
            &[],
        ),
        // -- inside a comment, or U+FFFE in one.
        case(
            "double-hyphen-in-comment",
            zipped(&doc("<!-- a -- b -->")),
            &["E-XML-COMMENT"],
            &[],
        ),
        case(
            "fffe-in-comment",
            zipped(&doc("<!-- \u{FFFE} -->")),
            &["E-CHAR"],
            &[],
        ),
        // ]]> in text.
        case(
            "cdata-end-in-text",
            zipped(&doc("<last_name>a]]>b</last_name>")),
            &["E-XML-CDATA"],
            &[],
        ),
        // Attributes on elements read as plain codes.
        case(
            "status-desc-control-character",
            zipped(&doc("<status desc=\"&#x1;\">ACTIVE</status>")),
            &["E-CHAR"],
            &[],
        ),
        case(
            "status-desc-4001-characters",
            zipped(&doc(&long_desc)),
            &["E-TOO-LONG"],
            &[],
        ),
        // Lengths counted in UTF-16 units.
        case(
            "128-emoji-last-name",
            zipped(&doc(&emoji)),
            &["E-TOO-LONG"],
            &[],
        ),
        // Year 0000.
        case(
            "year-0000",
            zipped(&doc("<birth_date>0000-01-01Z</birth_date>")),
            &["E-SCHEMA-TYPE"],
            &[],
        ),
        // Children and facets inside output-only or ignored elements.
        case(
            "user-roles-child",
            zipped(&doc(user_roles)),
            &["E-UNKNOWN-ELEMENT"],
            &["W-IGNORED-ELEMENT"],
        ),
        case(
            "force-password-change-5-characters",
            zipped(&doc("<force_password_change>FALSE</force_password_change>")),
            &["E-TOO-LONG"],
            &["W-IGNORED-ELEMENT"],
        ),
        case(
            "full-name-601",
            zipped(&doc(&full_name)),
            &["E-TOO-LONG"],
            &[],
        ),
        case(
            "password-with-a-child",
            zipped(&doc("<password><b/></password>")),
            &["E-SCHEMA-TYPE"],
            &[],
        ),
        case(
            "researcher-child",
            zipped(&doc("<researcher><bogus/></researcher>")),
            &["E-UNKNOWN-ELEMENT"],
            &[],
        ),
        case(
            "proxy-for-user-order",
            zipped(&doc(proxies)),
            &["E-SCHEMA-ORDER"],
            &[],
        ),
        // A zip entry name that is not UTF-8.
        case(
            "entry-name-not-utf8",
            ZipSpec {
                name: b"users\xFF.xml",
                ..ZipSpec::new(&doc(""))
            }
            .bytes(),
            &["E-ZIP-NAME"],
            &[],
        ),
        // What only ZipInputStream refuses: the local header's CRC or sizes, a descriptor
        // that disagrees, the descriptor flag without a descriptor.
        case(
            "crc-wrong-in-local-header",
            ZipSpec {
                local_crc_xor: 0x0100_0000,
                ..ZipSpec::new(&doc(""))
            }
            .bytes(),
            &["E-ZIP-CRC"],
            &[],
        ),
        case(
            "size-wrong-in-local-header",
            ZipSpec {
                local_csize_delta: 1,
                ..ZipSpec::new(&doc(""))
            }
            .bytes(),
            &["E-ZIP-SIZE"],
            &[],
        ),
        case(
            "descriptor-disagrees",
            ZipSpec {
                descriptor: Some(1),
                ..ZipSpec::new(&doc(""))
            }
            .bytes(),
            &["E-ZIP-CRC"],
            &[],
        ),
        case(
            "descriptor-flag-without-descriptor",
            ZipSpec {
                descriptor_missing: true,
                ..ZipSpec::new(&doc(""))
            }
            .bytes(),
            &["E-ZIP-SIZE"],
            &[],
        ),
    ];
    run(cases, "jdk_rejects");
}

#[test]
fn what_the_jdk_loads_is_no_error() {
    let long_comment = format!("<!-- {} -->", "c".repeat(2 << 20));
    let cases = vec![
        case(
            "namespace-declarations",
            zipped(&doc_with(
                DECL,
                " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
                 xsi:noNamespaceSchemaLocation=\"rest_users.xsd\" xmlns:x=\"urn:x\"",
                "",
            )),
            &[],
            &[],
        ),
        case(
            "utf8-bom",
            zipped(&[b"\xEF\xBB\xBF".as_slice(), &doc("")].concat()),
            &[],
            &["W-BOM"],
        ),
        case(
            "latin-1-declared",
            zipped(&doc_with(
                "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n",
                "",
                "",
            )),
            &[],
            &["W-ENCODING"],
        ),
        case(
            "us-ascii-declared",
            zipped(&doc_with(
                "<?xml version=\"1.0\" encoding=\"US-ASCII\"?>\n",
                "",
                "",
            )),
            &[],
            &["W-ENCODING"],
        ),
        case(
            "date-negative-year",
            zipped(&doc("<birth_date>-2026-01-01</birth_date>")),
            &[],
            &[],
        ),
        case(
            "date-five-digit-year",
            zipped(&doc("<birth_date>12026-01-01</birth_date>")),
            &[],
            &[],
        ),
        case("long-comment", zipped(&doc(&long_comment)), &[], &[]),
        case(
            "zip64-extra-with-local-header-offset",
            ZipSpec {
                zip64_offset: true,
                ..ZipSpec::new(&doc(""))
            }
            .bytes(),
            &[],
            &[],
        ),
        case(
            "junk-after-end-record",
            ZipSpec {
                trailer: b"junk after the end of the zip",
                ..ZipSpec::new(&doc(""))
            }
            .bytes(),
            &[],
            &[],
        ),
    ];
    run(cases, "jdk_loads");
}

/// A bad CRC in both headers is the zip's fault, named as such (it was E-XML).
#[test]
fn a_bad_crc_in_both_headers_is_a_zip_error() {
    let cases = vec![case(
        "crc-wrong-in-both-headers",
        ZipSpec {
            local_crc_xor: 0x0100_0000,
            central_crc_xor: 0x0100_0000,
            ..ZipSpec::new(&doc(""))
        }
        .bytes(),
        &["E-ZIP-CRC"],
        &[],
    )];
    run(cases, "crc_both_headers");
}
