//! What a profile may do: per entity read/create/update/delete, per field
//! HIDDEN, READ or EDIT. Built once per profile and access version, and carried
//! by the [`Actor`](super::Actor), so every service sees the same rules.

use std::collections::HashMap;

/// How far a profile may go with one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FieldAccess {
    Hidden,
    Read,
    Edit,
}

impl FieldAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hidden => "HIDDEN",
            Self::Read => "READ",
            Self::Edit => "EDIT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "HIDDEN" => Some(Self::Hidden),
            "READ" => Some(Self::Read),
            "EDIT" => Some(Self::Edit),
            _ => None,
        }
    }
}

/// What a profile may do with the records of one entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityRights {
    pub read: bool,
    pub create: bool,
    pub update: bool,
    pub delete: bool,
}

impl EntityRights {
    pub const ALL: Self = Self { read: true, create: true, update: true, delete: true };
}

/// One of the four entity operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Create,
    Update,
    Delete,
}

/// A profile's rules. Absent rules mean full access: a new entity or field is
/// usable until an admin narrows it.
#[derive(Debug, Default)]
pub struct Permissions {
    admin: bool,
    /// Sees every user's adoption metrics, not only their own and their team's.
    view_all_metrics: bool,
    entities: HashMap<String, EntityRights>,
    fields: HashMap<(String, String), FieldAccess>,
}

impl Permissions {
    /// Admin profiles: everything, whatever rows exist (an admin cannot lock itself out).
    pub fn admin() -> Self {
        Self { admin: true, ..Self::default() }
    }

    pub fn new(
        entities: impl IntoIterator<Item = (String, EntityRights)>,
        fields: impl IntoIterator<Item = ((String, String), FieldAccess)>,
    ) -> Self {
        Self {
            admin: false,
            view_all_metrics: false,
            entities: entities.into_iter().collect(),
            fields: fields.into_iter().collect(),
        }
    }

    /// The profile's metrics permission, stored beside its rules.
    pub fn with_view_all_metrics(mut self, allowed: bool) -> Self {
        self.view_all_metrics = allowed;
        self
    }

    pub fn views_all_metrics(&self) -> bool {
        self.admin || self.view_all_metrics
    }

    /// From a profile's stored rule rows. An unreadable stored field rule hides
    /// the field: failing closed.
    pub fn from_rows(entities: Vec<entity::entity_access::Model>, fields: Vec<entity::field_access::Model>) -> Self {
        Self::new(
            entities.into_iter().map(|r| {
                let rights =
                    EntityRights { read: r.can_read, create: r.can_create, update: r.can_update, delete: r.can_delete };
                (r.entity, rights)
            }),
            fields
                .into_iter()
                .map(|r| ((r.entity, r.field), FieldAccess::parse(&r.access).unwrap_or(FieldAccess::Hidden))),
        )
    }

    pub fn is_admin(&self) -> bool {
        self.admin
    }

    pub fn entity(&self, entity: &str) -> EntityRights {
        if self.admin {
            return EntityRights::ALL;
        }
        self.entities.get(entity).copied().unwrap_or(EntityRights::ALL)
    }

    pub fn allows(&self, entity: &str, op: Op) -> bool {
        let rights = self.entity(entity);
        match op {
            Op::Read => rights.read,
            Op::Create => rights.read && rights.create,
            Op::Update => rights.read && rights.update,
            Op::Delete => rights.read && rights.delete,
        }
    }

    /// The rule for one field (not yet capped by the field being server-set).
    pub fn field(&self, entity: &str, field: &str) -> FieldAccess {
        if self.admin {
            return FieldAccess::Edit;
        }
        if !self.entity(entity).read {
            return FieldAccess::Hidden;
        }
        self.fields.get(&(entity.to_owned(), field.to_owned())).copied().unwrap_or(FieldAccess::Edit)
    }

    pub fn can_see(&self, entity: &str, field: &str) -> bool {
        self.field(entity, field) > FieldAccess::Hidden
    }
}
