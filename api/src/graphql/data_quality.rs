//! Data quality: key fields, completeness figures and hygiene lists (thin resolvers).

use async_graphql::{Context, ID, Object, SimpleObject, Union};
use entity::{activity, opportunity};
use uuid::Uuid;

use super::accounts::Account;
use super::activities::ActivityConnection;
use super::contacts::Contact;
use super::context::{parse_id, request};
use super::leads::Lead;
use super::opportunities::OpportunityConnection;
use super::pagination::{PageInfo, decode, encode, page_size};
use super::records::{OrderDirection, user};
use super::types::User;
use crate::error::GqlResult;
use crate::service::hygiene::{self, Group};
use crate::service::quality_report::{self, BUCKETS};
use crate::service::records::{MAX_PAGE, Sort};
use crate::service::{self, data_quality};

/// How complete an entity's live (not deleted) records are. A record's
/// completeness is the share of the entity's key fields it fills (see `keyFields`).
#[derive(SimpleObject)]
pub struct DataQuality {
    /// The entity's API name.
    pub entity: String,
    /// The key fields completeness is measured on, in order.
    pub key_fields: Vec<String>,
    /// Live records.
    pub records: u64,
    /// Mean completeness of the live records (0.0 to 1.0); null when there are none.
    /// It covers every key field, also those the caller's profile hides: it is
    /// a figure about the records, not a field value.
    pub average_completeness: Option<f64>,
    /// Records per completeness range, from [0, 0.25) to exactly 1.
    pub distribution: Vec<CompletenessBucket>,
    /// Per key field, how many records fill it. Fields the caller's profile
    /// hides are left out (their fill rate would tell about their values).
    pub fill_rates: Vec<FieldFillRate>,
    /// Per owner: records and their mean completeness, by owner id.
    pub owners: Vec<OwnerCompleteness>,
    /// Records where a required field the caller may see (always required,
    /// made required by an admin, or a required custom field) is empty: records
    /// written before the rule, or imported around it.
    pub missing_required: u64,
}

/// Records whose completeness c falls in [min, max); the last bucket is c = 1 exactly (min = max = 1).
#[derive(SimpleObject)]
pub struct CompletenessBucket {
    /// Inclusive lower bound.
    pub min: f64,
    /// Exclusive upper bound, except for the last bucket where min = max = 1.
    pub max: f64,
    /// Live records in the range.
    pub records: u64,
}

/// How many live records fill one key field.
#[derive(SimpleObject)]
pub struct FieldFillRate {
    /// The field's API name.
    pub field: String,
    /// Live records holding a value for it.
    pub filled: u64,
    /// `filled` / records (0 when there are no records).
    pub rate: f64,
}

/// One owner's records of the entity.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct OwnerCompleteness {
    /// The owner's user id.
    pub owner_id: ID,
    /// The owner's live records of the entity.
    pub records: u64,
    /// Mean completeness of this owner's live records.
    pub average_completeness: f64,
}

#[async_graphql::ComplexObject]
impl OwnerCompleteness {
    /// The owner (null when the user was removed).
    async fn owner(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        user(ctx, Uuid::try_parse(self.owner_id.as_str()).ok()).await
    }
}

/// How many overdue activities one owner has.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct OwnerCount {
    /// The owner's user id.
    pub owner_id: ID,
    /// Overdue activities they own.
    pub count: u64,
}

#[async_graphql::ComplexObject]
impl OwnerCount {
    /// The owner (null when the user was removed).
    async fn owner(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        user(ctx, Uuid::try_parse(self.owner_id.as_str()).ok()).await
    }
}

/// A record that is part of a duplicate group.
#[derive(Union)]
pub enum DuplicateRecord {
    Account(Account),
    Contact(Contact),
    Lead(Lead),
}

/// Live records that look like the same one, for a person to review (nothing is merged).
#[derive(SimpleObject)]
pub struct DuplicateGroup {
    /// The value they share: the normalized account name, or the email.
    pub key: String,
    /// The records, by id.
    pub records: Vec<DuplicateRecord>,
}

/// An edge of a duplicate-group list.
#[derive(SimpleObject)]
pub struct DuplicateGroupEdge {
    /// Where to resume after this group (`after`).
    pub cursor: String,
    pub node: DuplicateGroup,
}

/// A page of duplicate groups, ordered by their key.
#[derive(SimpleObject)]
pub struct DuplicateGroupConnection {
    /// The groups of this page with their cursors.
    pub edges: Vec<DuplicateGroupEdge>,
    pub page_info: PageInfo,
}

impl From<Group> for DuplicateGroup {
    fn from(group: Group) -> Self {
        let (key, records) = match group {
            Group::Accounts(k, r) => (k, r.into_iter().map(|m| DuplicateRecord::Account(m.into())).collect()),
            Group::Contacts(k, r) => (k, r.into_iter().map(|m| DuplicateRecord::Contact(m.into())).collect()),
            Group::Leads(k, r) => (k, r.into_iter().map(|m| DuplicateRecord::Lead(m.into())).collect()),
        };
        Self { key, records }
    }
}

impl From<quality_report::Report> for DataQuality {
    fn from(r: quality_report::Report) -> Self {
        let share = |n: u64| if r.records == 0 { 0.0 } else { n as f64 / r.records as f64 };
        Self {
            distribution: BUCKETS
                .iter()
                .zip(r.buckets)
                .map(|(&(min, max), records)| CompletenessBucket { min, max, records })
                .collect(),
            fill_rates: r
                .fill_rates
                .iter()
                .map(|f| FieldFillRate { field: f.field.clone(), filled: f.filled, rate: share(f.filled) })
                .collect(),
            owners: r
                .owners
                .iter()
                .map(|o| OwnerCompleteness {
                    owner_id: o.owner_id.into(),
                    records: o.records,
                    average_completeness: o.average,
                })
                .collect(),
            entity: r.entity,
            key_fields: r.key_fields,
            records: r.records,
            average_completeness: r.average,
            missing_required: r.missing_required,
        }
    }
}

#[derive(Default)]
pub struct DataQualityQuery;

#[Object]
impl DataQualityQuery {
    /// The key fields of a core or custom entity, in order.
    async fn key_fields(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Entity API name")] entity: String,
    ) -> GqlResult<Vec<String>> {
        let read = request(ctx)?.read()?;
        Ok(data_quality::list(&read, &entity).await?)
    }

    /// Completeness figures of an entity the caller may read.
    async fn data_quality(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Entity API name")] entity: String,
    ) -> GqlResult<DataQuality> {
        let read = request(ctx)?.read()?;
        Ok(quality_report::report(&read, &entity).await?.into())
    }

    /// Open opportunities whose stage has not changed for `days` days, oldest change first.
    async fn stale_opportunities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Threshold in days, 1 to 3650 (default: the tenant's setting, 14 unless changed)")]
        days: Option<i32>,
        #[graphql(desc = "Page size, 1 to 500 (default 50)")] first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<OpportunityConnection> {
        let criteria = hygiene::stale_opportunities(&request(ctx)?.read()?, days).await?;
        let order = Sort::Default(opportunity::Column::StageChangedAt);
        OpportunityConnection::load(ctx, "staleOpportunities", first, after, criteria, order, OrderDirection::Asc).await
    }

    /// Open opportunities without a close date or whose close date (UTC) has passed, by close date (none last).
    async fn opportunities_needing_close_date(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 500 (default 50)")] first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<OpportunityConnection> {
        let criteria = hygiene::opportunities_needing_close_date(&request(ctx)?.read()?).await?;
        let order = Sort::Default(opportunity::Column::CloseDate);
        OpportunityConnection::load(ctx, "needingCloseDate", first, after, criteria, order, OrderDirection::Asc).await
    }

    /// Activities not completed whose due time has passed, by due time.
    async fn overdue_activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this owner's")] owner_id: Option<ID>,
        #[graphql(desc = "Page size, 1 to 500 (default 50)")] first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<ActivityConnection> {
        let owner = owner_id.as_ref().map(|id| parse_id("ownerId", id)).transpose()?;
        let criteria = hygiene::overdue_activities(&request(ctx)?.read()?, owner)?;
        let order = Sort::Default(activity::Column::DueAt);
        ActivityConnection::load(ctx, "overdueActivities", first, after, criteria, order, OrderDirection::Asc).await
    }

    /// Overdue activities per owner (owners without any are left out).
    async fn overdue_activity_counts(&self, ctx: &Context<'_>) -> GqlResult<Vec<OwnerCount>> {
        let read = request(ctx)?.read()?;
        let counts = hygiene::overdue_by_owner(&read).await?;
        Ok(counts.into_iter().map(|(owner, count)| OwnerCount { owner_id: owner.into(), count }).collect())
    }

    /// Groups of probable duplicates among Account (same normalized name), Contact or Lead (same email) records.
    async fn probable_duplicates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Account, Contact or Lead")] entity: String,
        #[graphql(desc = "Groups per page, 1 to 500 (default 50)")] first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<DuplicateGroupConnection> {
        let first = page_size(first, MAX_PAGE)?;
        let offset = decode("duplicates", after.as_deref())?.map_or(0, |last| last + 1);
        let read = request(ctx)?.read()?;
        let (groups, more) = hygiene::duplicates(&read, &entity, u64::try_from(offset).unwrap_or(0), first).await?;
        let edges: Vec<DuplicateGroupEdge> = groups
            .into_iter()
            .enumerate()
            .map(|(i, g)| DuplicateGroupEdge {
                cursor: encode("duplicates", offset + i64::try_from(i).unwrap_or(0)),
                node: g.into(),
            })
            .collect();
        let page_info = PageInfo {
            has_next_page: more,
            has_previous_page: offset > 0,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(DuplicateGroupConnection { edges, page_info })
    }
}

#[derive(Default)]
pub struct DataQualityMutation;

#[Object]
impl DataQualityMutation {
    /// Sets the key fields of a core or custom entity (admins only) and
    /// recomputes the completeness of all its records. An empty list means
    /// nothing is missing: every record's completeness is then 1.0.
    async fn set_key_fields(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Entity API name")] entity: String,
        #[graphql(desc = "Field API names (built-in or custom), each once")] fields: Vec<String>,
    ) -> GqlResult<Vec<String>> {
        let fields = request(ctx)?
            .write(move |tx| async move { service::data_quality::set(&tx, &entity, fields).await })
            .await?;
        Ok(fields)
    }
}
