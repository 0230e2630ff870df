//! The `categories` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "categories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub parent_code: Option<String>,
    pub name: String,
    pub name_en: String,
    pub limit_unit: String,
    pub limit_amount: i32,
    pub sort_order: i32,
    /// The unit kind that owns such cases (部件先属主): pre-dispatched on submission.
    pub owner_unit_kind: Option<crate::enums::UnitKind>,
    /// A grid worker may dispatch such a case without an admin.
    pub direct_dispatch: bool,
    /// Working hours a unit has to sign for it; 2 when unset.
    pub sign_limit_hours: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
