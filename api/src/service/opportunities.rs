//! Opportunities: potential sales to an account, moving through the stage pipeline.

use chrono::NaiveDate;
use entity::{account, opportunity};
use rust_decimal::Decimal;
use sea_orm::ActiveValue;
use sea_orm::Set;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::records::{Record, apply, fields, option_keys, optional, reference, required, required_picklist};
use super::validate::{self, Patch};
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

pub const ENTITY: &str = "Opportunity";

/// Amounts are stored in ten-thousandths (see the entity).
const SCALE: u32 = 4;
/// Far above any deal, far below where i64 ten-thousandths overflow.
const MAX_AMOUNT: i64 = 1_000_000_000_000;

#[derive(Default, Clone)]
pub struct OpportunityFields {
    pub account_id: Patch<Uuid>,
    pub name: Patch<String>,
    /// An option key or label; a new opportunity starts at the first stage.
    pub stage: Patch<String>,
    pub amount: Patch<Decimal>,
    pub currency: Patch<String>,
    pub close_date: Patch<NaiveDate>,
}

/// Validates an amount: at least 0, at most four decimals, within range.
pub fn amount_e4(field: &str, amount: Decimal) -> ServiceResult<i64> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(ServiceError::invalid(field, "must be at least 0"));
    }
    if amount.normalize().scale() > SCALE {
        return Err(ServiceError::invalid(field, format!("must have at most {SCALE} decimal places")));
    }
    if amount > Decimal::from(MAX_AMOUNT) {
        return Err(ServiceError::invalid(field, format!("must be at most {MAX_AMOUNT}")));
    }
    let scaled = amount * Decimal::from(10_i64.pow(SCALE));
    scaled.trunc().mantissa().try_into().map_err(|_| ServiceError::invalid(field, "is out of range"))
}

/// The amount of a stored opportunity.
pub fn amount(stored: Option<i64>) -> Option<Decimal> {
    stored.map(|e4| Decimal::new(e4, SCALE).normalize())
}

fn currency(value: &str) -> ServiceResult<Option<String>> {
    let code = value.trim().to_ascii_uppercase();
    if code.is_empty() {
        return Ok(None);
    }
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(Some(code))
    } else {
        Err(ServiceError::invalid("currency", "must be a three-letter ISO 4217 code such as EUR"))
    }
}

impl Record for opportunity::Entity {
    const NAME: &'static str = ENTITY;
    type Fields = OpportunityFields;

    crate::record_columns!(opportunity);

    crate::given_fields!(
        account_id => "accountId", name => "name", stage => "stage", amount => "amount",
        currency => "currency", close_date => "closeDate",
    );

    async fn snapshot(scope: &(impl Scope + Send), o: &opportunity::Model) -> ServiceResult<Map<String, Value>> {
        let [stage] = option_keys(scope, [Some(o.stage_id)]).await?;
        Ok(fields(json!({
            "accountId": o.account_id, "name": o.name, "stage": stage,
            "amount": amount(o.amount_e4).map(|a| a.to_string()), "currency": o.currency,
            "closeDate": o.close_date,
        })))
    }

    async fn fill(
        tx: &TenantTx,
        model: &mut opportunity::ActiveModel,
        f: OpportunityFields,
        creating: bool,
    ) -> ServiceResult<()> {
        let close_date = optional(f.close_date);
        match f.account_id {
            Patch::Keep if creating => return Err(ServiceError::invalid("accountId", "is required")),
            Patch::Keep => {}
            Patch::Clear => return Err(ServiceError::invalid("accountId", "is required")),
            Patch::Set(id) => model.account_id = Set(reference::<account::Entity>(tx, "accountId", id).await?),
        }
        if let Some(name) = required(f.name, "name", 200, creating)? {
            model.name = Set(name);
        }
        if let Some(stage) = required_picklist(tx, ENTITY, "stage", f.stage, creating, Some(&[])).await? {
            let changed = match &model.stage_id {
                ActiveValue::Unchanged(current) | ActiveValue::Set(current) => *current != stage,
                ActiveValue::NotSet => true,
            };
            if changed {
                model.stage_id = Set(stage);
                model.stage_changed_at = Set(tx.now());
            }
        }
        match f.amount {
            Patch::Keep => {}
            Patch::Clear => model.amount_e4 = Set(None),
            Patch::Set(a) => model.amount_e4 = Set(Some(amount_e4("amount", a)?)),
        }
        match f.currency {
            Patch::Keep => {}
            Patch::Clear => model.currency = Set(None),
            Patch::Set(c) => model.currency = Set(currency(&c)?),
        }
        if let Patch::Set(Some(date)) = &close_date {
            validate::date("closeDate", *date)?;
        }
        apply(&mut model.close_date, close_date);
        Ok(())
    }
}

/// The stage pipeline in order: NOT_FOUND for a profile that may not read
/// opportunities, FORBIDDEN for one that may not see their stage.
pub async fn stages(scope: &impl Scope) -> ServiceResult<Vec<entity::picklist_option::Model>> {
    super::records::allowed::<opportunity::Entity>(scope, crate::auth::access::Op::Read)?;
    if !scope.actor().access.can_see(ENTITY, "stage") {
        return Err(crate::error::ServiceError::ForbiddenField {
            field: "stage".into(),
            message: "is hidden by your profile".into(),
        });
    }
    super::picklists::options(scope, ENTITY, "stage").await
}
