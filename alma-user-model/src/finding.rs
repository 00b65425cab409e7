//! Findings: what a check or a lenient reader has to say about a record, for people and
//! for machines. Shared by record validation here and by `check` in `alma-sis-package`.

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Alma will reject the record or the file.
    Error,
    /// Alma will load it, but probably not as intended.
    Warning,
    /// Worth knowing.
    Info,
}

impl std::fmt::Display for Severity {
    /// `error`, `warning` or `info`, as findings are printed (`error[E-CHAR]: ...`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// Escapes `text` for HTML element content and attribute values (`&`, `<`, `>`, `"`, `'`),
/// as the HTML reports that list findings show values.
///
/// ```
/// assert_eq!(alma_user_model::escape_html("<a href='x'>&</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
/// ```
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A position in a file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Position {
    /// 1-based line.
    pub line: u64,
    /// 1-based column (in bytes).
    pub column: u64,
}

/// One finding about a record or a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable code such as `E-CHAR` or `W-NO-PREFERRED-EMAIL`.
    pub code: String,
    /// How bad it is.
    pub severity: Severity,
    /// The user's primary id, when the finding is about one user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_id: Option<String>,
    /// The field path, e.g. `contact_info/emails/email[0]/email_address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Where in the file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// What is wrong and what to do, for people. Never contains personal data beyond ids.
    pub message: String,
}

impl Finding {
    /// A finding with a code, severity and message; the rest is filled by the builders.
    pub fn new(code: impl Into<String>, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            code: code.into(),
            severity,
            primary_id: None,
            field: None,
            position: None,
            message: message.into(),
        }
    }

    /// Sets the user's primary id.
    pub fn for_user(mut self, primary_id: impl Into<String>) -> Self {
        self.primary_id = Some(primary_id.into());
        self
    }

    /// Sets the field path.
    pub fn at_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Sets the position.
    pub fn at(mut self, line: u64, column: u64) -> Self {
        self.position = Some(Position { line, column });
        self
    }
}
