//! Leads: prospects not yet qualified. Conversion turns one into an account,
//! a contact and optionally an opportunity, in one transaction.

use chrono::NaiveDate;
use entity::{account, contact, lead, opportunity};
use rust_decimal::Decimal;
use sea_orm::ActiveValue;
use sea_orm::Set;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::accounts::AccountFields;
use super::contacts::ContactFields;
use super::opportunities::OpportunityFields;
use super::picklists::{self};
use super::records::{
    self, Record, RecordInput, apply, fields, map, option_keys, picklist, required, required_picklist, text,
};
use super::validate::{self, Patch};
use crate::auth::access::{FieldAccess, Op};
use crate::db::trace::ChangeType;
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

pub const ENTITY: &str = "Lead";
/// The status key conversion sets; only conversion may set it.
pub const CONVERTED: &str = "converted";

#[derive(Default, Clone)]
pub struct LeadFields {
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub company: Patch<String>,
    pub title: Patch<String>,
    pub phone: Patch<String>,
    pub email: Patch<String>,
    pub street: Patch<String>,
    pub city: Patch<String>,
    pub state: Patch<String>,
    pub postal_code: Patch<String>,
    pub website: Patch<String>,
    /// An option key or label; new leads start at the first status.
    pub status: Patch<String>,
    pub source: Patch<String>,
}

impl Record for lead::Entity {
    const NAME: &'static str = ENTITY;
    type Fields = LeadFields;

    crate::record_columns!(lead);

    crate::given_fields!(
        first_name => "firstName", last_name => "lastName", company => "company", title => "title",
        phone => "phone", email => "email", street => "street", city => "city", state => "state",
        postal_code => "postalCode", website => "website", status => "status", source => "source",
    );

    async fn snapshot(scope: &(impl Scope + Send), l: &lead::Model) -> ServiceResult<Map<String, Value>> {
        let [status, source] = option_keys(scope, [Some(l.status_id), l.source_id]).await?;
        Ok(fields(json!({
            "firstName": l.first_name, "lastName": l.last_name, "company": l.company, "title": l.title,
            "phone": l.phone, "email": l.email, "street": l.street, "city": l.city, "state": l.state,
            "postalCode": l.postal_code, "website": l.website, "status": status, "source": source,
            "convertedAccountId": l.converted_account_id, "convertedContactId": l.converted_contact_id,
            "convertedOpportunityId": l.converted_opportunity_id,
        })))
    }

    async fn fill(tx: &TenantTx, model: &mut lead::ActiveModel, f: LeadFields, creating: bool) -> ServiceResult<()> {
        if let ActiveValue::Unchanged(Some(_)) = model.converted_at {
            // Refusing says the lead is converted: only to those who may know.
            if tx.actor().access.can_see(ENTITY, "convertedAt") {
                return Err(ServiceError::Conflict("a converted lead cannot be changed".into()));
            }
            return Err(ServiceError::Conflict("this lead cannot be changed".into()));
        }
        apply(&mut model.first_name, text(f.first_name, "firstName", 100)?);
        if let Some(name) = required(f.last_name, "lastName", 100, creating)? {
            model.last_name = Set(name);
        }
        apply(&mut model.company, text(f.company, "company", 200)?);
        apply(&mut model.title, text(f.title, "title", 100)?);
        apply(&mut model.phone, map(f.phone, |v| validate::optional_phone("phone", Some(v)))?);
        apply(&mut model.email, map(f.email, |v| validate::optional_email("email", Some(v)))?);
        apply(&mut model.street, text(f.street, "street", 200)?);
        apply(&mut model.city, text(f.city, "city", 100)?);
        apply(&mut model.state, text(f.state, "state", 100)?);
        apply(&mut model.postal_code, text(f.postal_code, "postalCode", 20)?);
        apply(&mut model.website, map(f.website, |v| validate::optional_url("website", Some(v)))?);
        apply(&mut model.source_id, picklist(tx, ENTITY, "source", f.source).await?);
        if let Some(status) = required_picklist(tx, ENTITY, "status", f.status, creating, Some(&[CONVERTED])).await? {
            let options = picklists::options(tx, ENTITY, "status").await?;
            if options.iter().any(|o| o.id == status && o.key == CONVERTED) {
                return Err(ServiceError::invalid("status", "use convertLead to convert a lead"));
            }
            model.status_id = Set(status);
        }
        Ok(())
    }
}

/// What conversion creates besides the account and contact.
pub struct Conversion {
    /// Attach the contact (and opportunity) to this account instead of creating one.
    pub account_id: Option<Uuid>,
    /// Create an opportunity with this name (default: none).
    pub opportunity_name: Option<String>,
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub close_date: Option<NaiveDate>,
    /// Owner of everything created; defaults to the lead's owner.
    pub owner_id: Option<Uuid>,
}

pub struct Converted {
    pub lead: lead::Model,
    pub account: account::Model,
    pub contact: contact::Model,
    pub opportunity: Option<opportunity::Model>,
}

/// Converts a lead: creates (or reuses) the account, creates the contact and,
/// when asked, an opportunity, then marks the lead converted. One transaction:
/// CREATE traces for the new records and a CONVERT trace on the lead.
///
/// Converting changes the lead (its status), so it needs the update right and
/// an editable status; it copies only the lead fields the caller may see.
pub async fn convert(tx: &TenantTx, id: Uuid, conversion: Conversion) -> ServiceResult<Converted> {
    records::allowed::<lead::Entity>(tx, Op::Update)?;
    let access = tx.actor().access.clone();
    if access.field(ENTITY, "status") < FieldAccess::Edit {
        return Err(ServiceError::ForbiddenField {
            field: "status".into(),
            message: "converting sets the lead's status, which your profile may not edit".into(),
        });
    }
    let lead = records::get::<lead::Entity>(tx, id).await?;
    if lead.converted_at.is_some() {
        return Err(ServiceError::Conflict("the lead is already converted".into()));
    }
    let owner = Patch::Set(conversion.owner_id.unwrap_or(lead.owner_id));
    let seen = |field: &str| access.can_see(ENTITY, field);
    // A hidden lead field is not copied: the new records would show it.
    let visible = |field: &str, v: &Option<String>| if seen(field) { v.clone() } else { None };
    let set = |v: Option<String>| v.map_or(Patch::Keep, Patch::Set);
    if !seen("lastName") {
        return Err(ServiceError::ForbiddenField {
            field: "lastName".into(),
            message: "the contact takes the lead's last name, which your profile may not see".into(),
        });
    }
    let account = match conversion.account_id {
        Some(account_id) => records::get::<account::Entity>(tx, account_id)
            .await
            .map_err(|_| ServiceError::invalid("accountId", "no such account"))?,
        None => {
            let first_name = visible("firstName", &lead.first_name);
            let name = visible("company", &lead.company).unwrap_or_else(|| {
                [first_name.as_deref(), Some(lead.last_name.as_str())]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            // The account remembers where the lead came from.
            let [source] = option_keys(tx, [lead.source_id.filter(|_| seen("source"))]).await?;
            let origin = source.map_or_else(|| "lead".to_owned(), |s| format!("lead: {s}"));
            let fields = AccountFields {
                name: Patch::Set(name),
                phone: set(visible("phone", &lead.phone)),
                website: set(visible("website", &lead.website)),
                street: set(visible("street", &lead.street)),
                city: set(visible("city", &lead.city)),
                state: set(visible("state", &lead.state)),
                postal_code: set(visible("postalCode", &lead.postal_code)),
                origin: Patch::Set(origin),
                ..Default::default()
            };
            records::create::<account::Entity>(
                tx,
                RecordInput { owner: owner.clone(), external_id: Patch::Keep, fields, custom: None },
            )
            .await?
        }
    };
    let contact = records::create::<contact::Entity>(
        tx,
        RecordInput {
            owner: owner.clone(),
            external_id: Patch::Keep,
            fields: ContactFields {
                account_id: Patch::Set(account.id),
                first_name: set(visible("firstName", &lead.first_name)),
                last_name: Patch::Set(lead.last_name.clone()),
                title: set(visible("title", &lead.title)),
                email: set(visible("email", &lead.email)),
                phone: set(visible("phone", &lead.phone)),
                mobile: Patch::Keep,
            },
            custom: None,
        },
    )
    .await?;
    let opportunity = match conversion.opportunity_name {
        Some(name) => Some(
            records::create::<opportunity::Entity>(
                tx,
                RecordInput {
                    owner,
                    external_id: Patch::Keep,
                    fields: OpportunityFields {
                        account_id: Patch::Set(account.id),
                        name: Patch::Set(name),
                        stage: Patch::Keep,
                        amount: conversion.amount.map_or(Patch::Keep, Patch::Set),
                        currency: set(conversion.currency.clone()),
                        close_date: conversion.close_date.map_or(Patch::Keep, Patch::Set),
                    },
                    custom: None,
                },
            )
            .await
            .map_err(|e| match e {
                ServiceError::Invalid { field, message } if field == "name" => {
                    ServiceError::Invalid { field: "opportunityName".into(), message }
                }
                other => other,
            })?,
        ),
        None if conversion.amount.is_some() || conversion.close_date.is_some() || conversion.currency.is_some() => {
            return Err(ServiceError::invalid("opportunityName", "is required to create an opportunity"));
        }
        None => None,
    };
    let converted_status = picklists::options(tx, ENTITY, "status")
        .await?
        .into_iter()
        .find(|o| o.key == CONVERTED)
        .ok_or_else(|| ServiceError::Internal("the lead status picklist has no 'converted' option".into()))?;
    let mut model: lead::ActiveModel = lead.clone().into();
    model.status_id = Set(converted_status.id);
    model.converted_at = Set(Some(tx.now()));
    model.converted_account_id = Set(Some(account.id));
    model.converted_contact_id = Set(Some(contact.id));
    model.converted_opportunity_id = Set(opportunity.as_ref().map(|o| o.id));
    let lead = records::save::<lead::Entity>(tx, lead, model, ChangeType::Convert).await?;
    Ok(Converted { lead, account, contact, opportunity })
}
