//! Picklists: per-tenant option lists, stored as data so admins can edit them.

use std::collections::HashMap;

use entity::{picklist, picklist_option};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;
use uuid::Uuid;

use crate::db::trace::Change;
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

/// An option as seeded: key, label, and for stages probability / closed / won.
struct Seed(&'static str, &'static str, Option<i32>, bool, bool);

const fn plain(key: &'static str, label: &'static str) -> Seed {
    Seed(key, label, None, false, false)
}

/// The built-in picklists every tenant starts with: (entity, field, options).
fn defaults() -> Vec<(&'static str, &'static str, Vec<Seed>)> {
    vec![
        (
            "Account",
            "type",
            vec![
                plain("prospect", "Prospect"),
                plain("customer", "Customer"),
                plain("partner", "Partner"),
                plain("other", "Other"),
            ],
        ),
        ("Account", "purchasePotential", vec![plain("low", "Low"), plain("medium", "Medium"), plain("high", "High")]),
        (
            "Lead",
            "status",
            vec![
                plain("new", "New"),
                plain("working", "Working"),
                plain("qualified", "Qualified"),
                plain("disqualified", "Disqualified"),
                plain("converted", "Converted"),
            ],
        ),
        (
            "Lead",
            "source",
            vec![
                plain("web", "Web"),
                plain("referral", "Referral"),
                plain("event", "Event"),
                plain("phone", "Phone"),
                plain("other", "Other"),
            ],
        ),
        (
            "Opportunity",
            "stage",
            vec![
                Seed("received", "Received", Some(10), false, false),
                Seed("qualification", "Qualification", Some(20), false, false),
                Seed("proposal", "Proposal", Some(50), false, false),
                Seed("negotiation", "Negotiation", Some(75), false, false),
                Seed("won", "Won", Some(100), true, true),
                Seed("lost", "Lost", Some(0), true, false),
            ],
        ),
        (
            "Activity",
            "kind",
            vec![
                plain("call", "Call"),
                plain("meeting", "Meeting"),
                plain("email", "Email"),
                plain("visit", "Visit"),
                plain("task", "Task"),
            ],
        ),
        (
            "Activity",
            "objective",
            vec![
                plain("prospecting", "Prospecting"),
                plain("follow_up", "Follow-up"),
                plain("presentation", "Presentation"),
                plain("negotiation", "Negotiation"),
                plain("support", "Support"),
            ],
        ),
        (
            "Activity",
            "result",
            vec![
                plain("successful", "Successful"),
                plain("unsuccessful", "Unsuccessful"),
                plain("rescheduled", "Rescheduled"),
                plain("no_answer", "No answer"),
            ],
        ),
    ]
}

/// Writes the default picklists of a new tenant, one trace per picklist.
pub async fn seed_defaults(tx: &TenantTx) -> ServiceResult<()> {
    for (entity, field, options) in defaults() {
        let list = tx
            .insert(picklist::ActiveModel {
                id: Set(Uuid::now_v7()),
                entity: Set(entity.to_owned()),
                field: Set(field.to_owned()),
                multi: Set(false),
                ..Default::default()
            })
            .await?;
        let mut keys = Vec::new();
        for (position, Seed(key, label, probability, is_closed, is_won)) in options.into_iter().enumerate() {
            tx.insert(picklist_option::ActiveModel {
                id: Set(Uuid::now_v7()),
                picklist_id: Set(list.id),
                key: Set(key.to_owned()),
                label: Set(label.to_owned()),
                position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
                active: Set(true),
                probability: Set(probability),
                is_closed: Set(is_closed),
                is_won: Set(is_won),
                ..Default::default()
            })
            .await?;
            keys.push(key);
        }
        tx.trace(Change::create("Picklist", list.id, json!({ "entity": entity, "field": field, "options": keys })))
            .await?;
    }
    Ok(())
}

/// The options of one picklist field, in order.
pub async fn options(scope: &impl Scope, entity: &str, field: &str) -> ServiceResult<Vec<picklist_option::Model>> {
    if let Some(known) = scope.memo().and_then(|memo| memo.picklist(entity, field)) {
        return Ok(known);
    }
    let Some(list) = scope
        .select::<picklist::Entity>()
        .filter(picklist::Column::Entity.eq(entity))
        .filter(picklist::Column::Field.eq(field))
        .one(scope.conn())
        .await?
    else {
        return Err(ServiceError::Internal(format!("picklist {entity}.{field} is missing")));
    };
    let options = scope
        .select::<picklist_option::Entity>()
        .filter(picklist_option::Column::PicklistId.eq(list.id))
        .order_by_asc(picklist_option::Column::Position)
        .all(scope.conn())
        .await?;
    if let Some(memo) = scope.memo() {
        memo.remember_picklist(entity, field, &options);
    }
    Ok(options)
}

/// Which options a value may name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Choosable {
    /// Writes: only active options.
    ActiveOnly,
    /// Filters: any option, so records holding a deactivated one can be found.
    Any,
}

/// Maps a value given by key or label (case-insensitive) to its option id.
/// An unknown value is a BAD_USER_INPUT on `input_field` listing the allowed keys.
pub async fn resolve(
    scope: &impl Scope,
    entity: &str,
    field: &str,
    input_field: &str,
    value: &str,
    choosable: Choosable,
) -> ServiceResult<Uuid> {
    let wanted = value.trim();
    let options = options(scope, entity, field).await?;
    let allowed: Vec<_> = options.iter().filter(|o| o.active || choosable == Choosable::Any).collect();
    allowed
        .iter()
        .find(|o| o.key.eq_ignore_ascii_case(wanted) || o.label.eq_ignore_ascii_case(wanted))
        .map(|o| o.id)
        .ok_or_else(|| {
            let keys: Vec<&str> = allowed.iter().map(|o| o.key.as_str()).collect();
            ServiceError::invalid(input_field, format!("unknown value {wanted:?}; allowed: {}", keys.join(", ")))
        })
}

/// Options by id (for DataLoaders and trace snapshots).
pub async fn by_ids(scope: &impl Scope, ids: &[Uuid]) -> ServiceResult<HashMap<Uuid, picklist_option::Model>> {
    Ok(scope
        .select::<picklist_option::Entity>()
        .filter(picklist_option::Column::Id.is_in(ids.iter().copied()))
        .all(scope.conn())
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect())
}
