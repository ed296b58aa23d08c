//! Accounts: the customer companies.

use std::collections::HashMap;

use entity::account;
use sea_orm::{ColumnTrait, QueryFilter, QuerySelect, Set};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::records::{self, Record, apply, fields, map, option_keys, picklist, required, text};
use super::validate::{self, Patch};
use crate::auth::access::Op;
use crate::db::{Scope, TenantTx};
use crate::error::ServiceResult;

pub const ENTITY: &str = "Account";

/// The names of live accounts by id, for links that show an account's name
/// and nothing else: two columns instead of the whole row. Deleted and
/// foreign ones are left out, as by `records::by_ids`.
pub async fn names(scope: &impl Scope, ids: &[Uuid]) -> ServiceResult<HashMap<Uuid, String>> {
    records::allowed::<account::Entity>(scope, Op::Read)?;
    let rows: Vec<(Uuid, String)> = records::live::<account::Entity>(scope)
        .filter(account::Column::Id.is_in(ids.iter().copied()))
        .select_only()
        .columns([account::Column::Id, account::Column::Name])
        .into_tuple()
        .all(scope.conn())
        .await?;
    Ok(rows.into_iter().collect())
}

/// An account's own fields (create: absent = empty; update: absent = keep).
#[derive(Default, Clone)]
pub struct AccountFields {
    pub name: Patch<String>,
    pub account_type: Patch<String>,
    pub sector: Patch<String>,
    pub origin: Patch<String>,
    pub purchase_potential: Patch<String>,
    pub region: Patch<String>,
    pub phone: Patch<String>,
    pub email: Patch<String>,
    pub website: Patch<String>,
    pub street: Patch<String>,
    pub city: Patch<String>,
    pub state: Patch<String>,
    pub postal_code: Patch<String>,
    pub country: Patch<String>,
}

impl Record for account::Entity {
    const NAME: &'static str = ENTITY;
    type Fields = AccountFields;

    crate::record_columns!(account);

    crate::given_fields!(
        name => "name", account_type => "type", sector => "sector", origin => "origin",
        purchase_potential => "purchasePotential", region => "region", phone => "phone", email => "email",
        website => "website", street => "street", city => "city", state => "state", postal_code => "postalCode",
        country => "country",
    );

    async fn snapshot(scope: &(impl Scope + Send), a: &account::Model) -> ServiceResult<Map<String, Value>> {
        let [kind, potential] = option_keys(scope, [a.type_id, a.purchase_potential_id]).await?;
        Ok(fields(json!({
            "name": a.name, "type": kind, "sector": a.sector, "origin": a.origin,
            "purchasePotential": potential, "region": a.region, "phone": a.phone,
            "email": a.email, "website": a.website, "street": a.street, "city": a.city, "state": a.state,
            "postalCode": a.postal_code, "country": a.country,
        })))
    }

    async fn fill(
        tx: &TenantTx,
        model: &mut account::ActiveModel,
        f: AccountFields,
        creating: bool,
    ) -> ServiceResult<()> {
        if let Some(name) = required(f.name, "name", 200, creating)? {
            model.name = Set(name);
        }
        apply(&mut model.type_id, picklist(tx, ENTITY, "type", f.account_type).await?);
        apply(&mut model.purchase_potential_id, picklist(tx, ENTITY, "purchasePotential", f.purchase_potential).await?);
        apply(&mut model.sector, text(f.sector, "sector", 100)?);
        apply(&mut model.origin, text(f.origin, "origin", 100)?);
        apply(&mut model.region, text(f.region, "region", 100)?);
        apply(&mut model.street, text(f.street, "street", 200)?);
        apply(&mut model.city, text(f.city, "city", 100)?);
        apply(&mut model.state, text(f.state, "state", 100)?);
        apply(&mut model.postal_code, text(f.postal_code, "postalCode", 20)?);
        apply(&mut model.country, text(f.country, "country", 100)?);
        apply(&mut model.phone, map(f.phone, |v| validate::optional_phone("phone", Some(v)))?);
        apply(&mut model.email, map(f.email, |v| validate::optional_email("email", Some(v)))?);
        apply(&mut model.website, map(f.website, |v| validate::optional_url("website", Some(v)))?);
        Ok(())
    }
}
