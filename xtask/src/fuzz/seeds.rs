//! The files mutants are made from: the demo's output, the real-world samples in
//! `../shared/alma/samples`, and documents made here to reach every part of the schema
//! (the output-only and researcher elements the demo never writes).

use std::path::Path;

use anyhow::Context as _;

/// One seed document.
#[derive(Debug, Clone)]
pub struct Seed {
    pub name: String,
    pub xml: Vec<u8>,
    /// How often it is picked, relative to the others.
    pub weight: usize,
}

/// A user with every element `rest_user.xsd` declares, each with a valid value.
pub const FULL_USER: &str = r#"  <user link="https://example.edu/users/fs1">
    <record_type desc="Public">PUBLIC</record_type>
    <primary_id>fs1</primary_id>
    <first_name>Ada</first_name>
    <middle_name>B</middle_name>
    <last_name>Lovelace</last_name>
    <full_name>Ada B Lovelace</full_name>
    <pin_number>1234</pin_number>
    <user_title desc="Dr">DR</user_title>
    <job_category desc="Faculty">FAC</job_category>
    <job_description>Mathematics</job_description>
    <gender desc="Female">FEMALE</gender>
    <user_group desc="Faculty">FACULTY</user_group>
    <campus_code desc="Main">MAIN</campus_code>
    <web_site_url>https://example.edu/~ada</web_site_url>
    <cataloger_level desc="None">00</cataloger_level>
    <preferred_language desc="English">en</preferred_language>
    <birth_date>1915-12-10Z</birth_date>
    <expiry_date>2027-06-30Z</expiry_date>
    <purge_date>2028-06-30Z</purge_date>
    <account_type desc="External">EXTERNAL</account_type>
    <external_id>SIS</external_id>
    <password>secret12</password>
    <force_password_change>TRUE</force_password_change>
    <status desc="Active">ACTIVE</status>
    <status_date>2026-01-01Z</status_date>
    <last_patron_activity_date>2026-02-01Z</last_patron_activity_date>
    <requests link="https://example.edu/r">0</requests>
    <loans link="https://example.edu/l">3</loans>
    <fees link="https://example.edu/f">1.5</fees>
    <contact_info>
      <addresses>
        <address preferred="true" segment_type="External">
          <line1>1 Analytical Way</line1>
          <line2>Suite 2</line2>
          <city>London</city>
          <state_province>LDN</state_province>
          <postal_code>N1 1AA</postal_code>
          <country desc="United Kingdom">GBR</country>
          <address_note>Term-time</address_note>
          <start_date>2025-09-01Z</start_date>
          <end_date>2027-06-30Z</end_date>
          <address_types>
            <address_type desc="Home">home</address_type>
          </address_types>
        </address>
      </addresses>
      <emails>
        <email preferred="true" segment_type="External">
          <email_address>ada@example.edu</email_address>
          <description>work</description>
          <email_types>
            <email_type desc="School">school</email_type>
          </email_types>
        </email>
      </emails>
      <phones>
        <phone preferred="true" preferred_sms="false" segment_type="External">
          <phone_number>+44 20 7946 0000</phone_number>
          <phone_types>
            <phone_type desc="Mobile">mobile</phone_type>
          </phone_types>
        </phone>
      </phones>
    </contact_info>
    <user_identifiers>
      <user_identifier segment_type="External">
        <id_type desc="Barcode">BARCODE</id_type>
        <value>FS0001</value>
        <note>card</note>
        <status>ACTIVE</status>
      </user_identifier>
    </user_identifiers>
    <user_roles>
      <user_role>
        <status desc="Active">ACTIVE</status>
        <scope desc="Main library">MAIN</scope>
        <role_type desc="Patron">200</role_type>
        <expiry_date>2027-06-30Z</expiry_date>
        <parameters>
          <parameter>
            <type desc="Service unit">ServiceUnit</type>
            <scope desc="Main">MAIN</scope>
            <value desc="Circulation">CIRC</value>
          </parameter>
        </parameters>
      </user_role>
    </user_roles>
    <user_blocks>
      <user_block segment_type="External">
        <block_type desc="General">GENERAL</block_type>
        <block_description desc="Lost card">LOST</block_description>
        <block_status>ACTIVE</block_status>
        <block_note>reported</block_note>
        <created_by>sis</created_by>
        <created_date>2026-01-01T10:00:00Z</created_date>
        <expiry_date>2026-12-31T00:00:00.000Z</expiry_date>
        <item_loan_id>123</item_loan_id>
      </user_block>
    </user_blocks>
    <user_notes>
      <user_note segment_type="External">
        <note_type desc="Circulation">CIRCULATION</note_type>
        <note_text>Prefers email</note_text>
        <user_viewable>true</user_viewable>
        <popup_note>false</popup_note>
        <created_by>sis</created_by>
        <created_date>2026-01-01T10:00:00+01:00</created_date>
      </user_note>
    </user_notes>
    <user_statistics>
      <user_statistic segment_type="External">
        <statistic_category desc="Mathematics">MATH</statistic_category>
        <category_type desc="Department">DEPT</category_type>
        <statistic_note>from SIS</statistic_note>
      </user_statistic>
    </user_statistics>
    <proxy_for_users>
      <proxy_for_user link="https://example.edu/users/p1">
        <primary_id>p1</primary_id>
        <full_name>Charles Babbage</full_name>
      </proxy_for_user>
    </proxy_for_users>
    <rs_libraries>
      <rs_library>
        <code desc="Main">MAIN</code>
      </rs_library>
    </rs_libraries>
    <library_notices>
      <library_notice>
        <code desc="Newsletter">NEWS</code>
        <value>true</value>
      </library_notice>
    </library_notices>
    <source_link_id>2541663001021</source_link_id>
    <source_institution_code>01EXAMPLE</source_institution_code>
    <linking_id>5131558001021</linking_id>
    <pref_first_name>Ada</pref_first_name>
    <pref_middle_name>B</pref_middle_name>
    <pref_last_name>Lovelace</pref_last_name>
    <pref_name_suffix>FRS</pref_name_suffix>
    <is_researcher>true</is_researcher>
    <researcher>
      <researcher_first_name>Ada</researcher_first_name>
      <researcher_middle_name>B</researcher_middle_name>
      <researcher_last_name>Lovelace</researcher_last_name>
      <researcher_suffix>FRS</researcher_suffix>
      <researcher_title desc="Doctor">DR</researcher_title>
      <profile_image_url>https://example.edu/a.png</profile_image_url>
      <photo_url>https://example.edu/p.png</photo_url>
      <display_title>Countess</display_title>
      <position desc="Professor">PROF</position>
      <portal_profile desc="Public">PUBLIC</portal_profile>
      <auto_capture>true</auto_capture>
      <research_center>MATH</research_center>
      <previous_affiliated>false</previous_affiliated>
      <default_publication_language desc="English">eng</default_publication_language>
      <researcher_alternate_emails>
        <researcher_alternate_email>
          <email_address>ada@example.org</email_address>
        </researcher_alternate_email>
      </researcher_alternate_emails>
      <researcher_organization_affiliations>
        <researcher_organization_affiliation>
          <organization_code>MATH</organization_code>
          <organization_name>Mathematics</organization_name>
          <start_date>2020-01-01Z</start_date>
          <end_date>2030-01-01Z</end_date>
          <position desc="Professor">PROF</position>
          <title>Chair</title>
          <positionOrder>1</positionOrder>
        </researcher_organization_affiliation>
      </researcher_organization_affiliations>
      <researcher_previous_organization_affiliations>
        <researcher_previous_organization_affiliation>
          <organization_code>ENG</organization_code>
        </researcher_previous_organization_affiliation>
      </researcher_previous_organization_affiliations>
      <researcher_external_organization_affiliations>
        <researcher_external_organization_affiliation>
          <organization_name>Royal Society</organization_name>
        </researcher_external_organization_affiliation>
      </researcher_external_organization_affiliations>
      <researcher_previous_external_organization_affiliations>
        <researcher_previous_external_organization_affiliation>
          <title>Fellow</title>
        </researcher_previous_external_organization_affiliation>
      </researcher_previous_external_organization_affiliations>
      <researcher_name_variants>
        <researcher_name_variant>
          <first_name>Augusta</first_name>
          <middle_name>Ada</middle_name>
          <last_name>King</last_name>
          <name_suffix>Countess</name_suffix>
        </researcher_name_variant>
      </researcher_name_variants>
      <researcher_engagement_types>
        <researcher_engagement_type>
          <researcher_engagement desc="Teaching">TEACH</researcher_engagement>
          <engagement_end_date>2030-01-01Z</engagement_end_date>
        </researcher_engagement_type>
      </researcher_engagement_types>
      <researcher_research_topics>
        <researcher_research_topic desc="Computing">COMP</researcher_research_topic>
      </researcher_research_topics>
      <researcher_keywords>
        <researcher_keyword>
          <value>engines</value>
        </researcher_keyword>
      </researcher_keywords>
      <researcher_associations>
        <researcher_association>
          <value>LMS</value>
        </researcher_association>
      </researcher_associations>
      <researcher_languages>
        <researcher_language desc="English">eng</researcher_language>
      </researcher_languages>
      <researcher_honors>
        <researcher_honor>
          <organization_code>RS</organization_code>
          <organization_name>Royal Society</organization_name>
          <title>Fellow</title>
          <time_period>1840s</time_period>
        </researcher_honor>
      </researcher_honors>
      <researcher_educations>
        <researcher_education>
          <organization_code>HOME</organization_code>
          <organization_name>Home tutors</organization_name>
          <degree>None</degree>
          <from_year>1825</from_year>
          <to_year>1835</to_year>
          <field_of_study>Mathematics</field_of_study>
          <additional_details>with De Morgan</additional_details>
          <suppress_from_public_portal>false</suppress_from_public_portal>
        </researcher_education>
      </researcher_educations>
      <researcher_descriptions>
        <researcher_description>
          <description>Notes on the Analytical Engine</description>
        </researcher_description>
      </researcher_descriptions>
      <researcher_webpages>
        <researcher_webpage>
          <url>https://example.edu/ada</url>
          <title>Home</title>
          <description>Home page</description>
          <type>personal</type>
        </researcher_webpage>
      </researcher_webpages>
      <user_identifiers>
        <user_identifier>
          <id_type>ORCID</id_type>
          <value>0000-0001-0000-0001</value>
        </user_identifier>
      </user_identifiers>
    </researcher>
  </user>
"#;

/// A small valid user, for the smallest reproducers.
pub const TINY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n  <user>\n    \
    <primary_id>t1</primary_id>\n    <last_name>Tiny</last_name>\n    \
    <expiry_date>2027-06-30Z</expiry_date>\n  </user>\n</users>\n";

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// The `n` users of a `<users>` document starting at the `from`th, in a document of their own.
fn slice_users(xml: &str, from: usize, n: usize) -> String {
    let mut out = format!("{DECL}<users>\n");
    let mut rest = xml;
    let mut i = 0;
    while let Some(start) = rest.find("<user>") {
        let Some(len) = rest[start..].find("</user>") else {
            break;
        };
        let end = start + len + "</user>".len();
        if i >= from && i < from + n {
            out.push_str("  ");
            out.push_str(&rest[start..end]);
            out.push('\n');
        }
        i += 1;
        rest = &rest[end..];
    }
    out.push_str("</users>\n");
    out
}

/// Every seed; the samples are read from `samples` (`../shared/alma/samples`).
pub fn seeds(root: &Path, samples: &Path) -> anyhow::Result<Vec<Seed>> {
    let demo_path = root.join("examples/demo/expected/users.xml");
    let demo = std::fs::read_to_string(&demo_path)
        .with_context(|| format!("reading {}", demo_path.display()))?;
    let mut seeds = vec![
        Seed {
            name: "demo-head".into(),
            xml: slice_users(&demo, 0, 3).into_bytes(),
            weight: 6,
        },
        Seed {
            name: "demo-middle".into(),
            xml: slice_users(&demo, 120, 2).into_bytes(),
            weight: 4,
        },
        Seed {
            name: "demo".into(),
            xml: demo.into_bytes(),
            weight: 1,
        },
        Seed {
            name: "full-schema".into(),
            xml: format!("{DECL}<users total_record_count=\"1\">\n{FULL_USER}</users>\n")
                .into_bytes(),
            weight: 10,
        },
        Seed {
            name: "full-schema-userRecords".into(),
            xml: format!(
                "<?xml version=\"1.0\"?>\n<userRecords xmlns:xsi=\
                 \"http://www.w3.org/2001/XMLSchema-instance\" \
                 xsi:noNamespaceSchemaLocation=\"rest_users.xsd\">\n{FULL_USER}</userRecords>\n"
            )
            .into_bytes(),
            weight: 3,
        },
        Seed {
            name: "tiny".into(),
            xml: TINY.as_bytes().to_vec(),
            weight: 3,
        },
    ];
    for (name, weight) in [
        ("mit_staff_patrons.xml", 3),
        ("mit_student_patrons.xml", 3),
        ("berkeley_ucpath_expected_xml_1.xml", 3),
        ("berkeley_sis_expected_xml.xml", 3),
    ] {
        let path = samples.join(name);
        let xml = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        seeds.push(Seed {
            name: name.trim_end_matches(".xml").replace('_', "-"),
            xml,
            weight,
        });
    }
    for file in crate::corpus::corpus() {
        if matches!(
            file.name,
            "duplicate-ids.xml" | "internal-account.xml" | "missing-segment-children.xml"
        ) {
            seeds.push(Seed {
                name: format!("corpus-{}", file.name.trim_end_matches(".xml")),
                xml: file.bytes,
                weight: 1,
            });
        }
    }
    Ok(seeds)
}
