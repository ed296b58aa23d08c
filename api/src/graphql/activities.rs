//! Activities: types, inputs and thin resolvers.

use std::sync::Arc;

use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, OneofObject, SimpleObject, Union,
};
use chrono::{DateTime, Utc};
use entity::activity::{self, Column};

use serde_json::{Map, Value};

use super::accounts::Account;
use super::contacts::Contact;
use super::context::{parse_id, request};
use super::leads::Lead;
use super::opportunities::Opportunity;
use super::plain::plain_record;
use super::records::{
    self, OrderBy, OrderDirection, PicklistValue, RecordFields, RecordFilterInput, connection, create_input, given,
    given_id, one, option, optional_id, patch, update_input,
};
use crate::error::GqlResult;
use crate::service::activities::{self as service, ActivityFields, Target};
use crate::service::records::Criteria;
use crate::service::upsert::{ExternalRef, Item, RefTarget};

/// A commercial action: a call, meeting, email, visit or task.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Activity {
    pub id: ID,
    /// Null (with a FORBIDDEN error) when the caller's profile hides it.
    pub subject: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    /// Set by `completeActivity`.
    pub completed_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    #[graphql(flatten)]
    pub record: RecordFields,
    #[graphql(skip)]
    pub model: Arc<activity::Model>,
}

/// The record an activity concerns.
#[derive(Union)]
pub enum ActivityTarget {
    Account(Account),
    Contact(Contact),
    Lead(Lead),
    Opportunity(Opportunity),
}

#[ComplexObject]
impl Activity {
    /// call, meeting, email, visit or task (tenant-editable).
    async fn kind(&self, ctx: &Context<'_>) -> GqlResult<Option<PicklistValue>> {
        option(ctx, Some(self.model.kind_id)).await
    }

    async fn objective(&self, ctx: &Context<'_>) -> GqlResult<Option<PicklistValue>> {
        option(ctx, self.model.objective_id).await
    }

    async fn result(&self, ctx: &Context<'_>) -> GqlResult<Option<PicklistValue>> {
        option(ctx, self.model.result_id).await
    }

    /// Due, not completed, and the due time has passed.
    async fn overdue(&self) -> Option<bool> {
        Some(self.model.completed_at.is_none() && self.model.due_at.is_some_and(|due| due < Utc::now()))
    }

    /// The account, contact, lead or opportunity it concerns (null when that record was deleted).
    async fn target(&self, ctx: &Context<'_>) -> GqlResult<Option<ActivityTarget>> {
        let loaders = request(ctx)?.loaders()?;
        Ok(match Target::of(&self.model) {
            Some(Target::Account(id)) => one(&loaders.accounts, Some(id)).await?.map(ActivityTarget::Account),
            Some(Target::Contact(id)) => one(&loaders.contacts, Some(id)).await?.map(ActivityTarget::Contact),
            Some(Target::Lead(id)) => one(&loaders.leads, Some(id)).await?.map(ActivityTarget::Lead),
            Some(Target::Opportunity(id)) => {
                one(&loaders.opportunities, Some(id)).await?.map(ActivityTarget::Opportunity)
            }
            None => None,
        })
    }
}

impl From<activity::Model> for Activity {
    fn from(a: activity::Model) -> Self {
        Self {
            id: a.id.into(),
            subject: Some(a.subject.clone()),
            due_at: a.due_at,
            completed_at: a.completed_at,
            notes: a.notes.clone(),
            record: RecordFields::of::<activity::Entity>(&a),
            model: Arc::new(a),
        }
    }
}

plain_record!(Activity {
    "subject" => subject, "dueAt" => due_at, "completedAt" => completed_at, "notes" => notes,
} links |_activity| {});

connection!(ActivityConnection, ActivityEdge, Activity, activity::Entity);

/// Exactly one record an activity concerns.
#[derive(OneofObject)]
pub enum ActivityTargetInput {
    #[graphql(name = "accountId")]
    Account(ID),
    #[graphql(name = "contactId")]
    Contact(ID),
    #[graphql(name = "leadId")]
    Lead(ID),
    #[graphql(name = "opportunityId")]
    Opportunity(ID),
}

impl ActivityTargetInput {
    fn parse(self) -> GqlResult<Target> {
        Ok(match self {
            Self::Account(id) => Target::Account(parse_id("target.accountId", &id)?),
            Self::Contact(id) => Target::Contact(parse_id("target.contactId", &id)?),
            Self::Lead(id) => Target::Lead(parse_id("target.leadId", &id)?),
            Self::Opportunity(id) => Target::Opportunity(parse_id("target.opportunityId", &id)?),
        })
    }
}

/// A new activity. Picklist fields take an option's key or label.
#[derive(InputObject)]
pub struct CreateActivityInput {
    pub kind: String,
    pub subject: String,
    pub objective: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub target: ActivityTargetInput,
    /// Defaults to the caller (required for API tokens).
    pub owner_id: Option<ID>,
    pub external_id: Option<String>,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

/// An activity's own fields in a change: omitted fields stay, `null` clears.
#[derive(InputObject, Default)]
pub struct ActivityChanges {
    pub kind: MaybeUndefined<String>,
    pub subject: MaybeUndefined<String>,
    pub objective: MaybeUndefined<String>,
    pub result: MaybeUndefined<String>,
    pub due_at: MaybeUndefined<DateTime<Utc>>,
    pub notes: MaybeUndefined<String>,
}

impl ActivityChanges {
    fn fields(self, target: Option<Target>) -> ActivityFields {
        ActivityFields {
            kind: patch(self.kind),
            subject: patch(self.subject),
            objective: patch(self.objective),
            result: patch(self.result),
            due_at: patch(self.due_at),
            notes: patch(self.notes),
            target,
        }
    }
}

/// Changes to an activity: omitted fields stay, `null` clears.
#[derive(InputObject, Default)]
pub struct UpdateActivityInput {
    #[graphql(flatten)]
    pub changes: ActivityChanges,
    /// Moves the activity to another record.
    pub target: Option<ActivityTargetInput>,
    pub owner_id: MaybeUndefined<ID>,
    pub external_id: MaybeUndefined<String>,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

/// The record an upserted activity concerns, by its external id.
#[derive(OneofObject)]
pub enum ActivityExternalTarget {
    #[graphql(name = "accountExternalId")]
    Account(String),
    #[graphql(name = "contactExternalId")]
    Contact(String),
    #[graphql(name = "leadExternalId")]
    Lead(String),
    #[graphql(name = "opportunityExternalId")]
    Opportunity(String),
}

/// One activity of `upsertActivities`, matched on `externalId`: omitted fields stay
/// (or start empty when the activity is new), `null` clears.
#[derive(InputObject)]
pub struct ActivityUpsertInput {
    pub external_id: String,
    /// What it concerns, by external id; required for a new activity unless `target` is given.
    pub target_external_id: Option<ActivityExternalTarget>,
    /// What it concerns, by CRM id.
    pub target: Option<ActivityTargetInput>,
    /// Defaults to the caller when the activity is new (required for API tokens).
    pub owner_id: Option<ID>,
    #[graphql(flatten)]
    pub changes: ActivityChanges,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

impl ActivityUpsertInput {
    pub fn item(self) -> GqlResult<Item<ActivityFields>> {
        let refs = self
            .target_external_id
            .map(|t| {
                let (field, target, external_id) = match t {
                    ActivityExternalTarget::Account(id) => {
                        ("targetExternalId.accountExternalId", RefTarget::Account, id)
                    }
                    ActivityExternalTarget::Contact(id) => {
                        ("targetExternalId.contactExternalId", RefTarget::Contact, id)
                    }
                    ActivityExternalTarget::Lead(id) => ("targetExternalId.leadExternalId", RefTarget::Lead, id),
                    ActivityExternalTarget::Opportunity(id) => {
                        ("targetExternalId.opportunityExternalId", RefTarget::Opportunity, id)
                    }
                };
                ExternalRef { field, external_id, target }
            })
            .into_iter()
            .collect();
        Ok(Item {
            external_id: self.external_id,
            owner: given_id("ownerId", self.owner_id.as_ref())?,
            fields: self.changes.fields(self.target.map(ActivityTargetInput::parse).transpose()?),
            refs,
            custom: self.custom_fields.map(|c| c.0),
        })
    }
}

/// Which activities to list; all conditions must hold.
#[derive(InputObject, Default)]
pub struct ActivityFilterInput {
    /// Option key or label.
    pub kind: Option<String>,
    pub objective: Option<String>,
    pub result: Option<String>,
    /// Case-insensitive substring of the subject.
    pub subject_contains: Option<String>,
    pub account: Option<ID>,
    pub contact: Option<ID>,
    pub lead: Option<ID>,
    pub opportunity: Option<ID>,
    /// Only completed (true) or open (false) activities.
    pub completed: Option<bool>,
    /// Only open activities whose due time has passed.
    pub overdue: Option<bool>,
    pub due_from: Option<DateTime<Utc>>,
    pub due_to: Option<DateTime<Utc>>,
    pub completed_from: Option<DateTime<Utc>>,
    pub completed_to: Option<DateTime<Utc>>,
    #[graphql(flatten)]
    pub record: RecordFilterInput,
}

impl ActivityFilterInput {
    fn criteria(self) -> GqlResult<Criteria<Column>> {
        let mut c = Criteria::default();
        c.picklist(Column::KindId, "kind", self.kind)
            .picklist(Column::ObjectiveId, "objective", self.objective)
            .picklist(Column::ResultId, "result", self.result)
            .contains(Column::Subject, self.subject_contains)
            .is(Column::AccountId, optional_id("filter.account", self.account.as_ref())?)
            .is(Column::ContactId, optional_id("filter.contact", self.contact.as_ref())?)
            .is(Column::LeadId, optional_id("filter.lead", self.lead.as_ref())?)
            .is(Column::OpportunityId, optional_id("filter.opportunity", self.opportunity.as_ref())?)
            .present(Column::CompletedAt, self.completed)
            .range(Column::DueAt, self.due_from, self.due_to)
            .range(Column::CompletedAt, self.completed_from, self.completed_to);
        self.record.add::<activity::Entity>(&mut c)?;
        c.0.extend(self.overdue.map(service::overdue));
        Ok(c)
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ActivityOrderField {
    DueAt,
    CompletedAt,
    Subject,
    CreatedAt,
    UpdatedAt,
    ExternalId,
}

impl From<ActivityOrderField> for Column {
    fn from(field: ActivityOrderField) -> Self {
        match field {
            ActivityOrderField::DueAt => Column::DueAt,
            ActivityOrderField::CompletedAt => Column::CompletedAt,
            ActivityOrderField::Subject => Column::Subject,
            ActivityOrderField::CreatedAt => Column::CreatedAt,
            ActivityOrderField::UpdatedAt => Column::UpdatedAt,
            ActivityOrderField::ExternalId => Column::ExternalId,
        }
    }
}

#[derive(Default)]
pub struct ActivityQuery;

#[Object]
impl ActivityQuery {
    async fn activity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Activity> {
        records::get::<activity::Entity, _>(ctx, &id).await
    }

    /// Activities, filtered, ordered and paged (default by due date).
    async fn activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 500 (default 50)")] first: Option<i32>,
        after: Option<String>,
        filter: Option<ActivityFilterInput>,
        order_by: Option<OrderBy<ActivityOrderField>>,
    ) -> GqlResult<ActivityConnection> {
        let criteria = filter.unwrap_or_default().criteria()?.0;
        let (field, direction) = OrderBy::or(order_by, ActivityOrderField::DueAt, OrderDirection::Asc)?;
        ActivityConnection::load(ctx, "activity", first, after, criteria, field, direction).await
    }
}

#[derive(Default)]
pub struct ActivityMutation;

#[Object]
impl ActivityMutation {
    /// Logs or plans an activity owned by the caller (or `ownerId`).
    async fn create_activity(&self, ctx: &Context<'_>, input: CreateActivityInput) -> GqlResult<Activity> {
        let fields = ActivityFields {
            kind: given(Some(input.kind)),
            subject: given(Some(input.subject)),
            objective: given(input.objective),
            result: given(None),
            due_at: given(input.due_at),
            notes: given(input.notes),
            target: Some(input.target.parse()?),
        };
        let input = create_input(input.owner_id.as_ref(), input.external_id, fields, input.custom_fields)?;
        records::create::<activity::Entity, _>(ctx, input).await
    }

    /// Changes the given fields. With `expectedVersion`, a stale version is a CONFLICT.
    async fn update_activity(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateActivityInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Activity> {
        let fields = input.changes.fields(input.target.map(ActivityTargetInput::parse).transpose()?);
        let input = update_input(input.owner_id, input.external_id, fields, input.custom_fields)?;
        records::update::<activity::Entity, _>(ctx, &id, input, expected_version).await
    }

    /// Marks the activity done now, with an optional result (key or label).
    async fn complete_activity(&self, ctx: &Context<'_>, id: ID, result: Option<String>) -> GqlResult<Activity> {
        let id = parse_id("id", &id)?;
        let done = request(ctx)?.write(move |tx| async move { service::complete(&tx, id, result).await }).await?;
        Ok(done.into())
    }

    /// Deletes an activity (softly: an admin can restore it).
    async fn delete_activity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Activity> {
        records::delete::<activity::Entity, _>(ctx, &id).await
    }

    /// Restores a deleted activity (admins only).
    async fn restore_activity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Activity> {
        records::restore::<activity::Entity, _>(ctx, &id).await
    }
}
