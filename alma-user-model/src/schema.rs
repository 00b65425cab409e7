//! `rest_user.xsd` (with `rest_researcher.xsd`) as data: every element's content model,
//! attributes and simple types, and the lexical rules of its simple types as the JDK's
//! validator (Xerces, XML Schema 1.0) applies them.
//!
//! [`UserReader`](crate::UserReader) reads the elements Alma loads into a [`User`](crate::User);
//! everything else it meets inside a user (output-only elements such as `user_roles`,
//! `proxy_for_users`, `researcher`) is validated against this table, so a document the
//! schema rejects is never passed silently.

/// A simple type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simple {
    /// `xs:string`, with a `maxLength` facet (in UTF-16 code units, as Java counts) or none.
    String(Option<usize>),
    /// `xs:date`.
    Date,
    /// `xs:dateTime`.
    DateTime,
    /// `xs:boolean`.
    Boolean,
    /// `xs:int`.
    Int,
    /// `xs:long`.
    Long,
    /// `xs:float`.
    Float,
}

impl Simple {
    /// The type's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Simple::String(_) => "xs:string",
            Simple::Date => "xs:date",
            Simple::DateTime => "xs:dateTime",
            Simple::Boolean => "xs:boolean",
            Simple::Int => "xs:int",
            Simple::Long => "xs:long",
            Simple::Float => "xs:float",
        }
    }

    /// Whether `value` is a valid lexical form (whitespace collapsed first, except for
    /// strings, whose length counts every UTF-16 unit).
    pub fn is_valid(self, value: &str) -> bool {
        match self {
            Simple::String(max) => max.is_none_or(|m| utf16_len(value) <= m),
            Simple::Date => parse_date(collapse(value)).is_some(),
            Simple::DateTime => parse_date_time(collapse(value)).is_some(),
            Simple::Boolean => parse_boolean(value).is_some(),
            Simple::Int => parse_integer(collapse(value)).is_some_and(|v| i32::try_from(v).is_ok()),
            Simple::Long => parse_integer(collapse(value)).is_some(),
            Simple::Float => is_float(collapse(value)),
        }
    }
}

/// An attribute.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: Simple,
}

/// A child element in a content model.
#[derive(Debug, Clone, Copy)]
pub struct Child {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: &'static Type,
    /// `minOccurs`.
    pub min: u32,
    /// `maxOccurs` (`u32::MAX`: unbounded).
    pub max: u32,
}

/// What an element may contain.
#[derive(Debug, Clone, Copy)]
pub enum Content {
    /// Text of a simple type.
    Simple(Simple),
    /// `xs:all`: each child at most once, in any order.
    All(&'static [Child]),
    /// `xs:sequence`: the children in this order.
    Sequence(&'static [Child]),
}

/// An element's type.
#[derive(Debug)]
pub struct Type {
    /// The content model.
    pub content: Content,
    /// The attributes it declares.
    pub attrs: &'static [Attr],
}

const fn simple(ty: Simple) -> Type {
    Type {
        content: Content::Simple(ty),
        attrs: &[],
    }
}

const fn one(name: &'static str, ty: &'static Type) -> Child {
    Child {
        name,
        ty,
        min: 0,
        max: 1,
    }
}

const fn required(name: &'static str, ty: &'static Type) -> Child {
    Child {
        name,
        ty,
        min: 1,
        max: 1,
    }
}

const fn many(name: &'static str, ty: &'static Type) -> Child {
    Child {
        name,
        ty,
        min: 0,
        max: u32::MAX,
    }
}

static S4: Type = simple(Simple::String(Some(4)));
static S20: Type = simple(Simple::String(Some(20)));
static S255: Type = simple(Simple::String(Some(255)));
static S600: Type = simple(Simple::String(Some(600)));
static S1000: Type = simple(Simple::String(Some(1000)));
static S2000: Type = simple(Simple::String(Some(2000)));
static STRING: Type = simple(Simple::String(None));
static DATE: Type = simple(Simple::Date);
static DATE_TIME: Type = simple(Simple::DateTime);
static BOOLEAN: Type = simple(Simple::Boolean);
static INT: Type = simple(Simple::Int);

const DESC_4000: &[Attr] = &[Attr {
    name: "desc",
    ty: Simple::String(Some(4000)),
}];
const DESC_255: &[Attr] = &[Attr {
    name: "desc",
    ty: Simple::String(Some(255)),
}];
const LINK: &[Attr] = &[Attr {
    name: "link",
    ty: Simple::String(None),
}];
const SEGMENT: &[Attr] = &[Attr {
    name: "segment_type",
    ty: Simple::String(Some(10)),
}];
const PREFERRED: &[Attr] = &[
    Attr {
        name: "preferred",
        ty: Simple::Boolean,
    },
    Attr {
        name: "segment_type",
        ty: Simple::String(Some(10)),
    },
];

/// A code: `string255Length` with a `desc` of up to 4000.
static CODE: Type = Type {
    content: Content::Simple(Simple::String(Some(255))),
    attrs: DESC_4000,
};
/// `string50Length` with a `desc` of up to 255 (`campus_code`, role `scope`, `rs_library`).
static CODE50: Type = Type {
    content: Content::Simple(Simple::String(Some(50))),
    attrs: DESC_255,
};
/// `string255Length` with a `desc` of up to 255 (parameter `scope`, library notice `code`).
static CODE255_DESC255: Type = Type {
    content: Content::Simple(Simple::String(Some(255))),
    attrs: DESC_255,
};
static INT_LINK: Type = Type {
    content: Content::Simple(Simple::Int),
    attrs: LINK,
};
static FLOAT_LINK: Type = Type {
    content: Content::Simple(Simple::Float),
    attrs: LINK,
};

static PARAMETER: Type = Type {
    content: Content::All(&[
        one("type", &CODE),
        one("scope", &CODE255_DESC255),
        one("value", &CODE),
    ]),
    attrs: &[],
};
static PARAMETERS: Type = Type {
    content: Content::Sequence(&[many("parameter", &PARAMETER)]),
    attrs: &[],
};
static USER_ROLE: Type = Type {
    content: Content::All(&[
        one("status", &CODE),
        one("scope", &CODE50),
        one("role_type", &CODE),
        one("expiry_date", &DATE),
        one("parameters", &PARAMETERS),
    ]),
    attrs: &[],
};
static USER_ROLES: Type = Type {
    content: Content::Sequence(&[many("user_role", &USER_ROLE)]),
    attrs: &[],
};
static USER_STATISTIC: Type = Type {
    content: Content::All(&[
        required("statistic_category", &CODE),
        one("category_type", &CODE),
        one("statistic_note", &S2000),
    ]),
    attrs: SEGMENT,
};
static USER_STATISTICS: Type = Type {
    content: Content::Sequence(&[many("user_statistic", &USER_STATISTIC)]),
    attrs: &[],
};
static PROXY_FOR_USER: Type = Type {
    content: Content::Sequence(&[one("primary_id", &S255), one("full_name", &S600)]),
    attrs: LINK,
};
static PROXY_FOR_USERS: Type = Type {
    content: Content::Sequence(&[many("proxy_for_user", &PROXY_FOR_USER)]),
    attrs: &[],
};
static USER_NOTE: Type = Type {
    content: Content::All(&[
        required("note_type", &CODE),
        one("note_text", &S2000),
        required("user_viewable", &BOOLEAN),
        required("popup_note", &BOOLEAN),
        one("created_by", &S255),
        one("created_date", &DATE_TIME),
    ]),
    attrs: SEGMENT,
};
static USER_NOTES: Type = Type {
    content: Content::Sequence(&[many("user_note", &USER_NOTE)]),
    attrs: &[],
};
static USER_BLOCK: Type = Type {
    content: Content::All(&[
        one("block_type", &CODE),
        required("block_description", &CODE),
        one("block_status", &S255),
        one("block_note", &S2000),
        one("created_by", &S255),
        one("created_date", &DATE_TIME),
        one("expiry_date", &DATE_TIME),
        one("item_loan_id", &STRING),
    ]),
    attrs: SEGMENT,
};
static USER_BLOCKS: Type = Type {
    content: Content::Sequence(&[many("user_block", &USER_BLOCK)]),
    attrs: &[],
};
static EMAIL_TYPES: Type = Type {
    content: Content::Sequence(&[many("email_type", &CODE)]),
    attrs: &[],
};
static EMAIL: Type = Type {
    content: Content::All(&[
        required("email_address", &S255),
        one("description", &S255),
        required("email_types", &EMAIL_TYPES),
    ]),
    attrs: PREFERRED,
};
static EMAILS: Type = Type {
    content: Content::Sequence(&[many("email", &EMAIL)]),
    attrs: &[],
};
static PHONE_TYPES: Type = Type {
    content: Content::Sequence(&[many("phone_type", &CODE)]),
    attrs: &[],
};
static PHONE: Type = Type {
    content: Content::All(&[
        required("phone_number", &S255),
        required("phone_types", &PHONE_TYPES),
    ]),
    attrs: &[
        Attr {
            name: "preferred",
            ty: Simple::Boolean,
        },
        Attr {
            name: "preferred_sms",
            ty: Simple::Boolean,
        },
        Attr {
            name: "segment_type",
            ty: Simple::String(Some(10)),
        },
    ],
};
static PHONES: Type = Type {
    content: Content::Sequence(&[many("phone", &PHONE)]),
    attrs: &[],
};
static ADDRESS_TYPES: Type = Type {
    content: Content::Sequence(&[many("address_type", &CODE)]),
    attrs: &[],
};
static ADDRESS: Type = Type {
    content: Content::All(&[
        one("line1", &STRING),
        one("line2", &S255),
        one("line3", &S255),
        one("line4", &S255),
        one("line5", &S255),
        one("city", &S255),
        one("state_province", &S255),
        one("postal_code", &S255),
        one("country", &CODE),
        one("address_note", &S1000),
        one("start_date", &DATE),
        one("end_date", &DATE),
        required("address_types", &ADDRESS_TYPES),
    ]),
    attrs: PREFERRED,
};
static ADDRESSES: Type = Type {
    content: Content::Sequence(&[many("address", &ADDRESS)]),
    attrs: &[],
};
static CONTACT_INFO: Type = Type {
    content: Content::Sequence(&[
        one("addresses", &ADDRESSES),
        one("emails", &EMAILS),
        one("phones", &PHONES),
    ]),
    attrs: &[],
};
static USER_IDENTIFIER: Type = Type {
    content: Content::All(&[
        required("id_type", &CODE),
        required("value", &S255),
        one("note", &S2000),
        one("status", &S255),
    ]),
    attrs: SEGMENT,
};
static USER_IDENTIFIERS: Type = Type {
    content: Content::Sequence(&[many("user_identifier", &USER_IDENTIFIER)]),
    attrs: &[],
};
static RS_LIBRARY: Type = Type {
    content: Content::All(&[one("code", &CODE50)]),
    attrs: &[],
};
static RS_LIBRARIES: Type = Type {
    content: Content::Sequence(&[many("rs_library", &RS_LIBRARY)]),
    attrs: &[],
};
static LIBRARY_NOTICE: Type = Type {
    content: Content::All(&[one("code", &CODE255_DESC255), one("value", &BOOLEAN)]),
    attrs: &[],
};
static LIBRARY_NOTICES: Type = Type {
    content: Content::Sequence(&[many("library_notice", &LIBRARY_NOTICE)]),
    attrs: &[],
};

static ALTERNATE_EMAIL: Type = Type {
    content: Content::Sequence(&[required("email_address", &S255)]),
    attrs: &[],
};
static ALTERNATE_EMAILS: Type = Type {
    content: Content::Sequence(&[many("researcher_alternate_email", &ALTERNATE_EMAIL)]),
    attrs: &[],
};
static AFFILIATION: Type = Type {
    content: Content::All(&[
        one("organization_code", &S255),
        one("organization_name", &S255),
        one("start_date", &DATE),
        one("end_date", &DATE),
        one("position", &CODE),
        one("title", &S255),
        one("positionOrder", &S255),
    ]),
    attrs: &[],
};
static AFFILIATIONS: Type = Type {
    content: Content::Sequence(&[many("researcher_organization_affiliation", &AFFILIATION)]),
    attrs: &[],
};
static PREVIOUS_AFFILIATIONS: Type = Type {
    content: Content::Sequence(&[many(
        "researcher_previous_organization_affiliation",
        &AFFILIATION,
    )]),
    attrs: &[],
};
static EXTERNAL_AFFILIATIONS: Type = Type {
    content: Content::Sequence(&[many(
        "researcher_external_organization_affiliation",
        &AFFILIATION,
    )]),
    attrs: &[],
};
static PREVIOUS_EXTERNAL_AFFILIATIONS: Type = Type {
    content: Content::Sequence(&[many(
        "researcher_previous_external_organization_affiliation",
        &AFFILIATION,
    )]),
    attrs: &[],
};
static NAME_VARIANT: Type = Type {
    content: Content::Sequence(&[
        one("first_name", &S255),
        one("middle_name", &S255),
        one("last_name", &S255),
        one("name_suffix", &S255),
    ]),
    attrs: &[],
};
static NAME_VARIANTS: Type = Type {
    content: Content::Sequence(&[many("researcher_name_variant", &NAME_VARIANT)]),
    attrs: &[],
};
static ENGAGEMENT_TYPE: Type = Type {
    content: Content::Sequence(&[
        one("researcher_engagement", &CODE),
        one("engagement_end_date", &DATE),
    ]),
    attrs: &[],
};
static ENGAGEMENT_TYPES: Type = Type {
    content: Content::Sequence(&[Child {
        name: "researcher_engagement_type",
        ty: &ENGAGEMENT_TYPE,
        min: 0,
        max: 5,
    }]),
    attrs: &[],
};
static RESEARCH_TOPICS: Type = Type {
    content: Content::Sequence(&[many("researcher_research_topic", &CODE)]),
    attrs: &[],
};
static VALUE: Type = Type {
    content: Content::Sequence(&[required("value", &STRING)]),
    attrs: &[],
};
static KEYWORDS: Type = Type {
    content: Content::Sequence(&[many("researcher_keyword", &VALUE)]),
    attrs: &[],
};
static ASSOCIATIONS: Type = Type {
    content: Content::Sequence(&[many("researcher_association", &VALUE)]),
    attrs: &[],
};
static LANGUAGES: Type = Type {
    content: Content::Sequence(&[many("researcher_language", &CODE)]),
    attrs: &[],
};
static HONOR: Type = Type {
    content: Content::Sequence(&[
        one("organization_code", &S255),
        one("organization_name", &S255),
        one("title", &S255),
        one("time_period", &S255),
    ]),
    attrs: &[],
};
static HONORS: Type = Type {
    content: Content::Sequence(&[many("researcher_honor", &HONOR)]),
    attrs: &[],
};
static EDUCATION: Type = Type {
    content: Content::Sequence(&[
        one("organization_code", &S255),
        one("organization_name", &S255),
        one("degree", &S255),
        one("from_year", &INT),
        one("to_year", &INT),
        one("field_of_study", &S255),
        one("additional_details", &S255),
        one("suppress_from_public_portal", &BOOLEAN),
    ]),
    attrs: &[],
};
static EDUCATIONS: Type = Type {
    content: Content::Sequence(&[many("researcher_education", &EDUCATION)]),
    attrs: &[],
};
static DESCRIPTION: Type = Type {
    content: Content::Sequence(&[required("description", &STRING)]),
    attrs: &[],
};
static DESCRIPTIONS: Type = Type {
    content: Content::Sequence(&[many("researcher_description", &DESCRIPTION)]),
    attrs: &[],
};
static WEBPAGE: Type = Type {
    content: Content::Sequence(&[
        required("url", &STRING),
        one("title", &STRING),
        one("description", &STRING),
        one("type", &STRING),
    ]),
    attrs: &[],
};
static WEBPAGES: Type = Type {
    content: Content::Sequence(&[many("researcher_webpage", &WEBPAGE)]),
    attrs: &[],
};
static RESEARCHER: Type = Type {
    content: Content::All(&[
        one("researcher_first_name", &S255),
        one("researcher_middle_name", &S255),
        one("researcher_last_name", &S255),
        one("researcher_suffix", &S255),
        one("researcher_title", &CODE),
        one("profile_image_url", &STRING),
        one("photo_url", &STRING),
        one("display_title", &S255),
        one("position", &CODE),
        one("portal_profile", &CODE),
        one("auto_capture", &S20),
        one("research_center", &S20),
        one("previous_affiliated", &BOOLEAN),
        one("default_publication_language", &CODE),
        one("researcher_alternate_emails", &ALTERNATE_EMAILS),
        one("researcher_organization_affiliations", &AFFILIATIONS),
        one(
            "researcher_previous_organization_affiliations",
            &PREVIOUS_AFFILIATIONS,
        ),
        one(
            "researcher_external_organization_affiliations",
            &EXTERNAL_AFFILIATIONS,
        ),
        one(
            "researcher_previous_external_organization_affiliations",
            &PREVIOUS_EXTERNAL_AFFILIATIONS,
        ),
        one("researcher_name_variants", &NAME_VARIANTS),
        one("researcher_engagement_types", &ENGAGEMENT_TYPES),
        one("researcher_research_topics", &RESEARCH_TOPICS),
        one("researcher_keywords", &KEYWORDS),
        one("researcher_associations", &ASSOCIATIONS),
        one("researcher_languages", &LANGUAGES),
        one("researcher_honors", &HONORS),
        one("researcher_educations", &EDUCATIONS),
        one("researcher_descriptions", &DESCRIPTIONS),
        one("researcher_webpages", &WEBPAGES),
        one("user_identifiers", &USER_IDENTIFIERS),
    ]),
    attrs: &[],
};

/// `<user>`'s children, in the schema's declaration order.
pub static USER_CHILDREN: &[Child] = &[
    one("record_type", &CODE),
    one("primary_id", &S255),
    one("first_name", &S255),
    one("middle_name", &S255),
    one("last_name", &S255),
    one("full_name", &S600),
    one("pin_number", &S255),
    one("user_title", &CODE),
    one("job_category", &CODE),
    one("job_description", &S255),
    one("gender", &CODE),
    one("user_group", &CODE),
    one("campus_code", &CODE50),
    one("web_site_url", &S255),
    one("cataloger_level", &CODE),
    one("preferred_language", &CODE),
    one("birth_date", &DATE),
    one("expiry_date", &DATE),
    one("purge_date", &DATE),
    one("account_type", &CODE),
    one("external_id", &S255),
    one("password", &S255),
    one("force_password_change", &S4),
    one("status", &CODE),
    one("status_date", &DATE),
    one("last_patron_activity_date", &DATE),
    one("requests", &INT_LINK),
    one("loans", &INT_LINK),
    one("fees", &FLOAT_LINK),
    one("contact_info", &CONTACT_INFO),
    one("user_identifiers", &USER_IDENTIFIERS),
    one("user_roles", &USER_ROLES),
    one("user_blocks", &USER_BLOCKS),
    one("user_notes", &USER_NOTES),
    one("user_statistics", &USER_STATISTICS),
    one("proxy_for_users", &PROXY_FOR_USERS),
    one("rs_libraries", &RS_LIBRARIES),
    one("library_notices", &LIBRARY_NOTICES),
    one("source_link_id", &STRING),
    one("source_institution_code", &STRING),
    one("linking_id", &STRING),
    one("pref_first_name", &S255),
    one("pref_middle_name", &S255),
    one("pref_last_name", &S255),
    one("pref_name_suffix", &S255),
    one("is_researcher", &BOOLEAN),
    one("researcher", &RESEARCHER),
];

/// The `maxLength` of the string at `path` below `<user>`: element names joined by `/`, an
/// attribute last as `@name` (`first_name`, `contact_info/addresses/address/line2`,
/// `user_group/@desc`). `None` for a string without one or a value of another type.
///
/// This is how the writer and record validation learn Alma's field lengths: evaluated in a
/// `const` block, a path the schema does not have fails the build.
pub const fn max_length(path: &str) -> Option<usize> {
    match walk(path).2 {
        Some(Simple::String(max)) => max,
        _ => None,
    }
}

/// The children of the element at `path` below `<user>` (`""`: `<user>`'s own), in the
/// schema's declaration order; none for an element of simple content. Like
/// [`max_length`], a path the schema lacks panics (fails the build in a `const`).
pub const fn children(path: &str) -> &'static [Child] {
    walk(path).0
}

/// Follows `path` from `<user>`: the children, attributes and simple type where it ends.
const fn walk(path: &str) -> (&'static [Child], &'static [Attr], Option<Simple>) {
    match try_walk(path.as_bytes()) {
        Ok(end) => end,
        Err(Missing::Element) => panic!("no such element in rest_user.xsd"),
        Err(Missing::Attribute) => panic!("no such attribute in rest_user.xsd"),
    }
}

/// What [`try_walk`] did not find.
enum Missing {
    Element,
    Attribute,
}

/// The children, attributes and simple type at the end of `path` (element names joined by
/// `/`, each maybe followed by an index `[n]` that is skipped, an attribute last as `@name`).
#[allow(clippy::type_complexity)]
const fn try_walk(
    path: &[u8],
) -> Result<(&'static [Child], &'static [Attr], Option<Simple>), Missing> {
    let mut children: &'static [Child] = USER_CHILDREN;
    let mut attrs: &'static [Attr] = &[];
    let mut simple = None;
    let mut start = 0;
    while start < path.len() {
        let mut end = start;
        while end < path.len() && path[end] != b'/' {
            end += 1;
        }
        let mut step = path.split_at(end).0.split_at(start).1;
        if let [rest @ .., b']'] = step {
            let mut open = rest.len();
            while open > 0 && rest[open - 1] != b'[' {
                open -= 1;
            }
            if open > 0 {
                step = rest.split_at(open - 1).0;
            }
        }
        if let [b'@', name @ ..] = step {
            let mut i = 0;
            loop {
                if i >= attrs.len() {
                    return Err(Missing::Attribute);
                }
                if bytes_eq(attrs[i].name.as_bytes(), name) {
                    break;
                }
                i += 1;
            }
            (children, attrs, simple) = (&[], &[], Some(attrs[i].ty));
        } else {
            let mut i = 0;
            loop {
                if i >= children.len() {
                    return Err(Missing::Element);
                }
                if bytes_eq(children[i].name.as_bytes(), step) {
                    break;
                }
                i += 1;
            }
            let ty = children[i].ty;
            attrs = ty.attrs;
            (children, simple) = match ty.content {
                Content::Simple(simple) => (&[] as &[Child], Some(simple)),
                Content::All(c) | Content::Sequence(c) => (c, None),
            };
        }
        start = end + 1;
    }
    Ok((children, attrs, simple))
}

/// The `maxLength` of the `desc` attribute of the code element at `path`, a field path as
/// the reader keeps it (`contact_info/addresses/address[0]/country`); `None` when the schema
/// has no such element or its `desc` no length.
pub(crate) fn desc_length(path: &str) -> Option<usize> {
    match try_walk(path.as_bytes()) {
        Ok((_, attrs, _)) => attrs.iter().find_map(|a| match (a.name, a.ty) {
            ("desc", Simple::String(max)) => max,
            _ => None,
        }),
        Err(_) => None,
    }
}

/// The `maxLength`s of a code-table value and of its `desc` attribute.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CodeLengths {
    pub(crate) code: Option<usize>,
    pub(crate) desc: Option<usize>,
}

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The type of `<user>`'s child `name`.
pub fn user_child(name: &str) -> Option<&'static Type> {
    USER_CHILDREN.iter().find(|c| c.name == name).map(|c| c.ty)
}

/// True for an element whose content is elements only, wherever it occurs (its whitespace
/// is not a value): the root, `<user>` and every complex type above.
pub fn is_container(name: &str) -> bool {
    matches!(
        name,
        "users"
            | "userRecords"
            | "user"
            | "contact_info"
            | "addresses"
            | "address"
            | "address_types"
            | "emails"
            | "email"
            | "email_types"
            | "phones"
            | "phone"
            | "phone_types"
            | "user_identifiers"
            | "user_identifier"
            | "user_roles"
            | "user_role"
            | "parameters"
            | "parameter"
            | "user_blocks"
            | "user_block"
            | "user_notes"
            | "user_note"
            | "user_statistics"
            | "user_statistic"
            | "proxy_for_users"
            | "proxy_for_user"
            | "rs_libraries"
            | "rs_library"
            | "library_notices"
            | "library_notice"
            | "researcher"
            | "researcher_alternate_emails"
            | "researcher_alternate_email"
            | "researcher_organization_affiliations"
            | "researcher_organization_affiliation"
            | "researcher_previous_organization_affiliations"
            | "researcher_previous_organization_affiliation"
            | "researcher_external_organization_affiliations"
            | "researcher_external_organization_affiliation"
            | "researcher_previous_external_organization_affiliations"
            | "researcher_previous_external_organization_affiliation"
            | "researcher_name_variants"
            | "researcher_name_variant"
            | "researcher_engagement_types"
            | "researcher_engagement_type"
            | "researcher_research_topics"
            | "researcher_keywords"
            | "researcher_keyword"
            | "researcher_associations"
            | "researcher_association"
            | "researcher_languages"
            | "researcher_honors"
            | "researcher_honor"
            | "researcher_educations"
            | "researcher_education"
            | "researcher_descriptions"
            | "researcher_description"
            | "researcher_webpages"
            | "researcher_webpage"
    )
}

// ---- lexical rules ------------------------------------------------------------------------

/// XML Schema's whitespace collapse at the ends (space, tab, CR, LF only; never NBSP).
pub fn collapse(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

/// The length Java's validator measures: UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// `xs:boolean`: `true`, `false`, `1`, `0` (whitespace collapsed).
pub fn parse_boolean(s: &str) -> Option<bool> {
    match collapse(s) {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// An `xs:integer` lexical form (optional sign, ASCII digits) as an `i64`; `None` when it
/// is not one or does not fit.
pub fn parse_integer(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// `xs:float` as Xerces reads it: `INF`, `-INF`, `NaN`, or a decimal with an optional
/// exponent (`1`, `-1.5`, `.5`, `5.`, `1e5`).
pub fn is_float(s: &str) -> bool {
    if matches!(s, "INF" | "-INF" | "NaN") {
        return true;
    }
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// The parts of an `xs:date`: year (any number of digits, at least four, no leading zero
/// beyond four, never 0000), month, day, and whether a time zone was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateParts {
    /// The year (negative: BCE).
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to the month's last day.
    pub day: u32,
    /// The time zone's offset from UTC in minutes, when one (`Z` or `±hh:mm`) was given.
    pub zone: Option<i32>,
}

/// Reads `-?yyyy-mm-dd` at the start of `s`: the parts and the rest.
fn date_part(s: &str) -> Option<(i64, u32, u32, &str)> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let year_len = body.bytes().take_while(u8::is_ascii_digit).count();
    if year_len < 4 || (year_len > 4 && body.starts_with('0')) {
        return None;
    }
    let year: i64 = body[..year_len].parse().ok()?;
    // Xerces keeps the year in an int.
    if year > i64::from(i32::MAX) || year == 0 {
        return None;
    }
    let rest = body[year_len..].strip_prefix('-')?;
    let two = |s: &str| -> Option<u32> {
        let d = s.get(..2)?;
        d.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| d.parse().ok())?
    };
    let month = two(rest)?;
    let rest = rest[2..].strip_prefix('-')?;
    let day = two(rest)?;
    let year = if negative { -year } else { year };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some((year, month, day, &rest[2..]))
}

/// Xerces' calendar (the proleptic Gregorian leap rule applied to the year as written).
fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// `Z`, `+hh:mm`, `-hh:mm` (hours up to 14, and 14 only with :00), or nothing: `Some(None)`
/// for no zone, `Some(Some(minutes))` for one, `None` when it is malformed.
fn zone(s: &str) -> Option<Option<i32>> {
    match s {
        "" => Some(None),
        "Z" => Some(Some(0)),
        _ => {
            let b = s.as_bytes();
            if b.len() != 6 || !matches!(b[0], b'+' | b'-') || b[3] != b':' {
                return None;
            }
            let digits = |r: std::ops::Range<usize>| {
                b[r.clone()]
                    .iter()
                    .all(u8::is_ascii_digit)
                    .then(|| s[r].parse::<u32>().ok())?
            };
            let (h, m) = (digits(1..3)?, digits(4..6)?);
            let minutes = i32::try_from(h * 60 + m).ok()?;
            let sign = if b[0] == b'-' { -1 } else { 1 };
            (h <= 14 && m <= 59 && (h < 14 || m == 0)).then_some(Some(sign * minutes))
        }
    }
}

/// `xs:date`, after whitespace collapse.
pub fn parse_date(s: &str) -> Option<DateParts> {
    let (year, month, day, rest) = date_part(s)?;
    let zone = zone(rest)?;
    Some(DateParts {
        year,
        month,
        day,
        zone,
    })
}

/// `xs:dateTime` (`date` `T` `hh:mm:ss(.s+)?` zone?), after whitespace collapse: the date
/// parts, the time in seconds since midnight (24:00:00 allowed), whole-second nanoseconds.
pub fn parse_date_time(s: &str) -> Option<(DateParts, u32, u32)> {
    let (year, month, day, rest) = date_part(s)?;
    let rest = rest.strip_prefix('T')?;
    let b = rest.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| rest[r].parse().ok())?
    };
    let (h, m, sec) = (num(0..2)?, num(3..5)?, num(6..8)?);
    let mut at = 8;
    let mut nanos = 0u32;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        let len = b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        let frac = &rest[start..start + len.min(9)];
        nanos = frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32);
        at = start + len;
    }
    let zone = zone(&rest[at..])?;
    let valid = (h < 24 && m < 60 && sec < 60) || (h == 24 && m == 0 && sec == 0 && nanos == 0);
    if !valid {
        return None;
    }
    Some((
        DateParts {
            year,
            month,
            day,
            zone,
        },
        h * 3600 + m * 60 + sec,
        nanos,
    ))
}

#[cfg(test)]
mod tests {
    use super::max_length;

    /// The lengths as `rest_user.xsd` states them (its `string255Length`, `string50Length`,
    /// ... types and the `desc` attributes), read off the schema by hand.
    #[test]
    fn field_lengths_are_the_schemas() {
        for (path, max) in [
            ("primary_id", Some(255)),
            ("full_name", Some(600)),
            ("user_group", Some(255)),
            ("user_group/@desc", Some(4000)),
            ("campus_code", Some(50)),
            ("campus_code/@desc", Some(255)),
            ("contact_info/addresses/address/line1", None),
            ("contact_info/addresses/address/address_note", Some(1000)),
            ("contact_info/addresses/address/@segment_type", Some(10)),
            ("contact_info/addresses/address/@preferred", None),
            (
                "contact_info/phones/phone/phone_types/phone_type/@desc",
                Some(4000),
            ),
            ("user_identifiers/user_identifier/note", Some(2000)),
            ("library_notices/library_notice/code/@desc", Some(255)),
            ("rs_libraries/rs_library/code", Some(50)),
            ("expiry_date", None),
        ] {
            assert_eq!(max_length(path), max, "{path}");
        }
    }

    /// The reader looks up a code's `desc` length by its field path, indexes and all.
    #[test]
    fn desc_lengths_by_field_path() {
        for (path, max) in [
            ("user_group", Some(4000)),
            ("campus_code", Some(255)),
            ("record_type", Some(4000)),
            ("contact_info/addresses/address[0]/country", Some(4000)),
            ("rs_libraries/rs_library[2]/code", Some(255)),
            ("library_notices/library_notice[10]/code", Some(255)),
            (
                "user_statistics/user_statistic[0]/category_type",
                Some(4000),
            ),
            ("primary_id", None),
            ("contact_info/addresses/address[0]/line6", None),
            ("no_such_element", None),
        ] {
            assert_eq!(super::desc_length(path), max, "{path}");
        }
    }

    #[test]
    #[should_panic(expected = "no such element")]
    fn a_path_the_schema_lacks_is_refused() {
        max_length("contact_info/addresses/address/line6");
    }
}
