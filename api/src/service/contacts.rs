//! Contacts: the people we deal with, usually at an account.

use entity::{account, contact};
use sea_orm::Set;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::records::{Record, apply, fields, map, reference, required, text};
use super::validate::{self, Patch};
use crate::db::{Scope, TenantTx};
use crate::error::ServiceResult;

pub const ENTITY: &str = "Contact";

#[derive(Default, Clone)]
pub struct ContactFields {
    pub account_id: Patch<Uuid>,
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub title: Patch<String>,
    pub email: Patch<String>,
    pub phone: Patch<String>,
    pub mobile: Patch<String>,
}

impl Record for contact::Entity {
    const NAME: &'static str = ENTITY;
    type Fields = ContactFields;

    crate::record_columns!(contact);

    crate::given_fields!(
        account_id => "accountId", first_name => "firstName", last_name => "lastName", title => "title",
        email => "email", phone => "phone", mobile => "mobile",
    );

    async fn snapshot(_scope: &(impl Scope + Send), c: &contact::Model) -> ServiceResult<Map<String, Value>> {
        Ok(fields(json!({
            "accountId": c.account_id, "firstName": c.first_name, "lastName": c.last_name, "title": c.title,
            "email": c.email, "phone": c.phone, "mobile": c.mobile,
        })))
    }

    async fn fill(
        tx: &TenantTx,
        model: &mut contact::ActiveModel,
        f: ContactFields,
        creating: bool,
    ) -> ServiceResult<()> {
        match f.account_id {
            Patch::Keep => {}
            Patch::Clear => model.account_id = Set(None),
            Patch::Set(id) => model.account_id = Set(Some(reference::<account::Entity>(tx, "accountId", id).await?)),
        }
        apply(&mut model.first_name, text(f.first_name, "firstName", 100)?);
        if let Some(name) = required(f.last_name, "lastName", 100, creating)? {
            model.last_name = Set(name);
        }
        apply(&mut model.title, text(f.title, "title", 100)?);
        apply(&mut model.email, map(f.email, |v| validate::optional_email("email", Some(v)))?);
        apply(&mut model.phone, map(f.phone, |v| validate::optional_phone("phone", Some(v)))?);
        apply(&mut model.mobile, map(f.mobile, |v| validate::optional_phone("mobile", Some(v)))?);
        Ok(())
    }
}
