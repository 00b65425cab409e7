//! Java's verdict, less what Alma is known to load anyway, against check's.

use super::java::JavaVerdict;

/// What the JDK decides for Alma.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Java {
    /// Read and valid.
    Accepts,
    /// Only deviations Alma is documented to load (issue 17's samples): the root
    /// `<userRecords>` (MIT's production feeds), an empty value of a typed element (MIT,
    /// Berkeley), `<pref_full_name>` in a user (Berkeley). `check` warns about them.
    Tolerated(Vec<String>),
    /// A zip reader fails, the parser stops, or the schema is broken elsewhere.
    Rejects(String),
}

fn quoted_after<'a>(message: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &message[message.find(marker)? + marker.len()..];
    let end = rest.find('\'')?;
    Some(&rest[..end])
}

/// Java's verdict on a file.
pub fn java(v: &JavaVerdict) -> Java {
    if let Some((reader, message)) = v.zip.first() {
        return Java::Rejects(format!("{reader}: {message}"));
    }
    if let Some((entry, line, message)) = v.fatal.first() {
        return Java::Rejects(format!("{entry}:{line}: {message}"));
    }
    let mut tolerated = Vec::new();
    let mut i = 0;
    while i < v.schema.len() {
        let e = &v.schema[i];
        let m = e.message.as_str();
        if m.starts_with("cvc-elt.1.a") && e.path.is_empty() && m.contains("'userRecords'") {
            tolerated.push("root <userRecords>".to_owned());
            i += 1;
            continue;
        }
        // An empty value of a typed element: for a simple type Xerces follows with
        // cvc-type.3.1.3, for simple content with attributes with cvc-complex-type.2.2.
        if m.starts_with("cvc-datatype-valid.1.2.1: '' ")
            && let Some(next) = v.schema.get(i + 1)
            && (next
                .message
                .starts_with("cvc-type.3.1.3: The value '' of element")
                || next.message.starts_with("cvc-complex-type.2.2: Element"))
        {
            let element = quoted_after(&next.message, "lement '").unwrap_or_default();
            tolerated.push(format!("empty <{element}>"));
            i += 2;
            continue;
        }
        if m.starts_with("cvc-complex-type.2.4.")
            && quoted_after(m, "starting with element '") == Some("pref_full_name")
            && (e.path.ends_with("/user") || e.path == "user")
        {
            tolerated.push("<pref_full_name>".to_owned());
            i += 1;
            continue;
        }
        return Java::Rejects(format!("{}:{}: {m}", e.entry, e.line));
    }
    if tolerated.is_empty() {
        Java::Accepts
    } else {
        Java::Tolerated(tolerated)
    }
}

/// How the two sides compare on one mutant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Java rejects, check has no error.
    Missed,
    /// check has an error, Java accepts.
    Stricter,
    BothReject,
    BothAccept,
}

pub fn outcome(java: &Java, check_errors: &[String]) -> Outcome {
    match (matches!(java, Java::Rejects(_)), !check_errors.is_empty()) {
        (true, true) => Outcome::BothReject,
        (true, false) => Outcome::Missed,
        (false, true) => Outcome::Stricter,
        (false, false) => Outcome::BothAccept,
    }
}
