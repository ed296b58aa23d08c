//! The fields of the core entities, as access rules, metadata, traces and
//! filters name them. One list per entity, so a field cannot be visible in one
//! place and hidden in another.

use crate::auth::access::{FieldAccess, Op, Permissions};
use crate::error::{ServiceError, ServiceResult};

/// What kind of value a field holds (and how frontends should render it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    LongText,
    Integer,
    Decimal,
    Boolean,
    Date,
    DateTime,
    Email,
    Phone,
    Url,
    Picklist,
    MultiPicklist,
    Reference,
}

/// One field of an entity.
#[derive(Debug)]
pub struct FieldDef {
    /// API name: input field, access rules, metadata, trace key.
    pub name: &'static str,
    pub label: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    /// Set by the server (conversion, completion): never EDIT for anyone.
    pub server_set: bool,
    /// For references: the entity (or entities) referred to.
    pub refers_to: &'static [&'static str],
    /// Trace keys holding the value when they differ from `name`.
    keys: &'static [&'static str],
    /// GraphQL output fields that reveal the value when they differ from `name`.
    outputs: &'static [&'static str],
    /// Database columns filters and orderings read.
    pub columns: &'static [&'static str],
}

const fn field(name: &'static str, label: &'static str, kind: FieldKind, column: &'static [&'static str]) -> FieldDef {
    FieldDef {
        name,
        label,
        kind,
        required: false,
        server_set: false,
        refers_to: &[],
        keys: &[],
        outputs: &[],
        columns: column,
    }
}

impl FieldDef {
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    const fn server_set(mut self) -> Self {
        self.server_set = true;
        self
    }

    const fn refers(mut self, to: &'static [&'static str], outputs: &'static [&'static str]) -> Self {
        self.refers_to = to;
        self.outputs = outputs;
        self
    }

    const fn outputs(mut self, outputs: &'static [&'static str]) -> Self {
        self.outputs = outputs;
        self
    }

    const fn keys(mut self, keys: &'static [&'static str]) -> Self {
        self.keys = keys;
        self
    }

    pub fn keys_or_name(&self) -> impl Iterator<Item = &'static str> {
        let own = if self.keys.is_empty() { Some(self.name) } else { None };
        own.into_iter().chain(self.keys.iter().copied())
    }

    pub fn outputs_or_name(&self) -> impl Iterator<Item = &'static str> {
        let own = if self.outputs.is_empty() { Some(self.name) } else { None };
        own.into_iter().chain(self.outputs.iter().copied())
    }

    pub fn is_picklist(&self) -> bool {
        matches!(self.kind, FieldKind::Picklist | FieldKind::MultiPicklist)
    }
}

/// An entity and its fields.
#[derive(Debug)]
pub struct EntityDef {
    pub name: &'static str,
    pub label: &'static str,
    pub fields: &'static [FieldDef],
}

impl EntityDef {
    pub fn field(&self, name: &str) -> Option<&'static FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The field a trace key belongs to.
    pub fn field_of_key(&self, key: &str) -> Option<&'static FieldDef> {
        self.fields.iter().find(|f| f.keys_or_name().any(|k| k == key))
    }

    /// The fields a database column belongs to.
    pub fn fields_of_column(&self, column: &str) -> impl Iterator<Item = &'static FieldDef> {
        self.fields.iter().filter(move |f| f.columns.contains(&column))
    }

    /// The fields a GraphQL output field reveals.
    pub fn fields_of_output<'a>(&'static self, output: &'a str) -> impl Iterator<Item = &'static FieldDef> + 'a {
        self.fields.iter().filter(move |f| f.outputs_or_name().any(|o| o == output))
    }
}

use FieldKind::{Date, DateTime, Decimal, Email, LongText, Phone, Picklist, Reference, Text, Url};

const ACCOUNT: &[FieldDef] = &[
    field("name", "Name", Text, &["name"]).required(),
    field("type", "Type", Picklist, &["type_id"]),
    field("sector", "Sector", Text, &["sector"]),
    field("origin", "Origin", Text, &["origin"]),
    field("purchasePotential", "Purchase potential", Picklist, &["purchase_potential_id"]),
    field("region", "Region", Text, &["region"]),
    field("phone", "Phone", Phone, &["phone"]),
    field("email", "Email", Email, &["email"]),
    field("website", "Website", Url, &["website"]),
    field("street", "Street", Text, &["street"]),
    field("city", "City", Text, &["city"]),
    field("state", "State", Text, &["state"]),
    field("postalCode", "Postal code", Text, &["postal_code"]),
    field("country", "Country", Text, &["country"]),
];

const CONTACT: &[FieldDef] = &[
    field("accountId", "Account", Reference, &["account_id"]).refers(&["Account"], &["account"]),
    field("firstName", "First name", Text, &["first_name"]),
    field("lastName", "Last name", Text, &["last_name"]).required(),
    field("title", "Title", Text, &["title"]),
    field("email", "Email", Email, &["email"]),
    field("phone", "Phone", Phone, &["phone"]),
    field("mobile", "Mobile", Phone, &["mobile"]),
];

const LEAD: &[FieldDef] = &[
    field("firstName", "First name", Text, &["first_name"]),
    field("lastName", "Last name", Text, &["last_name"]).required(),
    field("company", "Company", Text, &["company"]),
    field("title", "Title", Text, &["title"]),
    field("phone", "Phone", Phone, &["phone"]),
    field("email", "Email", Email, &["email"]),
    field("street", "Street", Text, &["street"]),
    field("city", "City", Text, &["city"]),
    field("state", "State", Text, &["state"]),
    field("postalCode", "Postal code", Text, &["postal_code"]),
    field("website", "Website", Url, &["website"]),
    field("status", "Status", Picklist, &["status_id"]).required(),
    field("source", "Source", Picklist, &["source_id"]),
    field("convertedAt", "Converted at", DateTime, &["converted_at"]).server_set(),
    field("convertedAccountId", "Converted account", Reference, &["converted_account_id"])
        .refers(&["Account"], &["convertedAccount"])
        .server_set(),
    field("convertedContactId", "Converted contact", Reference, &["converted_contact_id"])
        .refers(&["Contact"], &["convertedContact"])
        .server_set(),
    field("convertedOpportunityId", "Converted opportunity", Reference, &["converted_opportunity_id"])
        .refers(&["Opportunity"], &["convertedOpportunity"])
        .server_set(),
];

const OPPORTUNITY: &[FieldDef] = &[
    field("accountId", "Account", Reference, &["account_id"]).refers(&["Account"], &["account"]).required(),
    field("name", "Name", Text, &["name"]).required(),
    // The stage's change time tells when the stage moved: it is part of the stage.
    FieldDef { columns: &["stage_id", "stage_changed_at"], ..field("stage", "Stage", Picklist, &[]) }
        .outputs(&["stage", "stageChangedAt"])
        .required(),
    field("amount", "Amount", Decimal, &["amount_e4"]),
    field("currency", "Currency", Text, &["currency"]),
    field("closeDate", "Close date", Date, &["close_date"]),
];

const ACTIVITY: &[FieldDef] = &[
    field("kind", "Kind", Picklist, &["kind_id"]).required(),
    field("subject", "Subject", Text, &["subject"]).required(),
    field("objective", "Objective", Picklist, &["objective_id"]),
    field("result", "Result", Picklist, &["result_id"]),
    // `overdue` is computed from the due time and completion: it reveals both.
    field("dueAt", "Due at", DateTime, &["due_at"]).outputs(&["dueAt", "overdue"]),
    field("completedAt", "Completed at", DateTime, &["completed_at"]).outputs(&["completedAt", "overdue"]).server_set(),
    field("notes", "Notes", LongText, &["notes"]),
    FieldDef {
        columns: &["account_id", "contact_id", "lead_id", "opportunity_id"],
        ..field("target", "Concerns", Reference, &[])
    }
    .refers(&["Account", "Contact", "Lead", "Opportunity"], &["target"])
    .keys(&["accountId", "contactId", "leadId", "opportunityId"])
    .required(),
];

/// The core entities, in the order metadata lists them.
pub const CORE: &[EntityDef] = &[
    EntityDef { name: "Account", label: "Account", fields: ACCOUNT },
    EntityDef { name: "Contact", label: "Contact", fields: CONTACT },
    EntityDef { name: "Lead", label: "Lead", fields: LEAD },
    EntityDef { name: "Opportunity", label: "Opportunity", fields: OPPORTUNITY },
    EntityDef { name: "Activity", label: "Activity", fields: ACTIVITY },
];

pub fn entity(name: &str) -> Option<&'static EntityDef> {
    CORE.iter().find(|e| e.name == name)
}

/// An entity name from client input; unknown ones are BAD_USER_INPUT on `input`.
pub fn known_entity(input: &str, name: &str) -> ServiceResult<&'static EntityDef> {
    entity(name).ok_or_else(|| {
        let names: Vec<&str> = CORE.iter().map(|e| e.name).collect();
        ServiceError::invalid(input, format!("unknown entity {name:?}; known: {}", names.join(", ")))
    })
}

/// The access a profile has to a field, capped at READ for server-set ones.
pub fn access(permissions: &Permissions, entity: &str, field: &FieldDef) -> FieldAccess {
    let rule = permissions.field(entity, field.name);
    if field.server_set { rule.min(FieldAccess::Read) } else { rule }
}

/// A write naming a field needs EDIT; otherwise FORBIDDEN on `input`, saying
/// whether the field is hidden or read-only (both are the caller's own rules).
pub fn require_edit(access: FieldAccess, input: impl Into<String>) -> ServiceResult<()> {
    let message = match access {
        FieldAccess::Edit => return Ok(()),
        FieldAccess::Hidden => "is not visible to your profile",
        FieldAccess::Read => "is read-only for your profile",
    };
    Err(ServiceError::ForbiddenField { field: input.into(), message: message.into() })
}

/// An operation on an entity: reading what one may not read is NOT_FOUND (its
/// records do not exist for this profile); the other operations are FORBIDDEN.
pub fn require(permissions: &Permissions, entity: &str, op: Op) -> ServiceResult<()> {
    if permissions.allows(entity, op) {
        return Ok(());
    }
    match op {
        Op::Read => Err(ServiceError::NotFound),
        Op::Create | Op::Update | Op::Delete => {
            let verb = match op {
                Op::Create => "create",
                Op::Update => "update",
                _ => "delete",
            };
            Err(ServiceError::Forbidden(format!("your profile may not {verb} {entity} records")))
        }
    }
}
