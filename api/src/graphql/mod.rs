//! The GraphQL schema: thin resolvers over `service`.

mod accounts;
mod activities;
mod adoption;
pub mod answers;
mod api_tokens;
mod auth;
pub mod batch;
mod codes;
mod contacts;
pub mod context;
mod custom_fields;
mod custom_records;
mod data_quality;
pub mod documents;
pub mod guards;
mod hooks;
mod leads;
pub mod loaders;
mod metadata;
mod opportunities;
mod order;
mod pagination;
mod plain;
mod points;
mod profiles;
mod records;
pub mod session;
mod subscriptions;
mod traces;
mod types;
mod upsert;
mod users;
mod variables;
mod visibility;

use async_graphql::{MergedObject, Schema, SchemaBuilder};

/// Every query.
#[derive(MergedObject, Default)]
pub struct Query(
    auth::AuthQuery,
    users::UserQuery,
    api_tokens::ApiTokenQuery,
    accounts::AccountQuery,
    contacts::ContactQuery,
    leads::LeadQuery,
    opportunities::OpportunityQuery,
    activities::ActivityQuery,
    traces::TraceQuery,
    metadata::MetadataQuery,
    custom_records::CustomRecordQuery,
    adoption::AdoptionQuery,
    adoption::SettingsQuery,
    points::PointsQuery,
    data_quality::DataQualityQuery,
);

/// Every mutation.
#[derive(MergedObject, Default)]
pub struct Mutation(
    auth::AuthMutation,
    users::UserMutation,
    api_tokens::ApiTokenMutation,
    accounts::AccountMutation,
    contacts::ContactMutation,
    leads::LeadMutation,
    opportunities::OpportunityMutation,
    activities::ActivityMutation,
    upsert::UpsertMutation,
    profiles::ProfileMutation,
    metadata::PicklistMutation,
    custom_fields::CustomFieldMutation,
    custom_records::CustomRecordMutation,
    adoption::SettingsMutation,
    points::PointsMutation,
    data_quality::DataQualityMutation,
);

pub type CrmSchema = Schema<Query, Mutation, subscriptions::Subscription>;

/// The schema with its limits; `crm schema` prints its SDL.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, subscriptions::Subscription> {
    let limits = crate::config::Limits::default();
    // Our own guards (see `guards`) run first, with fragment expansion memoized;
    // these are a second line for anything that reaches the executor.
    Schema::build(Query::default(), Mutation::default(), subscriptions::Subscription)
        .limit_depth(limits.max_depth + 2)
        .limit_recursive_depth(limits.max_depth + 2)
        .extension(hooks::Hooks)
}
