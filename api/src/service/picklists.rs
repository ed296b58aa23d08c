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

/// Creates the picklist of a custom field with its options, in order.
pub async fn create_list(
    tx: &TenantTx,
    entity: &str,
    field: &str,
    multi: bool,
    options: &[(String, String)],
) -> ServiceResult<()> {
    let list = tx
        .insert(picklist::ActiveModel {
            id: Set(Uuid::now_v7()),
            entity: Set(entity.to_owned()),
            field: Set(field.to_owned()),
            multi: Set(multi),
            ..Default::default()
        })
        .await?;
    let mut seen: Vec<(String, String)> = Vec::new();
    for (position, (key, label)) in options.iter().enumerate() {
        let key = option_key(key)?;
        let label = super::validate::required_text("options.label", label, 100)?;
        if seen.iter().any(|(k, l)| *k == key || l.eq_ignore_ascii_case(&label)) {
            return Err(ServiceError::invalid("options", format!("option {key:?} is given twice")));
        }
        tx.insert(picklist_option::ActiveModel {
            id: Set(Uuid::now_v7()),
            picklist_id: Set(list.id),
            key: Set(key.clone()),
            label: Set(label.clone()),
            position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
            active: Set(true),
            probability: Set(None),
            is_closed: Set(false),
            is_won: Set(false),
            ..Default::default()
        })
        .await?;
        seen.push((key, label));
    }
    Ok(())
}

/// An option key: 1 to 50 of a-z, 0-9 and _, starting with a letter.
fn option_key(key: &str) -> ServiceResult<String> {
    let key = key.trim().to_owned();
    let valid = (1..=50).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(key)
    } else {
        Err(ServiceError::invalid("key", "must be 1 to 50 of a-z, 0-9 and _, starting with a letter"))
    }
}

/// The options of one picklist field, in order.
pub async fn options(scope: &impl Scope, entity: &str, field: &str) -> ServiceResult<Vec<picklist_option::Model>> {
    scope.config_ready().await?;
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
    // A transaction that just resolved these options for its writes (a bulk
    // upsert, record after record) has them already.
    if let Some(known) = scope.memo().and_then(|memo| memo.options_by_ids(ids)) {
        return Ok(known);
    }
    Ok(scope
        .select::<picklist_option::Entity>()
        .filter(picklist_option::Column::Id.is_in(ids.iter().copied()))
        .all(scope.conn())
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect())
}

/// Every picklist of the tenant with its options in order, keyed by (entity, field).
pub async fn all(scope: &impl Scope) -> ServiceResult<HashMap<(String, String), Vec<picklist_option::Model>>> {
    let lists = scope.select::<picklist::Entity>().all(scope.conn()).await?;
    let options = scope
        .select::<picklist_option::Entity>()
        .order_by_asc(picklist_option::Column::Position)
        .order_by_asc(picklist_option::Column::Id)
        .all(scope.conn())
        .await?;
    let mut by_list: HashMap<Uuid, Vec<picklist_option::Model>> = HashMap::new();
    for option in options {
        by_list.entry(option.picklist_id).or_default().push(option);
    }
    Ok(lists.into_iter().map(|l| ((l.entity, l.field), by_list.remove(&l.id).unwrap_or_default())).collect())
}

/// The picklist of a field, for an admin's edit; unknown is BAD_USER_INPUT.
async fn list_of(tx: &TenantTx, entity: &str, field: &str) -> ServiceResult<picklist::Model> {
    tx.select::<picklist::Entity>()
        .filter(picklist::Column::Entity.eq(entity))
        .filter(picklist::Column::Field.eq(field))
        .one(tx.conn())
        .await?
        .ok_or_else(|| ServiceError::invalid("field", format!("{entity}.{field} is not a picklist field")))
}

async fn options_of(tx: &TenantTx, list: Uuid) -> ServiceResult<Vec<picklist_option::Model>> {
    Ok(tx
        .select::<picklist_option::Entity>()
        .filter(picklist_option::Column::PicklistId.eq(list))
        .order_by_asc(picklist_option::Column::Position)
        .order_by_asc(picklist_option::Column::Id)
        .all(tx.conn())
        .await?)
}

fn options_json(options: &[picklist_option::Model]) -> serde_json::Value {
    json!({
        "options": options.iter().map(|o| json!({
            "key": o.key, "label": o.label, "active": o.active, "probability": o.probability,
            "isClosed": o.is_closed, "isWon": o.is_won,
        })).collect::<Vec<_>>()
    })
}

/// Traces a picklist edit as the options before and after.
async fn trace_edit(tx: &TenantTx, list: &picklist::Model, before: &[picklist_option::Model]) -> ServiceResult<()> {
    let after = options_of(tx, list.id).await?;
    if let Some(change) = Change::update("Picklist", list.id, &options_json(before), &options_json(&after)) {
        tx.trace(change).await?;
    }
    Ok(())
}

/// What an admin gives for a new option. Probability, closed and won are for
/// opportunity stages only.
pub struct NewOption {
    pub key: String,
    pub label: String,
    pub probability: Option<i32>,
    pub is_closed: bool,
    pub is_won: bool,
}

fn is_stage(list: &picklist::Model) -> bool {
    list.entity == "Opportunity" && list.field == "stage"
}

/// Adds an option at the end of a picklist (admins only).
pub async fn add_option(
    tx: &TenantTx,
    entity: &str,
    field: &str,
    new: NewOption,
) -> ServiceResult<picklist_option::Model> {
    super::configuring(tx).await?;
    let list = list_of(tx, entity, field).await?;
    let key = option_key(&new.key)?;
    let label = super::validate::required_text("label", &new.label, 100)?;
    let before = options_of(tx, list.id).await?;
    if before.iter().any(|o| o.key == key) {
        return Err(ServiceError::Conflict(format!("{entity}.{field} already has an option {key:?}")));
    }
    if before.iter().any(|o| o.label.eq_ignore_ascii_case(&label)) {
        return Err(ServiceError::Conflict(format!("{entity}.{field} already has an option labelled {label:?}")));
    }
    if !is_stage(&list) && (new.probability.is_some() || new.is_closed || new.is_won) {
        return Err(ServiceError::invalid("probability", "only opportunity stages have probability, closed and won"));
    }
    if new.probability.is_some_and(|p| !(0..=100).contains(&p)) {
        return Err(ServiceError::invalid("probability", "must be between 0 and 100"));
    }
    if new.is_won && !new.is_closed {
        return Err(ServiceError::invalid("isWon", "a won stage is closed"));
    }
    let position = before.iter().map(|o| o.position).max().map_or(0, |p| p + 1);
    let created = tx
        .insert(picklist_option::ActiveModel {
            id: Set(Uuid::now_v7()),
            picklist_id: Set(list.id),
            key: Set(key),
            label: Set(label),
            position: Set(position),
            active: Set(true),
            probability: Set(new.probability),
            is_closed: Set(new.is_closed),
            is_won: Set(new.is_won),
            ..Default::default()
        })
        .await?;
    trace_edit(tx, &list, &before).await?;
    Ok(created)
}

/// An option by id and the picklist it belongs to; another tenant's is NOT_FOUND.
async fn option_with_list(tx: &TenantTx, id: Uuid) -> ServiceResult<(picklist_option::Model, picklist::Model)> {
    let option = tx
        .select::<picklist_option::Entity>()
        .filter(picklist_option::Column::Id.eq(id))
        .one(tx.conn())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let list = tx
        .select::<picklist::Entity>()
        .filter(picklist::Column::Id.eq(option.picklist_id))
        .one(tx.conn())
        .await?
        .ok_or(ServiceError::NotFound)?;
    Ok((option, list))
}

/// Relabels, deactivates or reactivates an option (admins only). Records that
/// hold it keep it; a deactivated option just cannot be chosen anew.
pub async fn update_option(
    tx: &TenantTx,
    id: Uuid,
    label: Option<String>,
    active: Option<bool>,
) -> ServiceResult<picklist_option::Model> {
    super::configuring(tx).await?;
    let (option, list) = option_with_list(tx, id).await?;
    let before = options_of(tx, list.id).await?;
    let mut model: picklist_option::ActiveModel = option.clone().into();
    if let Some(label) = label {
        let label = super::validate::required_text("label", &label, 100)?;
        if before.iter().any(|o| o.id != id && o.label.eq_ignore_ascii_case(&label)) {
            return Err(ServiceError::Conflict(format!("another option is labelled {label:?}")));
        }
        model.label = Set(label);
    }
    if let Some(active) = active {
        if !active && before.iter().filter(|o| o.active && o.id != id).count() == 0 {
            return Err(ServiceError::Conflict("a picklist keeps at least one active option".into()));
        }
        model.active = Set(active);
    }
    let updated = tx.update(model).await?;
    trace_edit(tx, &list, &before).await?;
    Ok(updated)
}

/// Puts a picklist's options in the given order of keys: every key, once.
pub async fn reorder(
    tx: &TenantTx,
    entity: &str,
    field: &str,
    keys: &[String],
) -> ServiceResult<Vec<picklist_option::Model>> {
    super::configuring(tx).await?;
    let list = list_of(tx, entity, field).await?;
    let before = options_of(tx, list.id).await?;
    let mut sorted_given: Vec<&str> = keys.iter().map(|k| k.trim()).collect();
    sorted_given.sort_unstable();
    let mut sorted_known: Vec<&str> = before.iter().map(|o| o.key.as_str()).collect();
    sorted_known.sort_unstable();
    if sorted_given != sorted_known {
        return Err(ServiceError::invalid(
            "keys",
            format!("must list each of {} exactly once", sorted_known.join(", ")),
        ));
    }
    for (position, key) in keys.iter().enumerate() {
        let Some(option) = before.iter().find(|o| o.key == key.trim()) else { continue };
        let position = i32::try_from(position).unwrap_or(i32::MAX);
        if option.position != position {
            let mut model: picklist_option::ActiveModel = option.clone().into();
            model.position = Set(position);
            tx.update(model).await?;
        }
    }
    trace_edit(tx, &list, &before).await?;
    options_of(tx, list.id).await
}

/// How many records (deleted ones too: restoring must not resurrect a dangling
/// id) hold an option.
async fn holders(tx: &TenantTx, list: &picklist::Model, option: &picklist_option::Model) -> ServiceResult<u64> {
    use entity::{account, activity, contact, custom_record, lead, opportunity};
    use sea_orm::PaginatorTrait;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait};

    let builtin = super::catalog::entity(&list.entity).and_then(|e| e.field(&list.field));
    if let Some(field) = builtin {
        let column = field.columns.first().copied().unwrap_or_default();
        let holds = Expr::col(Alias::new(column)).eq(option.id);
        return Ok(match list.entity.as_str() {
            "Account" => tx.select::<account::Entity>().filter(holds).count(tx.conn()).await?,
            "Contact" => tx.select::<contact::Entity>().filter(holds).count(tx.conn()).await?,
            "Lead" => tx.select::<lead::Entity>().filter(holds).count(tx.conn()).await?,
            "Opportunity" => tx.select::<opportunity::Entity>().filter(holds).count(tx.conn()).await?,
            "Activity" => tx.select::<activity::Entity>().filter(holds).count(tx.conn()).await?,
            other => return Err(ServiceError::Internal(format!("built-in picklist of unknown entity {other}"))),
        });
    }
    let test = super::custom_fields::Test::Equals(serde_json::Value::from(option.key.clone()));
    let condition =
        |table: &'static str| super::custom_fields::condition_on(tx, &list.entity, table, &list.field, &test);
    Ok(match list.entity.as_str() {
        "Account" => tx.select::<account::Entity>().filter(condition("account").await?).count(tx.conn()).await?,
        "Contact" => tx.select::<contact::Entity>().filter(condition("contact").await?).count(tx.conn()).await?,
        "Lead" => tx.select::<lead::Entity>().filter(condition("lead").await?).count(tx.conn()).await?,
        "Opportunity" => {
            tx.select::<opportunity::Entity>().filter(condition("opportunity").await?).count(tx.conn()).await?
        }
        "Activity" => tx.select::<activity::Entity>().filter(condition("activity").await?).count(tx.conn()).await?,
        custom => {
            tx.select::<custom_record::Entity>()
                .filter(custom_record::Column::Entity.eq(custom))
                .filter(condition("custom_record").await?)
                .count(tx.conn())
                .await?
        }
    })
}

/// Deletes an option no record holds (admins only); one in use can only be
/// deactivated, so that no record is left pointing at nothing.
pub async fn delete_option(tx: &TenantTx, id: Uuid) -> ServiceResult<picklist_option::Model> {
    super::configuring(tx).await?;
    let (option, list) = option_with_list(tx, id).await?;
    let before = options_of(tx, list.id).await?;
    if before.iter().filter(|o| o.active && o.id != id).count() == 0 {
        return Err(ServiceError::Conflict("a picklist keeps at least one active option".into()));
    }
    let held = holders(tx, &list, &option).await?;
    if held > 0 {
        return Err(ServiceError::Conflict(format!("{held} record(s) hold {:?}; deactivate it instead", option.key)));
    }
    tx.delete_where::<picklist_option::Entity>(picklist_option::Column::Id.eq(id)).await?;
    trace_edit(tx, &list, &before).await?;
    Ok(option)
}
