//! An OpenSSH known_hosts file, read as `ssh` reads it: comma lists of host patterns with
//! `*`, `?` and `!` negation, `[host]:port` for ports other than 22, hashed `|1|salt|hash`
//! entries, `@revoked` keys; `@cert-authority` lines are skipped (no certificates here).
//!
//! The entries that decide are those for `[host]:port` (or `host` on port 22); when they
//! pin no key of the presented type, those for the plain `host` (as `ssh` falls back to
//! them). Among the entries that decide, any other key of the presented type is a mismatch,
//! whatever else matches: `ssh` accepts a file that pins both the presented key and another
//! one of its type, this refuses it, so a stale pin is noticed and removed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit as _, Mac as _};

use crate::matches_pattern;

/// `ssh`'s default host key algorithm order (OpenSSH 9), plain key types only: the server is
/// asked for the pinned types in this order, so it presents the key `ssh` would see.
const PREFERENCE: [&str; 6] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "ssh-dss",
];

/// What a line says about the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    /// A key of the host.
    Pin,
    /// `@revoked`: never accepted.
    Revoked,
}

/// The host part of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hosts {
    /// `|1|salt|hash`: HMAC-SHA1 of the host name, keyed with the salt.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// Patterns, each negated (`!`) or not.
    Patterns(Vec<(bool, String)>),
}

impl Hosts {
    /// Whether the line is for `name` (`host` or `[host]:port`, lower case).
    fn matches(&self, name: &str) -> bool {
        match self {
            Hosts::Hashed { salt, hash } => {
                let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            Hosts::Patterns(patterns) => {
                let mut positive = false;
                for (negated, pattern) in patterns {
                    if matches_pattern(pattern, name) {
                        if *negated {
                            // A negated pattern that matches excludes the host from the line.
                            return false;
                        }
                        positive = true;
                    }
                }
                positive
            }
        }
    }
}

/// One usable line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// 1-based line number.
    line: usize,
    marker: Marker,
    hosts: Hosts,
    /// The key type named inside the key blob.
    key_type: String,
    blob: Vec<u8>,
}

/// The verdict on a presented host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Pinned, and no other key of its type is pinned for the host.
    Match,
    /// Another key of the presented type is pinned for the host (on this line).
    Mismatch { line: usize },
    /// The presented key is marked `@revoked` (on this line).
    Revoked { line: usize },
    /// No key of the presented type is pinned for the host.
    Unknown,
}

/// The parsed file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KnownHosts {
    entries: Vec<Entry>,
}

/// The key type inside an SSH public key blob (its first length-prefixed string).
pub(crate) fn blob_key_type(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4usize.checked_add(len)?)?;
    String::from_utf8(name.to_vec()).ok()
}

impl KnownHosts {
    /// Parses the text of a known_hosts file; lines that do not parse (unknown markers,
    /// broken base64, comments) are skipped, as `ssh` skips them.
    pub(crate) fn parse(text: &str) -> KnownHosts {
        let entries = text
            .lines()
            .enumerate()
            .filter_map(|(i, line)| parse_line(i + 1, line))
            .collect();
        KnownHosts { entries }
    }

    /// The names a connection to `host:port` is looked up under: the one that decides and,
    /// for ports other than 22, the plain host it falls back to.
    fn names(host: &str, port: u16) -> (String, Option<String>) {
        let host = host.to_ascii_lowercase();
        if port == 22 {
            (host, None)
        } else {
            (format!("[{host}]:{port}"), Some(host))
        }
    }

    /// The pins that apply to `name`, of type `key_type` when given.
    fn pins<'a>(
        &'a self,
        name: &'a str,
        key_type: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| {
            e.marker == Marker::Pin
                && key_type.is_none_or(|t| e.key_type == t)
                && e.hosts.matches(name)
        })
    }

    /// The key types pinned for `host:port`, in `ssh`'s preference order (others after, in
    /// file order): what to ask the server for.
    pub(crate) fn key_types(&self, host: &str, port: u16) -> Vec<String> {
        let (name, fallback) = Self::names(host, port);
        let mut types: Vec<String> = Vec::new();
        let names = std::iter::once(name.as_str()).chain(fallback.as_deref());
        for name in names {
            for entry in self.pins(name, None) {
                if !types.contains(&entry.key_type) {
                    types.push(entry.key_type.clone());
                }
            }
        }
        let rank = |t: &String| {
            PREFERENCE
                .iter()
                .position(|p| p == t)
                .unwrap_or(PREFERENCE.len())
        };
        types.sort_by_key(rank);
        types
    }

    /// Decides about the key `blob` presented by `host:port`.
    pub(crate) fn check(&self, host: &str, port: u16, blob: &[u8]) -> Verdict {
        let (name, fallback) = Self::names(host, port);
        let names = || std::iter::once(name.as_str()).chain(fallback.as_deref());
        for n in names() {
            if let Some(revoked) = self
                .entries
                .iter()
                .find(|e| e.marker == Marker::Revoked && e.blob == blob && e.hosts.matches(n))
            {
                return Verdict::Revoked { line: revoked.line };
            }
        }
        let Some(key_type) = blob_key_type(blob) else {
            return Verdict::Unknown;
        };
        for n in names() {
            let pins: Vec<&Entry> = self.pins(n, Some(&key_type)).collect();
            if pins.is_empty() {
                continue;
            }
            return match pins.iter().find(|e| e.blob != blob) {
                Some(other) => Verdict::Mismatch { line: other.line },
                None => Verdict::Match,
            };
        }
        Verdict::Unknown
    }
}

/// One line: `[@marker] hosts keytype base64 [comment]`.
fn parse_line(line: usize, text: &str) -> Option<Entry> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    let mut fields = text.split_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => {
            first = fields.next()?;
            Marker::Revoked
        }
        // `@cert-authority` keys sign certificates, which are not used here; other markers
        // are unknown to `ssh` too.
        m if m.starts_with('@') => return None,
        _ => Marker::Pin,
    };
    let hosts = parse_hosts(first)?;
    let _key_type = fields.next()?;
    let blob = STANDARD.decode(fields.next()?).ok()?;
    let key_type = blob_key_type(&blob)?;
    Some(Entry {
        line,
        marker,
        hosts,
        key_type,
        blob,
    })
}

fn parse_hosts(field: &str) -> Option<Hosts> {
    if let Some(rest) = field.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|')?;
        return Some(Hosts::Hashed {
            salt: STANDARD.decode(salt).ok()?,
            hash: STANDARD.decode(hash).ok()?,
        });
    }
    let patterns = field
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p.strip_prefix('!') {
            Some(negated) => (true, negated.to_ascii_lowercase()),
            None => (false, p.to_ascii_lowercase()),
        })
        .collect::<Vec<_>>();
    (!patterns.is_empty()).then_some(Hosts::Patterns(patterns))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake key blob of `key_type` with `seed` as its key material.
    fn blob(key_type: &str, seed: u8) -> Vec<u8> {
        let mut b = (key_type.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(key_type.as_bytes());
        b.extend_from_slice(&[0, 0, 0, 32]);
        b.extend(std::iter::repeat_n(seed, 32));
        b
    }

    fn line(hosts: &str, key_type: &str, seed: u8) -> String {
        format!(
            "{hosts} {key_type} {}",
            STANDARD.encode(blob(key_type, seed))
        )
    }

    fn hashed(name: &str, salt: &[u8]) -> String {
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(name.as_bytes());
        let hash = mac.finalize().into_bytes();
        format!("|1|{}|{}", STANDARD.encode(salt), STANDARD.encode(hash))
    }

    const ED: &str = "ssh-ed25519";
    const RSA: &str = "ssh-rsa";

    fn check(lines: &[String], port: u16, presented: (&str, u8), expected: Verdict) {
        let file = KnownHosts::parse(&lines.join("\n"));
        let got = file.check("Sftp.Example.EDU", port, &blob(presented.0, presented.1));
        assert_eq!(got, expected, "{lines:#?} on port {port}");
    }

    #[test]
    fn verdicts_follow_the_lookup_rules() {
        let h = "sftp.example.edu";
        let hp = "[sftp.example.edu]:2222";
        use Verdict::*;
        // The right key, alone, in every host form.
        for hosts in [
            hp.to_owned(),
            format!("other,{hp}"),
            "[sftp.example.*]:2222".into(),
            "[*]:*".into(),
            "[SFTP.EXAMPLE.EDU]:2222".into(),
            hashed(hp, b"0123456789abcdefghij"),
        ] {
            check(&[line(&hosts, ED, 1)], 2222, (ED, 1), Match);
        }
        // Port 22 uses the plain name; other ports fall back to it.
        check(&[line(h, ED, 1)], 22, (ED, 1), Match);
        check(&[line(h, ED, 1)], 2222, (ED, 1), Match);
        check(&[line(&hashed(h, b"salt"), ED, 1)], 2222, (ED, 1), Match);
        // The port's entry decides over the plain host's.
        check(
            &[line(hp, ED, 2), line(h, ED, 1)],
            2222,
            (ED, 1),
            Mismatch { line: 1 },
        );
        check(&[line(hp, ED, 1), line(h, ED, 2)], 2222, (ED, 1), Match);
        // Any other key of the type among the deciding entries is a mismatch.
        check(
            &[line(hp, ED, 1), line("[*]:2222", ED, 2)],
            2222,
            (ED, 1),
            Mismatch { line: 2 },
        );
        check(
            &[line(h, ED, 2), line(h, ED, 1)],
            2222,
            (ED, 1),
            Mismatch { line: 1 },
        );
        // Keys of other types neither match nor conflict.
        check(&[line(hp, RSA, 2), line(hp, ED, 1)], 2222, (ED, 1), Match);
        check(&[line(hp, RSA, 1)], 2222, (ED, 1), Unknown);
        // Negation, other ports and other hosts.
        check(
            &[line(&format!("{hp},!{hp}"), ED, 1)],
            2222,
            (ED, 1),
            Unknown,
        );
        check(
            &[line("[sftp.example.edu]:22", ED, 1)],
            2222,
            (ED, 1),
            Unknown,
        );
        check(&[line(hp, ED, 1)], 22, (ED, 1), Unknown);
        check(&[line("other.example.edu", ED, 1)], 22, (ED, 1), Unknown);
        check(
            &[line(&hashed("other", b"salt"), ED, 1)],
            22,
            (ED, 1),
            Unknown,
        );
        // @revoked for this host, whatever else matches; not for another host.
        check(
            &[line(hp, ED, 1), format!("@revoked {}", line("*", ED, 1))],
            2222,
            (ED, 1),
            Revoked { line: 2 },
        );
        check(
            &[
                line(hp, ED, 1),
                format!("@revoked {}", line("other", ED, 1)),
            ],
            2222,
            (ED, 1),
            Match,
        );
        // Lines ssh skips are skipped.
        check(
            &[
                "# comment".into(),
                format!("@cert-authority {}", line("*", ED, 2)),
                "garbage".into(),
                format!("{hp} {ED} not-base64!"),
                line(hp, ED, 1),
            ],
            2222,
            (ED, 1),
            Match,
        );
    }

    #[test]
    fn key_types_come_in_ssh_order() {
        let file = KnownHosts::parse(
            &[
                line("[h]:2222", RSA, 1),
                line("[h]:2222", "ecdsa-sha2-nistp256", 1),
                line("h", ED, 1),
                line("other", "ssh-dss", 1),
            ]
            .join("\n"),
        );
        assert_eq!(file.key_types("h", 2222), [ED, "ecdsa-sha2-nistp256", RSA]);
        assert_eq!(file.key_types("h", 22), [ED]);
    }
}
