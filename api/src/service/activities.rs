//! Activities: calls, meetings, emails, visits and tasks, each concerning one record.

use chrono::{DateTime, Utc};
use entity::activity::Column;
use entity::{account, activity, contact, lead, opportunity};
use sea_orm::ColumnTrait;
use sea_orm::Set;
use sea_orm::sea_query::Condition;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::adoption::counters::OverdueSpan;
use super::picklists::{self, Choosable};
use super::records::{
    self, Criterion, Record, apply, fields, option_keys, optional, picklist, reference, required, required_picklist,
    text,
};
use super::validate::{self, Patch};
use crate::auth::access::Op;
use crate::db::trace::ChangeType;
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

pub const ENTITY: &str = "Activity";

/// The one record an activity concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Account(Uuid),
    Contact(Uuid),
    Lead(Uuid),
    Opportunity(Uuid),
}

impl Target {
    pub fn of(a: &activity::Model) -> Option<Self> {
        a.account_id
            .map(Self::Account)
            .or(a.contact_id.map(Self::Contact))
            .or(a.lead_id.map(Self::Lead))
            .or(a.opportunity_id.map(Self::Opportunity))
    }
}

#[derive(Default, Clone)]
pub struct ActivityFields {
    /// call, meeting, email, visit or task (key or label). Required on create.
    pub kind: Patch<String>,
    pub subject: Patch<String>,
    pub objective: Patch<String>,
    pub result: Patch<String>,
    pub due_at: Patch<DateTime<Utc>>,
    pub notes: Patch<String>,
    /// Replaces what the activity concerns. Required on create.
    pub target: Option<Target>,
}

impl Record for activity::Entity {
    const NAME: &'static str = ENTITY;
    type Fields = ActivityFields;

    crate::record_columns!(activity);

    fn given(f: &ActivityFields) -> Vec<&'static str> {
        let mut given = Vec::new();
        let patches = [
            ("kind", f.kind.is_keep()),
            ("subject", f.subject.is_keep()),
            ("objective", f.objective.is_keep()),
            ("result", f.result.is_keep()),
            ("dueAt", f.due_at.is_keep()),
            ("notes", f.notes.is_keep()),
            ("target", f.target.is_none()),
        ];
        given.extend(patches.into_iter().filter(|(_, keep)| !keep).map(|(name, _)| name));
        given
    }

    fn overdue(a: &activity::Model) -> Option<OverdueSpan> {
        OverdueSpan::of(a.owner_id, a.due_at, a.created_at, a.completed_at, a.deleted_at)
    }

    async fn snapshot(scope: &(impl Scope + Send), a: &activity::Model) -> ServiceResult<Map<String, Value>> {
        let [kind, objective, result] = option_keys(scope, [Some(a.kind_id), a.objective_id, a.result_id]).await?;
        Ok(fields(json!({
            "kind": kind, "subject": a.subject, "objective": objective, "result": result,
            "dueAt": a.due_at, "completedAt": a.completed_at, "notes": a.notes,
            "accountId": a.account_id, "contactId": a.contact_id, "leadId": a.lead_id,
            "opportunityId": a.opportunity_id,
        })))
    }

    async fn fill(
        tx: &TenantTx,
        model: &mut activity::ActiveModel,
        f: ActivityFields,
        creating: bool,
    ) -> ServiceResult<()> {
        if let Some(kind) = required_picklist(tx, ENTITY, "kind", f.kind, creating, None).await? {
            model.kind_id = Set(kind);
        }
        if let Some(subject) = required(f.subject, "subject", 200, creating)? {
            model.subject = Set(subject);
        }
        apply(&mut model.objective_id, picklist(tx, ENTITY, "objective", f.objective).await?);
        apply(&mut model.result_id, picklist(tx, ENTITY, "result", f.result).await?);
        let due_at = optional(f.due_at);
        if let Patch::Set(Some(at)) = &due_at {
            validate::datetime("dueAt", *at)?;
        }
        apply(&mut model.due_at, due_at);
        apply(&mut model.notes, text(f.notes, "notes", 10_000)?);
        match f.target {
            None if creating => {
                return Err(ServiceError::invalid(
                    "target",
                    "is required: the account, contact, lead or opportunity the activity concerns",
                ));
            }
            None => {}
            Some(target) => {
                let (account, contact, lead, opportunity) = match target {
                    Target::Account(id) => {
                        (Some(reference::<account::Entity>(tx, "target.accountId", id).await?), None, None, None)
                    }
                    Target::Contact(id) => {
                        (None, Some(reference::<contact::Entity>(tx, "target.contactId", id).await?), None, None)
                    }
                    Target::Lead(id) => {
                        (None, None, Some(reference::<lead::Entity>(tx, "target.leadId", id).await?), None)
                    }
                    Target::Opportunity(id) => (
                        None,
                        None,
                        None,
                        Some(reference::<opportunity::Entity>(tx, "target.opportunityId", id).await?),
                    ),
                };
                model.account_id = Set(account);
                model.contact_id = Set(contact);
                model.lead_id = Set(lead);
                model.opportunity_id = Set(opportunity);
            }
        }
        Ok(())
    }
}

/// Open activities whose due time has passed (`true`), or all others (`false`).
pub fn overdue(wanted: bool) -> Criterion<Column> {
    let now = Utc::now();
    // Spelled out both ways: NOT(...) over a NULL due date would be NULL, not true.
    Criterion::Where(
        &["dueAt", "completedAt"],
        if wanted {
            Condition::all().add(Column::CompletedAt.is_null()).add(Column::DueAt.lt(now))
        } else {
            Condition::any()
                .add(Column::CompletedAt.is_not_null())
                .add(Column::DueAt.is_null())
                .add(Column::DueAt.gte(now))
        },
    )
}

/// Marks an activity done now, with an optional result; a COMPLETE trace.
/// Completing it twice is a CONFLICT (the first completion stands).
/// Completing is an update: it needs the update right, and an editable result
/// when one is given (checked before anything about the record is told).
pub async fn complete(tx: &TenantTx, id: Uuid, result: Option<String>) -> ServiceResult<activity::Model> {
    records::allowed::<activity::Entity>(tx, Op::Update)?;
    if result.is_some() {
        super::catalog::require_edit(tx.actor().access.field(ENTITY, "result"), "result")?;
    }
    let before = records::get::<activity::Entity>(tx, id).await?;
    if before.completed_at.is_some() {
        return Err(ServiceError::Conflict("the activity is already completed".into()));
    }
    let mut model: activity::ActiveModel = before.clone().into();
    if let Some(result) = result {
        model.result_id =
            Set(Some(picklists::resolve(tx, ENTITY, "result", "result", &result, Choosable::ActiveOnly).await?));
    }
    model.completed_at = Set(Some(tx.now()));
    let done = records::save::<activity::Entity>(tx, before, model, ChangeType::Complete).await?;
    super::points::award(tx, super::points::Rule::ActivityCompleted, ENTITY, id).await?;
    Ok(done)
}
