//! Bulk upserts for integrators: thin resolvers over `service::upsert`.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use entity::{account, activity, contact, lead, opportunity};
use serde_json::{Map, Value};

use super::accounts::AccountUpsertInput;
use super::activities::ActivityUpsertInput;
use super::contacts::ContactUpsertInput;
use super::context::request;
use super::leads::LeadUpsertInput;
use super::opportunities::OpportunityUpsertInput;
use super::records::given_id;
use crate::error::GqlResult;
use crate::service::custom_records;
use crate::service::upsert::{self, Item, Report, Upsertable};

/// What happens when some records of a batch fail.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpsertMode {
    /// Write every valid record and report the failed ones.
    #[default]
    Partial,
    /// Write nothing when any record fails.
    AllOrNothing,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum UpsertStatus {
    Created,
    Updated,
    /// The record already held these values: nothing written, no trace.
    Unchanged,
    Failed,
}

/// What became of one input record (results come in input order).
#[derive(SimpleObject)]
pub struct UpsertRecordResult {
    /// Its position in the input list.
    pub index: i32,
    pub external_id: String,
    /// The CRM id (not for FAILED).
    pub id: Option<ID>,
    pub status: UpsertStatus,
    /// FAILED: the input field at fault, when one is.
    pub field: Option<String>,
    /// FAILED: why.
    pub message: Option<String>,
    /// FAILED: a stable code (BAD_USER_INPUT, CONFLICT, ...).
    pub code: Option<String>,
    /// Other records that look like this one (same normalized account name; same
    /// email for contacts and leads), for a person to review. Nothing is merged.
    pub duplicates: Vec<ID>,
}

#[derive(SimpleObject)]
pub struct UpsertPayload {
    pub results: Vec<UpsertRecordResult>,
    /// False for `validateOnly`, or when ALL_OR_NOTHING met a failure: nothing was written.
    pub written: bool,
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub failed: i32,
}

impl From<Report> for UpsertPayload {
    fn from(report: Report) -> Self {
        let count = |s: upsert::Status| {
            i32::try_from(report.outcomes.iter().filter(|o| o.status == s).count()).unwrap_or(i32::MAX)
        };
        let (created, updated, unchanged, failed) = (
            count(upsert::Status::Created),
            count(upsert::Status::Updated),
            count(upsert::Status::Unchanged),
            count(upsert::Status::Failed),
        );
        let results = report
            .outcomes
            .into_iter()
            .map(|o| UpsertRecordResult {
                index: i32::try_from(o.index).unwrap_or(i32::MAX),
                external_id: o.external_id,
                id: o.id.map(Into::into),
                status: match o.status {
                    upsert::Status::Created => UpsertStatus::Created,
                    upsert::Status::Updated => UpsertStatus::Updated,
                    upsert::Status::Unchanged => UpsertStatus::Unchanged,
                    upsert::Status::Failed => UpsertStatus::Failed,
                },
                field: o.field,
                message: o.message,
                code: o.code.map(str::to_owned),
                duplicates: o.duplicates.into_iter().map(Into::into).collect(),
            })
            .collect();
        Self { results, written: report.written, created, updated, unchanged, failed }
    }
}

fn mode_of(mode: Option<UpsertMode>) -> upsert::Mode {
    match mode.unwrap_or_default() {
        UpsertMode::Partial => upsert::Mode::Partial,
        UpsertMode::AllOrNothing => upsert::Mode::AllOrNothing,
    }
}

/// One record of `upsertRecords`, matched on `externalId`: omitted values stay
/// (or start empty when the record is new), `null` clears.
#[derive(InputObject)]
pub struct RecordUpsertInput {
    pub external_id: String,
    /// Defaults to the caller when the record is new (required for API tokens).
    pub owner_id: Option<ID>,
    /// Field values by API name.
    pub values: Option<Json<Map<String, Value>>>,
}

async fn run<R: Upsertable>(
    ctx: &Context<'_>,
    items: Vec<Item<R::Fields>>,
    mode: Option<UpsertMode>,
    validate_only: Option<bool>,
) -> GqlResult<UpsertPayload>
where
    R::Fields: Clone,
{
    let validate_only = validate_only.unwrap_or(false);
    let mode = mode_of(mode);
    let report = request(ctx)?.import(move |tx| upsert::upsert::<R>(tx, items, mode, validate_only)).await?;
    Ok(report.into())
}

#[derive(Default)]
pub struct UpsertMutation;

#[Object]
impl UpsertMutation {
    /// Creates or updates up to 5,000 records of a custom entity matched on
    /// `externalId`, traced as IMPORT.
    async fn upsert_records(
        &self,
        ctx: &Context<'_>,
        entity: String,
        records: Vec<RecordUpsertInput>,
        #[graphql(desc = "PARTIAL when omitted")] mode: Option<UpsertMode>,
        #[graphql(desc = "Run the whole batch, report, and write nothing")] validate_only: Option<bool>,
    ) -> GqlResult<UpsertPayload> {
        let items = records
            .into_iter()
            .map(|r| {
                Ok(custom_records::Item {
                    owner: given_id("ownerId", r.owner_id.as_ref())?,
                    external_id: r.external_id,
                    values: r.values.map(|v| v.0),
                })
            })
            .collect::<GqlResult<_>>()?;
        let (mode, validate_only) = (mode_of(mode), validate_only.unwrap_or(false));
        let report = request(ctx)?
            .import(move |tx| async move { custom_records::upsert(tx, &entity, items, mode, validate_only).await })
            .await?;
        Ok(report.into())
    }

    /// Creates or updates up to 5,000 accounts matched on `externalId`, traced as IMPORT.
    async fn upsert_accounts(
        &self,
        ctx: &Context<'_>,
        records: Vec<AccountUpsertInput>,
        #[graphql(desc = "PARTIAL when omitted")] mode: Option<UpsertMode>,
        #[graphql(desc = "Run the whole batch, report, and write nothing")] validate_only: Option<bool>,
    ) -> GqlResult<UpsertPayload> {
        let items = records.into_iter().map(AccountUpsertInput::item).collect::<GqlResult<_>>()?;
        run::<account::Entity>(ctx, items, mode, validate_only).await
    }

    /// Creates or updates up to 5,000 contacts matched on `externalId`, traced as IMPORT.
    async fn upsert_contacts(
        &self,
        ctx: &Context<'_>,
        records: Vec<ContactUpsertInput>,
        #[graphql(desc = "PARTIAL when omitted")] mode: Option<UpsertMode>,
        #[graphql(desc = "Run the whole batch, report, and write nothing")] validate_only: Option<bool>,
    ) -> GqlResult<UpsertPayload> {
        let items = records.into_iter().map(ContactUpsertInput::item).collect::<GqlResult<_>>()?;
        run::<contact::Entity>(ctx, items, mode, validate_only).await
    }

    /// Creates or updates up to 5,000 leads matched on `externalId`, traced as IMPORT.
    async fn upsert_leads(
        &self,
        ctx: &Context<'_>,
        records: Vec<LeadUpsertInput>,
        #[graphql(desc = "PARTIAL when omitted")] mode: Option<UpsertMode>,
        #[graphql(desc = "Run the whole batch, report, and write nothing")] validate_only: Option<bool>,
    ) -> GqlResult<UpsertPayload> {
        let items = records.into_iter().map(LeadUpsertInput::item).collect::<GqlResult<_>>()?;
        run::<lead::Entity>(ctx, items, mode, validate_only).await
    }

    /// Creates or updates up to 5,000 opportunities matched on `externalId`, traced as IMPORT.
    async fn upsert_opportunities(
        &self,
        ctx: &Context<'_>,
        records: Vec<OpportunityUpsertInput>,
        #[graphql(desc = "PARTIAL when omitted")] mode: Option<UpsertMode>,
        #[graphql(desc = "Run the whole batch, report, and write nothing")] validate_only: Option<bool>,
    ) -> GqlResult<UpsertPayload> {
        let items = records.into_iter().map(OpportunityUpsertInput::item).collect::<GqlResult<_>>()?;
        run::<opportunity::Entity>(ctx, items, mode, validate_only).await
    }

    /// Creates or updates up to 5,000 activities matched on `externalId`, traced as IMPORT.
    async fn upsert_activities(
        &self,
        ctx: &Context<'_>,
        records: Vec<ActivityUpsertInput>,
        #[graphql(desc = "PARTIAL when omitted")] mode: Option<UpsertMode>,
        #[graphql(desc = "Run the whole batch, report, and write nothing")] validate_only: Option<bool>,
    ) -> GqlResult<UpsertPayload> {
        let items = records.into_iter().map(ActivityUpsertInput::item).collect::<GqlResult<_>>()?;
        run::<activity::Entity>(ctx, items, mode, validate_only).await
    }
}
